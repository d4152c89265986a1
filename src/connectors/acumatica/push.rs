//! Acumatica push notifications on the inbound path: `/inbound/acumatica/{source name}`.
//!
//! Acumatica (SM302000) POSTs `{"Inserted":[row],"Deleted":[row],"Query":"<GI or class>",
//! "CompanyId":"<tenant>","Id":"<transaction id>","TimeStamp":<long>,"AdditionalInfo":{…}}`
//! with a header whose name and value the admin chose; there is no signature over the body.
//! The header value is compared in constant time (over SHA-256 digests, so its length does not
//! leak either); a missing or wrong one → 401 (one audit line, nothing stored). Each row of
//! `Inserted` (an update is one old row in `Deleted` and the new one in `Inserted`; `Deleted`
//! alone is a deletion, which makes no event) becomes an [`InboundChange`] of the entity the
//! `Query` maps to, keyed like the polled records and committed before the 2xx, so:
//! - a resent notification (Acumatica resends up to five times on a non-2xx answer) has the
//!   same `Id` → the same sender ids `<Id>/<entity>/<key>` → committed once;
//! - a pushed record and the same record polled share one snapshot (same source, entity and
//!   key), so push + poll of one version make one event. The push query must therefore carry
//!   the entity's key and watched fields under their entity names (a watched field missing
//!   from the row reads as `null`, which is a change).
//!
//! Source: `/work/shared/api-notes/acumatica.md` ("Push notifications").

use std::collections::BTreeMap;

use ml_connector_actors::inbound::{Accepted, Inbound, InboundChange, InboundReply, InboundRequest, Refusal};
use ml_connector_actors::Record;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::entity::{entity, LAST_MODIFIED};
use super::wire::{parse_stamp, position_stamp, unwrap_record};

/// The body of one push notification.
#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "Inserted", default)]
    inserted: Vec<Value>,
    #[serde(rename = "Query")]
    query: String,
    #[serde(rename = "Id")]
    id: Value,
}

/// The push endpoint of one `acumatica` source.
pub struct AcumaticaPush {
    name: String,
    header: String,
    secret: SecretString,
    /// `Query` → entity (`push.queries` plus each polled entity under its own name).
    queries: BTreeMap<String, String>,
}

impl std::fmt::Debug for AcumaticaPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcumaticaPush")
            .field("name", &self.name)
            .field("header", &self.header)
            .field("secret", &"[REDACTED]")
            .field("queries", &self.queries)
            .finish()
    }
}

impl AcumaticaPush {
    /// The endpoint of source `name`, which polls `entities`; `header`/`secret` are the
    /// admin-chosen header; `queries` maps notification `Query` names to entities.
    pub fn new(
        name: &str,
        header: &str,
        secret: SecretString,
        entities: &[String],
        queries: &BTreeMap<String, String>,
    ) -> Self {
        let mut map: BTreeMap<String, String> = entities.iter().map(|e| (e.clone(), e.clone())).collect();
        map.extend(queries.iter().map(|(q, e)| (q.clone(), e.clone())));
        Self {
            name: name.to_string(),
            header: header.to_string(),
            secret,
            queries: map,
        }
    }

    /// Does the request carry the configured header with the configured value?
    fn authentic(&self, request: &InboundRequest) -> bool {
        let sent = request.header(&self.header).unwrap_or_default();
        let expected = Sha256::digest(self.secret.expose_secret().as_bytes());
        let got = Sha256::digest(sent.as_bytes());
        bool::from(expected[..].ct_eq(&got[..])) && request.header(&self.header).is_some()
    }

    fn bad(reason: String) -> Refusal {
        Refusal { status: 400, reason }
    }

    /// One `Inserted` row as a change of `entity`.
    fn change(&self, id: &str, entity_name: &str, row: &Value) -> Result<InboundChange, Refusal> {
        let def = entity(entity_name).ok_or_else(|| Self::bad(format!("unknown entity {entity_name}")))?;
        let fields = unwrap_record(row).map_err(Self::bad)?;
        let key = def.key_of(&fields).ok_or_else(|| {
            Self::bad(format!(
                "a pushed {entity_name} row lacks its key {}",
                def.key_fields.join(" + ")
            ))
        })?;
        let position = fields
            .get(LAST_MODIFIED)
            .and_then(Value::as_str)
            .and_then(|s| parse_stamp(s).ok())
            .map(|at| format!("{}|{key}", position_stamp(at)))
            .unwrap_or_default();
        Ok(InboundChange {
            sender_id: format!("{id}/{entity_name}/{key}"),
            source: self.name.clone(),
            entity: entity_name.to_string(),
            record: Record { key, position, fields },
        })
    }
}

impl Inbound for AcumaticaPush {
    fn kind(&self) -> &'static str {
        "acumatica"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn watched_fields(&self, entity_name: &str) -> Vec<String> {
        entity(entity_name).map(|e| e.watched_fields()).unwrap_or_default()
    }

    /// 401 without the header; 405 for another method than `POST`; 400 for a body that is not
    /// a notification, a `Query` no entity maps to, or a row without its key; else 200 once
    /// the rows are committed.
    fn receive(&self, request: &InboundRequest) -> Result<Accepted, Refusal> {
        if !self.authentic(request) {
            return Err(Refusal {
                status: 401,
                reason: format!("missing or wrong {} header", self.header),
            });
        }
        if request.method != "POST" {
            return Err(Refusal {
                status: 405,
                reason: format!("{} is not accepted; push notifications are POSTed", request.method),
            });
        }
        let note: Notification = serde_json::from_slice(&request.body)
            .map_err(|e| Self::bad(format!("not a push notification: {e}")))?;
        let id = match &note.id {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(Self::bad("the notification has no Id".into())),
        };
        let entity_name = self.queries.get(&note.query).ok_or_else(|| {
            Self::bad(format!(
                "push query \"{}\" maps to no entity of this source (add it to push.queries)",
                note.query
            ))
        })?;
        let changes = note
            .inserted
            .iter()
            .map(|row| self.change(&id, entity_name, row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Accepted {
            changes,
            nudges: Vec::new(),
            reply: InboundReply::empty(200),
        })
    }
}
