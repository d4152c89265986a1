//! Short plain-text summaries of delivered messages for [`Delivered`](super::Delivered).

use serde_json::Value;

/// Longest summary in characters (an ellipsis is appended when cut).
pub(crate) const MAX_SUMMARY_CHARS: usize = 120;

/// Summary of a message: the first `TextBlock` text of its first Adaptive Card when it carries
/// one (the body of a card message only holds the `<attachment>` tag and perhaps a footer),
/// else its HTML/text content without tags and entities.
pub(crate) fn summarize(content: &str, cards: &[Value]) -> String {
    if let Some(title) = cards.iter().find_map(card_title) {
        return truncate(&collapse(&title));
    }
    truncate(&plain_text(content))
}

/// Summary of a Workflows envelope: the first card's first `TextBlock`.
pub(crate) fn summarize_cards(cards: &[Value]) -> String {
    summarize("", cards)
}

/// First non-empty `TextBlock.text` of an Adaptive Card (depth-first through containers).
pub(crate) fn card_title(card: &Value) -> Option<String> {
    match card {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("TextBlock") {
                if let Some(text) = map.get("text").and_then(Value::as_str) {
                    if !text.trim().is_empty() {
                        return Some(text.to_string());
                    }
                }
            }
            ["body", "items", "columns", "rows", "cells"]
                .iter()
                .filter_map(|k| map.get(*k))
                .find_map(card_title)
        }
        Value::Array(items) => items.iter().find_map(card_title),
        _ => None,
    }
}

/// HTML to plain text: tags dropped, common entities decoded, whitespace collapsed.
pub(crate) fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    collapse(&decoded)
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_SUMMARY_CHARS {
        return s.to_string();
    }
    let mut t: String = s.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn html_is_flattened_and_cards_give_titles() {
        assert_eq!(
            summarize("<p>Order <b>42</b> &amp; more</p>", &[]),
            "Order 42 & more"
        );
        let card = json!({"type":"AdaptiveCard","body":[{"type":"Container","items":[
            {"type":"TextBlock","text":"Sales order 42"}]}]});
        assert_eq!(
            summarize("<attachment id=\"a\"></attachment>", &[card]),
            "Sales order 42"
        );
        let long = "x".repeat(500);
        assert_eq!(summarize(&long, &[]).chars().count(), MAX_SUMMARY_CHARS);
    }
}
