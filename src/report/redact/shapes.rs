//! What secrets look like: the field, header and cookie names that hold them, the shapes of
//! tokens, credentials and encodings found in text.

use std::sync::LazyLock;

use regex::Regex;

/// JSON, form and query field names whose values are secrets, normalised (lower case, no `_`
/// or `-`).
pub const SECRET_FIELDS: &[&str] = &[
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "checkouttoken",
    "password",
    "clientsecret",
    "merchantkey",
    "authenticationkey",
    "secret",
    "apikey",
];

/// Headers whose whole value is a credential.
pub(super) const TOKEN_HEADERS: &[&str] = &[
    "x-auth-token",
    "x-access-token",
    "x-api-key",
    "api-key",
    "x-ibm-client-secret",
];

/// Headers carrying `<scheme> <credentials>`.
pub(super) const AUTH_HEADERS: &[&str] = &["authorization", "proxy-authorization"];

/// Secrets the runner hands in are masked everywhere from this length on; shorter ones would
/// mangle ordinary words of the report.
pub(super) const MIN_KNOWN_LEN: usize = 4;
/// Values found by rule are masked where they were found whatever their length, and everywhere
/// else from this length on (a cookie `lang=en` must not turn every "en" into a fingerprint).
pub(super) const MIN_FOUND_LEN: usize = 8;

pub(super) fn is_secret_field(name: &str) -> bool {
    let normal: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_FIELDS.contains(&normal.as_str())
}

/// `"name": "value"` or `"name": 123` anywhere in a text, so bodies cut by the journal (no
/// longer valid JSON) are masked as well as whole ones.
pub(super) static JSON_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""((?:[^"\\]|\\.){1,64})"(\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+\-]*)"#)
        .expect("valid regex")
});

/// `name=value` at the start of a text or after `?`, `&` or `;` (forms, queries).
pub(super) static FORM_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(^|[?&;])([A-Za-z0-9_.\-]{1,64})=([^&#\s"'<>]*)"#).expect("valid regex")
});

/// `Bearer <token>` / `Basic <credentials>` inside any text (an echoed header, an error).
/// Credentials are taken to hold a digit, so prose such as "Basic authentication" is kept.
pub(super) static INLINE_AUTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(Bearer|Basic)(\s+)([A-Za-z._~+/=\-]*[0-9][A-Za-z0-9._~+/=\-]*)")
        .expect("valid regex")
});

/// `scheme://user:password@` in URLs.
pub(super) static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)([^@\s/]+)@").expect("valid regex")
});

/// Digit runs with optional single separators, the candidates for card numbers.
pub(super) static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9](?:(?: |-|\+|%20)?[0-9])*").expect("valid regex"));

/// Tokens recognised by their shape alone, masked wherever they appear without being learned
/// (so a run that issues 45,000 of them costs the masker nothing):
/// - a JWT (`eyJ…` header, payload and signature segments in base64url): SmartPay's and PPaaS's
///   access and terminal tokens, and any a shop issues itself;
/// - KontoCloud's `kc.` + 48 letters and digits and MobilePay's `mp.` + 64 hex digits;
/// - SmartPay's checkout token: 86 characters of the sandbox's unambiguous alphabet.
pub(super) static SHAPED_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*",
        r"|\bkc\.[A-HJ-NP-Za-km-z2-9]{48}\b",
        r"|\bmp\.[0-9a-f]{64}\b",
        r"|\b[A-HJ-NP-Za-km-z2-9]{86}\b",
    ))
    .expect("valid regex")
});

/// Runs that may be base64 (standard or URL-safe, padded or not): decoded, they are masked
/// when they hide a secret or a `user:password` pair.
pub(super) static BASE64_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/_\-]{8,}={0,2}").expect("valid regex"));

/// Runs of URL-encoded text holding at least one `%XX`: decoded, they are masked when they
/// hide a secret however its characters were escaped (`%2D` for `-` as well as `%21`).
pub(super) static PERCENT_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[A-Za-z0-9._~!*'()+\-]|%[0-9A-Fa-f]{2})*%[0-9A-Fa-f]{2}(?:[A-Za-z0-9._~!*'()+\-]|%[0-9A-Fa-f]{2})*")
        .expect("valid regex")
});

/// Whether a whole value is a token [`SHAPED_TOKEN`] masks anyway.
pub fn is_shaped_token(value: &str) -> bool {
    SHAPED_TOKEN
        .find(value)
        .is_some_and(|m| m.start() == 0 && m.end() == value.len())
}

/// Cookie names that say the cookie holds a credential.
pub(super) const SECRET_COOKIE_WORDS: &[&str] = &[
    "sess",
    "sid",
    "auth",
    "token",
    "jwt",
    "secret",
    "key",
    "csrf",
    "xsrf",
    "login",
    "remember",
    "identity",
    "credential",
    "pass",
];

/// Cookie names that say the cookie holds an id or a preference a reviewer needs to read.
pub(super) const PLAIN_COOKIE_WORDS: &[&str] = &[
    "order", "payment", "cart", "basket", "checkout", "lang", "locale", "currency", "theme",
    "consent", "country",
];

/// Whether a cookie holds a credential, by its name and value. A cookie whose name says
/// nothing (`connect.sid` does, `x` does not) is taken as a credential: the safe side.
pub(super) fn cookie_is_secret(name: &str, value: &str) -> bool {
    let value = value.trim();
    if SHAPED_TOKEN.is_match(value) {
        return true;
    }
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect();
    if SECRET_COOKIE_WORDS.iter().any(|w| name.contains(w)) {
        return true;
    }
    let plain = PLAIN_COOKIE_WORDS.iter().any(|w| name.contains(w)) || name.ends_with("id");
    !plain
}

/// `user:password`: a user name (letters, digits, `._@+-`), a colon, a password without
/// spaces. JSON (`{"alg":"HS256"}`, a JWT's header) is not one.
pub(super) fn is_credential_pair(text: &str) -> bool {
    match text.split_once(':') {
        Some((user, password)) => {
            (1..=128).contains(&user.len())
                && user
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b))
                && (1..=256).contains(&password.len())
                && !password.chars().any(char::is_whitespace)
        }
        None => false,
    }
}
