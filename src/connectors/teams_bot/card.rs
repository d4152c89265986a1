//! Approval cards: the binding a route puts in its card, the Approve / Reject buttons, the
//! decided card and the invoke answers.
//!
//! A route asks for buttons by rendering a top-level `"mlc_approval"` object into its
//! Adaptive Card:
//! `{"document": "<document key>", "version": "<document version>", "approver": "<Entra object
//! id>", "approver_name": "<display name>"}` (an e-mail / UPN approver and the optional
//! `"link"` are settled before, by [`super::approver`]). The sink removes it, signs a decision token
//! over it ([`super::decision`]) and appends two `Action.Execute` buttons, verbs `approve` and
//! `reject`, `data` `{"mlc_decision": "<token>"}` (Universal Actions, Adaptive Cards 1.4+).
//! A card without `mlc_approval` is posted as is (information only).
//!
//! Invoke answers (`adaptiveCard/action`): HTTP 200 with
//! `{"statusCode":200,"type":"application/vnd.microsoft.card.adaptive","value":{card}}`, or
//! `{"statusCode":400,"type":"application/vnd.microsoft.error","value":{"code","message"}}`.
//! Source: `api-notes/microsoft-teams.md` ("Bot Framework (approvals)").

use ml_connector_actors::inbound::InboundReply;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::book::DecidedBy;
use super::config::card_minimum;
use crate::connectors::teams::card::CardVersion;

/// Content type of an Adaptive Card attachment and of a card invoke answer.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";
/// The card key a route renders its approval binding into.
pub const APPROVAL_KEY: &str = "mlc_approval";
/// The `Action.Execute` `data` key carrying the decision token.
pub const TOKEN_KEY: &str = "mlc_decision";
/// Verb of the Approve button.
pub const APPROVE: &str = "approve";
/// Verb of the Reject button.
pub const REJECT: &str = "reject";

/// What a route binds a card's buttons to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Document key.
    pub document: String,
    /// Document version (changes whenever the document changes).
    pub version: String,
    /// Entra object id of the approver.
    pub approver: String,
    /// Display name of the approver.
    #[serde(default)]
    pub approver_name: String,
}

/// Remove and parse the card's `mlc_approval`; `Ok(None)` when it has none.
///
/// # Errors
/// A text naming the problem when `mlc_approval` is not an object with non-empty
/// `document`, `version` and `approver` strings.
pub fn take_approval(card: &mut Json) -> Result<Option<Approval>, String> {
    let Some(raw) = card.as_object_mut().and_then(|c| c.remove(APPROVAL_KEY)) else {
        return Ok(None);
    };
    let approval = Approval::deserialize(&raw)
        .map_err(|e| format!("card \"{APPROVAL_KEY}\" is not {{document, version, approver, approver_name}}: {e}"))?;
    for (key, value) in [
        ("document", &approval.document),
        ("version", &approval.version),
        ("approver", &approval.approver),
    ] {
        if value.trim().is_empty() {
            return Err(format!("card \"{APPROVAL_KEY}\".{key} is empty"));
        }
    }
    Ok(Some(approval))
}

/// Why `card` cannot carry the buttons or be sent (version missing, below 1.4 with buttons,
/// above `max`); `None` when it can.
pub fn version_problem(card: &Json, buttons: bool, max: CardVersion) -> Option<String> {
    if let Some(problem) = crate::connectors::teams::card::version_problem(card, max) {
        return Some(problem.replace(
            "the highest a Teams Workflows webhook renders",
            "the highest this bot destination sends (max_card_version)",
        ));
    }
    let version = card
        .get("version")
        .and_then(Json::as_str)
        .and_then(CardVersion::parse)?;
    (buttons && version < card_minimum()).then(|| {
        format!(
            "Adaptive Card version {version} has no Action.Execute: approval cards need \"version\": \"{}\" or later",
            card_minimum()
        )
    })
}

