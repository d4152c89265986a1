//! Teams Workflows webhook (Power Automate "When a Teams webhook request is received"):
//! `POST /workflows/{flow_id}` (also `/workflows/{flow_id}/triggers/manual/paths/invoke`, the
//! Logic Apps form of the URL). Accepts the envelope
//! `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//! "contentUrl":null,"content":{card object}}]}` with 202 and an empty body; a malformed envelope
//! gets 400 `TriggerInputSchemaMismatch`, an unknown flow 404. Send-only: nothing comes back.
//! Every accepted post is a flow run ([`TeamsSim::workflow_runs`]): the flow posts the card as
//! the Flow bot, which renders Adaptive Cards up to 1.4
//! ([`TeamsSandboxConfig::workflows_max_card_version`](super::TeamsSandboxConfig)); a card
//! above that (or without a version) still gets 202, but its run fails and nothing reaches the
//! channel, as in Power Automate.
//! Source: learn.microsoft.com "Create incoming webhooks with Workflows for Microsoft Teams",
//! "Azure Logic Apps Request trigger"; `api-notes/microsoft-teams.md`.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::chat_message::ADAPTIVE_CARD;
use super::fault::TeamsFault;
use super::records::{Delivered, FlowRun};
use super::summary::summarize_cards;
use super::TeamsSim;

fn logic_apps_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let mut resp =
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST));
    if status == 429 || status == 503 {
        resp.insert_header(("Retry-After", "1"));
    }
    resp.json(json!({ "error": { "code": code, "message": message } }))
}

/// Validate an envelope; `Ok` holds the card objects, `Err` the schema mismatch detail.
pub(crate) fn validate_envelope(body: &[u8]) -> Result<(Value, Vec<Value>), String> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|e| format!("The request content is not valid JSON: {e}"))?;
    if envelope.get("type").and_then(Value::as_str) != Some("message") {
        return Err("Property 'type' must be 'message'.".to_string());
    }
    let attachments = envelope
        .get("attachments")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| "Property 'attachments' must be a non-empty array.".to_string())?;
    let mut cards = Vec::with_capacity(attachments.len());
    for (i, att) in attachments.iter().enumerate() {
        if att.get("contentType").and_then(Value::as_str) != Some(ADAPTIVE_CARD) {
            return Err(format!(
                "attachments[{i}].contentType must be '{ADAPTIVE_CARD}'."
            ));
        }
        if !matches!(att.get("contentUrl"), None | Some(Value::Null)) {
            return Err(format!("attachments[{i}].contentUrl must be null."));
        }
        let card = att
            .get("content")
            .filter(|c| c.is_object())
            .ok_or_else(|| format!("attachments[{i}].content must be an Adaptive Card object."))?;
        if card.get("type").and_then(Value::as_str) != Some("AdaptiveCard") {
            return Err(format!(
                "attachments[{i}].content.type must be 'AdaptiveCard'."
            ));
        }
        cards.push(card.clone());
    }
    Ok((envelope, cards))
}

/// The flow's error for a card the Flow bot cannot render: a `version` above `max` (or none,
/// or not `MAJOR.MINOR`). `None` when it renders.
fn card_version_error(card: &Value, max: (u32, u32)) -> Option<String> {
    let text = card.get("version").and_then(Value::as_str).unwrap_or("");
    let parsed = text
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) if v <= max => None,
        _ => Some(format!(
            "Action 'Post_card_in_a_chat_or_channel' failed: The Adaptive Card version '{text}' is not supported; the Flow bot renders versions up to {}.{}.",
            max.0, max.1
        )),
    }
}

/// Handle one Workflows POST.
pub(crate) fn post(sim: &TeamsSim, flow_id: &str, body: &[u8]) -> HttpResponse {
    let validated = validate_envelope(body);
    let mut state = sim.lock();
    if !state.workflows.contains_key(flow_id) {
        return logic_apps_error(
            404,
            "WorkflowNotFound",
            &format!("The workflow '{flow_id}' could not be found."),
        );
    }
    if let Some(TeamsFault::WorkflowStatus { status }) =
        state.take_fault(|f| matches!(f, TeamsFault::WorkflowStatus { .. }))
    {
        let (code, message) = match status {
            429 => (
                "WorkflowRequestsThrottled",
                "Number of workflow requests exceeded the limit. Please retry later.",
            ),
            400..=499 => ("BadRequest", "The request was rejected by the workflow."),
            _ => (
                "ServiceUnavailable",
                "The workflow service is temporarily unavailable.",
            ),
        };
        if status == 429 {
            state.stats.throttled_429 += 1;
        }
        return logic_apps_error(status, code, message);
    }
    let (envelope, cards) = match validated {
        Ok(v) => v,
        Err(detail) => {
            return logic_apps_error(
                400,
                "TriggerInputSchemaMismatch",
                &format!("The input body for trigger 'manual' of type 'Request' did not match its schema definition. Error details: '{detail}'."),
            )
        }
    };
    let max = state.config.workflows_max_card_version;
    if let Some(error) = cards.iter().find_map(|c| card_version_error(c, max)) {
        state.flow_runs.push(FlowRun {
            flow_id: flow_id.to_string(),
            succeeded: false,
            error: Some(error),
        });
        state.stats.workflow_runs_failed += 1;
        return HttpResponse::Accepted().finish();
    }
    state.flow_runs.push(FlowRun {
        flow_id: flow_id.to_string(),
        succeeded: true,
        error: None,
    });
    if let Some(posts) = state.workflows.get_mut(flow_id) {
        posts.push(envelope);
    }
    state.stats.posts_accepted += 1;
    state.stats.workflow_posts_accepted += 1;
    state.notify(Delivered {
        target: format!("workflow:{flow_id}"),
        summary: summarize_cards(&cards),
    });
    HttpResponse::Accepted().finish()
}

/// [`post`], then hold an accepted answer back when a [`TeamsFault::WorkflowDelayAfterStore`]
/// is queued (the post is stored first).
pub(crate) async fn post_then_delay(sim: TeamsSim, flow_id: String, body: Bytes) -> HttpResponse {
    let response = post(&sim, &flow_id, &body);
    if response.status().is_success() {
        let held = sim
            .lock()
            .take_fault(|f| matches!(f, TeamsFault::WorkflowDelayAfterStore { .. }));
        if let Some(TeamsFault::WorkflowDelayAfterStore { delay }) = held {
            actix_web::rt::time::sleep(delay).await;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_rules() {
        let ok = json!({"type":"message","attachments":[{"contentType":ADAPTIVE_CARD,"contentUrl":null,
            "content":{"type":"AdaptiveCard","version":"1.4","body":[]}}]});
        assert!(validate_envelope(ok.to_string().as_bytes()).is_ok());
        let string_card = json!({"type":"message","attachments":[{"contentType":ADAPTIVE_CARD,
            "content":"{\"type\":\"AdaptiveCard\"}"}]});
        assert!(validate_envelope(string_card.to_string().as_bytes()).is_err());
        assert!(validate_envelope(br#"{"type":"message","attachments":[]}"#).is_err());
        assert!(validate_envelope(br#"{"text":"hi"}"#).is_err());
    }
}
