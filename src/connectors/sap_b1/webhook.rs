//! SAP Business One webhooks (10.0 FP 2602+, Service Layer v2 only; guide §7): signature check,
//! event parsing and the handshake answer.
//!
//! Source: `/work/shared/api-notes/sap-business-one.md`, "Webhooks". A delivery is a `POST`
//! whose body is a JSON **array** of CloudEvents-like objects
//! `{"id","specversion":"1.0","source":"/default/sap.b1/SBODEMOUS","type":"sap.b1.Orders.Created.v1",
//! "subject":"91","time":"...","datacontenttype":"application/json","data":{"DocEntry":"91"}}`,
//! signed in the header `X-B1-Webhook-Signature` with base64 HMAC-SHA256 (or 384/512) of the raw
//! body. The event only names the key: the receiver fetches the document.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha384, Sha512};

/// Header carrying the signature of a delivery.
pub const SIGNATURE_HEADER: &str = "X-B1-Webhook-Signature";
/// Header carrying the token of the handshake `GET`.
pub const HANDSHAKE_TOKEN_HEADER: &str = "X-B1-Webhook-Token";

/// HMAC algorithm of a subscription's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureAlgorithm {
    /// HMAC-SHA256 (SAP's default).
    #[default]
    HmacSha256,
    /// HMAC-SHA384.
    HmacSha384,
    /// HMAC-SHA512.
    HmacSha512,
}

impl SignatureAlgorithm {
    /// The Service Layer's name in `AuthenticationCred.Algorithm` (`HMACSha256`, `HMACSha384`,
    /// `HMACSha512`; SDK help object OEVC).
    pub fn sap_name(self) -> &'static str {
        match self {
            SignatureAlgorithm::HmacSha256 => "HMACSha256",
            SignatureAlgorithm::HmacSha384 => "HMACSha384",
            SignatureAlgorithm::HmacSha512 => "HMACSha512",
        }
    }

    /// Read a configured name: SAP's `HMACSha256`, also `HMAC-SHA256`, `HmacSHA256`, `sha256`
    /// (and the 384/512 variants), case-insensitive, dashes and underscores ignored. `None` for
    /// anything else.
    pub fn from_name(name: &str) -> Option<SignatureAlgorithm> {
        let norm: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        match norm.trim_start_matches("hmac") {
            "sha256" => Some(SignatureAlgorithm::HmacSha256),
            "sha384" => Some(SignatureAlgorithm::HmacSha384),
            "sha512" => Some(SignatureAlgorithm::HmacSha512),
            _ => None,
        }
    }
}

/// Check `X-B1-Webhook-Signature` (base64 HMAC-SHA256 of `raw_body` with `secret`).
/// Constant-time comparison; a header that is not base64 gives `false`.
pub fn verify_signature(secret: &[u8], raw_body: &[u8], header_value: &str) -> bool {
    verify_signature_with(
        SignatureAlgorithm::HmacSha256,
        secret,
        raw_body,
        header_value,
    )
}

/// Like [`verify_signature`] with the subscription's algorithm (HMAC-SHA256/384/512).
pub fn verify_signature_with(
    algorithm: SignatureAlgorithm,
    secret: &[u8],
    raw_body: &[u8],
    header_value: &str,
) -> bool {
    let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(header_value.trim()) else {
        return false;
    };
    match algorithm {
        SignatureAlgorithm::HmacSha256 => verify::<Hmac<Sha256>>(secret, raw_body, &tag),
        SignatureAlgorithm::HmacSha384 => verify::<Hmac<Sha384>>(secret, raw_body, &tag),
        SignatureAlgorithm::HmacSha512 => verify::<Hmac<Sha512>>(secret, raw_body, &tag),
    }
}

fn verify<M: Mac + KeyInit>(secret: &[u8], body: &[u8], tag: &[u8]) -> bool {
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(tag).is_ok()
}

