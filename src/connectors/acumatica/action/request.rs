//! The decision an `acumatica_action` destination acts on: the record a route maps from a
//! `Decision` of a `teams_bot` source.
//!
//! Payload (shape `record`): `{"record": {"verb": "approve"|"reject", "document":
//! "<ReferenceNbr>", "version": "<LastModifiedDateTime the card showed>", "bill_type"?:
//! "Bill" (default), "approver_name"?: "…", "service_url"?: "…", "conversation_id"?: "…",
//! "activity_id"?: "…"}}`. The last four are carried into the outcome so a route can update
//! the posted card.

use serde::Deserialize;

/// `verb` of an approval.
pub const APPROVE: &str = "approve";
/// `verb` of a rejection.
pub const REJECT: &str = "reject";
/// Default `bill_type`.
pub const DEFAULT_BILL_TYPE: &str = "Bill";

fn default_bill_type() -> String {
    DEFAULT_BILL_TYPE.to_string()
}

/// One decision on one bill version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// `approve` or `reject`.
    pub verb: String,
    /// Bill `ReferenceNbr`.
    pub document: String,
    /// The bill's `LastModifiedDateTime` the card showed.
    pub version: String,
    /// Bill `Type`.
    #[serde(default = "default_bill_type")]
    pub bill_type: String,
    /// Who decided.
    #[serde(default)]
    pub approver_name: String,
    /// Bot Connector base of the card.
    #[serde(default)]
    pub service_url: String,
    /// Conversation of the card.
    #[serde(default)]
    pub conversation_id: String,
    /// Activity id of the card.
    #[serde(default)]
    pub activity_id: String,
}

impl ActionRequest {
    /// The decision in `payload`.
    ///
    /// Errors: a text naming the problem: no `record` object, a missing or empty `verb`,
    /// `document` or `version`, an unknown field, a verb other than `approve`/`reject`.
    pub fn parse(payload: &serde_json::Value) -> Result<ActionRequest, String> {
        let record = payload
            .get("record")
            .filter(|r| r.is_object())
            .ok_or("outbox payload has no `record` object (acumatica_action destinations take a record map)")?;
        let request = ActionRequest::deserialize(record).map_err(|e| format!("decision record: {e}"))?;
        for (name, value) in [("document", &request.document), ("version", &request.version), ("bill_type", &request.bill_type)] {
            if value.trim().is_empty() {
                return Err(format!("decision record: `{name}` is empty"));
            }
        }
        if request.verb != APPROVE && request.verb != REJECT {
            return Err(format!("decision record: verb \"{}\" is neither \"{APPROVE}\" nor \"{REJECT}\"", request.verb));
        }
        Ok(request)
    }

    /// `<document>@<version>`: the key of the decision, of its outcome and of its steps.
    pub fn key(&self) -> String {
        format!("{}@{}", self.document, self.version)
    }
}
