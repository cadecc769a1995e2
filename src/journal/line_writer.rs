//! An exchange's journal line, written by hand: byte for byte what serde_json writes for
//! [`super::Entry::Exchange`] (a property test holds the two together), in a fraction of the
//! work.
//!
//! The journal thread was a fifth of the sandbox's instructions under load, three quarters of
//! them serde_json escaping bodies and headers a byte at a time (callgrind). Here a string is
//! scanned sixteen bytes at a time (eight without SSE2), and only the facts' free-form `notes`
//! are still written by serde_json (the fields before them were a tenth of the journal
//! thread's samples that way).

use serde_json::ser::{CompactFormatter, Formatter};

use super::record::{
    Actor, Direction, Exchange, Facts, IssuedToken, Request, Response, TokenState, TokenUse,
};
use super::{Body, Headers};

/// Appends `ex`'s journal line (without its newline) to `out`.
#[cfg(test)]
pub(super) fn write_exchange(out: &mut Vec<u8>, ex: &Exchange) -> Result<(), serde_json::Error> {
    write_exchange_head(out, ex.seq, &ex.scenario);
    write_exchange_rest(out, ex)
}

/// The start of an exchange's line: what the journal decides under its locks (the number,
/// the scenario), so the rest can be written before it takes them.
pub(super) fn write_exchange_head(out: &mut Vec<u8>, seq: u64, scenario: &str) {
    out.extend_from_slice(br#"{"type":"exchange","seq":"#);
    number_u64(out, seq);
    out.extend_from_slice(br#","scenario":"#);
    string(out, scenario);
}

/// The rest of an exchange's line, after its [`write_exchange_head`].
pub(super) fn write_exchange_rest(
    out: &mut Vec<u8>,
    ex: &Exchange,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(br#","direction":""#);
    out.extend_from_slice(direction(ex.direction).as_bytes());
    out.extend_from_slice(br#"","actor":""#);
    out.extend_from_slice(actor(ex.actor).as_bytes());
    out.extend_from_slice(br#"","role":"#);
    string(out, &ex.role);
    out.extend_from_slice(br#","at_ms":"#);
    number_f64(out, ex.at_ms);
    out.extend_from_slice(br#","at":"#);
    string(out, &ex.at);
    out.extend_from_slice(br#","duration_ms":"#);
    number_f64(out, ex.duration_ms);
    out.extend_from_slice(br#","request":"#);
    request(out, &ex.request);
    if let Some(response) = &ex.response {
        out.extend_from_slice(br#","response":"#);
        answer(out, response);
    }
    if let Some(error) = &ex.error {
        out.extend_from_slice(br#","error":"#);
        string(out, error);
    }
    out.extend_from_slice(br#","facts":"#);
    facts(out, &ex.facts)?;
    out.push(b'}');
    Ok(())
}

/// The facts as `Facts` serializes: its fields in their order, each left out where serde's
/// `skip_serializing_if` leaves it out.
fn facts(out: &mut Vec<u8>, f: &Facts) -> Result<(), serde_json::Error> {
    out.push(b'{');
    let mut o = Object { out, first: true };
    if f.lane != 0 {
        number_u64(o.key("lane"), u64::from(f.lane));
    }
    o.text("operation", &f.operation);
    if let Some(issued) = &f.token_issued {
        token_issued(o.key("token_issued"), issued);
    }
    if let Some(used) = &f.token_used {
        token_used(o.key("token_used"), used);
    }
    o.list("unrecognized_fields", &f.unrecognized_fields);
    o.list("schema_errors", &f.schema_errors);
    o.text("injected", &f.injected);
    o.text("payment", &f.payment);
    o.text("order", &f.order);
    if let Some(paid) = f.order_paid {
        boolean(o.key("order_paid"), paid);
    }
    o.text("payment_state", &f.payment_state);
    o.flag("forged", f.forged);
    o.float("amount", f.amount);
    o.text("resource", &f.resource);
    o.list("token_claims", &f.token_claims);
    o.float("poll_delay_ms", f.poll_delay_ms);
    o.list("answer_errors", &f.answer_errors);
    o.text("event_id", &f.event_id);
    if let Some(unserved) = &f.unserved {
        strings(o.key("unserved"), unserved);
    }
    o.text("refused", &f.refused);
    o.flag("abandoned", f.abandoned);
    if !f.notes.is_empty() {
        serde_json::to_writer(&mut *o.key("notes"), &f.notes)?;
    }
    out.push(b'}');
    Ok(())
}

/// An object being written: each field's key, after a comma from the second on.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Object<'_> {
    /// Writes `"name":` and lends the line for the value.
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn text(&mut self, name: &str, value: &Option<String>) {
        if let Some(value) = value {
            string(self.key(name), value);
        }
    }

    fn list(&mut self, name: &str, values: &[String]) {
        if !values.is_empty() {
            strings(self.key(name), values);
        }
    }

    fn float(&mut self, name: &str, value: Option<f64>) {
        if let Some(value) = value {
            number_f64(self.key(name), value);
        }
    }

    /// A `bool` serde leaves out when false.
    fn flag(&mut self, name: &str, value: bool) {
        if value {
            boolean(self.key(name), true);
        }
    }
}

fn token_issued(out: &mut Vec<u8>, t: &IssuedToken) {
    out.extend_from_slice(br#"{"fingerprint":"#);
    string(out, &t.fingerprint);
    out.extend_from_slice(br#","lifetime_s":"#);
    number_f64(out, t.lifetime_s);
    out.extend_from_slice(br#","expires_at_ms":"#);
    number_f64(out, t.expires_at_ms);
    out.push(b'}');
}

fn token_used(out: &mut Vec<u8>, t: &TokenUse) {
    out.extend_from_slice(br#"{"fingerprint":"#);
    match &t.fingerprint {
        Some(fingerprint) => string(out, fingerprint),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","state":""#);
    out.extend_from_slice(match t.state {
        TokenState::Valid => b"valid".as_slice(),
        TokenState::Expired => b"expired",
        TokenState::Unknown => b"unknown",
        TokenState::Missing => b"missing",
    });
    out.push(b'"');
    if let Some(remaining) = t.remaining_s {
        out.extend_from_slice(br#","remaining_s":"#);
        number_f64(out, remaining);
    }
    out.push(b'}');
}

fn strings(out: &mut Vec<u8>, list: &[String]) {
    out.push(b'[');
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s);
    }
    out.push(b']');
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::ToSandbox => "to_sandbox",
        Direction::ToTarget => "to_target",
        Direction::FromSandbox => "from_sandbox",
    }
}

fn actor(a: Actor) -> &'static str {
    match a {
        Actor::Integration => "integration",
        Actor::Browser => "browser",
        Actor::Provider => "provider",
        Actor::Harness => "harness",
    }
}

fn request(out: &mut Vec<u8>, r: &Request) {
    out.extend_from_slice(br#"{"method":"#);
    string(out, &r.method);
    out.extend_from_slice(br#","url":"#);
    string(out, &r.url);
    headers_and_body(out, &r.headers, &r.body);
}

fn answer(out: &mut Vec<u8>, r: &Response) {
    out.extend_from_slice(br#"{"status":"#);
    number_u64(out, u64::from(r.status));
    headers_and_body(out, &r.headers, &r.body);
}

/// The end a request and an answer share.
fn headers_and_body(out: &mut Vec<u8>, h: &Headers, b: &Body) {
    out.extend_from_slice(br#","headers":"#);
    headers(out, h);
    out.extend_from_slice(br#","body":"#);
    body(out, b);
    out.push(b'}');
}

fn headers(out: &mut Vec<u8>, h: &Headers) {
    out.push(b'[');
    for (i, (name, value)) in h.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        string(out, name);
        out.push(b',');
        string(out, value);
        out.push(b']');
    }
    out.push(b']');
}

fn body(out: &mut Vec<u8>, b: &Body) {
    out.extend_from_slice(br#"{"text":"#);
    string(out, b.text());
    out.extend_from_slice(br#","size":"#);
    number_u64(out, b.size as u64);
    if b.truncated {
        out.extend_from_slice(br#","truncated":true"#);
    }
    out.push(b'}');
}

fn number_u64(out: &mut Vec<u8>, n: u64) {
    // Writing into a Vec cannot fail.
    let _ = CompactFormatter.write_u64(out, n);
}

/// As serde_json writes an `f64`: its shortest form, `null` when not finite.
fn number_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        let _ = CompactFormatter.write_f64(out, f);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Bytes of a word where each byte is `b`.
#[cfg(any(test, not(target_arch = "x86_64")))]
const fn each(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The top bit of each of a word's bytes (little-endian) that is below 0x20, a quote or a
/// backslash, plus maybe bits above the lowest of them: `x - n` borrows into a byte's top bit
/// from a byte below `n` (and may carry on into the bytes above it), the `!x` mask drops bytes
/// that had the top bit set already. Zero exactly when no byte needs escaping, and the lowest
/// bit set is always the first byte that does.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn escape_flags(word: u64) -> u64 {
    const LOW: u64 = each(0x01);
    const HIGH: u64 = each(0x80);
    let below = |x: u64, n: u8| x.wrapping_sub(each(n)) & !x & HIGH;
    let zero = |x: u64| x.wrapping_sub(LOW) & !x & HIGH;
    below(word, 0x20) | zero(word ^ each(b'"')) | zero(word ^ each(b'\\'))
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn needs_escape_byte(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// A JSON string literal of `s`, escaped exactly as serde_json escapes it: `"` and `\`, the
/// control characters (`\b \t \n \f \r` by name, the rest as `\u00XX`), nothing else.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    #[cfg(target_arch = "x86_64")]
    string_sse2(out, s);
    #[cfg(not(target_arch = "x86_64"))]
    string_swar(out, s);
}

/// [`string`] sixteen bytes at a time, the way fast JSON writers do it: each chunk of input is
/// stored whole at the end of the output, then the output advances past the bytes before the
/// first one that needs escaping (all sixteen when none does), that byte is written escaped,
/// and the next chunk starts after it. A header's dozen bytes are one load and one store; a
/// JSON body's quotes cost a short step each, with no copy call per run of plain bytes.
/// The last few bytes are a chunk padded with spaces (which need no escape).
#[cfg(target_arch = "x86_64")]
fn string_sse2(out: &mut Vec<u8>, s: &str) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
    /// Room past the write position that one step may need: a whole chunk (16 bytes), or up
    /// to 15 plain bytes then the six an escape is written with; and the closing quote.
    const STEP: usize = 15 + 6 + 1;
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 1 + STEP);
    let mut w = out.len();
    let mut at = 0;
    // SAFETY: every write is below `out.capacity()`: before each step, `w + STEP` is made to
    // fit (reserving more, then taking the pointer again), and a step writes 16 bytes at `w`,
    // or six at `w + plain` (`plain` < 16), then leaves `w` at most 21 further on. Loads read `bytes[at..at + 16]` only when it is in bounds, else a padded copy on
    // the stack. `set_len` is given `w`, and every byte below `w` was written: the output
    // advances only over bytes a step has just stored.
    unsafe {
        let mut base = out.as_mut_ptr();
        *base.add(w) = b'"';
        w += 1;
        while at < bytes.len() {
            if w + STEP > out.capacity() {
                out.set_len(w);
                out.reserve(STEP + (bytes.len() - at));
                base = out.as_mut_ptr();
            }
            let left = bytes.len() - at;
            let chunk: __m128i = if left >= 16 {
                _mm_loadu_si128(bytes.as_ptr().add(at).cast())
            } else {
                _mm_loadu_si128(padded_tail(&bytes[at..]).as_ptr().cast())
            };
            _mm_storeu_si128(base.add(w).cast(), chunk);
            let mask = escapes_sse2(chunk);
            if mask == 0 {
                let n = left.min(16);
                w += n;
                at += n;
                continue;
            }
            let plain = mask.trailing_zeros() as usize;
            w += plain;
            at += plain;
            // All six bytes, whatever the escape's length: a copy of a fixed size is two moves,
            // one of a variable size a call (once per quote of a JSON body).
            let escaped = escape_of(bytes[at]);
            std::ptr::copy_nonoverlapping(escaped.bytes.as_ptr(), base.add(w), 6);
            w += usize::from(escaped.len);
            at += 1;
        }
        *base.add(w) = b'"';
        out.set_len(w + 1);
    }
}

/// The last (under sixteen) bytes of a string, padded with spaces to a chunk. Copied in
/// overlapping pieces of a fixed size: a copy of the tail's own length was a call to `memcpy`
/// for every string of a line.
#[cfg(target_arch = "x86_64")]
fn padded_tail(tail: &[u8]) -> [u8; 16] {
    let mut padded = [b' '; 16];
    let n = tail.len();
    debug_assert!(n < 16);
    if n >= 8 {
        padded[..8].copy_from_slice(&tail[..8]);
        padded[n - 8..n].copy_from_slice(&tail[n - 8..]);
    } else if n >= 4 {
        padded[..4].copy_from_slice(&tail[..4]);
        padded[n - 4..n].copy_from_slice(&tail[n - 4..]);
    } else {
        for (to, &b) in padded.iter_mut().zip(tail) {
            *to = b;
        }
    }
    padded
}

/// A bit for each byte of `chunk` that needs escaping (bit 0: the first byte).
#[cfg(target_arch = "x86_64")]
fn escapes_sse2(chunk: std::arch::x86_64::__m128i) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of every x86_64 processor (the target's baseline); these work on
    // registers only.
    unsafe {
        let quote = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8));
        // Below 0x20, unsigned: the byte is its own minimum with 0x1f.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(chunk, _mm_set1_epi8(0x1f)), chunk);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

/// [`string`] eight bytes at a time, in an ordinary word: where SSE2 is not there to be had.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn string_swar(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Everything before `plain` is in `out` already; `at` is where the search goes on.
    let mut plain = 0;
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let flags = escape_flags(word);
        if flags == 0 {
            at += 8;
            continue;
        }
        let first = at + (flags.trailing_zeros() / 8) as usize;
        out.extend_from_slice(&bytes[plain..first]);
        escape(out, bytes[first]);
        plain = first + 1;
        at = plain;
    }
    rest(out, bytes, plain, at);
}

/// The end of a string literal: the bytes from `at` on, one at a time, then the closing quote
/// (everything before `plain` is written already).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn rest(out: &mut Vec<u8>, bytes: &[u8], mut plain: usize, at: usize) {
    for (i, &b) in bytes.iter().enumerate().skip(at) {
        if needs_escape_byte(b) {
            out.extend_from_slice(&bytes[plain..i]);
            escape(out, b);
            plain = i + 1;
        }
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn escape(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&escape_of(b));
}

/// A byte that needs escaping, escaped as serde_json does.
fn escape_of(b: u8) -> Escaped {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let named = |c: u8| Escaped {
        bytes: [b'\\', c, 0, 0, 0, 0],
        len: 2,
    };
    match b {
        b'"' => named(b'"'),
        b'\\' => named(b'\\'),
        0x08 => named(b'b'),
        b'\t' => named(b't'),
        b'\n' => named(b'n'),
        0x0c => named(b'f'),
        b'\r' => named(b'r'),
        _ => Escaped {
            bytes: [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            len: 6,
        },
    }
}

/// An escape sequence, at most six bytes (`\u00XX`).
struct Escaped {
    bytes: [u8; 6],
    len: u8,
}

impl std::ops::Deref for Escaped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The literal `string` writes, after checking that the eight-byte search writes the same
    /// (on x86_64 `string` is the sixteen-byte one).
    fn written(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        let mut by_words = Vec::new();
        string_swar(&mut by_words, s);
        assert_eq!(out, by_words, "{s:?}");
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn every_byte_below_0x80_is_escaped_as_serde_json_escapes_it() {
        for b in 0u8..0x80 {
            let s = char::from(b).to_string();
            // At every place in a word, and across a word's edge.
            for lead in 0..34 {
                let text = format!("{}{s}{}", "a".repeat(lead), "b".repeat(33 - lead));
                assert_eq!(
                    written(&text),
                    serde_json::to_string(&text).unwrap(),
                    "{b:#x}"
                );
            }
        }
    }

    #[test]
    fn an_escape_after_fifteen_plain_bytes_fits_however_little_room_is_left() {
        // The longest step: 15 plain bytes, then a control byte's six, after escapes that used
        // up some of the room; with every capacity the buffer may have (the debug build checks
        // `set_len` against it).
        for escapes_first in 0..5 {
            for lead in [0, 14, 15, 16] {
                let s = format!(
                    "{}{}\u{1}b",
                    "\u{1}".repeat(escapes_first),
                    "a".repeat(lead)
                );
                for room in 0..48 {
                    let mut out = Vec::with_capacity(3 + room);
                    out.extend_from_slice(b"xyz");
                    string(&mut out, &s);
                    let expected = format!("xyz{}", serde_json::to_string(&s).unwrap());
                    assert_eq!(String::from_utf8(out).unwrap(), expected, "{room}");
                }
            }
        }
    }

    #[test]
    fn a_word_is_flagged_at_the_first_byte_that_needs_escaping() {
        for b in 0u8..=255 {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let flags = escape_flags(u64::from_le_bytes(word));
                if needs_escape_byte(b) {
                    assert_eq!(flags.trailing_zeros() / 8, at as u32, "{b:#x} at {at}");
                } else {
                    assert_eq!(flags, 0, "{b:#x} at {at}");
                }
            }
        }
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-z\"\\\n\x01é]{0,6}"
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![any::<f64>(), Just(f64::NAN), Just(-0.0), Just(1e300)]
    }

    fn texts() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(text(), 0..3)
    }

    prop_compose! {
        // Every field of the facts, each present or not: a field the writer forgot, misnamed
        // or put out of order is a line unlike serde_json's.
        fn any_facts()(
            lane in prop_oneof![Just(0u32), any::<u32>()],
            texts_1 in proptest::collection::vec(proptest::option::of(text()), 8),
            lists in proptest::collection::vec(texts(), 4),
            issued in proptest::option::of((text(), float(), float())),
            used in proptest::option::of((proptest::option::of(text()), 0..4usize, proptest::option::of(float()))),
            order_paid in proptest::option::of(any::<bool>()),
            flags in (any::<bool>(), any::<bool>()),
            numbers in (proptest::option::of(float()), proptest::option::of(float())),
            unserved in proptest::option::of(texts()),
            note in proptest::option::of((text(), any::<i32>())),
        ) -> Facts {
            let mut t = texts_1.into_iter();
            let mut l = lists.into_iter();
            Facts {
                lane,
                operation: t.next().flatten(),
                token_issued: issued.map(|(fingerprint, lifetime_s, expires_at_ms)| IssuedToken {
                    fingerprint, lifetime_s, expires_at_ms,
                }),
                token_used: used.map(|(fingerprint, state, remaining_s)| TokenUse {
                    fingerprint,
                    state: [TokenState::Valid, TokenState::Expired, TokenState::Unknown, TokenState::Missing][state],
                    remaining_s,
                }),
                unrecognized_fields: l.next().unwrap_or_default(),
                schema_errors: l.next().unwrap_or_default(),
                injected: t.next().flatten(),
                payment: t.next().flatten(),
                order: t.next().flatten(),
                order_paid,
                payment_state: t.next().flatten(),
                forged: flags.0,
                amount: numbers.0,
                resource: t.next().flatten(),
                token_claims: l.next().unwrap_or_default(),
                poll_delay_ms: numbers.1,
                answer_errors: l.next().unwrap_or_default(),
                event_id: t.next().flatten(),
                unserved,
                refused: t.next().flatten(),
                abandoned: flags.1,
                notes: note.into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect(),
            }
        }
    }

    proptest! {
        #[test]
        fn any_facts_are_written_as_serde_json_writes_them(f in any_facts()) {
            let mut out = Vec::new();
            facts(&mut out, &f).unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&f).unwrap());
        }

        #[test]
        fn any_text_is_written_as_serde_json_writes_it(s in any::<String>()) {
            prop_assert_eq!(written(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn text_full_of_escapes_is_written_as_serde_json_writes_it(
            s in "[\"\\\\\\x00-\\x1fa-z\\x7fé€]{0,40}"
        ) {
            prop_assert_eq!(written(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn a_literal_appends_after_what_a_line_holds_however_much_it_grows(
            before in "[a-z]{0,40}",
            s in "[\"\\\\\\x00-\\x1fa-z]{0,300}",
            room in 0usize..64,
        ) {
            // The buffer as the writer has it: something written already, a little room left;
            // escapes that grow the text sixfold take it past its capacity mid-literal.
            let mut out = Vec::with_capacity(before.len() + room);
            out.extend_from_slice(before.as_bytes());
            string(&mut out, &s);
            let expected = format!("{before}{}", serde_json::to_string(&s).unwrap());
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
