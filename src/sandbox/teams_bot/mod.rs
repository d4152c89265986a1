//! Bot Framework simulator: the Entra token endpoint for bots, the Bot Connector's
//! conversations API (activities POST and PUT), the OpenID metadata with the JWKS of the
//! sandbox's signing keys, and [`tap::Tap`], a simulated button press sent to a gateway.
//!
//! - `POST /{tenant}/oauth2/v2.0/token` (form): `grant_type=client_credentials`, `client_id`
//!   = the app id, `client_secret` = the app password, `scope=https://api.botframework.com/.default`,
//!   tenant `botframework.com` or the configured one. 200 `{"token_type":"Bearer",
//!   "expires_in":3599,"access_token"}`; a wrong client → 401 `invalid_client`; a wrong
//!   scope → 400 `invalid_scope`; other grants → 400 `unsupported_grant_type`.
//! - `GET /v1/.well-known/openidconfiguration` → `{"issuer","jwks_uri",…}`;
//!   `GET /v1/.well-known/keys` → `{"keys":[JWK…]}` (counted: [`BotSim::jwks_requests`]).
//! - `POST /v3/conversations/{id}/activities`: `Authorization: Bearer` of an issued token
//!   (else 401), a known conversation (else 404 `ConversationNotFound`), a `message` with an
//!   attachment of content type `application/vnd.microsoft.card.adaptive` whose content is an
//!   `AdaptiveCard` with a `version` not above `max_card_version` and at least 1.4 when it has
//!   `Action.Execute` (else 400 `BadArgument`); the per-conversation limits (7 per s, 8 per
//!   2 s, 60 per 30 s, 1800 per hour) when `rate_limits` → 429 with `Retry-After`. 201
//!   `{"id":"1:<n>"}`.
//! - `PUT /v3/conversations/{id}/activities/{activityId}`: same checks, the activity must
//!   exist (else 404); replaces its card; 200 `{"id"}`.
//! - `POST /v3/conversations` (a 1:1 chat): `Authorization` as above; body
//!   `{"isGroup":false,"bot":{"id":"28:<app id>"},"members":[{"id":<29: id or Entra object
//!   id>}],"tenantId","channelData":{"tenant":{"id"}}}` — a group, another bot id, not
//!   exactly one member, or another tenant → 400 `BadArgument`. A user who has the app
//!   installed ([`BotSim::install_personal`]) → 201 `{"id":"a:1…"}`, the same chat every
//!   time (counted: [`BotSim::conversation_creations`]); anyone else → 403
//!   `{"error":{"code":"BotNotInConversationRoster","message":"The bot is not part of the
//!   conversation roster."}}`, as Teams answers. An activity POST to the chat of a user who
//!   uninstalled the app gets the same 403.
//! - [`install::Installation`]: the install / removal activities sent to a gateway.

mod handlers;
pub mod install;
mod standalone;
pub mod signer;
pub mod tap;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::web;
use serde_json::Value as Json;

pub use standalone::{BotSettings, SANDBOX};
pub use tap::{Forgery, Tap};

/// Settings of the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotSandboxConfig {
    /// The bot's app id (client id, JWT audience).
    pub app_id: String,
    /// Its app password (client secret).
    pub app_password: String,
    /// A single-tenant bot's tenant; tokens are also issued for `botframework.com`.
    pub tenant_id: String,
    /// Conversations the bot is installed in.
    pub conversations: Vec<String>,
    /// Highest Adaptive Card version accepted ("1.5").
    pub max_card_version: (u32, u32),
    /// Enforce the per-conversation limits.
    pub rate_limits: bool,
    /// `expires_in` of issued tokens, seconds.
    pub token_lifetime_secs: u64,
}

impl Default for BotSandboxConfig {
    fn default() -> Self {
        BotSandboxConfig {
            app_id: "7d2f0c3e-1b4a-4c5d-9e8f-0a1b2c3d4e5f".into(),
            app_password: "sandbox-bot-app-password".into(),
            tenant_id: "contoso.onmicrosoft.com".into(),
            conversations: vec!["19:approvals@thread.tacv2".into()],
            max_card_version: (1, 5),
            rate_limits: true,
            token_lifetime_secs: 3599,
        }
    }
}

/// A fault for the next matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum BotFault {
    /// The next token request is answered `status` (5xx or 429 with `Retry-After`).
    Token { status: u16, retry_after_secs: Option<u64> },
    /// The next activity POST is answered 429 with `Retry-After`.
    Throttle { retry_after_secs: u64 },
    /// The next activity POST is stored, then answered after `delay`.
    HangAfterStore { delay: Duration },
}

