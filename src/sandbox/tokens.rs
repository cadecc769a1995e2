//! The tokens a simulated sandbox issued, with bounded memory.
//!
//! A sandbox must tell a valid token from an expired one (checks judge the reuse of an expired
//! token by the sandbox's answer) and from one it never issued. A book keeps no token's text:
//! a token is known by its SHA-256 (computed once per issue and once per call presenting it),
//! whose first four bytes are also its journal fingerprint. It keeps:
//! - live tokens as 128 bits of their digest, with their expiry and what the profile attached
//!   to them (~35 B each, against ~170 B for the text, its fingerprint and a hashed string
//!   key: a sandbox issuing 60,000 tokens a second of 10 minutes holds them all); expired ones
//!   are swept out whenever the book has doubled since the last sweep (amortised O(1));
//! - the [`RECENTLY_EXPIRED`] most recently swept tokens as 64 bits of their digest with their
//!   expiry (~40 B each, about 4 MB at most), so their reuse is still answered as *expired*,
//!   with how long ago. A token older than that is answered as unknown: 401 either way, and by
//!   then it expired at least [`RECENTLY_EXPIRED`] token issues ago.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use sha2::{Digest, Sha256};

use crate::journal::{fingerprint_of, TokenState, TokenUse};

/// How many expired tokens are still recognised as expired.
pub const RECENTLY_EXPIRED: usize = 100_000;

/// Live tokens at which the first sweep happens.
const FIRST_SWEEP: usize = 1024;

/// What the book knows of a token presented to the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Known<V> {
    /// When it expires (or expired), on the run clock in ms.
    pub expires_ms: f64,
    /// What the profile attached when issuing it; `None` once it was swept out as expired.
    pub info: Option<V>,
}

/// A token as the book knows it: its digest's first four bytes (the fingerprint) and the
/// next sixteen (the key; two tokens share one with odds of 2^-128).
struct Seal {
    print: [u8; 4],
    key: [u64; 2],
}

impl Seal {
    fn of(token: &str) -> Seal {
        let d = Sha256::digest(token.as_bytes());
        let word = |at: usize| u64::from_le_bytes(d[at..at + 8].try_into().expect("8 bytes"));
        Seal {
            print: [d[0], d[1], d[2], d[3]],
            key: [word(4), word(12)],
        }
    }
}

/// The keys are digest bits already: hashing them again (SipHash, the default) was a sixth of
/// issuing a token under load.
#[derive(Default)]
struct DigestBits(u64);

impl Hasher for DigestBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is reached for the keys below; any other input still hashes.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = self.0.rotate_left(29) ^ word;
    }
}

type ByDigest<K, T> = HashMap<K, T, BuildHasherDefault<DigestBits>>;

#[derive(Debug)]
struct Live<V> {
    expires_ms: f64,
    info: V,
}

#[derive(Debug)]
pub struct TokenBook<V> {
    live: ByDigest<[u64; 2], Live<V>>,
    expired: ByDigest<u64, f64>,
    /// Swept tokens, oldest first, to forget beyond [`RECENTLY_EXPIRED`].
    expired_order: VecDeque<u64>,
    sweep_at: usize,
}

impl<V> Default for TokenBook<V> {
    fn default() -> Self {
        TokenBook {
            live: ByDigest::default(),
            expired: ByDigest::default(),
            expired_order: VecDeque::new(),
            sweep_at: FIRST_SWEEP,
        }
    }
}

