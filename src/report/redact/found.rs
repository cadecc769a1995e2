//! Finding secrets by rule in traffic: secret JSON fields, credential headers, `Basic` pairs,
//! secrets inside text.

use base64::Engine;
use regex::Captures;

use crate::journal::fingerprint;

use super::*;

/// Replaces the values of secret JSON fields by their fingerprints. A string value that holds
/// JSON itself (`"payload":"{\"password\":\"…\"}"`) is searched too, a few levels deep.
pub(super) fn mask_json_fields(text: &str, depth: usize) -> String {
    JSON_FIELD
        .replace_all(text, |c: &Captures| {
            let key = json_unescape(&c[1]);
            if is_secret_field(&key) {
                let fp = fingerprint(&json_scalar(&c[3]));
                return format!("\"{}\"{}\"{fp}\"", &c[1], &c[2]);
            }
            if depth < 3 && c[3].starts_with('"') && c[3].contains("\\\"") {
                let inner = json_scalar(&c[3]);
                let masked = mask_json_fields(&inner, depth + 1);
                if masked != inner {
                    let quoted = serde_json::to_string(&masked).unwrap_or_default();
                    return format!("\"{}\"{}{quoted}", &c[1], &c[2]);
                }
            }
            c[0].to_string()
        })
        .into_owned()
}

/// Values a header reveals by its name.
pub(super) fn header_secrets(name: &str, value: &str, found: &mut Vec<String>) {
    let lower = name.to_ascii_lowercase();
    if AUTH_HEADERS.contains(&lower.as_str()) {
        if let Some((scheme, cred)) = value.trim().split_once(char::is_whitespace) {
            let cred = cred.trim();
            found.push(cred.to_string());
            if scheme.eq_ignore_ascii_case("basic") {
                basic_secrets(cred, found);
            }
        }
    } else if TOKEN_HEADERS.contains(&lower.as_str()) {
        found.push(value.trim().to_string());
    } else if lower == "cookie" || lower == "set-cookie" {
        let pairs: Vec<&str> = if lower == "cookie" {
            value.split(';').collect()
        } else {
            value.split(';').take(1).collect()
        };
        for pair in pairs {
            match pair.split_once('=') {
                Some((k, v)) if cookie_is_secret(k, v) => found.push(v.trim().to_string()),
                _ => {}
            }
        }
    }
}

/// A Basic credential's password, so it is masked if it also appears decoded elsewhere.
pub(super) fn basic_secrets(cred: &str, found: &mut Vec<String>) {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(cred) else {
        return;
    };
    let decoded = String::from_utf8_lossy(&bytes);
    if let Some((_, password)) = decoded.split_once(':') {
        found.push(password.to_string());
    }
}

pub(super) fn json_secrets(text: &str, found: &mut Vec<String>, depth: usize) {
    for c in JSON_FIELD.captures_iter(text) {
        if is_secret_field(&json_unescape(&c[1])) {
            found.push(json_scalar(&c[3]));
        } else if depth < 3 && c[3].starts_with('"') && c[3].contains("\\\"") {
            json_secrets(&json_scalar(&c[3]), found, depth + 1);
        }
    }
}

/// Values any text reveals by field name or inline credential.
pub(super) fn text_secrets(text: &str, found: &mut Vec<String>) {
    json_secrets(text, found, 0);
    for c in FORM_FIELD.captures_iter(text) {
        if is_secret_field(&c[2]) {
            found.push(form_decode(&c[3]));
        }
    }
    for c in INLINE_AUTH.captures_iter(text) {
        found.push(c[3].to_string());
        if c[1].eq_ignore_ascii_case("basic") {
            basic_secrets(&c[3], found);
        }
    }
    for c in URL_USERINFO.captures_iter(text) {
        found.push(c[2].to_string());
    }
    // `user:password` a shop encodes itself, so the password is masked where it shows plain.
    for m in BASE64_RUN.find_iter(text) {
        if let Some(decoded) = decode_base64(m.as_str()) {
            if is_credential_pair(&decoded) {
                found.push(m.as_str().to_string());
                if let Some((_, password)) = decoded.split_once(':') {
                    found.push(password.to_string());
                }
            }
        }
    }
}