/// One event of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `id` of the event (unique per event; use it to dedupe SAP's retries).
    pub id: String,
    /// Business object from `type` (`sap.b1.Orders.Created.v1` → `Orders`), the Service Layer
    /// entity set to fetch.
    pub entity: String,
    /// Transaction from `type` (`Created`, `Updated`, `Deleted`, `Canceled`, `Closed`, ...).
    pub transaction: String,
    /// `data.DocEntry` (string or number on the wire), else a numeric `subject`.
    pub doc_entry: Option<i64>,
    /// `source` (`/default/sap.b1/SBODEMOUS`), naming the company database, if sent.
    pub source: Option<String>,
}

/// Parse the body of a delivery (a JSON array of events).
///
/// Errors (text names the event index, never the secret): the body is not a JSON array; an
/// element is not an object, has no string `id` or `type`, or a `type` that is not
/// `sap.b1.<Object>.<Transaction>.v<N>`.
pub fn parse_events(raw_body: &[u8]) -> Result<Vec<WebhookEvent>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(raw_body).map_err(|e| format!("webhook body is not JSON: {e}"))?;
    let serde_json::Value::Array(items) = value else {
        return Err("webhook body is not a JSON array of events".into());
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_event(item).map_err(|e| format!("event #{index}: {e}")))
        .collect()
}

fn parse_event(item: &serde_json::Value) -> Result<WebhookEvent, String> {
    let object = item.as_object().ok_or("not an object")?;
    let id = object
        .get("id")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or("no `id`")?
        .to_string();
    let kind = object
        .get("type")
        .and_then(|v| v.as_str())
        .ok_or("no `type`")?;
    let (entity, transaction) =
        split_type(kind).ok_or_else(|| format!("unexpected `type` {kind:?}"))?;
    let doc_entry = object
        .get("data")
        .and_then(|d| d.get("DocEntry"))
        .and_then(number_or_string)
        .or_else(|| object.get("subject").and_then(number_or_string));
    let source = object
        .get("source")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(WebhookEvent {
        id,
        entity,
        transaction,
        doc_entry,
        source,
    })
}

/// `sap.b1.Orders.Created.v1` → (`Orders`, `Created`).
fn split_type(kind: &str) -> Option<(String, String)> {
    let rest = kind.strip_prefix("sap.b1.")?;
    let mut parts = rest.rsplitn(3, '.');
    let version = parts.next()?;
    let transaction = parts.next()?;
    let entity = parts.next()?;
    let version_ok = version
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !version_ok || transaction.is_empty() || entity.is_empty() {
        return None;
    }
    Some((entity.to_string(), transaction.to_string()))
}

