//! Keeping Teams messages under the request size limit without dropping them.
//!
//! Teams rejects chatMessages of roughly 28 KB and more (Graph 413 `RequestEntityTooLarge`,
//! or the message is silently not shown; learn.microsoft.com "chatMessage resource type" and
//! "Send chatMessage in a channel or a chat"). Oversized HTML is cut and oversized cards are
//! replaced by a small card; both carry a visible note so readers know to look in SAP.

use serde_json::{json, Value};

/// Note appended to cut HTML bodies.
pub const TRUNCATION_NOTE_HTML: &str =
    "<p><em>(truncated: message exceeded the Teams size limit; full record in SAP)</em></p>";

/// The same note as plain text (used in replacement cards).
pub const TRUNCATION_NOTE_TEXT: &str =
    "(truncated: message exceeded the Teams size limit; full record in SAP)";

/// The longest prefix of `html` for which `fits` holds, cut at a character boundary and never
/// inside a tag (`<a href=...`) or a character reference (`&amp;`). Open elements are left
/// open (Teams and browsers close them).
///
/// When the only safe cut would lose more than half of what fits (one huge tag such as an
/// inline image), the tags are stripped and the text is cut instead, wrapped in `<p>...</p>`.
/// Returns an empty string when not even that fits.
pub fn truncate_html(html: &str, fits: impl Fn(&str) -> bool) -> String {
    let cut = longest_fitting_prefix(html, |p| fits(p));
    let safe = safe_html_cut(&html[..cut]);
    if safe.len() * 2 >= cut {
        return safe.to_string();
    }
    let text = strip_tags(html);
    let wrap = |p: &str| format!("<p>{p}</p>");
    let cut = longest_fitting_prefix(&text, |p| fits(&wrap(p)));
    if cut == 0 {
        return String::new();
    }
    wrap(safe_html_cut(&text[..cut]))
}

/// Byte length of the longest prefix of `s` (at a char boundary) for which `fits` holds,
/// assuming `fits` is monotone (a shorter prefix never needs more room). Binary search.
pub fn longest_fitting_prefix(s: &str, fits: impl Fn(&str) -> bool) -> usize {
    let mut bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    bounds.push(s.len());
    if fits(s) {
        return s.len();
    }
    // Invariant: bounds[lo] is acceptable (or lo == 0), bounds[hi] is not.
    let (mut lo, mut hi) = (0usize, bounds.len() - 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(&s[..bounds[mid]]) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo == 0 && !fits("") {
        return 0;
    }
    bounds[lo]
}

/// Back a cut off so it does not end inside a tag or a character reference.
fn safe_html_cut(prefix: &str) -> &str {
    let mut end = prefix.len();
    if let Some(lt) = prefix.rfind('<') {
        if prefix[lt..].find('>').is_none() {
            end = lt;
        }
    }
    let p = &prefix[..end];
    if let Some(amp) = p.rfind('&') {
        let tail = &p[amp + 1..];
        // A reference is `&name;`, `&#123;` or `&#x1F;`: at most ~32 chars, no spaces.
        if !tail.contains(';')
            && tail.len() <= 32
            && tail.chars().all(|c| c.is_ascii_alphanumeric() || c == '#')
        {
            end = amp;
        }
    }
    &prefix[..end]
}

/// Text of an HTML fragment: every tag becomes one space, runs of whitespace collapse.
/// Character references are kept as they are (the result is still valid HTML text).
pub fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut last_space = true;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
            }
            (true, '>') => {
                in_tag = false;
                if !last_space {
                    out.push(' ');
                    last_space = true;
                }
            }
            (true, _) => {}
            (false, c) if c.is_whitespace() => {
                if !last_space {
                    out.push(' ');
                    last_space = true;
                }
            }
            (false, c) => {
                out.push(c);
                last_space = false;
            }
        }
    }
    out.trim_end().to_string()
}

/// A small Adaptive Card (schema 1.4) holding `summary` and the truncation note; replaces a
/// card that made the request too large.
pub fn summary_card(summary: &str) -> Value {
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": summary, "wrap": true, "weight": "Bolder"},
            {"type": "TextBlock", "text": TRUNCATION_NOTE_TEXT, "wrap": true, "isSubtle": true}
        ]
    })
}

/// [`summary_card`] with `summary` cut (at a char boundary) until `fits` holds for the card.
/// If even an empty summary does not fit, the card with an empty summary is returned (the
/// message is still sent; the destination then reports the size).
pub fn fitting_summary_card(summary: &str, fits: impl Fn(&Value) -> bool) -> Value {
    let cut = longest_fitting_prefix(summary, |p| fits(&summary_card(p)));
    summary_card(&summary[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_search_respects_char_boundaries() {
        let s = "ääääää"; // 2 bytes each
        let n = longest_fitting_prefix(s, |p| p.len() <= 5);
        assert_eq!(n, 4);
        assert_eq!(longest_fitting_prefix(s, |_| true), s.len());
        assert_eq!(longest_fitting_prefix(s, |p| p.is_empty()), 0);
    }

    #[test]
    fn never_cuts_inside_a_tag_or_reference() {
        let html = "<p>Fish &amp; chips</p><a href=\"https://example.com/very/long\">x</a>";
        // Cut inside the <a ...> tag: backs off to before it.
        let out = truncate_html(html, |p| p.len() <= 40);
        assert_eq!(out, "<p>Fish &amp; chips</p>");
        // Cut inside "&amp;": backs off to before the ampersand.
        let out = truncate_html(html, |p| p.len() <= 11);
        assert_eq!(out, "<p>Fish ");
    }

    #[test]
    fn one_huge_tag_falls_back_to_text() {
        let html = format!(
            "<p>Order 42</p><img src=\"data:image/png;base64,{}\"><p>tail</p>",
            "A".repeat(5000)
        );
        let out = truncate_html(&html, |p| p.len() <= 100);
        assert_eq!(out, "<p>Order 42 tail</p>");
    }

    #[test]
    fn strips_tags_and_collapses_space() {
        assert_eq!(
            strip_tags("<b>a</b>\n\n<i>b &lt;c&gt;</i>"),
            "a b &lt;c&gt;"
        );
    }

    #[test]
    fn summary_card_shrinks_to_fit() {
        let big = "x".repeat(10_000);
        let card = fitting_summary_card(&big, |c| c.to_string().len() <= 1000);
        assert!(card.to_string().len() <= 1000);
        assert_eq!(card["body"][1]["text"], TRUNCATION_NOTE_TEXT);
        assert!(card["body"][0]["text"].as_str().unwrap().len() > 500);
    }
}
