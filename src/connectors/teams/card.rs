//! The Adaptive Card version rule of Teams Workflows webhooks.
//!
//! Workflows ("When a Teams webhook request is received", posting as the Flow bot) renders
//! Adaptive Cards up to schema 1.4; a 1.5 card is accepted with 202 and then fails inside the
//! flow run, unseen by the sender. Source: `api-notes/microsoft-teams.md` ("Reading messages
//! back", last bullets), learn.microsoft.com "Create incoming webhooks with Workflows for
//! Microsoft Teams".

use serde_json::Value;

use crate::routes::{PayloadCheck, PayloadIssue};

/// Highest Adaptive Card schema version a Workflows webhook renders: 1.4.
pub const WORKFLOWS_MAX_CARD_VERSION: CardVersion = CardVersion { major: 1, minor: 4 };

/// An Adaptive Card schema version (`"version": "1.4"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CardVersion {
    /// Major number (1).
    pub major: u32,
    /// Minor number (0..=6 today).
    pub minor: u32,
}

impl CardVersion {
    /// Parse `"MAJOR.MINOR"` (a JSON string, as the schema requires). `None` otherwise.
    pub fn parse(text: &str) -> Option<CardVersion> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(CardVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl std::fmt::Display for CardVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why `card` is not renderable by a destination taking versions up to `max`; `None` when it is.
///
/// Refused: a card without a string `"version"` (the schema requires one on the top-level
/// card), one that is not `MAJOR.MINOR`, and one above `max`.
pub fn version_problem(card: &Value, max: CardVersion) -> Option<String> {
    let Some(text) = card.get("version").and_then(Value::as_str) else {
        return Some(format!(
            "the Adaptive Card has no \"version\" string: set \"version\": \"{max}\" (this destination renders cards up to {max})"
        ));
    };
    match CardVersion::parse(text) {
        None => Some(format!(
            "Adaptive Card \"version\": {text:?} is not MAJOR.MINOR: use \"{max}\""
        )),
        Some(v) if v > max => Some(format!(
            "Adaptive Card version {v} is above {max}, the highest a Teams Workflows webhook renders (a {v} card is accepted with 202 and then fails inside the flow run, unseen): set \"version\": \"{max}\" and use only {max} elements"
        )),
        Some(_) => None,
    }
}

/// [`PayloadCheck`] of `teams_workflows` destinations: the rendered `card` is an Adaptive Card
/// of at most [`WORKFLOWS_MAX_CARD_VERSION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxCardVersion(pub CardVersion);

impl PayloadCheck for MaxCardVersion {
    fn check(&self, payload: &Value) -> Result<(), PayloadIssue> {
        let card = payload.get("card").unwrap_or(&Value::Null);
        match version_problem(card, self.0) {
            None => Ok(()),
            Some(reason) => Err(PayloadIssue {
                form: "card",
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_up_to_the_maximum_pass() {
        let check = MaxCardVersion(WORKFLOWS_MAX_CARD_VERSION);
        for v in ["1.0", "1.2", "1.4"] {
            let payload = json!({"summary": "s", "card": {"type": "AdaptiveCard", "version": v}});
            assert_eq!(check.check(&payload), Ok(()), "{v}");
        }
        for (card, needle) in [
            (json!({"type": "AdaptiveCard", "version": "1.5"}), "version 1.5 is above 1.4"),
            (json!({"type": "AdaptiveCard", "version": "2.0"}), "version 2.0 is above 1.4"),
            (json!({"type": "AdaptiveCard", "version": "1.10"}), "version 1.10 is above 1.4"),
            (json!({"type": "AdaptiveCard"}), "has no \"version\""),
            (json!({"type": "AdaptiveCard", "version": 1.4}), "has no \"version\""),
            (json!({"type": "AdaptiveCard", "version": "v1"}), "not MAJOR.MINOR"),
        ] {
            let issue = check
                .check(&json!({"summary": "s", "card": card}))
                .expect_err("refused");
            assert_eq!(issue.form, "card");
            assert!(issue.reason.contains(needle), "{}", issue.reason);
        }
    }
}
