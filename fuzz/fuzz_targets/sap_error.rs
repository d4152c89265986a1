//! SAP error bodies (v1 `{"error":{"code":301,"message":{"lang","value"}}}`, v2
//! `{"error":{"code":"301","message":"..."}}`) and the Login answer: `SapError::parse`,
//! `classify`, `describe_answer`, `LoginAnswer::parse`. The first two bytes are the HTTP
//! status, the third the login flag. Invariants: messages are cut to 300 characters (+ `…`);
//! an accepted Login answer has a non-empty session id and a positive timeout, and its Debug
//! output redacts the session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::connectors::sap_b1::wire::{classify, describe_answer, LoginAnswer, SapError};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]);
    let during_login = data[2] & 1 == 1;
    let body = &data[3..];
    let error = SapError::parse(body);
    if let Some(e) = &error {
        assert!(e.message.chars().count() <= 301, "message is cut");
        let _ = e.code_number();
        let _ = e.to_string();
    }
    let _ = classify(status, error.as_ref(), during_login);
    let _ = describe_answer(status, error.as_ref());
    if let Ok(answer) = LoginAnswer::parse(body) {
        assert!(!answer.session_id.is_empty());
        assert!(answer.session_timeout_minutes > 0);
        assert!(format!("{answer:?}").contains("[REDACTED]"));
    }
});
