//! `ml-connector check` rows from the stored conversation references ([`super::reference`]).
//!
//! - The destination's channel (`conversation_id`, or `fallback_conversation_id` with
//!   `conversation = "approver"`) among the stored channels → ok, naming team and channel;
//!   not among them → a **warning** (`ok`, detail starting `WARNING:`) "bot not seen in this
//!   channel yet": the bot may have been added before the gateway listened (cards still
//!   post), or not at all (cards are refused with 403). A 1:1 chat id (`a:…`) is not checked.
//! - With `conversation = "approver"`: one row per static approver e-mail of the routes
//!   (resolved through the people cache / Graph): a stored 1:1 chat → ok; none → a warning
//!   (the first card opens the chat, or falls back to the channel when the app is not
//!   installed for them); not in Entra or not resolvable → skipped here (the people rows
//!   report it).

use super::people::{Approver, People};
use super::reference::{channel_of, ReferenceBook};
use crate::seam::CheckRow;

/// The row of channel `conversation_id` under `system` (`teams_bot:<name>`); `None` for a
/// 1:1 chat id.
pub fn channel_row(system: &str, references: &ReferenceBook, conversation_id: &str) -> Option<CheckRow> {
    let channel = channel_of(conversation_id);
    if !channel.starts_with("19:") {
        return None;
    }
    let result = references.channels().map(|stored| match stored.iter().find(|c| c.channel_id == channel) {
        Some(c) => format!(
            "bot added to team {} channel {} (conversation reference stored)",
            c.team_name.as_deref().unwrap_or(&c.team_id),
            c.channel_name.as_deref().unwrap_or("General")
        ),
        None => "WARNING: bot not seen in this channel yet (no install event stored); add the app to the team, or ignore if it was added before the gateway listened".to_string(),
    });
    Some(CheckRow::new(system, format!("channel {channel}"), result))
}

/// Rows for the approver e-mails `emails` of a `conversation = "approver"` destination.
pub async fn approver_chat_rows(system: &str, references: &ReferenceBook, people: &People, emails: &[String]) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    for email in emails {
        let id = match people.resolve(email).await {
            Ok(Approver::Found(person)) => person.id,
            Ok(Approver::ObjectId(id)) => id,
            Ok(Approver::NotFound(_)) | Err(_) => continue,
        };
        let result = match references.personal(&id) {
            Ok(Some(chat)) => Ok(format!("1:1 chat {} stored", chat.conversation_id)),
            Ok(None) => Ok("WARNING: no 1:1 chat stored; the first card opens it, or goes to the fallback channel if the app is not installed for them".to_string()),
            Err(e) => Err(e),
        };
        rows.push(CheckRow::new(system, format!("approver {email} chat"), result));
    }
    rows
}
