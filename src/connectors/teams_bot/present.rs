//! How `Decision` records read in messages: `Approval decision`, the document key as number,
//! `Approved` / `Rejected` as status, approver, version and time as facts.

use std::borrow::Cow;

use serde_json::{json, Value as Json};

use super::card::APPROVE;
use crate::routes::{Fact, Presentation, Presenter};

/// The presenter of `teams_bot` sources.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecisionPresenter;

fn text(doc: &Json, field: &str) -> Option<String> {
    doc.get(field)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Presenter for DecisionPresenter {
    fn present(&self, _entity: &str, doc: &Json) -> Presentation {
        let facts = [("Decided by", "approver_name"), ("Version", "version"), ("Decided at", "decided_at")]
            .into_iter()
            .filter_map(|(title, field)| Some(Fact { title: title.into(), value: text(doc, field)? }))
            .collect();
        Presentation {
            document_type: "Approval decision".into(),
            number: text(doc, "document"),
            status: text(doc, "verb").map(|v| if v == APPROVE { "Approved" } else { "Rejected" }.to_string()),
            facts,
            ..Presentation::default()
        }
    }

    fn label<'s>(&'s self, _value: &str) -> Option<Cow<'s, str>> {
        None
    }

    fn field_label<'s>(&'s self, _field: &str) -> Option<Cow<'s, str>> {
        None
    }

    fn sample(&self, _entity: &str) -> Json {
        json!({
            "verb": "approve", "approver": "00000000-0000-0000-0000-0000000000aa",
            "approver_name": "Jane Smith", "decided_at": "2026-01-05T10:00:00Z",
            "document": "000123", "version": "2026-01-05T09:58:00Z",
            "dedupe_key": "erp/Bill/000123/created->approvals",
            "service_url": "https://smba.trafficmanager.net/emea/",
            "conversation_id": "19:abc@thread.tacv2", "activity_id": "1:1abc",
        })
    }
}
