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
//! `mlc_approval.link` (optional, an absolute http(s) URL; anything else is ignored) is
//! always removed before [`BotSink`] reads the binding. A lookup that cannot be made now returns its outcome (`Retry` / `Permanent`)
//! and nothing is posted. Cards without `mlc_approval` pass through untouched.

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};
use serde_json::{Map, Value as Json};

use super::activity::BotSink;
use super::card::APPROVAL_KEY;
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

/// [`BotSink`] with the people mapping, the mention and the fallback in front.
pub struct ApproverSink {
    inner: BotSink,
    people: People,
    options: ApproverOptions,
}

impl std::fmt::Debug for ApproverSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApproverSink")
            .field("inner", &self.inner)
            .field("people", &self.people)
            .field("options", &self.options)
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
        }
    }

    /// The approvers of this destination.
    pub fn people(&self) -> &People {
        &self.people
    }

    /// The entry as [`BotSink`] should post it; `Ok(None)`: unchanged (no `mlc_approval`,
    /// or one [`BotSink`] refuses anyway).
    ///
    /// # Errors
    /// The outcome of a lookup that cannot be made now.
    pub async fn settle(&self, entry: &OutboxEntry) -> Result<Option<OutboxEntry>, Outcome> {
        let Some(binding) = entry
            .payload
            .pointer(&format!("/card/{APPROVAL_KEY}"))
            .and_then(Json::as_object)
        else {
            return Ok(None);
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
            return Ok(None);
        };
        let link = text(LINK_KEY).filter(|l| is_web_link(l));
        let route_name = text("approver_name");
        let who = self.people.resolve(&approver).await?;
        let mut payload = entry.payload.clone();
        let Some(card) = payload.get_mut("card") else {
            return Ok(None);
        };
        let mut no_buttons = (!self.options.inbound).then_some(NoButtons::NoInboundPath);
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
        Ok(Some(OutboxEntry {
            payload,
            ..entry.clone()
        }))
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
        match self.settle(entry).await {
            Ok(Some(settled)) => self.inner.deliver(&settled, token).await,
            Ok(None) => self.inner.deliver(entry, token).await,
            Err(outcome) => outcome,
        }
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
