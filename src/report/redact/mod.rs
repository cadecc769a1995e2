//! Masking secrets and card numbers before anything leaves the run.
//!
//! Reports go to reviewers outside the merchant's team, so credentials, tokens and card numbers
//! are masked in every one of them. A masked token or secret is replaced by its
//! [`fingerprint`] (`fp:1a2b3c4d`): the same token always gives the same fingerprint, so a
//! reviewer still sees that one token was reused across calls (or that a new one was fetched
//! per call) without seeing the token.
//!
//! What is masked:
//! - header values of `Authorization`/`Proxy-Authorization` (the scheme is kept:
//!   `Bearer fp:1a2b3c4d`, `Basic fp:…`), token headers (`X-Auth-Token`, `X-Access-Token`,
//!   `X-Api-Key`, `X-IBM-Client-Secret`), and cookie values of `Cookie` and `Set-Cookie` —
//!   except a cookie that holds an id or a preference (its name says `order`, `payment`,
//!   `cart`, `lang`, ... or ends in `id`, and says nothing of a session, auth or token) or
//!   whose value the journal names as an order or payment id: an order id is not a secret
//!   because it travels in a cookie, and a reviewer must see which order a line is about;
//! - tokens by their shape, anywhere (bodies, queries, headers, answers, messages): any JWT
//!   (`eyJ….….…`) and the tokens the simulated sandboxes issue ([`SHAPED_TOKEN`]); these are
//!   never stored, so a run issuing 45,000 tokens costs the masker nothing;
//! - base64 runs that decode to a `user:password` pair, to a secret or to text holding one
//!   (credentials a shop encodes in a custom header or a body), and the base64 (standard and
//!   URL-safe, padded or not) and URL encodings (form, `%XX`) of each secret alone;
//! - JSON fields at any depth named like `token`, `access_token`, `password`, `client_secret`,
//!   `merchantKey`, ... ([`SECRET_FIELDS`]; names compare case-insensitively and ignoring `_`
//!   and `-`, so `accessToken` is `access_token`), whether the body parses or was cut;
//! - the same names as form fields and query parameters (`client_secret=…&password=…`);
//! - `Bearer …`/`Basic …` credentials and `user:password@` in URLs anywhere in text;
//! - every known secret value anywhere in any string: those the runner passes in (passwords,
//!   client secrets, merchant keys — a client id such as `X-IBM-Client-Id` only when listed)
//!   and those found by the rules above in the exchanges of the report (kept as 64-bit hashes
//!   of their spellings, about 40 bytes each, never their text);
//! - card numbers: a run of 13–19 digits (single spaces, dashes, `+` or `%20` allowed between
//!   digits) that starts with 2–6 (the card networks' major industry identifiers) and passes
//!   the Luhn check. It is shown with at most its first six and last four digits, the rest as
//!   `*`, separators dropped: `411111******1111`. Numbers of 13–15 digits keep only their first
//!   four, so that at least five digits are always hidden. Epoch milliseconds (starting with 1),
//!   dates and most order ids fail one of these tests and are left alone; a Luhn-valid
//!   reference that looks like a card is masked — the safe side of the error.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use regex::{Captures, Regex};

use crate::journal::{fingerprint, Exchange};

mod cards;
mod found;
mod shapes;
mod spellings;

pub use cards::{luhn_valid, mask_card_numbers, mask_pan};
use found::*;
use shapes::*;
pub use shapes::{is_shaped_token, SECRET_FIELDS};
use spellings::*;

/// The secrets of one run: those the runner knows (passwords, client secrets, merchant and
/// authentication keys) and those found by rule in the traffic (tokens, cookies, ...).
///
/// Memory is bounded by what is worth remembering: tokens with a known shape (JWTs, the
/// sandboxes' own) are recognised on the fly and never stored; other learned secrets are kept
/// as hashes of their spellings; the runner's few known secrets are kept whole.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Every way a known secret may be written (as is, encoded, base64) → its fingerprint.
    variants: BTreeMap<String, String>,
    /// One alternation over `variants`, longest first, built on first use.
    matcher: OnceLock<Option<Regex>>,
    /// Secrets found by rule in the traffic.
    learned: Learned,
    /// Hashes of the ids the journal names as an order or a payment: never a secret, even in
    /// a cookie or a token header.
    ids: HashSet<u64>,
}

