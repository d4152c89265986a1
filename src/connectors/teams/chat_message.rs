//! Request bodies for Graph `POST .../messages` (a chatMessage) and the Workflows webhook.
//!
//! Graph source: learn.microsoft.com "Send chatMessage in a channel or a chat" (examples
//! "Create a message with an Adaptive Card" and "Create a message with HTML"); Workflows:
//! "Create incoming webhooks with Workflows for Microsoft Teams".

use serde_json::{json, Value};

use super::marker::Marker;
use super::message::{MessageFormat, TeamsMessage};
use super::truncate::{fitting_summary_card, truncate_html, TRUNCATION_NOTE_HTML};


/// Attachment content type of an Adaptive Card.
pub const ADAPTIVE_CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// A serialised request body.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBody {
    /// UTF-8 JSON, ready to send.
    pub bytes: Vec<u8>,
    /// The message was cut or its card replaced to respect the size limit.
    pub truncated: bool,
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail (all keys are strings).
    serde_json::to_vec(v).unwrap_or_default()
}

fn html_body(content: &str) -> Value {
    json!({"body": {"contentType": "html", "content": content}})
}

fn card_body(marker: &Marker, card: &Value) -> Value {
    let guid = marker.guid();
    json!({
        "body": {
            "contentType": "html",
            "content": format!("<attachment id=\"{guid}\"></attachment>{}", marker.html_footer()),
        },
        "attachments": [{
            "id": guid,
            "contentType": ADAPTIVE_CARD_CONTENT_TYPE,
            "contentUrl": null,
            // Graph wants the card as a JSON *string* here.
            "content": card.to_string(),
        }]
    })
}

/// The Graph chatMessage create body for `message`, at most `max_bytes` long when possible.
///
/// - [`MessageFormat::Html`]: `{"body":{"contentType":"html","content":"<html><p><small>ref mlc-…</small></p>"}}`.
/// - [`MessageFormat::Card`]: body content `<attachment id="GUID"></attachment>` + footer, and
///   `"attachments":[{"id":"GUID","contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":"<card as a string>"}]`.
///
/// GUID and footer come from `marker`. When the JSON would exceed `max_bytes`, HTML is cut
/// (see [`truncate_html`]) and followed by [`TRUNCATION_NOTE_HTML`]; a card is replaced by a
/// summary card with the note. The footer always stays, so the message can still be found.
pub fn graph_body(
    message: &TeamsMessage,
    format: MessageFormat,
    marker: &Marker,
    max_bytes: usize,
) -> RequestBody {
    let footer = marker.html_footer();
    match format {
        MessageFormat::Html => {
            let full = to_bytes(&html_body(&format!("{}{footer}", message.html())));
            if full.len() <= max_bytes {
                return RequestBody {
                    bytes: full,
                    truncated: false,
                };
            }
            let content = |fragment: &str| format!("{fragment}{TRUNCATION_NOTE_HTML}{footer}");
            let fragment = truncate_html(message.html(), |f| {
                to_bytes(&html_body(&content(f))).len() <= max_bytes
            });
            RequestBody {
                bytes: to_bytes(&html_body(&content(&fragment))),
                truncated: true,
            }
        }
        MessageFormat::Card => {
            let full = to_bytes(&card_body(marker, message.card()));
            if full.len() <= max_bytes {
                return RequestBody {
                    bytes: full,
                    truncated: false,
                };
            }
            let card = fitting_summary_card(&message.summary, |c| {
                to_bytes(&card_body(marker, c)).len() <= max_bytes
            });
            RequestBody {
                bytes: to_bytes(&card_body(marker, &card)),
                truncated: true,
            }
        }
    }
}

fn workflows_envelope(card: &Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": ADAPTIVE_CARD_CONTENT_TYPE,
            "contentUrl": null,
            // The Workflows trigger wants the card as an *object*.
            "content": card,
        }]
    })
}