/// The 1:1 chat of the bot with a user who installed the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalChat {
    /// The user's Entra object id.
    pub aad_object_id: String,
    /// The user's Bot Framework id: `29:<aad object id>`.
    pub user_id: String,
    /// The chat: `a:1<aad object id>`.
    pub conversation_id: String,
}

/// One stored activity.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredActivity {
    /// Its id (`1:<n>`).
    pub id: String,
    /// The conversation.
    pub conversation_id: String,
    /// The card as last posted or updated.
    pub card: Json,
    /// How many times it was updated (PUT).
    pub updates: u32,
}

pub(crate) struct State {
    pub(crate) config: BotSandboxConfig,
    pub(crate) tokens: Vec<String>,
    pub(crate) token_requests: usize,
    pub(crate) activities: Vec<StoredActivity>,
    pub(crate) faults: VecDeque<BotFault>,
    pub(crate) sends: BTreeMap<String, VecDeque<Instant>>,
    pub(crate) rotated: bool,
    pub(crate) jwks_requests: usize,
    pub(crate) personal: BTreeMap<String, PersonalChat>,
    pub(crate) creations: usize,
    /// Every accepted card update: activity id and the card it set, in arrival order.
    pub(crate) card_updates: Vec<(String, Json)>,
}

/// The simulator; clones share one state.
#[derive(Clone)]
pub struct BotSim {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for BotSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotSim").finish_non_exhaustive()
    }
}

impl BotSim {
    /// A simulator with no activities. Generates the signing keys on first use.
    pub fn new(config: BotSandboxConfig) -> BotSim {
        let _ = signer::key(signer::KeyRole::Current);
        BotSim {
            state: Arc::new(Mutex::new(State {
                config,
                tokens: Vec::new(),
                token_requests: 0,
                activities: Vec::new(),
                faults: VecDeque::new(),
                sends: BTreeMap::new(),
                rotated: false,
                jwks_requests: 0,
                personal: BTreeMap::new(),
                creations: 0,
                card_updates: Vec::new(),
            })),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration.
    pub fn config(&self) -> BotSandboxConfig {
        self.lock().config.clone()
    }

    /// Queue a fault.
    pub fn inject(&self, fault: BotFault) {
        self.lock().faults.push_back(fault);
    }

    /// Activities stored, in creation order.
    pub fn activities(&self) -> Vec<StoredActivity> {
        self.lock().activities.clone()
    }

    /// Every accepted card update (`PUT …/activities/{id}`): the activity id and the card it
    /// set, in arrival order.
    pub fn card_updates(&self) -> Vec<(String, Json)> {
        self.lock().card_updates.clone()
    }

    /// Access tokens issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.clone()
    }

    /// Token requests received (successful or not).
    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    /// JWKS requests received.
    pub fn jwks_requests(&self) -> usize {
        self.lock().jwks_requests
    }

    /// Install the app for the user `aad_object_id` (their 1:1 chat exists from now on);
    /// the chat (the same one when installed again).
    pub fn install_personal(&self, aad_object_id: &str) -> PersonalChat {
        let chat = PersonalChat {
            aad_object_id: aad_object_id.to_string(),
            user_id: format!("29:{aad_object_id}"),
            conversation_id: format!("a:1{aad_object_id}"),
        };
        self.lock().personal.insert(aad_object_id.to_string(), chat.clone());
        chat
    }

    /// Uninstall the app for `aad_object_id`: its chat refuses posts (403) from now on.
    pub fn uninstall_personal(&self, aad_object_id: &str) {
        self.lock().personal.remove(aad_object_id);
    }

    /// Successful `POST /v3/conversations` so far.
    pub fn conversation_creations(&self) -> usize {
        self.lock().creations
    }

    /// The activities stored in `conversation_id`, in creation order.
    pub fn activities_in(&self, conversation_id: &str) -> Vec<StoredActivity> {
        self.lock().activities.iter().filter(|a| a.conversation_id == conversation_id).cloned().collect()
    }

    /// Serve the rotated key (new `kid`) next to the current one from now on.
    pub fn rotate_key(&self) {
        let _ = signer::key(signer::KeyRole::Rotated);
        self.lock().rotated = true;
    }

    /// Mount the endpoints at `/`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        handlers::mount(self, cfg);
    }
}

/// Serve `sim` on `127.0.0.1:port` (0 = ephemeral); returns `http://127.0.0.1:PORT/`.
pub fn spawn(sim: BotSim, port: u16) -> std::io::Result<(url::Url, super::SpawnedServer)> {
    let (addr, server) = super::spawn_app(port, move |cfg| sim.configure(cfg))?;
    let url = url::Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
    Ok((url, server))
}
