//! How a secret is spelt: as is, form- or percent-encoded, JSON-escaped, base64; and the
//! hashes learned secrets are kept as.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use base64::Engine;

use crate::journal::fingerprint;

use super::*;

/// How a learned secret was spelt where it may be found again, so its fingerprint is the one
/// of the value itself whatever the spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spelling {
    Raw,
    Form,
    Json,
    Percent,
}

/// Learned secrets, kept as hashes only: 64-bit hashes of every spelling, and of each
/// spelling's first [`MIN_FOUND_LEN`] bytes to find where one may start. About 40 bytes per
/// spelling, whatever the secret's length, and nothing for tokens [`SHAPED_TOKEN`] recognises.
#[derive(Debug, Clone, Default)]
pub(super) struct Learned {
    /// Hash of a whole spelling → how it is spelt.
    pub(super) whole: HashMap<u64, Spelling>,
    /// Hashes of the first bytes of every spelling.
    starts: HashSet<u64>,
    /// Every spelling's length, longest first when matching.
    lengths: BTreeSet<usize>,
}

pub(super) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl Learned {
    pub(super) fn insert(&mut self, spelling: &str, how: Spelling) {
        let bytes = spelling.as_bytes();
        if bytes.len() < MIN_FOUND_LEN {
            return;
        }
        self.whole.entry(hash_bytes(bytes)).or_insert(how);
        self.starts.insert(hash_bytes(&bytes[..MIN_FOUND_LEN]));
        self.lengths.insert(bytes.len());
    }

    pub(super) fn remove(&mut self, spelling: &str) {
        self.whole.remove(&hash_bytes(spelling.as_bytes()));
    }

    /// Replaces every learned secret in `text` by its fingerprint (longest match first).
    pub(super) fn mask(&self, text: &str) -> Option<String> {
        if self.whole.is_empty() || text.len() < MIN_FOUND_LEN {
            return None;
        }
        let bytes = text.as_bytes();
        let mut out = String::new();
        let (mut last, mut i) = (0, 0);
        let mut changed = false;
        while i + MIN_FOUND_LEN <= bytes.len() {
            let hit = text.is_char_boundary(i)
                && self
                    .starts
                    .contains(&hash_bytes(&bytes[i..i + MIN_FOUND_LEN]));
            let found = hit
                .then(|| {
                    self.lengths.iter().rev().find_map(|&len| {
                        let end = i + len;
                        if end > bytes.len() || !text.is_char_boundary(end) {
                            return None;
                        }
                        let how = self.whole.get(&hash_bytes(&bytes[i..end]))?;
                        Some((end, *how))
                    })
                })
                .flatten();
            match found {
                Some((end, how)) => {
                    out.push_str(&text[last..i]);
                    out.push_str(&fingerprint(&unspell(&text[i..end], how)));
                    last = end;
                    i = end;
                    changed = true;
                }
                None => i += 1,
            }
        }
        changed.then(|| {
            out.push_str(&text[last..]);
            out
        })
    }
}

pub(super) fn unspell(text: &str, how: Spelling) -> String {
    match how {
        Spelling::Raw => text.to_string(),
        Spelling::Form | Spelling::Percent => form_decode(text),
        Spelling::Json => json_unescape(text),
    }
}

/// `%XX` for every byte but the unreserved ones of RFC 3986 (how `encodeURIComponent` and
/// most URL builders write a value, `%20` for a space).
pub(super) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The spellings of a secret worth looking for: as is, form-encoded, percent-encoded and
/// JSON-escaped.
pub(super) fn spellings(value: &str) -> Vec<(String, Spelling)> {
    let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    let mut all = vec![
        (value.to_string(), Spelling::Raw),
        (form, Spelling::Form),
        (percent_encode(value), Spelling::Percent),
        (json, Spelling::Json),
    ];
    let mut seen = HashSet::new();
    all.retain(|(s, _)| seen.insert(s.clone()));
    all
}

/// Base64 spellings of a secret the runner knows on its own. Inside a longer base64 text
/// (`user:secret`, a JSON document) it is found by decoding, see [`Secrets::mask_base64`].
pub(super) fn base64_spellings(value: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut out = Vec::new();
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(value));
    }
    out
}

/// Decodes a run as base64 (any alphabet, padded or not) to printable text.
pub(super) fn decode_base64(run: &str) -> Option<String> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    let engine = if run.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    let bytes = engine.decode(run).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.chars()
        .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t')
        .then_some(text)
}

pub(super) fn json_unescape(quoted_inner: &str) -> String {
    serde_json::from_str::<String>(&format!("\"{quoted_inner}\""))
        .unwrap_or_else(|_| quoted_inner.to_string())
}

/// The value of a JSON scalar as the application saw it: a string unescaped, a number as
/// written (so `"apiKey": 12345678` and `X-Api-Key: 12345678` share a fingerprint).
pub(super) fn json_scalar(raw: &str) -> String {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => json_unescape(inner),
        None => raw.to_string(),
    }
}

pub(super) fn form_decode(raw: &str) -> String {
    form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_string())
}
