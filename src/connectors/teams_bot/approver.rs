//! [`ApproverSink`]: the `teams_bot` destination's sink. It settles who the approver of an
//! approval card is before [`BotSink`] signs the buttons and posts:
//!
//! 1. the card's `mlc_approval.approver` is resolved ([`super::people`]): an e-mail / UPN
//!    becomes the Entra object id Graph gave (the decision token's `apr` and the mention use
//!    it; `approver_name`, when the route left it empty, becomes Graph's `displayName`);
//! 2. the approver is @mentioned on the card ([`super::mention`]);
//! 3. without a way to decide here (approver not found, or `inbound = false`) the binding is
//!    removed and a note with `mlc_approval.link` is added ([`super::fallback`]): the card
//!    goes out without buttons.
//!
//! With `conversation = "approver"` ([`ApproverSink::with_chats`]) an approval card whose
//! approver is known (an object id, or found) goes to the approver's 1:1 chat
//! ([`super::chat`]); when Teams refuses that chat (app not installed) the card goes to the
//! destination's fallback channel without buttons, with the note
//! [`NoButtons::AppNotInstalled`]. A post refused with 403 in a stored chat (the app was
//! uninstalled and the removal never arrived) forgets that chat and is retried (nothing was
//! posted), so the next attempt opens or falls back. A card replacing a posted one
//! (`mlc_update.conversation_id` a stored approver chat) goes to that chat; other cards
//! without an approver go to the fallback channel.
//!
//! `mlc_approval.link` (optional, an absolute http(s) URL; anything else is ignored) is
//! always removed before [`BotSink`] reads the binding. A lookup that cannot be made now returns its outcome (`Retry` / `Permanent`)
//! and nothing is posted. Cards without `mlc_approval` pass through untouched.

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};
use serde_json::{Map, Value as Json};

use super::activity::{BotSink, UPDATE_KEY};
use super::card::APPROVAL_KEY;
use super::chat::{ApproverChats, ChatTarget};
use super::fallback::{add_note, NoButtons};
use super::mention::add_mention;
use super::people::{Approver, People};
use crate::connectors::teams::BearerToken;

/// The `mlc_approval` key of the approval's link (the document in the ERP).
pub const LINK_KEY: &str = "link";
/// The label before the mention on an approval card.
pub const MENTION_LABEL: &str = "Approver:";
/// Default `erp_name`, the system named in the notes of cards without buttons.
pub const DEFAULT_ERP_NAME: &str = "the ERP";

/// What an [`ApproverSink`] does beyond [`BotSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverOptions {
    /// `inbound`: a press can reach the bot endpoint; `false` posts every approval card
    /// without buttons.
    pub inbound: bool,
    /// `erp_name`: the system named in the notes ("Acumatica").
    pub erp_name: String,
}

impl Default for ApproverOptions {
    fn default() -> Self {
        ApproverOptions {
            inbound: true,
            erp_name: DEFAULT_ERP_NAME.to_string(),
        }
    }
}

/// What [`ApproverSink::settle`] made of an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The entry to post; `None`: the original, unchanged.
    pub entry: Option<OutboxEntry>,
    /// The approver's 1:1 chat (Entra object id, target) when the card goes there; `None`:
    /// the destination's conversation.
    pub chat: Option<(String, ChatTarget)>,
}

/// [`BotSink`] with the people mapping, the mention and the fallback in front.
pub struct ApproverSink {
    inner: BotSink,
    people: People,
    options: ApproverOptions,
    chats: Option<ApproverChats>,
}

impl std::fmt::Debug for ApproverSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApproverSink")
            .field("inner", &self.inner)
            .field("people", &self.people)
            .field("options", &self.options)
            .field("chats", &self.chats)
            .finish()
    }
}

impl ApproverSink {
    /// `inner` posting, with approvers resolved by `people`.
    pub fn new(inner: BotSink, people: People, options: ApproverOptions) -> ApproverSink {
        ApproverSink {
            inner,
            people,
            options,
            chats: None,
        }
    }

    /// Approval cards go to the approver's 1:1 chat found or opened by `chats`; the inner
    /// sink's conversation is the fallback.
    pub fn with_chats(self, chats: ApproverChats) -> ApproverSink {
        ApproverSink {
            chats: Some(chats),
            ..self
        }
    }

    /// The approvers of this destination.
    pub fn people(&self) -> &People {
        &self.people
    }

