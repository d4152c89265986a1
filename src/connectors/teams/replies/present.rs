//! How `Reply` records read in messages: `Teams reply`, the parent message id as number, the
//! author as partner, the reply text as a fact.

use std::borrow::Cow;

use serde_json::{json, Value as Json};

use crate::routes::{Fact, Presentation, Presenter};

/// The presenter of `teams_replies` sources.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepliesPresenter;

fn text(doc: &Json, field: &str) -> Option<String> {
    doc.get(field).and_then(Json::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

impl Presenter for RepliesPresenter {
    fn present(&self, _entity: &str, doc: &Json) -> Presentation {
        Presentation {
            document_type: "Teams reply".into(),
            number: text(doc, "parent_message_id"),
            partner: text(doc, "from"),
            facts: text(doc, "text").map(|value| vec![Fact { title: "Reply".into(), value }]).unwrap_or_default(),
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
            "id": "1700000000123", "text": "Approved, go ahead", "content_type": "text",
            "from": "Jane Smith", "from_id": "8ea0e38b-efb3-4757-924a-5f94061cf8c2",
            "created": "2026-12-01T10:00:00.123Z", "parent_message_id": "1700000000001",
            "team_id": "0f5c4d2e-0000-0000-0000-000000000000", "channel_id": "19:abc@thread.tacv2",
        })
    }
}