impl<V: Clone> TokenBook<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a token issued now (`now_ms`), expiring at `expires_ms`. Returns its
    /// fingerprint.
    pub fn issue(&mut self, token: &str, expires_ms: f64, info: V, now_ms: f64) -> String {
        if self.live.len() >= self.sweep_at {
            self.sweep(now_ms);
        }
        let seal = Seal::of(token);
        self.live.insert(seal.key, Live { expires_ms, info });
        fingerprint_of(seal.print)
    }

    /// What the book knows of a token; `None` when it never issued it (or forgot it).
    pub fn get(&self, token: &str) -> Option<Known<V>> {
        self.lookup(&Seal::of(token))
    }

    fn lookup(&self, seal: &Seal) -> Option<Known<V>> {
        if let Some(live) = self.live.get(&seal.key) {
            return Some(Known {
                expires_ms: live.expires_ms,
                info: Some(live.info.clone()),
            });
        }
        self.expired.get(&seal.key[0]).map(|&expires_ms| Known {
            expires_ms,
            info: None,
        })
    }

    /// Judges the token a call presented (`None`: it presented none) at `now_ms`: what every
    /// profile journals as `facts.token_used`, and what it attached when issuing it. The
    /// profile answers a token that is not valid in its own words.
    pub fn judge(&self, presented: Option<&str>, now_ms: f64) -> (TokenUse, Option<V>) {
        let seal = presented.map(Seal::of);
        let known = seal.as_ref().and_then(|s| self.lookup(s));
        let (state, remaining_s) = match (&seal, &known) {
            (None, _) => (TokenState::Missing, None),
            (Some(_), None) => (TokenState::Unknown, None),
            (Some(_), Some(k)) => {
                let remaining = (k.expires_ms - now_ms) / 1000.0;
                let state = if remaining > 0.0 {
                    TokenState::Valid
                } else {
                    TokenState::Expired
                };
                (state, Some(remaining))
            }
        };
        let used = TokenUse {
            fingerprint: seal.map(|s| fingerprint_of(s.print)),
            state,
            remaining_s,
        };
        (used, known.and_then(|k| k.info))
    }

    /// Live tokens kept (for tests and the bench).
    pub fn live_len(&self) -> usize {
        self.live.len()
    }

    /// Expired tokens still recognised.
    pub fn expired_len(&self) -> usize {
        self.expired.len()
    }

    /// Moves the tokens expired by `now_ms` to the recently-expired digests.
    fn sweep(&mut self, now_ms: f64) {
        let mut gone = Vec::new();
        self.live.retain(|key, live| {
            let keep = live.expires_ms > now_ms;
            if !keep {
                gone.push((key[0], live.expires_ms));
            }
            keep
        });
        gone.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (key, expires_ms) in gone {
            if self.expired.insert(key, expires_ms).is_none() {
                self.expired_order.push_back(key);
            }
        }
        while self.expired_order.len() > RECENTLY_EXPIRED {
            if let Some(old) = self.expired_order.pop_front() {
                self.expired.remove(&old);
            }
        }
        self.sweep_at = (self.live.len() * 2).max(FIRST_SWEEP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::fingerprint;

    #[test]
    fn live_and_expired_tokens_are_told_apart() {
        let mut book = TokenBook::new();
        book.issue("t1", 1_000.0, "vat", 0.0);
        let known = book.get("t1").unwrap();
        assert_eq!(known.expires_ms, 1_000.0);
        assert_eq!(known.info, Some("vat"));
        assert_eq!(book.get("never"), None);
    }

    #[test]
    fn memory_does_not_grow_with_the_tokens_issued() {
        // 300,000 tokens of 1 s, one issued per ms: at most ~1,000 live at once.
        let mut book = TokenBook::new();
        let mut most_live = 0;
        for i in 0..300_000u32 {
            let now = f64::from(i);
            book.issue(&format!("token-{i}"), now + 1_000.0, (), now);
            most_live = most_live.max(book.live_len());
        }
        assert!(most_live <= 2 * FIRST_SWEEP + 1_000, "{most_live} live");
        assert!(book.expired_len() <= RECENTLY_EXPIRED);
        // A token that expired recently is still known as expired, with its expiry.
        let recent = book.get("token-290000").expect("recently expired");
        assert_eq!(recent.expires_ms, 291_000.0);
        assert_eq!(recent.info, None);
        // The newest is live, the oldest forgotten.
        assert!(book.get("token-299999").unwrap().info.is_some());
        assert_eq!(book.get("token-0"), None);
    }

    #[test]
    fn tokens_still_valid_survive_a_sweep() {
        let mut book = TokenBook::new();
        book.issue("long", 1e12, 7, 0.0);
        for i in 0..10_000u32 {
            book.issue(&format!("short-{i}"), f64::from(i), 0, f64::from(i) + 1.0);
        }
        assert_eq!(book.get("long").unwrap().info, Some(7));
    }

    #[test]
    fn a_presented_token_is_judged_missing_unknown_valid_or_expired() {
        let mut book: TokenBook<&str> = TokenBook::new();
        book.issue("t1", 10_000.0, "claims", 0.0);
        let (used, info) = book.judge(None, 0.0);
        assert_eq!(
            (used.state, used.fingerprint, info),
            (TokenState::Missing, None, None)
        );
        assert_eq!(book.judge(Some("nope"), 0.0).0.state, TokenState::Unknown);
        let (used, info) = book.judge(Some("t1"), 4_000.0);
        assert_eq!(
            (used.state, used.remaining_s, info),
            (TokenState::Valid, Some(6.0), Some("claims"))
        );
        assert_eq!(used.fingerprint, Some(fingerprint("t1")));
        let (used, _) = book.judge(Some("t1"), 12_000.0);
        assert_eq!(
            (used.state, used.remaining_s),
            (TokenState::Expired, Some(-2.0))
        );
    }
}