    /// The entry as [`BotSink`] should post it and where (see [`Settled`]); unchanged
    /// without `mlc_approval` or with one [`BotSink`] refuses anyway.
    ///
    /// # Errors
    /// The outcome of a lookup (approver, chat) that cannot be made now.
    pub async fn settle(&self, entry: &OutboxEntry, token: &BearerToken) -> Result<Settled, Outcome> {
        let unchanged = Settled { entry: None, chat: None };
        let Some(binding) = entry
            .payload
            .pointer(&format!("/card/{APPROVAL_KEY}"))
            .and_then(Json::as_object)
        else {
            return Ok(unchanged);
        };
        let text = |key: &str| {
            binding
                .get(key)
                .and_then(Json::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let Some(approver) = text("approver") else {
            return Ok(unchanged);
        };
        let link = text(LINK_KEY).filter(|l| is_web_link(l));
        let route_name = text("approver_name");
        let who = self.people.resolve(&approver).await?;
        let mut payload = entry.payload.clone();
        let Some(card) = payload.get_mut("card") else {
            return Ok(unchanged);
        };
        let mut no_buttons = (!self.options.inbound).then_some(NoButtons::NoInboundPath);
        let approver_id = match &who {
            Approver::ObjectId(id) => Some(id.clone()),
            Approver::Found(person) => Some(person.id.clone()),
            Approver::NotFound(_) => None,
        };
        let mention = match who {
            Approver::ObjectId(id) => route_name.map(|name| (id, name)),
            Approver::Found(person) => {
                let name = route_name
                    .or_else(|| Some(person.display_name.clone()).filter(|n| !n.is_empty()))
                    .unwrap_or_else(|| person.user_principal_name.clone());
                if let Some(b) = binding_mut(card) {
                    b.insert("approver".into(), Json::String(person.id.clone()));
                    b.insert("approver_name".into(), Json::String(name.clone()));
                }
                Some((person.id, name))
            }
            Approver::NotFound(email) => {
                no_buttons = Some(NoButtons::ApproverNotFound(email));
                None
            }
        };
        let mut chat = None;
        if let (Some(chats), Some(id)) = (&self.chats, approver_id) {
            match chats.target(&id, token).await? {
                ChatTarget::NotInstalled => {
                    let who = mention.as_ref().map_or(approver.as_str(), |(_, name)| name.as_str());
                    no_buttons = no_buttons.or(Some(NoButtons::AppNotInstalled(who.to_string())));
                }
                target => chat = Some((id, target)),
            }
        }
        if let Some(b) = binding_mut(card) {
            b.remove(LINK_KEY);
        }
        if no_buttons.is_some() {
            if let Some(c) = card.as_object_mut() {
                c.remove(APPROVAL_KEY);
            }
        }
        if let Some((id, name)) = mention {
            add_mention(card, MENTION_LABEL, &id, &name);
        }
        if let Some(why) = no_buttons {
            tracing::info!(destination = %entry.destination, seq = entry.seq, reason = ?why, "approval card posted without buttons");
            add_note(card, &why, &self.options.erp_name, link.as_deref());
        }
        Ok(Settled {
            entry: Some(OutboxEntry {
                payload,
                ..entry.clone()
            }),
            chat,
        })
    }

    /// Post `entry` in the approver's chat; a 403 there forgets the chat and retries.
    async fn deliver_in_chat(&self, entry: &OutboxEntry, token: &BearerToken, aad_object_id: &str, service_url: &url::Url, conversation_id: &str) -> Outcome {
        let outcome = self.inner.deliver_to(entry, token, service_url, conversation_id).await;
        let (Outcome::Permanent { status: Some(403), reason }, Some(chats)) = (&outcome, &self.chats) else {
            return outcome;
        };
        match chats.forget(aad_object_id).await {
            Ok(_) => Outcome::Retry {
                after: None,
                reason: format!("{reason} (the approver's stored chat is forgotten; the next attempt opens it again or falls back)"),
                throttled: false,
            },
            Err(e) => Outcome::Retry {
                after: None,
                reason: format!("{reason}; the stored chat could not be forgotten: {e}"),
                throttled: false,
            },
        }
    }
}

/// Is `link` an absolute http(s) URL (what `Action.OpenUrl` opens)? Anything else is left
/// off the card: Teams refuses a card whose `Action.OpenUrl` has no valid URL.
pub fn is_web_link(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn binding_mut(card: &mut Json) -> Option<&mut Map<String, Json>> {
    card.get_mut(APPROVAL_KEY).and_then(Json::as_object_mut)
}

impl Sink for ApproverSink {
    type Credentials = BearerToken;

    async fn deliver(&self, entry: &OutboxEntry, token: &BearerToken) -> Outcome {
        let settled = match self.settle(entry, token).await {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let entry = settled.entry.as_ref().unwrap_or(entry);
        if let Some((id, ChatTarget::Chat { service_url, conversation_id })) = &settled.chat {
            return self.deliver_in_chat(entry, token, id, service_url, conversation_id).await;
        }
        // A card replacing one posted in an approver's chat (`mlc_update.conversation_id`).
        let replaced = entry.payload.pointer(&format!("/card/{UPDATE_KEY}/conversation_id")).and_then(Json::as_str);
        if let (Some(chats), Some(conversation_id)) = (&self.chats, replaced.filter(|c| !c.is_empty())) {
            match chats.stored_chat(conversation_id).await {
                Ok(Some((id, service_url))) => return self.deliver_in_chat(entry, token, &id, &service_url, conversation_id).await,
                Ok(None) => {}
                Err(e) => return Outcome::Retry { after: None, reason: format!("conversation reference unreadable: {e}"), throttled: false },
            }
        }
        self.inner.deliver(entry, token).await
    }

    async fn find_existing(&self, entry: &OutboxEntry, token: &BearerToken) -> Lookup {
        self.inner.find_existing(entry, token).await
    }
}

#[cfg(test)]
mod tests {
    use super::is_web_link;

    #[test]
    fn only_http_and_https_links_are_shown() {
        assert_eq!(
            ["https://erp.example/b?x=1", "http://b1.local/x", "javascript:alert(1)", "erp.example/b", ""].map(is_web_link),
            [true, true, false, false, false]
        );
    }
}
