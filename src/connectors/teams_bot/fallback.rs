//! The approval card without buttons: what is posted when a press could not be decided here.
//!
//! Two cases, both posted as information cards (no `mlc_approval`, no `Action.Execute`, no
//! card book row) with a visible note and, when the route mapped `mlc_approval.link` (the
//! document's URL in the ERP), an `Action.OpenUrl` to it:
//! - the approver's e-mail is not a user of Microsoft Entra ID (Graph 404):
//!   "Approver x@y.com was not found in Microsoft Entra ID — approve in Acumatica: <link>";
//! - the destination sends to the approver's 1:1 chat (`conversation = "approver"`) and Teams
//!   refused to open it (the app is not installed for them): posted in the fallback channel,
//!   "Approver Jane Smith has not installed the approvals app in Microsoft Teams — approve in
//!   Acumatica: <link>";
//! - the destination has `inbound = false` (an outbound-only site: the bot endpoint is not
//!   reachable, a press would never arrive): "Approve in Acumatica: <link>".
//!
//! "Acumatica" is the destination's `erp_name`.

use serde_json::{json, Value as Json};

/// Why the buttons are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoButtons {
    /// Graph did not find the approver's e-mail / UPN.
    ApproverNotFound(String),
    /// The approver (name or e-mail) has not installed the app: no 1:1 chat.
    AppNotInstalled(String),
    /// The destination has `inbound = false`.
    NoInboundPath,
}

/// The note shown on the card, e.g. `Approver x@y.com was not found in Microsoft Entra ID —
/// approve in Acumatica: https://…` (without a link: `… — approve in Acumatica.`).
pub fn note(why: &NoButtons, erp_name: &str, link: Option<&str>) -> String {
    let where_ = match link {
        Some(l) => format!("in {erp_name}: {l}"),
        None => format!("in {erp_name}."),
    };
    match why {
        NoButtons::ApproverNotFound(email) => {
            format!("Approver {email} was not found in Microsoft Entra ID — approve {where_}")
        }
        NoButtons::AppNotInstalled(who) => {
            format!("Approver {who} has not installed the approvals app in Microsoft Teams — approve {where_}")
        }
        NoButtons::NoInboundPath => format!("Approve {where_}"),
    }
}

/// Append the note (a bold, attention-coloured TextBlock) to the card's `body` and, with a
/// link, an `Action.OpenUrl` titled "Open in {erp_name}" to its `actions`.
pub fn add_note(card: &mut Json, why: &NoButtons, erp_name: &str, link: Option<&str>) {
    let Some(c) = card.as_object_mut() else {
        return;
    };
    let text = note(why, erp_name, link);
    if let Some(body) = c.entry("body").or_insert_with(|| json!([])).as_array_mut() {
        body.push(json!({"type": "TextBlock", "text": text, "wrap": true, "weight": "Bolder", "color": "Attention"}));
    }
    if let Some(url) = link {
        if let Some(actions) = c.entry("actions").or_insert_with(|| json!([])).as_array_mut() {
            actions.push(json!({"type": "Action.OpenUrl", "title": format!("Open in {erp_name}"), "url": url}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_name_the_approver_the_erp_and_the_link() {
        let why = NoButtons::ApproverNotFound("x@y.com".into());
        assert_eq!(
            note(&why, "Acumatica", Some("https://erp.example/bill/B-1")),
            "Approver x@y.com was not found in Microsoft Entra ID — approve in Acumatica: https://erp.example/bill/B-1"
        );
        assert_eq!(note(&why, "Acumatica", None), "Approver x@y.com was not found in Microsoft Entra ID — approve in Acumatica.");
        assert_eq!(note(&NoButtons::NoInboundPath, "SAP Business One", Some("https://b1/x")), "Approve in SAP Business One: https://b1/x");
    }

    #[test]
    fn the_link_becomes_an_open_url_action() {
        let mut card = json!({"type": "AdaptiveCard", "version": "1.4", "body": []});
        add_note(&mut card, &NoButtons::NoInboundPath, "Acumatica", Some("https://erp.example/b"));
        assert_eq!(card["actions"], json!([{"type": "Action.OpenUrl", "title": "Open in Acumatica", "url": "https://erp.example/b"}]));
        assert_eq!(card["body"][0]["text"], "Approve in Acumatica: https://erp.example/b");
    }
}