/// `card` with the Approve and Reject buttons appended to its `actions`.
pub fn with_buttons(mut card: Json, token: &str) -> Json {
    let button = |title: &str, verb: &str, style: &str| {
        json!({"type": "Action.Execute", "title": title, "verb": verb, "style": style, "data": {TOKEN_KEY: token}})
    };
    let buttons = [
        button("Approve", APPROVE, "positive"),
        button("Reject", REJECT, "destructive"),
    ];
    if let Some(c) = card.as_object_mut() {
        let actions = c.entry("actions").or_insert_with(|| json!([]));
        if let Some(list) = actions.as_array_mut() {
            list.extend(buttons);
        }
    }
    card
}

/// "Approved by Jane Smith" / "Rejected by Jane Smith".
pub fn decided_line(decided: &DecidedBy) -> String {
    let done = if decided.verb == APPROVE { "Approved" } else { "Rejected" };
    format!("{done} by {} at {}", decided.name, decided.at)
}

/// The posted card without buttons, with a line saying who decided.
pub fn decided_card(card: &Json, decided: &DecidedBy) -> Json {
    let mut card = card.clone();
    if let Some(c) = card.as_object_mut() {
        c.remove("actions");
        let body = c.entry("body").or_insert_with(|| json!([]));
        if let Some(list) = body.as_array_mut() {
            list.push(json!({"type": "TextBlock", "text": decided_line(decided), "weight": "Bolder", "wrap": true}));
        }
    }
    card
}

/// A one-line Adaptive Card 1.4 (the answers to presses that change nothing).
pub fn notice_card(text: &str) -> Json {
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [{"type": "TextBlock", "text": text, "wrap": true}],
    })
}

/// HTTP 200 with the card invoke answer carrying `card`.
pub fn card_answer(card: Json) -> InboundReply {
    json_reply(json!({"statusCode": 200, "type": ADAPTIVE_CARD, "value": card}))
}

/// HTTP 200 with an error invoke answer (`statusCode` 400).
pub fn error_answer(code: &str, message: &str) -> InboundReply {
    json_reply(json!({"statusCode": 400, "type": "application/vnd.microsoft.error", "value": {"code": code, "message": message}}))
}

fn json_reply(body: Json) -> InboundReply {
    InboundReply {
        status: 200,
        content_type: "application/json".into(),
        body: body.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_is_taken_out_and_buttons_carry_the_token() {
        let mut card = json!({"type": "AdaptiveCard", "version": "1.4", "body": [],
            "mlc_approval": {"document": "B1", "version": "v1", "approver": "aad-1", "approver_name": "Jane"}});
        let approval = take_approval(&mut card).expect("valid").expect("present");
        assert_eq!(approval, Approval { document: "B1".into(), version: "v1".into(), approver: "aad-1".into(), approver_name: "Jane".into() });
        assert_eq!(card.get(APPROVAL_KEY), None);
        let card = with_buttons(card, "tok");
        assert_eq!(card["actions"], json!([
            {"type": "Action.Execute", "title": "Approve", "verb": "approve", "style": "positive", "data": {"mlc_decision": "tok"}},
            {"type": "Action.Execute", "title": "Reject", "verb": "reject", "style": "destructive", "data": {"mlc_decision": "tok"}},
        ]));
    }

    #[test]
    fn versions_below_1_4_with_buttons_and_above_max_are_refused() {
        let max = CardVersion { major: 1, minor: 5 };
        let v = |text: &str| json!({"type": "AdaptiveCard", "version": text});
        assert_eq!(version_problem(&v("1.4"), true, max), None);
        assert_eq!(version_problem(&v("1.3"), false, max), None);
        assert_eq!(
            version_problem(&v("1.3"), true, max).as_deref(),
            Some("Adaptive Card version 1.3 has no Action.Execute: approval cards need \"version\": \"1.4\" or later")
        );
        assert!(version_problem(&v("1.6"), true, max).expect("too new").starts_with("Adaptive Card version 1.6 is above 1.5, the highest this bot destination sends"));
    }

    #[test]
    fn empty_binding_is_refused() {
        let mut card = json!({"mlc_approval": {"document": "", "version": "v", "approver": "a"}});
        assert_eq!(take_approval(&mut card), Err("card \"mlc_approval\".document is empty".to_string()));
    }
}
