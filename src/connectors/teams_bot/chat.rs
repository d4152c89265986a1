//! [`ApproverChats`]: the 1:1 chat with a card's approver, for a `teams_bot` destination with
//! `conversation = "approver"`.
//!
//! 1. The stored reference of the approver's Entra object id ([`ReferenceBook::personal`],
//!    saved when the user installed the app) gives the chat and its `serviceUrl`.
//! 2. Without one the chat is created: `POST {service_url}v3/conversations` with
//!    `{"isGroup":false,"bot":{"id":"28:<app id>"},"members":[{"id":"<Entra object id>"}],
//!    "tenantId":"<tenant>","channelData":{"tenant":{"id":"<tenant>"}}}` (`service_url` is the
//!    destination's, the default region); 200/201 `{"id":"a:1…"}`. Teams answers the same
//!    chat for the same user every time, so creating is idempotent; the id is stored as a
//!    reference (user id unknown) before the card is posted, and later cards reuse it.
//! 3. Teams answers 403 (`BotNotInConversationRoster`: the app is not installed for the user;
//!    also `BotDisabledByAdmin`, `ConversationBlockedByUser`) → [`ChatTarget::NotInstalled`]:
//!    the card goes to the destination's fallback channel instead. A refusal is not
//!    remembered: the next card for that approver asks again (they may have installed the
//!    app meanwhile; one small request per card).
//!
//! Errors become delivery outcomes, before anything visible is posted: 401 → `SessionGone`;
//! 429 → `Retry` (throttled, `Retry-After`); other 4xx → `Permanent`; 5xx, no answer, a
//! store failure → `Retry` (creating again is harmless).
//!
//! Source: learn.microsoft.com "Send proactive messages" (create the conversation, store the
//! reference); the 403 body per MicrosoftDocs/bot-docs#1527 and the Teams bot API status
//! code table ("conversation-messages", MicrosoftDocs/msteams-docs#7175).

use ml_connector_actors::store::{blocking, StoreError};
use ml_connector_actors::Outcome;
use reqwest::header::AUTHORIZATION;
use serde_json::{json, Value as Json};
use url::Url;

use super::reference::{PersonalRef, Reference, ReferenceBook};
use crate::connectors::kit::outbound::{describe, retry_after};
use crate::connectors::teams::BearerToken;

/// The far side, as named in outcome reasons.
const SERVICE: &str = "Bot Connector";

/// Where an approver's card goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTarget {
    /// Their 1:1 chat: Bot Connector base and conversation id.
    Chat {
        /// Bot Connector base of the chat.
        service_url: Url,
        /// The chat (`a:1…`).
        conversation_id: String,
    },
    /// The app is not installed for them (Teams answered 403 to the chat creation).
    NotInstalled,
}

/// Finds or creates approvers' 1:1 chats for one bot.
#[derive(Clone)]
pub struct ApproverChats {
    client: reqwest::Client,
    references: ReferenceBook,
    service_url: Url,
    tenant_id: String,
    app_id: String,
}

impl std::fmt::Debug for ApproverChats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApproverChats")
            .field("references", &self.references)
            .field("service_url", &self.service_url.as_str())
            .field("tenant_id", &self.tenant_id)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

fn retry(reason: String) -> Outcome {
    Outcome::Retry {
        after: None,
        reason,
        throttled: false,
    }
}

impl ApproverChats {
    /// Chats of bot `app_id` in tenant `tenant_id`, created at `service_url` with `client`,
    /// remembered in `references`.
    pub fn new(client: reqwest::Client, references: ReferenceBook, service_url: Url, tenant_id: &str, app_id: &str) -> ApproverChats {
        ApproverChats {
            client,
            references,
            service_url,
            tenant_id: tenant_id.to_string(),
            app_id: app_id.to_string(),
        }
    }

