use super::*;
use base64::Engine;

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.c2hvcC10b2tlbg.sig42";
const PASSWORD: &str = "S3cret-Pa55word!";

fn exchange(url: &str, req_headers: &[(&str, &str)], req_body: &str, resp_body: &str) -> Exchange {
    let headers = |h: &[(&str, &str)]| {
        h.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut ex = Exchange::test_call("POST", url, req_body, resp_body);
    ex.scenario = "purchase_captured".into();
    ex.duration_ms = 1.0;
    ex.request.headers = headers(req_headers);
    ex
}

fn all_text(ex: &Exchange) -> String {
    serde_json::to_string(ex).unwrap()
}

#[test]
fn bearer_keeps_its_scheme_and_token_headers_become_fingerprints() {
    let s = Secrets::new();
    assert_eq!(
        s.mask_header("Authorization", &format!("Bearer {TOKEN}")),
        format!("Bearer {}", fingerprint(TOKEN))
    );
    assert_eq!(s.mask_header("x-auth-token", TOKEN), fingerprint(TOKEN));
    assert_eq!(s.mask_header("X-Access-Token", TOKEN), fingerprint(TOKEN));
    assert_eq!(s.mask_header("Accept-Language", "en-US"), "en-US");
}

#[test]
fn basic_credentials_and_their_password_are_masked() {
    let cred = base64::engine::general_purpose::STANDARD.encode(format!("shop:{PASSWORD}"));
    let mut ex = exchange(
        "/oauth/token",
        &[("Authorization", &format!("Basic {cred}"))],
        &format!("echo {PASSWORD}"),
        "",
    );
    let mut s = Secrets::new();
    s.learn_from(&ex);
    s.mask_exchange(&mut ex);
    let text = all_text(&ex);
    assert!(!text.contains(&cred), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains(&format!("Basic {}", fingerprint(&cred))));
}

#[test]
fn cookies_keep_names_and_attributes() {
    let s = Secrets::new();
    // A session cookie is masked; a preference says what it is and stays readable.
    assert_eq!(
        s.mask_header("Cookie", "session=abc123456; lang=en"),
        format!("session={}; lang=en", fingerprint("abc123456"))
    );
    // A cookie whose name says nothing is taken as a credential.
    assert_eq!(
        s.mask_header("Cookie", "x=abc123456"),
        format!("x={}", fingerprint("abc123456"))
    );
    assert_eq!(
        s.mask_header("Set-Cookie", "session=abc123456; Path=/; HttpOnly"),
        format!("session={}; Path=/; HttpOnly", fingerprint("abc123456"))
    );
}

#[test]
fn json_fields_are_masked_at_any_depth_and_case() {
    let s = Secrets::new();
    let body = format!(
        r#"{{"user":"u1","password":"{PASSWORD}","nested":{{"deeper":[{{"AccessToken":"{TOKEN}"}}]}},"apiKey":12345678,"partnerReference":"ref-1"}}"#
    );
    let masked = s.mask_text(&body);
    assert!(!masked.contains(PASSWORD) && !masked.contains(TOKEN) && !masked.contains("12345678"));
    let v: serde_json::Value = serde_json::from_str(&masked).expect("still JSON");
    assert_eq!(v["password"], fingerprint(PASSWORD));
    assert_eq!(v["nested"]["deeper"][0]["AccessToken"], fingerprint(TOKEN));
    assert_eq!(v["apiKey"], fingerprint("12345678"));
    assert_eq!(v["partnerReference"], "ref-1");
    assert_eq!(v["user"], "u1");
}

#[test]
fn json_inside_json_strings_is_masked() {
    let mut s = Secrets::new();
    let body = format!(r#"{{"payload":"{{\"password\":\"{PASSWORD}\"}}","n":1}}"#);
    let ex = exchange("/", &[], &body, "");
    s.learn_from(&ex);
    let masked = s.mask_text(&body);
    assert!(!masked.contains(PASSWORD), "{masked}");
    let v: serde_json::Value = serde_json::from_str(&masked).expect("still JSON");
    let inner: serde_json::Value = serde_json::from_str(v["payload"].as_str().unwrap()).unwrap();
    assert_eq!(inner["password"], fingerprint(PASSWORD));
    assert_eq!(s.mask_text(PASSWORD), fingerprint(PASSWORD));
}

#[test]
fn prose_about_credentials_is_kept() {
    let s = Secrets::new();
    let text = "Basic authentication and Bearer tokens are described here";
    assert_eq!(s.mask_text(text), text);
}

#[test]
fn cut_json_bodies_are_masked_too() {
    let s = Secrets::new();
    let cut = format!(r#"{{"items":[1,2],"client_secret" : "{PASSWORD}", "more": "…"#);
    let masked = s.mask_text(&cut);
    assert!(!masked.contains(PASSWORD), "{masked}");
    assert!(masked.contains(&fingerprint(PASSWORD)));
}

#[test]
fn form_bodies_and_query_strings_are_masked() {
    let s = Secrets::new();
    let form = "grant_type=client_credentials&client_id=shop&client_secret=s%40cr3t%2Fvalue";
    let masked = s.mask_text(form);
    assert_eq!(
        masked,
        format!(
            "grant_type=client_credentials&client_id=shop&client_secret={}",
            fingerprint("s@cr3t/value")
        )
    );
    let url = "/cb?paymentResult=OK&token=abcdef123&uniqueReference=U1";
    assert_eq!(
        s.mask_text(url),
        format!(
            "/cb?paymentResult=OK&token={}&uniqueReference=U1",
            fingerprint("abcdef123")
        )
    );
}

#[test]
fn secrets_found_by_rule_are_masked_everywhere_else() {
    // The token is issued in a JSON answer, then shows up in a URL path and an error.
    let mut issue = exchange(
        "/user/u1/issue",
        &[],
        "{}",
        &format!(r#"{{"token":"{TOKEN}"}}"#),
    );
    let mut leak = exchange(&format!("/debug/{TOKEN}"), &[], "", "");
    leak.error = Some(format!("refused while sending {TOKEN}"));
    let mut s = Secrets::new();
    s.learn_from(&issue);
    s.learn_from(&leak);
    s.mask_exchange(&mut issue);
    s.mask_exchange(&mut leak);
    for ex in [&issue, &leak] {
        let text = all_text(ex);
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains(&fingerprint(TOKEN)), "{text}");
    }
    assert_eq!(
        s.mask_text(&format!("token {TOKEN} reused")),
        format!("token {} reused", fingerprint(TOKEN))
    );
}

#[test]
fn known_secrets_are_masked_in_every_spelling() {
    let s = Secrets::with(["p@ss word!", "ibm-client-id-77"]);
    let text = "password=p%40ss+word%21 and \"p@ss word!\" and X-IBM-Client-Id: ibm-client-id-77";
    let masked = s.mask_text(text);
    assert!(
        !masked.contains("p%40ss")
            && !masked.contains("p@ss")
            && !masked.contains("ibm-client-id-77"),
        "{masked}"
    );
    assert_eq!(
        masked.matches(&fingerprint("p@ss word!")).count(),
        2,
        "{masked}"
    );
    assert!(s
        .mask_header("X-IBM-Client-Id", "ibm-client-id-77")
        .starts_with("fp:"));
    // A client id not listed is not a secret.
    assert_eq!(
        Secrets::new().mask_header("X-IBM-Client-Id", "abc-client"),
        "abc-client"
    );
}

#[test]
fn short_values_found_by_rule_are_not_masked_everywhere() {
    let mut s = Secrets::new();
    let ex = exchange("/", &[("Cookie", "lang=en")], "", "");
    s.learn_from(&ex);
    assert!(s.is_empty());
    assert_eq!(s.mask_text("open the gate"), "open the gate");
}

#[test]
fn digits_inside_an_id_are_not_a_card_number() {
    // A UUID whose digit groups happen to spell a Luhn-valid number.
    let id = "3e1c14e4-4111-1111-1111-1111ee1bd801";
    assert_eq!(mask_card_numbers(id), id);
    assert_eq!(
        mask_card_numbers("pan=4111111111111111&x"),
        "pan=411111******1111&x"
    );
}

#[test]
fn card_numbers_are_masked_keeping_six_and_four() {
    assert_eq!(
        mask_card_numbers("pan 4111111111111111."),
        "pan 411111******1111."
    );
    assert_eq!(mask_card_numbers("4111 1111 1111 1111"), "411111******1111");
    assert_eq!(mask_card_numbers("5555-5555-5555-4444"), "555555******4444");
    assert_eq!(
        mask_card_numbers("card=4111+1111+1111+1111&x=1"),
        "card=411111******1111&x=1"
    );
    assert_eq!(
        mask_card_numbers("card=4111%201111%201111%201111"),
        "card=411111******1111"
    );
    // Amex, 15 digits: first four only, so five stay hidden.
    assert_eq!(mask_card_numbers("378282246310005"), "3782*******0005");
    // A card followed by a year in the same run of groups.
    assert_eq!(
        mask_card_numbers("4111 1111 1111 1111 2024"),
        "411111******1111 2024"
    );
    assert_eq!(
        mask_card_numbers("\"pan\":\"5555555555554444\""),
        "\"pan\":\"555555******4444\""
    );
}

#[test]
fn order_ids_and_timestamps_are_left_alone() {
    for text in [
        // Epoch milliseconds (13 digits starting with 1; this one is even Luhn-valid).
        "at 1718000000006",
        // A date-time as digits.
        "localDate 20240611 localTime 143055, sysDate 20240611143055",
        // Order ids that fail Luhn.
        "order 4111111111111112, ref 5555555555554445",
        // Too short, too long.
        "411111111111 and 41111111111111111111111",
        // An amount and a phone number.
        "amount 1234.56 EUR, phone +49 30 1234 5678",
    ] {
        assert_eq!(mask_card_numbers(text), text);
    }
    assert!(luhn_valid(&[1, 7, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 6]));
}

#[test]
fn masking_is_stable_and_idempotent() {
    let s = Secrets::with([PASSWORD]);
    let once = s.mask_text(&format!("Bearer {TOKEN} {PASSWORD} 4111111111111111"));
    assert_eq!(s.mask_text(&once), once);
    assert_eq!(
        once,
        format!(
            "Bearer {} {} 411111******1111",
            fingerprint(TOKEN),
            fingerprint(PASSWORD)
        )
    );
}

#[test]
fn userinfo_in_urls_is_masked() {
    let s = Secrets::new();
    assert_eq!(
        s.mask_text("https://shop:hunter22@api.example/x"),
        format!("https://shop:{}@api.example/x", fingerprint("hunter22"))
    );
}

#[test]
fn facts_are_masked() {
    let mut ex = exchange("/", &[], "", "");
    ex.facts.notes.insert("idempotencyKey".into(), "k-1".into());
    ex.facts.notes.insert("checkoutToken".into(), TOKEN.into());
    ex.facts.answer_errors = vec![format!("/qrCode: {TOKEN} is not a QR code")];
    ex.facts.notes.insert(
        "card".into(),
        serde_json::json!({"pan": "4111111111111111"}),
    );
    Secrets::new().mask_exchange(&mut ex);
    let text = all_text(&ex);
    assert!(
        !text.contains(TOKEN) && !text.contains("4111111111111111"),
        "{text}"
    );
    assert!(text.contains("k-1"));
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn jwt_shaped_and_sandbox_tokens_are_masked_anywhere_without_being_learned() {
    let kc = format!("kc.{}", "Ab3".repeat(16));
    let mp = format!("mp.{}", "0123456789abcdef".repeat(4));
    let checkout = "Zz9".repeat(28) + "Zz";
    let mut s = Secrets::new();
    let mut ex = exchange(
        &format!("/cb?state={TOKEN}&x=1"),
        &[("X-Trace", &format!("t {kc}"))],
        &format!(r#"{{"note":"{mp}","ref":"{checkout}"}}"#),
        &format!("order probe says paid, session {TOKEN}"),
    );
    s.learn_from(&ex);
    assert!(s.is_empty(), "shaped tokens are never stored");
    s.mask_exchange(&mut ex);
    let text = all_text(&ex);
    for token in [TOKEN, &kc, &mp, &checkout] {
        assert!(!text.contains(token), "{token} in {text}");
        assert!(text.contains(&fingerprint(token)), "{text}");
    }
    assert!(text.contains("&x=1"), "{text}");
}

#[test]
fn base64_and_url_encodings_of_credentials_and_of_each_secret_are_masked() {
    let s = Secrets::with([PASSWORD]);
    let pair = b64(&format!("shop-user:{PASSWORD}"));
    let alone = b64(PASSWORD);
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(PASSWORD);
    let percent = percent_encode(PASSWORD);
    let over_encoded: String = PASSWORD.bytes().map(|b| format!("%{b:02x}")).collect();
    let json_doc = b64(&format!(r#"{{"user":"u","pw":"{PASSWORD}"}}"#));
    // Credentials of someone the runner never heard of are masked by their shape.
    let stranger = b64("merchant-42:n0t-a-known-s3cret");
    for planted in [
        &pair,
        &alone,
        &url_safe,
        &percent,
        &over_encoded,
        &json_doc,
        &stranger,
    ] {
        let text = format!("X-Shop-Credentials: {planted}; body={{\"c\":\"{planted}\"}}");
        let masked = s.mask_text(&text);
        assert!(!masked.contains(planted.as_str()), "{planted}: {masked}");
        assert!(masked.contains("X-Shop-Credentials: fp:"), "{masked}");
    }
    // Ordinary base64-looking words and ids stay.
    for plain in [
        "partnerReference",
        "purchase_captured-5c1e0b7a",
        "aaXy9aLHxRFvkYdixXL977",
    ] {
        assert_eq!(s.mask_text(plain), plain);
    }
}

#[test]
fn a_password_a_shop_encodes_itself_is_learned_from_the_pair() {
    let pair = b64("shop:Hidden-Pa55word");
    let ex = exchange("/", &[("X-Credentials", &pair)], "", "");
    let mut s = Secrets::new();
    s.learn_from(&ex);
    assert_eq!(
        s.mask_text("login with Hidden-Pa55word failed"),
        format!("login with {} failed", fingerprint("Hidden-Pa55word"))
    );
}

#[test]
fn an_order_id_in_a_cookie_or_header_stays_readable_and_a_session_cookie_does_not() {
    let order = "ORD-2024-000981";
    let session = "s3ss-9f8e7d6c5b4a";
    // The shop sets its order id and its session in cookies when the checkout starts.
    let mut checkout = exchange("/checkout", &[], "", "");
    checkout.response.as_mut().unwrap().headers = [
        ("Set-Cookie", format!("order={order}; Path=/")),
        ("Set-Cookie", format!("sid={session}; HttpOnly")),
        ("X-Order-Id", order.into()),
    ]
    .into_iter()
    .collect();
    // The same id under a name that says nothing, then the journal naming it an order.
    let mut pay = exchange(
        &format!("/pay/{order}"),
        &[("Cookie", &format!("o={order}; sid={session}"))],
        "",
        "",
    );
    pay.facts.order = Some(order.into());
    let mut s = Secrets::new();
    s.learn_from(&checkout);
    s.learn_from(&pay);
    s.mask_exchange(&mut checkout);
    s.mask_exchange(&mut pay);
    assert_eq!(pay.request.url, format!("/pay/{order}"));
    let text = all_text(&checkout) + &all_text(&pay);
    assert!(text.contains(&format!("order={order}; Path=/")), "{text}");
    assert!(text.contains(&format!("o={order}")), "{text}");
    assert!(!text.contains(session), "{text}");
    assert!(text.contains(&format!("sid={}", fingerprint(session))));
    assert_eq!(
        s.mask_text(&format!("order {order}")),
        format!("order {order}")
    );
}

#[test]
fn the_learned_set_does_not_grow_with_the_tokens_a_sandbox_issues() {
    let mut s = Secrets::with([PASSWORD]);
    let known = s.len();
    for i in 0..45_000 {
        // As the KontoCloud sandbox issues them: 48 characters of its alphabet.
        let kc = format!("kc.{:Q>48}", format!("Ab{i}").replace(['0', '1'], "x"));
        let ex = exchange(
            "/user/u1/issue",
            &[("X-Auth-Token", &kc)],
            "",
            &format!(r#"{{"token":"{kc}","jwt":"eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiI{i}In0.sig{i}"}}"#),
        );
        s.learn_from(&ex);
    }
    assert_eq!(s.len(), known, "no issued token is stored");
    // A shop's own session ids (no known shape) cost a few hashes each, not their text.
    let mut shop = Secrets::new();
    for i in 0..1_000 {
        let ex = exchange(
            "/",
            &[("Cookie", &format!("sid=session-value-{i:06}"))],
            "",
            "",
        );
        shop.learn_from(&ex);
    }
    assert_eq!(shop.len(), 1_000, "one hash per distinct spelling");
    assert_eq!(
        shop.mask_text("GET /x/session-value-000042/y"),
        format!("GET /x/{}/y", fingerprint("session-value-000042"))
    );
}

#[test]
fn a_log_file_is_masked_in_place_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("target.log");
    let pair = b64(&format!("shop:{PASSWORD}"));
    std::fs::write(
            &log,
            format!(
                "listening on 127.0.0.1:4000\ngot token {TOKEN}\nlogin {PASSWORD} as {pair}\n\u{1b}[31mpaid order ORD-1\u{1b}[0m"
            ),
        )
        .unwrap();
    mask_file(&log, &Secrets::with([PASSWORD])).unwrap();
    let masked = std::fs::read_to_string(&log).unwrap();
    assert!(!masked.contains(TOKEN) && !masked.contains(PASSWORD) && !masked.contains(&pair));
    assert!(
        masked.starts_with("listening on 127.0.0.1:4000\n"),
        "{masked}"
    );
    assert!(masked.ends_with("paid order ORD-1\u{1b}[0m"), "{masked}");
    assert_eq!(masked.lines().count(), 4);
    assert!(mask_file(&dir.path().join("missing.log"), &Secrets::new()).is_err());
}
