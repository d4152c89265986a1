//! SAP Business One webhooks on the inbound path: `/inbound/sap_b1/{source name}`.
//!
//! - `GET` with `X-B1-Webhook-Token` → `200 {"Challenge":"<token>"}` (subscription handshake).
//!   With HMAC authentication (the default, and the only one configured here) the handshake
//!   also carries `X-B1-Webhook-Signature` = base64 HMAC of the token with the subscription
//!   key: it is verified like a delivery's, and a missing or bad one is refused with 401 (an
//!   unsigned challenge would let anyone confirm a subscription to this endpoint).
//! - `HEAD` → 200 (reachability probe, as the guide asks).
//! - `POST` with `X-B1-Webhook-Signature` (base64 HMAC of the raw body with the source's
//!   `webhook.secret` and `webhook.algorithm`) → 202. The events only name keys
//!   (`data.DocEntry`), so they wake the source's pollers for the named entities, which read
//!   the documents through the normal commit path; polling stays the source of truth (the
//!   appliance may be unreachable inbound). A bad signature → 401, a malformed body → 400.
//!
//! Source: SAP's Service Layer guide §7 "Webhooks" and `api-notes/sap-business-one.md`.

use ml_connector_actors::inbound::{Accepted, Inbound, InboundReply, InboundRequest, Refusal};
use ml_connector_actors::Nudges;
use secrecy::{ExposeSecret, SecretString};

use super::webhook::{
    challenge_response, parse_events, verify_signature_with, SignatureAlgorithm,
    HANDSHAKE_TOKEN_HEADER, SIGNATURE_HEADER,
};

/// The webhook endpoint of one `sap_b1` source.
pub struct SapWebhook {
    name: String,
    secret: SecretString,
    algorithm: SignatureAlgorithm,
    entities: Vec<String>,
}

impl std::fmt::Debug for SapWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SapWebhook")
            .field("name", &self.name)
            .field("secret", &"[REDACTED]")
            .field("algorithm", &self.algorithm)
            .field("entities", &self.entities)
            .finish()
    }
}

impl SapWebhook {
    /// The endpoint of source `name`, which polls `entities`.
    pub fn new(
        name: &str,
        secret: SecretString,
        algorithm: SignatureAlgorithm,
        entities: Vec<String>,
    ) -> Self {
        Self {
            name: name.to_string(),
            secret,
            algorithm,
            entities,
        }
    }

    /// Does `X-B1-Webhook-Signature` sign `message` with the source's key and algorithm?
    fn signed(&self, request: &InboundRequest, message: &[u8]) -> bool {
        let signature = request.header(SIGNATURE_HEADER).unwrap_or_default();
        verify_signature_with(
            self.algorithm,
            self.secret.expose_secret().as_bytes(),
            message,
            signature,
        )
    }

    fn json(status: u16, body: serde_json::Value) -> InboundReply {
        InboundReply {
            status,
            content_type: "application/json".to_string(),
            body: body.to_string().into_bytes(),
        }
    }
}

fn refuse(status: u16, reason: String) -> Refusal {
    Refusal { status, reason }
}

impl Inbound for SapWebhook {
    fn kind(&self) -> &'static str {
        "sap_b1"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn watched_fields(&self, _entity: &str) -> Vec<String> {
        Vec::new()
    }