    /// The chat of the user `aad_object_id` (module docs).
    ///
    /// # Errors
    /// The outcome when it cannot be known now (nothing was posted).
    pub async fn target(&self, aad_object_id: &str, token: &BearerToken) -> Result<ChatTarget, Outcome> {
        let (book, id) = (self.references.clone(), aad_object_id.to_string());
        let stored = blocking(move || book.personal(&id).map_err(StoreError::Txn))
            .await
            .map_err(|e| retry(format!("conversation reference unreadable: {e}")))?;
        if let Some(chat) = stored {
            let service_url = Url::parse(&chat.service_url)
                .map_err(|e| retry(format!("stored serviceUrl of the approver's chat: {e}")))?;
            return Ok(ChatTarget::Chat { service_url, conversation_id: chat.conversation_id });
        }
        let Some(conversation_id) = self.create(aad_object_id, token).await? else {
            return Ok(ChatTarget::NotInstalled);
        };
        let reference = Reference::Personal(PersonalRef {
            aad_object_id: aad_object_id.to_string(),
            user_id: None,
            conversation_id: conversation_id.clone(),
            service_url: self.service_url.to_string(),
            tenant_id: self.tenant_id.clone(),
        });
        let book = self.references.clone();
        blocking(move || book.save(&reference).map_err(StoreError::Txn))
            .await
            .map_err(|e| retry(format!("created chat not recorded: {e}")))?;
        Ok(ChatTarget::Chat { service_url: self.service_url.clone(), conversation_id })
    }

    /// The stored chat `conversation_id` (a card replacing one posted there, `mlc_update`):
    /// its Bot Connector base and the approver's Entra object id.
    ///
    /// # Errors
    /// The store error as text.
    pub async fn stored_chat(&self, conversation_id: &str) -> Result<Option<(String, Url)>, String> {
        let (book, id) = (self.references.clone(), conversation_id.to_string());
        let found = blocking(move || book.personal_by_conversation(&id).map_err(StoreError::Txn))
            .await
            .map_err(|e| e.to_string())?;
        found
            .map(|p| Url::parse(&p.service_url).map(|u| (p.aad_object_id, u)).map_err(|e| e.to_string()))
            .transpose()
    }

    /// Forget the stored chat of `aad_object_id` (Teams refused a post there: the app was
    /// uninstalled and the removal activity never arrived).
    ///
    /// # Errors
    /// The store error as text.
    pub async fn forget(&self, aad_object_id: &str) -> Result<bool, String> {
        let (book, id) = (self.references.clone(), aad_object_id.to_string());
        blocking(move || book.forget_personal(&id).map_err(StoreError::Txn))
            .await
            .map_err(|e| e.to_string())
    }

    /// `POST …/v3/conversations`: `Some(id)` created, `None` refused with 403.
    async fn create(&self, aad_object_id: &str, token: &BearerToken) -> Result<Option<String>, Outcome> {
        let mut url = self.service_url.clone();
        url.path_segments_mut()
            .map_err(|()| Outcome::Permanent { status: None, reason: format!("service_url {} cannot be a base URL", self.service_url) })?
            .pop_if_empty()
            .extend(["v3", "conversations"]);
        let auth = token.header_value().map_err(|_| Outcome::SessionGone { reason: "bot token is not a valid header value".into() })?;
        let body = json!({
            "isGroup": false,
            "bot": {"id": format!("28:{}", self.app_id)},
            "members": [{"id": aad_object_id}],
            "tenantId": self.tenant_id,
            "channelData": {"tenant": {"id": self.tenant_id}},
        });
        let answer = self
            .client
            .post(url)
            .header(AUTHORIZATION, auth)
            .json(&body)
            .send()
            .await
            .map_err(|e| retry(format!("{SERVICE} not reached to open the approver's chat: {}", describe(&e))))?;
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let bytes = answer.bytes().await.map_err(|e| retry(format!("{SERVICE} chat creation answer lost: {}", describe(&e))))?;
        let parsed: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        let code = parsed["error"]["code"].as_str().unwrap_or_default();
        match status {
            200..=299 => match parsed["id"].as_str().filter(|id| !id.is_empty()) {
                Some(id) => Ok(Some(id.to_string())),
                None => Err(retry(format!("{SERVICE} {status} to the chat creation without an id"))),
            },
            403 => {
                tracing::info!(code, "Teams refused a 1:1 chat with the approver (app not installed for them)");
                Ok(None)
            }
            401 => Err(Outcome::SessionGone { reason: format!("{SERVICE} 401 {code}: bot token refused") }),
            429 => Err(Outcome::Retry { after: retry_after(&headers), reason: format!("{SERVICE} 429: throttled opening the approver's chat"), throttled: true }),
            400..=499 => Err(Outcome::Permanent {
                status: Some(status),
                reason: format!("{SERVICE} {status} {code}: the approver's chat was not created; check service_url and tenant_id"),
            }),
            _ => Err(retry(format!("{SERVICE} {status} {code} to the chat creation"))),
        }
    }
}
