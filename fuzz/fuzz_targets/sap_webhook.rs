//! SAP webhooks: `parse_events`, `verify_signature_with` and `SapWebhook::receive` (the
//! inbound endpoint) with arbitrary methods, headers and bodies. Invariants: a body signed with
//! the right key and algorithm verifies, a different signature does not; a correctly signed POST
//! is accepted (202) exactly when `parse_events` accepts the body, and the nudged entities are
//! the watched ones the events name; every refusal is 400, 401 or 405.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use ml_connector::connectors::sap_b1::inbound::SapWebhook;
use ml_connector::connectors::sap_b1::webhook::{
    parse_events, verify_signature_with, SignatureAlgorithm,
};
use ml_connector_actors::inbound::{Inbound, InboundRequest};
use sha2::{Sha256, Sha384, Sha512};

#[derive(Debug, Arbitrary)]
struct Input {
    algorithm: u8,
    method: u8,
    /// Sign the body correctly (else `signature` is sent as is).
    sign: bool,
    secret: Vec<u8>,
    signature: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

const SECRET: &str = "fuzz-webhook-secret";
const ENTITIES: [&str; 2] = ["PurchaseOrders", "Orders"];

fn sign(algorithm: SignatureAlgorithm, secret: &[u8], body: &[u8]) -> String {
    fn tag<M: Mac + KeyInit>(secret: &[u8], body: &[u8]) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
    let tag = match algorithm {
        SignatureAlgorithm::HmacSha256 => tag::<Hmac<Sha256>>(secret, body),
        SignatureAlgorithm::HmacSha384 => tag::<Hmac<Sha384>>(secret, body),
        SignatureAlgorithm::HmacSha512 => tag::<Hmac<Sha512>>(secret, body),
    };
    base64::engine::general_purpose::STANDARD.encode(tag)
}

fuzz_target!(|input: Input| {
    let algorithm = match input.algorithm % 3 {
        0 => SignatureAlgorithm::HmacSha256,
        1 => SignatureAlgorithm::HmacSha384,
        _ => SignatureAlgorithm::HmacSha512,
    };
    // Signature check alone, with an arbitrary key.
    let good = sign(algorithm, &input.secret, &input.body);
    assert!(verify_signature_with(
        algorithm,
        &input.secret,
        &input.body,
        &good
    ));
    if input.signature.trim() != good {
        let _ = verify_signature_with(algorithm, &input.secret, &input.body, &input.signature);
    }
    let parsed = parse_events(&input.body);

    // The endpoint.
    let method = ["POST", "GET", "HEAD", "PUT"][usize::from(input.method % 4)];
    let mut headers: Vec<(String, String)> = input
        .headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let signed = input.sign && method == "POST";
    if signed {
        let signature = sign(algorithm, SECRET.as_bytes(), &input.body);
        headers.insert(0, ("x-b1-webhook-signature".into(), signature));
    }
    let endpoint = SapWebhook::new(
        "acme",
        SECRET.to_string().into(),
        algorithm,
        ENTITIES.iter().map(|e| e.to_string()).collect(),
    );
    let request = InboundRequest {
        method: method.to_string(),
        path_tail: String::new(),
        query: String::new(),
        headers,
        body: input.body,
    };
    match endpoint.receive(&request) {
        Ok(accepted) => {
            if method == "POST" {
                let events = parsed.as_ref().expect("accepted POST parses");
                assert_eq!(accepted.reply.status, 202);
                let named = ENTITIES
                    .iter()
                    .filter(|w| events.iter().any(|e| e.entity == **w))
                    .count();
                assert_eq!(accepted.nudges.len(), named);
            }
        }
        Err(refusal) => {
            assert!(
                matches!(refusal.status, 400 | 401 | 405),
                "status {}",
                refusal.status
            );
            assert!(!refusal.reason.contains(SECRET));
            if signed {
                assert!(
                    parsed.is_err(),
                    "a signed, well-formed delivery is accepted"
                );
            }
        }
    }
});