    /// Errors: 400 for a handshake without token or a malformed body, 401 for a bad or missing
    /// signature, 405 for other methods. Reasons name the source, never the secret or body.
    fn receive(&self, request: &InboundRequest) -> Result<Accepted, Refusal> {
        let accepted = |reply| Accepted {
            changes: Vec::new(),
            nudges: Vec::new(),
            reply,
        };
        match request.method.as_str() {
            "HEAD" => Ok(accepted(InboundReply {
                status: 200,
                content_type: "text/plain".to_string(),
                body: Vec::new(),
            })),
            "GET" => match request.header(HANDSHAKE_TOKEN_HEADER) {
                Some(token) => {
                    if !self.signed(request, token.as_bytes()) {
                        return Err(refuse(
                            401,
                            format!(
                                "handshake for source '{}' with a bad or missing {SIGNATURE_HEADER} ({})",
                                self.name,
                                self.algorithm.sap_name()
                            ),
                        ));
                    }
                    Ok(accepted(Self::json(200, challenge_response(token))))
                }
                None => Err(refuse(
                    400,
                    format!("handshake for source '{}' without {HANDSHAKE_TOKEN_HEADER}", self.name),
                )),
            },
            "POST" => {
                if !self.signed(request, &request.body) {
                    return Err(refuse(
                        401,
                        format!(
                            "bad or missing signature for source '{}' ({} bytes, {})",
                            self.name,
                            request.body.len(),
                            self.algorithm.sap_name()
                        ),
                    ));
                }
                let events = parse_events(&request.body).map_err(|reason| {
                    refuse(400, format!("malformed body for source '{}': {reason}", self.name))
                })?;
                let mut entities: Vec<String> = events
                    .into_iter()
                    .map(|e| e.entity)
                    .filter(|e| self.entities.contains(e))
                    .collect();
                entities.sort();
                entities.dedup();
                Ok(Accepted {
                    changes: Vec::new(),
                    nudges: entities
                        .iter()
                        .map(|e| Nudges::poller(&self.name, e))
                        .collect(),
                    reply: InboundReply {
                        status: 202,
                        content_type: "text/plain".to_string(),
                        body: Vec::new(),
                    },
                })
            }
            other => Err(refuse(
                405,
                format!("method {other} not accepted by source '{}'", self.name),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::webhook::sign;
    use super::*;

    const KEY: &str = "webhook-key-512";
    const BODY: &[u8] = br#"[{"id":"e-1","specversion":"1.0","source":"/default/sap.b1/SBODEMOUS","type":"sap.b1.Orders.Created.v1","subject":"91","data":{"DocEntry":"91"}}]"#;

    fn endpoint(algorithm: SignatureAlgorithm) -> SapWebhook {
        SapWebhook::new(
            "acme",
            SecretString::from(KEY),
            algorithm,
            vec!["Orders".into(), "PurchaseOrders".into()],
        )
    }

    fn request(method: &str, headers: &[(&str, String)], body: &[u8]) -> InboundRequest {
        InboundRequest {
            method: method.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            body: body.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn hmac_sha512_delivery_is_accepted_and_nudges_the_poller() {
        let hook = endpoint(SignatureAlgorithm::from_name("HMACSha512").expect("name"));
        let signature = sign(SignatureAlgorithm::HmacSha512, KEY.as_bytes(), BODY);
        let accepted = hook
            .receive(&request("POST", &[(SIGNATURE_HEADER, signature)], BODY))
            .expect("accepted");
        assert_eq!(accepted.reply.status, 202);
        assert_eq!(accepted.nudges, vec![Nudges::poller("acme", "Orders")]);
        // The same body signed with SHA-256 is refused by a SHA-512 endpoint.
        let sha256 = sign(SignatureAlgorithm::HmacSha256, KEY.as_bytes(), BODY);
        let refused = hook
            .receive(&request("POST", &[(SIGNATURE_HEADER, sha256)], BODY))
            .expect_err("refused");
        assert_eq!(refused.status, 401);
        assert!(refused.reason.contains("HMACSha512"), "{}", refused.reason);
        assert!(!refused.reason.contains(KEY));
    }

    #[test]
    fn handshake_signature_is_verified() {
        let hook = endpoint(SignatureAlgorithm::HmacSha384);
        let token = "0f6c1d2e-uuid".to_string();
        let good = sign(SignatureAlgorithm::HmacSha384, KEY.as_bytes(), token.as_bytes());
        let ok = hook
            .receive(&request(
                "GET",
                &[(HANDSHAKE_TOKEN_HEADER, token.clone()), (SIGNATURE_HEADER, good)],
                b"",
            ))
            .expect("handshake");
        assert_eq!(ok.reply.status, 200);
        assert_eq!(
            ok.reply.body,
            br#"{"Challenge":"0f6c1d2e-uuid"}"#.to_vec()
        );
        let bad = sign(SignatureAlgorithm::HmacSha384, b"other-key", token.as_bytes());
        for headers in [
            vec![(HANDSHAKE_TOKEN_HEADER, token.clone()), (SIGNATURE_HEADER, bad)],
            vec![(HANDSHAKE_TOKEN_HEADER, token.clone())],
        ] {
            let refused = hook
                .receive(&request("GET", &headers, b""))
                .expect_err("refused");
            assert_eq!(refused.status, 401, "{}", refused.reason);
        }
        let head = hook.receive(&request("HEAD", &[], b"")).expect("head");
        assert_eq!(head.reply.status, 200);
        assert!(head.reply.body.is_empty());
    }
}
