//! The shopper's browser, as much of it as payment journeys need: follow a redirect, submit a
//! form (auto-submitting or with a button), follow a meta refresh. Nothing runs JavaScript;
//! a page that can only navigate by script is reported as such.

use regex::Regex;
use std::sync::OnceLock;

use super::http::HttpOutcome;

/// Where a page sends the browser next.
#[derive(Debug, Clone, PartialEq)]
pub struct Navigation {
    pub method: String,
    pub url: String,
    pub fields: Vec<(String, String)>,
}

/// An HTML form as the browser would submit it.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub fields: Vec<(String, String)>,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

fn attr(tag: &str, name: &str) -> Option<String> {
    static ATTR: OnceLock<Regex> = OnceLock::new();
    let re = re(
        &ATTR,
        r#"(?is)([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#,
    );
    re.captures_iter(tag).find_map(|c| {
        if c[1].eq_ignore_ascii_case(name) {
            let v = c.get(2).or(c.get(3)).or(c.get(4)).map(|m| m.as_str())?;
            Some(unescape(v))
        } else {
            None
        }
    })
}

/// Escapes text for HTML content and attribute values (pages the simulated providers and the
/// reference shops serve).
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Decodes the HTML entities that appear in attribute values.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    static ENT: OnceLock<Regex> = OnceLock::new();
    let re = re(&ENT, r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos|#39);");
    re.replace_all(s, |c: &regex::Captures| {
        let e = &c[1];
        match e {
            "amp" => "&".to_string(),
            "lt" => "<".to_string(),
            "gt" => ">".to_string(),
            "quot" => "\"".to_string(),
            "apos" | "#39" => "'".to_string(),
            _ => {
                let n = if let Some(h) = e.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else {
                    e[1..].parse().ok()
                };
                n.and_then(char::from_u32)
                    .map(String::from)
                    .unwrap_or_else(|| c[0].to_string())
            }
        }
    })
    .into_owned()
}

/// The first form of a page, with its fields (inputs with a name, textareas, selected options
/// are not needed by any payment page we drive).
pub fn parse_form(html: &str) -> Option<Form> {
    static FORM: OnceLock<Regex> = OnceLock::new();
    static INPUT: OnceLock<Regex> = OnceLock::new();
    let form_re = re(&FORM, r"(?is)<form\b([^>]*)>(.*?)(?:</form>|$)");
    let input_re = re(&INPUT, r"(?is)<(input|button)\b([^>]*)>");
    let caps = form_re.captures(html)?;
    let tag = &caps[1];
    let inner = &caps[2];
    let mut fields = Vec::new();
    for c in input_re.captures_iter(inner) {
        let t = &c[2];
        let kind = attr(t, "type").unwrap_or_default().to_ascii_lowercase();
        // A submit button's name/value is sent only when it is the one clicked; the first one
        // is what a shopper clicks.
        let is_button = c[1].eq_ignore_ascii_case("button") || kind == "submit";
        if let Some(name) = attr(t, "name") {
            if is_button
                && fields
                    .iter()
                    .any(|(n, _): &(String, String)| n == "__clicked")
            {
                continue;
            }
            if kind == "checkbox" || kind == "radio" {
                static CHECKED: OnceLock<Regex> = OnceLock::new();
                let checked = re(&CHECKED, r"(?i)\bchecked\b").is_match(t);
                if !checked {
                    continue;
                }
            }
            fields.push((name, attr(t, "value").unwrap_or_default()));
        }
    }
    Some(Form {
        action: attr(tag, "action").unwrap_or_default(),
        method: attr(tag, "method")
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase(),
        fields,
    })
}

/// A page's visible text, tags removed and entities decoded, cut at `max` characters: for
/// error messages that quote what the browser saw.
pub fn page_text(html: &str, max: usize) -> String {
    static TAG: OnceLock<Regex> = OnceLock::new();
    let text = re(&TAG, r"(?s)<[^>]*>").replace_all(html, " ");
    let text = unescape(&text);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(max).collect()
}

