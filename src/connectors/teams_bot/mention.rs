//! The @mention of the approver on an Adaptive Card.
//!
//! Teams renders a mention in an Adaptive Card when the card's `msteams.entities` holds
//! `{"type":"mention","text":"<at>Jane Smith</at>","mentioned":{"id":"<Entra object id>",
//! "name":"Jane Smith"}}` and the same `<at>Jane Smith</at>` text occurs in a TextBlock of
//! the card; a mention whose text occurs nowhere is not rendered (the bot sandbox refuses it).
//! `mentioned.id` may be an Entra object id, a UPN or a Teams user id (`29:…`).
//! Source: learn.microsoft.com "Format cards in Microsoft Teams" ("Mention support within
//! Adaptive Cards").

use serde_json::{json, Value as Json};

/// `<at>{name}</at>`, the text a mention entity and its TextBlock share.
pub fn mention_text(name: &str) -> String {
    format!("<at>{name}</at>")
}

/// Append a TextBlock `"{label} <at>{name}</at>"` to the card's `body` and the mention of
/// the user `id` to its `msteams.entities` (both created when absent). A card that is not a
/// JSON object is left as it is.
pub fn add_mention(card: &mut Json, label: &str, id: &str, name: &str) {
    let Some(c) = card.as_object_mut() else {
        return;
    };
    let text = mention_text(name);
    if let Some(body) = c.entry("body").or_insert_with(|| json!([])).as_array_mut() {
        body.push(json!({"type": "TextBlock", "text": format!("{label} {text}"), "wrap": true}));
    }
    let msteams = c.entry("msteams").or_insert_with(|| json!({}));
    if let Some(m) = msteams.as_object_mut() {
        if let Some(entities) = m.entry("entities").or_insert_with(|| json!([])).as_array_mut() {
            entities.push(json!({"type": "mention", "text": text, "mentioned": {"id": id, "name": name}}));
        }
    }
}

/// The `text`s of the card's mention entities that occur in none of its TextBlocks (what
/// Teams would not render).
pub fn dangling_mentions(card: &Json) -> Vec<String> {
    let mut texts = Vec::new();
    collect_text_blocks(card.get("body").unwrap_or(&Json::Null), &mut texts);
    card.pointer("/msteams/entities")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "mention")
        .map(|e| e["text"].as_str().unwrap_or_default().to_string())
        .filter(|t| t.is_empty() || !texts.iter().any(|b| b.contains(t.as_str())))
        .collect()
}

/// Every `text` of a TextBlock under `element` (containers, columns and nested items too).
fn collect_text_blocks(element: &Json, out: &mut Vec<String>) {
    match element {
        Json::Array(items) => items.iter().for_each(|i| collect_text_blocks(i, out)),
        Json::Object(o) => {
            if o.get("type").and_then(Json::as_str) == Some("TextBlock") {
                if let Some(t) = o.get("text").and_then(Json::as_str) {
                    out.push(t.to_string());
                }
            }
            o.iter()
                .filter(|(k, _)| *k != "msteams")
                .for_each(|(_, v)| collect_text_blocks(v, out));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mention_and_its_text_block_share_the_at_text() {
        let mut card = json!({"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "Bill B-1"}]});
        add_mention(&mut card, "Approver:", "0c6f1c2e-1111-4a4a-9b9b-000000000001", "Jane Smith");
        assert_eq!(card["body"][1], json!({"type": "TextBlock", "text": "Approver: <at>Jane Smith</at>", "wrap": true}));
        assert_eq!(
            card["msteams"],
            json!({"entities": [{"type": "mention", "text": "<at>Jane Smith</at>", "mentioned": {"id": "0c6f1c2e-1111-4a4a-9b9b-000000000001", "name": "Jane Smith"}}]})
        );
        assert_eq!(dangling_mentions(&card), Vec::<String>::new());
    }

    #[test]
    fn a_mention_whose_text_is_in_no_text_block_is_dangling() {
        let card = json!({"body": [{"type": "Container", "items": [{"type": "TextBlock", "text": "Hi <at>Jane Smith</at>"}]}],
            "msteams": {"entities": [
                {"type": "mention", "text": "<at>Jane Smith</at>", "mentioned": {"id": "a", "name": "Jane Smith"}},
                {"type": "mention", "text": "<at>Bob</at>", "mentioned": {"id": "b", "name": "Bob"}},
            ]}});
        assert_eq!(dangling_mentions(&card), vec!["<at>Bob</at>".to_string()]);
    }
}
