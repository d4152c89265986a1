//! SAP Business One webhooks on the inbound path: `/inbound/sap_b1/{source name}`.
//!
//! - `GET` with `X-B1-Webhook-Token` → `200 {"Challenge":"<token>"}` (subscription handshake);
//!   `HEAD` → 200 (reachability probe).
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
            "GET" => match request.header(&HANDSHAKE_TOKEN_HEADER.to_ascii_lowercase()) {
                Some(token) => Ok(accepted(Self::json(200, challenge_response(token)))),
                None => Err(refuse(
                    400,
                    format!("handshake for source '{}' without {HANDSHAKE_TOKEN_HEADER}", self.name),
                )),
            },
            "POST" => {
                let signature = request
                    .header(&SIGNATURE_HEADER.to_ascii_lowercase())
                    .unwrap_or_default();
                if !verify_signature_with(
                    self.algorithm,
                    self.secret.expose_secret().as_bytes(),
                    &request.body,
                    signature,
                ) {
                    return Err(refuse(
                        401,
                        format!(
                            "bad or missing signature for source '{}' ({} bytes)",
                            self.name,
                            request.body.len()
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
