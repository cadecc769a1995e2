//! The steps a suite may write, the webhook PPaaS sends and how it judges the answer, and
//! the operation table.

use serde_json::json;

use super::super::api::PPaaSSandbox;
use super::super::steps::QrPayment;
use super::super::{PPaaS, OPERATIONS, OP_QRCODE_PAYMENT};
use crate::journal::Journal;
use crate::providers::{Provider, StepKind};
use crate::sandbox::SandboxCore;

#[test]
fn the_webhook_body_is_valid_against_its_published_schema() {
    let sb = PPaaSSandbox::new(SandboxCore::new(Journal::in_memory()));
    let p: QrPayment =
        serde_json::from_value(json!({"extra_fields": {"loyalty": {"programme": "x"}}})).unwrap();
    let body = sb.webhook_body(&p, &uuid::Uuid::new_v4().to_string(), "order-1");
    let f = sb.schemas.check(OP_QRCODE_PAYMENT, &body);
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert_eq!(body["paymentAmount"]["amount"], 2000);
    assert_eq!(body["loyalty"]["programme"], "x");
    assert_eq!(body["merchantId"], "MERCHANT-GOLIVE-0001");
}

#[test]
fn answers_are_judged_for_the_terminal() {
    let sb = PPaaSSandbox::new(SandboxCore::new(Journal::in_memory()));
    let ok = json!({"clientTransactionId": "t1", "qrCode": {"type": "PAYLOAD", "value": "sp://pay/t1"}, "extra": 1});
    let (errors, unrecognized) = sb.judge_answer(200, ok.to_string().as_bytes(), "t1");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(unrecognized, vec!["extra".to_string()]);
    let image = json!({"clientTransactionId": "t1", "qrCode": {"type": "IMAGE", "value": "https://not-a-data-url"}});
    assert_eq!(
        sb.judge_answer(201, image.to_string().as_bytes(), "t1")
            .0
            .len(),
        1
    );
    let other =
        json!({"clientTransactionId": "t2", "qrCode": {"type": "URL", "value": "https://sp/t2"}});
    assert!(sb.judge_answer(200, other.to_string().as_bytes(), "t1").0[0].contains("asked about"));
    assert_eq!(
        sb.judge_answer(200, b"<html>", "t1").0,
        vec!["the answer is not JSON".to_string()]
    );
    // Where the seed is silent, every careful reading passes: the QR code as a plain
    // string, an object without a type, the id under another name.
    for lenient in [
        json!({"clientTransactionId": "t1", "qrCode": "REFSP:1:t1:2000"}),
        json!({"clientTransactionId": "t1", "qrCode": {"value": "sp://pay/t1"}}),
        json!({"transactionId": "t1", "qrCode": "https://sp/qr/t1"}),
        json!({"transaction": {"id": "t1"}, "qrCode": "sp://pay/t1"}),
    ] {
        let (errors, _) = sb.judge_answer(200, lenient.to_string().as_bytes(), "t1");
        assert!(errors.is_empty(), "{lenient}: {errors:?}");
    }
    // Still refused: no QR code, an empty one, no transaction id, a number for a code.
    for (bad, why) in [
        (json!({"clientTransactionId": "t1"}), "qrCode"),
        (json!({"clientTransactionId": "t1", "qrCode": ""}), "qrCode"),
        (json!({"qrCode": "sp://pay/x"}), "does not carry"),
        (json!({"clientTransactionId": "t1", "qrCode": 7}), "qrCode"),
        (
            json!({"qr_code_url": "https://sp/qr/x", "ok": true}),
            "qrCode",
        ),
    ] {
        let (errors, _) = sb.judge_answer(200, bad.to_string().as_bytes(), "t1");
        assert!(
            errors.iter().any(|e| e.contains(why)),
            "{bad}: expected `{why}` in {errors:?}"
        );
    }
    assert!(sb.judge_answer(400, b"<html>", "t1").0.is_empty());
}

#[test]
fn steps_and_settings_are_validated() {
    for (kind, step, readable) in [
        (
            StepKind::Provider,
            json!({"qrcode_payment": {"amount": 100}}),
            true,
        ),
        (
            StepKind::Provider,
            json!({"qrcode_payment": {"amt": 100}}),
            false,
        ),
        (StepKind::Shopper, json!({"consumer": "pays"}), true),
        (StepKind::Shopper, json!({"consumer": "dances"}), false),
        (StepKind::Sandbox, json!({"ack": "never"}), true),
        (StepKind::Sandbox, json!({"ack": {"fail_first": 2}}), true),
        (StepKind::Sandbox, json!({"ack": "sometimes"}), false),
    ] {
        let parsed = PPaaS.parse_step(kind, &step);
        assert_eq!(parsed.is_ok(), readable, "{kind:?} {step}");
    }
}

#[test]
fn the_correlation_table_reads() {
    crate::sandbox::operation::check_table(OPERATIONS).unwrap();
}