fn number_or_string(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The signature `X-B1-Webhook-Signature` of `message` (base64 HMAC with `secret`): what SAP
/// sends with a delivery (message = raw body) and with the handshake (message = the
/// `X-B1-Webhook-Token` value). Used by tests and the sandbox to sign like SAP.
pub fn sign(algorithm: SignatureAlgorithm, secret: &[u8], message: &[u8]) -> String {
    fn tag<M: Mac + KeyInit>(secret: &[u8], message: &[u8]) -> Vec<u8> {
        match <M as KeyInit>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    let bytes = match algorithm {
        SignatureAlgorithm::HmacSha256 => tag::<Hmac<Sha256>>(secret, message),
        SignatureAlgorithm::HmacSha384 => tag::<Hmac<Sha384>>(secret, message),
        SignatureAlgorithm::HmacSha512 => tag::<Hmac<Sha512>>(secret, message),
    };
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Answer body of the handshake `GET` (header `X-B1-Webhook-Token: <uuid>`), sent with 200:
/// `{"Challenge":"<token>"}`.
pub fn challenge_response(token: &str) -> serde_json::Value {
    serde_json::json!({ "Challenge": token })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"[{"id":"6c1d-01","specversion":"1.0","source":"/default/sap.b1/SBODEMOUS","type":"sap.b1.Orders.Created.v1","subject":"91","time":"2025-11-10T23:10:22.917Z","datacontenttype":"application/json","data":{"DocEntry":"91"}},{"id":"6c1d-02","specversion":"1.0","type":"sap.b1.PurchaseOrders.Updated.v1","data":{"DocEntry":17}}]"#;

    fn sign<M: Mac + KeyInit>(secret: &[u8], body: &[u8]) -> String {
        let mut mac = <M as KeyInit>::new_from_slice(secret).expect("key");
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn good_signature_verifies() {
        let secret = b"webhook-secret";
        let header = sign::<Hmac<Sha256>>(secret, BODY);
        assert!(verify_signature(secret, BODY, &header));
        assert!(verify_signature(secret, BODY, &format!(" {header}\n")));
    }

    #[test]
    fn bad_or_tampered_signature_fails() {
        let secret = b"webhook-secret";
        let header = sign::<Hmac<Sha256>>(secret, BODY);
        assert!(!verify_signature(b"other-secret", BODY, &header));
        let mut tampered = BODY.to_vec();
        tampered[20] ^= 1;
        assert!(!verify_signature(secret, &tampered, &header));
        assert!(!verify_signature(secret, BODY, "not base64 !!"));
        assert!(!verify_signature(secret, BODY, ""));
        // A SHA-512 signature does not pass as SHA-256.
        let long = sign::<Hmac<Sha512>>(secret, BODY);
        assert!(!verify_signature(secret, BODY, &long));
    }

    #[test]
    fn sha384_and_sha512_when_configured() {
        let secret = b"k";
        let h384 = sign::<Hmac<Sha384>>(secret, BODY);
        let h512 = sign::<Hmac<Sha512>>(secret, BODY);
        let a384 = SignatureAlgorithm::from_name("HMAC-SHA384").expect("384");
        let a512 = SignatureAlgorithm::from_name("sha512").expect("512");
        assert!(verify_signature_with(a384, secret, BODY, &h384));
        assert!(verify_signature_with(a512, secret, BODY, &h512));
        assert!(!verify_signature_with(a384, secret, BODY, &h512));
        assert_eq!(
            SignatureAlgorithm::from_name("HmacSHA256"),
            Some(SignatureAlgorithm::HmacSha256)
        );
        assert_eq!(SignatureAlgorithm::from_name("md5"), None);
        for a in [
            SignatureAlgorithm::HmacSha256,
            SignatureAlgorithm::HmacSha384,
            SignatureAlgorithm::HmacSha512,
        ] {
            assert_eq!(SignatureAlgorithm::from_name(a.sap_name()), Some(a));
            assert!(verify_signature_with(a, secret, BODY, &super::sign(a, secret, BODY)));
        }
        assert_eq!(super::sign(SignatureAlgorithm::HmacSha512, secret, BODY), h512);
    }

    #[test]
    fn events_parse() {
        let events = parse_events(BODY).expect("events");
        assert_eq!(
            events[0],
            WebhookEvent {
                id: "6c1d-01".into(),
                entity: "Orders".into(),
                transaction: "Created".into(),
                doc_entry: Some(91),
                source: Some("/default/sap.b1/SBODEMOUS".into()),
            }
        );
        assert_eq!(events[1].entity, "PurchaseOrders");
        assert_eq!(events[1].transaction, "Updated");
        assert_eq!(events[1].doc_entry, Some(17));
    }

    #[test]
    fn bad_events_are_errors() {
        assert!(parse_events(br#"{"id":"x"}"#).is_err());
        assert!(parse_events(b"[").is_err());
        let err = parse_events(br#"[{"id":"a","type":"sap.b1.Orders.Created.v1"},{"id":"b","type":"com.other.Thing"}]"#)
            .expect_err("bad type");
        assert!(err.starts_with("event #1"), "{err}");
        assert!(parse_events(br#"[{"type":"sap.b1.Orders.Created.v1"}]"#).is_err());
        // No DocEntry anywhere: the event parses with None.
        let e = parse_events(br#"[{"id":"a","type":"sap.b1.Orders.Created.v1","data":{}}]"#)
            .expect("parse");
        assert_eq!(e[0].doc_entry, None);
        assert_eq!(parse_events(b"[]").expect("empty"), vec![]);
    }

    #[test]
    fn handshake_answer() {
        assert_eq!(
            challenge_response("0f6c-uuid"),
            serde_json::json!({"Challenge":"0f6c-uuid"})
        );
    }
}