/// Resolves a link found on a page against the page's URL.
pub fn resolve(base: &str, link: &str) -> String {
    match url::Url::parse(base).and_then(|b| b.join(link)) {
        Ok(u) => u.to_string(),
        Err(_) => link.to_owned(),
    }
}

/// Where the browser goes after this answer, if anywhere.
pub fn next_navigation(page_url: &str, outcome: &HttpOutcome) -> Option<Navigation> {
    if (300..400).contains(&outcome.status) {
        let location = outcome.header("location")?;
        // 307/308 keep the method and body; the others turn into a GET.
        let method = if matches!(outcome.status, 307 | 308) {
            "POST"
        } else {
            "GET"
        };
        return Some(Navigation {
            method: method.into(),
            url: resolve(page_url, location),
            fields: Vec::new(),
        });
    }
    let html = outcome.text();
    if let Some(form) = parse_form(&html) {
        let action = if form.action.is_empty() {
            page_url.to_owned()
        } else {
            resolve(page_url, &form.action)
        };
        return Some(Navigation {
            method: form.method,
            url: action,
            fields: form.fields,
        });
    }
    static META: OnceLock<Regex> = OnceLock::new();
    let meta = re(
        &META,
        r#"(?is)<meta[^>]+http-equiv\s*=\s*["']?refresh["']?[^>]*content\s*=\s*["'][^"']*url\s*=\s*([^"'>]+)["']"#,
    );
    if let Some(c) = meta.captures(&html) {
        return Some(Navigation {
            method: "GET".into(),
            url: resolve(page_url, &unescape(c[1].trim())),
            fields: Vec::new(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: u16, headers: &[(&str, &str)], body: &str) -> HttpOutcome {
        HttpOutcome::test_answer("http://shop/checkout", status, headers, body)
    }

    #[test]
    fn an_auto_submitting_form_is_followed() {
        let html = r#"<html><body onload="document.forms[0].submit()">
            <form method="post" action="http://sandbox/ewallet?x=1&amp;y=2">
            <input type="hidden" name="merchantTransactionId" value="o-1">
            <input type='hidden' name='callBackUrl' value='http://shop/cb?a=1&amp;b=2'>
            <input type="submit" value="Pay"></form></body></html>"#;
        let nav = next_navigation("http://shop/checkout", &page(200, &[], html)).unwrap();
        assert_eq!(nav.method, "POST");
        assert_eq!(nav.url, "http://sandbox/ewallet?x=1&y=2");
        assert_eq!(
            nav.fields,
            vec![
                ("merchantTransactionId".into(), "o-1".into()),
                ("callBackUrl".into(), "http://shop/cb?a=1&b=2".into())
            ]
        );
    }

    #[test]
    fn redirects_and_relative_links() {
        let nav = next_navigation(
            "http://shop/checkout",
            &page(303, &[("Location", "/pay?o=1")], ""),
        )
        .unwrap();
        assert_eq!(
            (nav.method.as_str(), nav.url.as_str()),
            ("GET", "http://shop/pay?o=1")
        );
        let nav = next_navigation(
            "http://shop/a",
            &page(307, &[("location", "http://s/x")], ""),
        )
        .unwrap();
        assert_eq!(nav.method, "POST");
    }

    #[test]
    fn page_text_drops_tags() {
        assert_eq!(
            page_text("<h1>E-wallet</h1><p>Bad: &quot;x&quot;</p>", 100),
            "E-wallet Bad: \"x\""
        );
    }

    #[test]
    fn meta_refresh_and_nothing() {
        let html = r#"<meta http-equiv="refresh" content="0; url=http://s/next">"#;
        let nav = next_navigation("http://shop/a", &page(200, &[], html)).unwrap();
        assert_eq!(nav.url, "http://s/next");
        assert!(next_navigation("http://shop/a", &page(200, &[], "{\"ok\":true}")).is_none());
    }
}