/// The Workflows webhook envelope for `message.card`:
/// `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{...card...}}]}`.
/// Over `max_bytes`, the card is replaced by a summary card with the truncation note.
pub fn workflows_body(message: &TeamsMessage, max_bytes: usize) -> RequestBody {
    let full = to_bytes(&workflows_envelope(message.card()));
    if full.len() <= max_bytes {
        return RequestBody {
            bytes: full,
            truncated: false,
        };
    }
    let card = fitting_summary_card(&message.summary, |c| {
        to_bytes(&workflows_envelope(c)).len() <= max_bytes
    });
    RequestBody {
        bytes: to_bytes(&workflows_envelope(&card)),
        truncated: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::teams::truncate::TRUNCATION_NOTE_TEXT;

    fn message(html: &str) -> TeamsMessage {
        TeamsMessage {
            summary: "Purchase order 1042 from Acme Supplies (V10000): 12,500.00 EUR".into(),
            html: Some(html.into()),
            card: Some(
                json!({"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"PO 1042 \"urgent\""}]}),
            ),
        }
    }

    fn parse(body: &RequestBody) -> Value {
        serde_json::from_slice(&body.bytes).unwrap()
    }

    #[test]
    fn html_body_has_the_footer() {
        let marker = Marker::from_dedupe_key("k");
        let body = graph_body(&message("<p>Hi</p>"), MessageFormat::Html, &marker, 28_000);
        assert!(!body.truncated);
        let v = parse(&body);
        assert_eq!(v["body"]["contentType"], "html");
        assert_eq!(
            v["body"]["content"],
            format!("<p>Hi</p><p><small>ref {}</small></p>", marker.reference())
        );
        assert!(v.get("attachments").is_none());
    }

    #[test]
    fn card_body_matches_attachment_id_and_carries_a_string() {
        let marker = Marker::from_dedupe_key("k");
        let m = message("<p>Hi</p>");
        let v = parse(&graph_body(&m, MessageFormat::Card, &marker, 28_000));
        let content = v["body"]["content"].as_str().unwrap();
        assert!(content.starts_with(&format!(
            "<attachment id=\"{}\"></attachment>",
            marker.guid()
        )));
        assert!(content.contains(marker.reference()));
        let att = &v["attachments"][0];
        assert_eq!(att["id"], marker.guid());
        assert_eq!(att["contentType"], ADAPTIVE_CARD_CONTENT_TYPE);
        assert!(att["contentUrl"].is_null());
        let card: Value = serde_json::from_str(att["content"].as_str().unwrap()).unwrap();
        assert_eq!(Some(card), m.card);
    }

    #[test]
    fn sixty_kb_of_html_is_cut_under_the_limit() {
        let marker = Marker::from_dedupe_key("k");
        let row = "<tr><td>Line &amp; item é</td><td>\"12\"</td></tr>";
        let html = format!("<table>{}</table>", row.repeat(60_000 / row.len() + 1));
        assert!(html.len() > 60_000);
        let body = graph_body(&message(&html), MessageFormat::Html, &marker, 28_000);
        assert!(body.truncated);
        assert!(body.bytes.len() <= 28_000, "{}", body.bytes.len());
        assert!(body.bytes.len() > 27_000, "{}", body.bytes.len());
        let v = parse(&body);
        let content = v["body"]["content"].as_str().unwrap();
        assert!(content.starts_with("<table><tr>"));
        assert!(content.ends_with(&format!("{TRUNCATION_NOTE_HTML}{}", marker.html_footer())));
        let cut = content
            .strip_suffix(&format!("{TRUNCATION_NOTE_HTML}{}", marker.html_footer()))
            .unwrap();
        // Not inside a tag or a reference.
        assert!(cut.rfind('<').is_none_or(|lt| cut[lt..].contains('>')));
    }

    #[test]
    fn oversized_card_becomes_a_summary_card() {
        let marker = Marker::from_dedupe_key("k");
        let mut m = message("");
        m.card = Some(
            json!({"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"x".repeat(60_000)}]}),
        );
        let body = graph_body(&m, MessageFormat::Card, &marker, 28_000);
        assert!(body.truncated);
        assert!(body.bytes.len() <= 28_000);
        let v = parse(&body);
        assert_eq!(v["attachments"][0]["id"], marker.guid());
        let card: Value =
            serde_json::from_str(v["attachments"][0]["content"].as_str().unwrap()).unwrap();
        assert_eq!(card["body"][0]["text"], m.summary);
        assert_eq!(card["body"][1]["text"], TRUNCATION_NOTE_TEXT);
    }

    #[test]
    fn workflows_envelope_carries_the_card_object() {
        let m = message("");
        let v = parse(&workflows_body(&m, 28_000));
        assert_eq!(v["type"], "message");
        assert_eq!(
            v["attachments"][0]["contentType"],
            ADAPTIVE_CARD_CONTENT_TYPE
        );
        assert!(v["attachments"][0]["contentUrl"].is_null());
        assert_eq!(Some(&v["attachments"][0]["content"]), m.card.as_ref());

        let mut big = m.clone();
        big.card = Some(
            json!({"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"y".repeat(60_000)}]}),
        );
        let body = workflows_body(&big, 28_000);
        assert!(body.truncated && body.bytes.len() <= 28_000);
        assert_eq!(
            parse(&body)["attachments"][0]["content"]["body"][1]["text"],
            TRUNCATION_NOTE_TEXT
        );
    }
}