impl Secrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Secrets the runner knows, e.g. from the target's test credentials.
    pub fn with<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut secrets = Self::new();
        for v in values {
            secrets.add(v.as_ref());
        }
        secrets
    }

    /// Adds a known secret value: it will be masked wherever it appears, in any of its
    /// spellings (see [`spellings`], [`base64_spellings`]).
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.chars().count() < MIN_KNOWN_LEN || value.starts_with("fp:") {
            return;
        }
        let fp = fingerprint(value);
        let mut changed = false;
        let all = spellings(value)
            .into_iter()
            .map(|(s, _)| s)
            .chain(base64_spellings(value));
        for variant in all {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.variants.entry(variant) {
                slot.insert(fp.clone());
                changed = true;
            }
        }
        if changed {
            self.matcher = OnceLock::new();
        }
    }

    /// How many secret spellings are remembered (known ones and learned hashes). Tokens
    /// recognised by their shape are not counted: they are never stored.
    pub fn len(&self) -> usize {
        self.variants.len() + self.learned.whole.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `value` is an order or payment id the journal named.
    fn is_id(&self, value: &str) -> bool {
        !self.ids.is_empty() && self.ids.contains(&hash_bytes(value.trim().as_bytes()))
    }

    fn learn_value(&mut self, value: &str) {
        let value = value.trim();
        if value.len() < MIN_FOUND_LEN
            || value.starts_with("fp:")
            || is_shaped_token(value)
            || self.is_id(value)
        {
            return;
        }
        for (spelling, how) in spellings(value) {
            self.learned.insert(&spelling, how);
        }
    }

    /// An order or payment id: readable everywhere, and forgotten if it was learned as a
    /// secret (a shop that keeps its order id in a cookie).
    fn learn_id(&mut self, id: &str) {
        let id = id.trim();
        if id.is_empty() || is_shaped_token(id) || self.variants.contains_key(id) {
            return;
        }
        self.ids.insert(hash_bytes(id.as_bytes()));
        for (spelling, _) in spellings(id) {
            self.learned.remove(&spelling);
        }
    }

    fn matcher(&self) -> Option<&Regex> {
        self.matcher
            .get_or_init(|| {
                if self.variants.is_empty() {
                    return None;
                }
                let mut keys: Vec<&String> = self.variants.keys().collect();
                // Longest first, so a secret that contains another is replaced whole.
                keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
                let pattern = keys
                    .iter()
                    .map(|k| regex::escape(k))
                    .collect::<Vec<_>>()
                    .join("|");
                Regex::new(&pattern).ok()
            })
            .as_ref()
    }

    /// Learns the secrets an exchange reveals by rule (a token in a header or a JSON answer,
    /// a password in a form, a session cookie), so they are masked wherever else they appear:
    /// in a URL, a later body, a check message. It also learns the order and payment ids the
    /// exchange is about, which stay readable. Call it for every exchange before masking any.
    pub fn learn_from(&mut self, ex: &Exchange) {
        for id in [&ex.facts.order, &ex.facts.payment].into_iter().flatten() {
            self.learn_id(id);
        }
        let mut found = Vec::new();
        for (name, value) in ex
            .request
            .headers
            .iter()
            .chain(ex.response.iter().flat_map(|r| r.headers.iter()))
        {
            header_secrets(name, value, &mut found);
            text_secrets(value, &mut found);
        }
        text_secrets(&ex.request.url, &mut found);
        text_secrets(ex.request.body.text(), &mut found);
        if let Some(r) = &ex.response {
            text_secrets(r.body.text(), &mut found);
        }
        for value in found {
            self.learn_value(&value);
        }
    }
    /// Masks an exchange in place: headers, URL, bodies, the transport error and the facts.
    pub fn mask_exchange(&self, ex: &mut Exchange) {
        ex.request.url = self.mask_text(&ex.request.url);
        ex.request
            .headers
            .map_values(|name, value| self.mask_header(name, value));
        let masked = self.mask_text(ex.request.body.text());
        *ex.request.body.text_mut() = masked;
        if let Some(r) = &mut ex.response {
            r.headers
                .map_values(|name, value| self.mask_header(name, value));
            let masked = self.mask_text(r.body.text());
            *r.body.text_mut() = masked;
        }
        if let Some(e) = &mut ex.error {
            *e = self.mask_text(e);
        }
        let facts = &mut ex.facts;
        for s in [
            &mut facts.payment,
            &mut facts.order,
            &mut facts.payment_state,
            &mut facts.injected,
            &mut facts.resource,
            &mut facts.event_id,
            &mut facts.refused,
        ]
        .into_iter()
        .flatten()
        {
            *s = self.mask_text(s);
        }
        for s in facts
            .unrecognized_fields
            .iter_mut()
            .chain(facts.schema_errors.iter_mut())
            .chain(facts.token_claims.iter_mut())
            .chain(facts.answer_errors.iter_mut())
            .chain(facts.unserved.iter_mut().flatten())
        {
            *s = self.mask_text(s);
        }
        for (key, value) in facts.notes.iter_mut() {
            if is_secret_field(key) {
                if let Some(s) = value.as_str() {
                    *value = serde_json::Value::String(fingerprint(s));
                    continue;
                }
            }
            self.mask_json_value(value);
        }
    }

    fn mask_json_value(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.mask_text(s),
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|v| self.mask_json_value(v))
            }
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    match v {
                        serde_json::Value::String(s) if is_secret_field(k) => *s = fingerprint(s),
                        _ => self.mask_json_value(v),
                    }
                }
            }
            _ => {}
        }
    }

    /// Masks one header value by its name, then as any text.
    pub fn mask_header(&self, name: &str, value: &str) -> String {
        let lower = name.to_ascii_lowercase();
        let by_name = if AUTH_HEADERS.contains(&lower.as_str()) {
            match value.trim().split_once(char::is_whitespace) {
                Some((scheme, cred)) => format!("{scheme} {}", fingerprint(cred.trim())),
                None => fingerprint(value.trim()),
            }
        } else if TOKEN_HEADERS.contains(&lower.as_str()) && !self.is_id(value) {
            fingerprint(value.trim())
        } else if lower == "cookie" {
            value
                .split(';')
                .map(|pair| self.mask_cookie_pair(pair))
                .collect::<Vec<_>>()
                .join(";")
        } else if lower == "set-cookie" {
            // Only the cookie's own value is secret; its attributes (Path, HttpOnly) help a
            // reviewer judge the integration.
            match value.split_once(';') {
                Some((pair, attrs)) => format!("{};{attrs}", self.mask_cookie_pair(pair)),
                None => self.mask_cookie_pair(value),
            }
        } else {
            value.to_string()
        };
        self.mask_text(&by_name)
    }

    /// Masks any text: secret fields (JSON, form, query), inline credentials, known secret
    /// values and card numbers.
    pub fn mask_text(&self, text: &str) -> String {
        if text.is_empty() {
            return String::new();
        }
        let text = mask_json_fields(text, 0);
        let text = FORM_FIELD.replace_all(&text, |c: &Captures| {
            if !is_secret_field(&c[2]) || c[3].is_empty() {
                return c[0].to_string();
            }
            format!("{}{}={}", &c[1], &c[2], fingerprint(&form_decode(&c[3])))
        });
        let text = INLINE_AUTH.replace_all(&text, |c: &Captures| {
            if c[3].starts_with("fp:") {
                return c[0].to_string();
            }
            format!("{}{}{}", &c[1], &c[2], fingerprint(&c[3]))
        });
        let text = URL_USERINFO.replace_all(&text, |c: &Captures| {
            format!("{}{}@", &c[1], fingerprint(&c[2]))
        });
        let text = SHAPED_TOKEN.replace_all(&text, |c: &Captures| fingerprint(&c[0]));
        let text = self.mask_values(&text);
        let text = self.mask_percent(&text);
        let text = self.mask_base64(&text);
        mask_card_numbers(&text)
    }

    /// Replaces the known and learned secret values and shaped tokens in a text.
    fn mask_values(&self, text: &str) -> String {
        let text = match self.matcher() {
            Some(m) => m.replace_all(text, |c: &Captures| self.variants[&c[0]].clone()),
            None => std::borrow::Cow::Borrowed(text),
        };
        match self.learned.mask(&text) {
            Some(masked) => masked,
            None => text.into_owned(),
        }
    }

    /// Whether a text holds a secret: a known or learned value or a shaped token.
    fn holds_secret(&self, text: &str) -> bool {
        SHAPED_TOKEN.is_match(text)
            || self.matcher().is_some_and(|m| m.is_match(text))
            || self.learned.mask(text).is_some()
    }

    /// URL-encoded runs whose decoded text holds a secret are shown decoded and masked, so the
    /// fingerprint is the secret's own whatever the escaping.
    fn mask_percent(&self, text: &str) -> String {
        PERCENT_RUN
            .replace_all(text, |c: &Captures| {
                let run = &c[0];
                let decoded = form_decode(run);
                let masked = self.mask_values(
                    &SHAPED_TOKEN.replace_all(&decoded, |d: &Captures| fingerprint(&d[0])),
                );
                if masked != decoded {
                    masked
                } else {
                    run.to_string()
                }
            })
            .into_owned()
    }

    /// Base64 runs that decode to a secret, to text holding one (`user:password`, a JSON
    /// document with a token) or to any `user:password` pair become the fingerprint of the
    /// run: credentials a shop encodes itself, in a custom header or a body, are masked like
    /// a Basic header.
    fn mask_base64(&self, text: &str) -> String {
        BASE64_RUN
            .replace_all(text, |c: &Captures| {
                let run = &c[0];
                match decode_base64(run) {
                    Some(decoded)
                        if is_credential_pair(&decoded) || self.holds_secret(&decoded) =>
                    {
                        fingerprint(run)
                    }
                    _ => run.to_string(),
                }
            })
            .into_owned()
    }

    /// A cookie's value is masked in place unless the cookie holds an id: its name says so
    /// (`orderId`, `cart`, `lang`; never a session, auth or token cookie) or its value is an
    /// order or payment id the journal names.
    fn mask_cookie_pair(&self, pair: &str) -> String {
        match pair.split_once('=') {
            Some((k, v)) if !cookie_is_secret(k, v) || self.is_id(v) => pair.to_string(),
            Some((k, v)) => format!("{k}={}", fingerprint(v.trim())),
            None => pair.to_string(),
        }
    }
}

/// Masks a text file in place, line by line (memory stays bounded by the longest line): the
/// target's own log, which teams upload with the reports. The masked copy replaces the file
/// only once it is whole, so a failure leaves the original and says why.
pub fn mask_file(path: &std::path::Path, secrets: &Secrets) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, BufWriter, Write};
    let mut input = BufReader::new(std::fs::File::open(path)?);
    let tmp = path.with_extension("log.masking");
    let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        out.write_all(secrets.mask_text(&text).as_bytes())?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests;
