//! The TOML tables of the Bot Framework kinds.
//!
//! ```toml
//! [[credentials]]
//! name = "approvals-bot"
//! kind = "bot_framework"
//! app_id = "00000000-0000-0000-0000-000000000000"   # the Azure Bot's Microsoft App ID
//! app_password = { secret = "bot-app-password" }     # its client secret value
//! # tenant_id = "contoso.onmicrosoft.com"            # single-tenant bots; default: botframework.com
//! decision_key = { secret = "bot-decision-key" }     # HMAC-SHA256 key of the decision tokens
//! # Approvers given by e-mail are looked up in Microsoft Graph with an app-only token of
//! # this same app registration in the customer's tenant (needs User.Read.All):
//! # directory = { tenant_id = "contoso.onmicrosoft.com" }  # graph_base_url optional
//!
//! [[destinations]]
//! name = "ap-approvals"
//! kind = "teams_bot"
//! credential = "approvals-bot"
//! service_url = "https://smba.trafficmanager.net/emea/"
//! conversation_id = "19:abc@thread.tacv2;messageid=1616990032035"
//! # Or each approval card to its approver's 1:1 chat (the app installed for them), the
//! # channel above replaced by the fallback for approvers without the app:
//! # conversation = "approver"
//! # fallback_conversation_id = "19:abc@thread.tacv2"
//! # tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"   # the approvers' tenant
//! # inbound = true                          # false: no buttons, "Approve in <erp_name>: <link>"
//! # erp_name = "Acumatica"                  # named in the notes of cards without buttons
//! # people_cache_seconds = 86400            # how long a looked-up approver is kept
//! # people_not_found_cache_seconds = 3600   # how long a "not found" is kept
//!
//! [[sources]]
//! name = "approvals"
//! kind = "teams_bot"
//! credential = "approvals-bot"
//! ```
//!
//! Source: `api-notes/microsoft-teams.md` ("Bot Framework (approvals)").

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::approver::{ApproverOptions, DEFAULT_ERP_NAME};
use super::people::PeopleSettings;
use crate::connectors::teams::card::CardVersion;
use crate::connectors::teams::{ENTRA_LOGIN_BASE, GRAPH_BASE};
use crate::secrets::SecretRef;
use crate::seam::{parse_table, Problem};

/// Bot Framework's OpenID metadata document (keys of the Bot Connector's JWTs).
pub const OPENID_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
/// `iss` of the Bot Connector's JWTs.
pub const BOT_ISSUER: &str = "https://api.botframework.com";
/// Default lifetime of a decision token: 7 days (a bill on hold waits over a weekend).
pub const DEFAULT_DECISION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default highest Adaptive Card version sent: 1.5, what Teams bots render; `Action.Execute`
/// needs 1.4 or later.
pub const DEFAULT_MAX_CARD_VERSION: CardVersion = CardVersion { major: 1, minor: 5 };
/// Allowed clock skew on the JWT `exp`/`nbf`: 5 minutes (Bot Framework authentication docs).
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// Fewest seconds between two JWKS fetches caused by an unknown `kid` (a flood of forged
/// `kid`s cannot make the gateway hammer the metadata endpoint).
pub const DEFAULT_JWKS_REFETCH_MIN: Duration = Duration::from_secs(60);
/// Age after which the cached JWKS is fetched again even when every `kid` is known: 24 h.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// `[[credentials]] kind = "bot_framework"`, checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotCredentialConfig {
    /// `app_id`: the bot's Microsoft App ID (client id; also the `aud` of inbound JWTs).
    pub app_id: String,
    /// `app_password`: the app's client secret value.
    pub app_password: SecretRef,
    /// `tenant_id`: the bot's tenant for single-tenant bots; absent: `botframework.com`.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// `login_base_url`: token endpoint host, default `https://login.microsoftonline.com/`.
    #[serde(default = "default_login_base_url", deserialize_with = "crate::seam::base_url")]
    pub login_base_url: Url,
    /// `decision_key`: HMAC-SHA256 key signing the decision tokens in card buttons (at least
    /// 32 bytes; `ml-connector secret set NAME`).
    pub decision_key: SecretRef,
    /// `directory`: where approvers given by e-mail are looked up; absent: approvers must be
    /// Entra object ids.
    #[serde(default)]
    pub directory: Option<DirectoryConfig>,
}

/// `directory = { tenant_id, graph_base_url }` of a `bot_framework` credential: Microsoft
/// Graph user lookups with a client-credentials token of the bot's own app registration
/// (`app_id` / `app_password`) in `tenant_id`, scope `https://graph.microsoft.com/.default`.
/// The app registration needs the application permission `User.Read.All` (admin consent).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// `tenant_id`: the customer's tenant (GUID or verified domain). Required even for a
    /// single-tenant bot's own tenant: Graph tokens are never issued by `botframework.com`.
    pub tenant_id: String,
    /// `graph_base_url`: Graph root, default `https://graph.microsoft.com/`.
    #[serde(default = "default_graph_base_url", deserialize_with = "crate::seam::base_url")]
    pub graph_base_url: Url,
}

/// `[[destinations]] kind = "teams_bot"`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct BotDestinationConfig {
    /// `service_url`: the Bot Connector base of the tenant's region, ending in `/`
    /// (`https://smba.trafficmanager.net/emea/`).
    pub service_url: Url,
    /// `conversation_id`: a channel thread (`19:…@thread.tacv2;messageid=…`), a channel
    /// (`19:…@thread.tacv2`) or a 1:1 chat (`a:1…`) the bot is installed in; with
    /// `conversation = "approver"` the `fallback_conversation_id`.
    pub conversation_id: String,
    /// `conversation = "approver"` with `tenant_id`: approval cards go to the approver's
    /// 1:1 chat; `None`: everything goes to `conversation_id`.
    pub approver_chat: Option<ApproverChatConfig>,
    /// `decision_ttl_seconds`: how long the card buttons stay valid; default 7 days.
    pub decision_ttl: Duration,
    /// `max_card_version`: highest Adaptive Card version sent; default `"1.5"`.
    pub max_card_version: CardVersion,
    /// `inbound` (default `true`) and `erp_name` (default `"the ERP"`): see
    /// [`ApproverOptions`].
    pub approver: ApproverOptions,
    /// `people_cache_seconds` (default 86400) and `people_not_found_cache_seconds` (default
    /// 3600); 0 looks up on every card.
    pub people: PeopleSettings,
}

/// The 1:1 chats of `conversation = "approver"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverChatConfig {
    /// `tenant_id`: the approvers' tenant (GUID), sent when opening a chat.
    pub tenant_id: String,
}

/// The `conversation` value sending each approval card to its approver.
pub const APPROVER_CONVERSATION: &str = "approver";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    #[serde(deserialize_with = "crate::seam::base_url")]
    service_url: Url,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    conversation: Option<String>,
    #[serde(default)]
    fallback_conversation_id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    decision_ttl_seconds: Option<u64>,
    #[serde(default)]
    max_card_version: Option<String>,
    #[serde(default = "default_true")]
    inbound: bool,
    #[serde(default)]
    erp_name: Option<String>,
    #[serde(default)]
    people_cache_seconds: Option<u64>,
    #[serde(default)]
    people_not_found_cache_seconds: Option<u64>,
}

fn default_true() -> bool {
    true
}

fn default_graph_base_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(GRAPH_BASE).expect("GRAPH_BASE is a valid URL")
}

/// `[[sources]] kind = "teams_bot"` (the bot endpoint), checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotSourceConfig {
    /// `openid_metadata_url`: where the signing keys are announced.
    #[serde(default = "default_openid_metadata_url")]
    pub openid_metadata_url: Url,
    /// `issuer`: the required `iss`; default `https://api.botframework.com`.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// `clock_skew_seconds`: leeway on `exp`/`nbf`; default 300.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u64,
    /// `jwks_refetch_min_seconds`: fewest seconds between refetches for an unknown `kid`;
    /// default 60.
    #[serde(default = "default_refetch_min")]
    pub jwks_refetch_min_seconds: u64,
    /// `jwks_max_age_seconds`: refetch the keys when older; default 86400.
    #[serde(default = "default_max_age")]
    pub jwks_max_age_seconds: u64,
}

fn default_login_base_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(ENTRA_LOGIN_BASE).expect("ENTRA_LOGIN_BASE is a valid URL")
}

fn default_openid_metadata_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(OPENID_METADATA_URL).expect("OPENID_METADATA_URL is a valid URL")
}

fn default_issuer() -> String {
    BOT_ISSUER.to_string()
}

fn default_skew() -> u64 {
    DEFAULT_CLOCK_SKEW.as_secs()
}

fn default_refetch_min() -> u64 {
    DEFAULT_JWKS_REFETCH_MIN.as_secs()
}

fn default_max_age() -> u64 {
    DEFAULT_JWKS_MAX_AGE.as_secs()
}

fn not_empty(key: &str, value: &str) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(Problem::new(key, "must not be empty"));
    }
    Ok(())
}

/// Reads `[[credentials]] kind = "bot_framework"`.
///
/// Errors: unknown keys, empty `app_id` / `tenant_id`, plain-string secrets.
pub fn parse_credential(table: toml::Table) -> Result<BotCredentialConfig, Problem> {
    let c: BotCredentialConfig = parse_table(table)?;
    not_empty("app_id", &c.app_id)?;
    if let Some(tenant) = &c.tenant_id {
        not_empty("tenant_id", tenant)?;
    }
    if let Some(directory) = &c.directory {
        not_empty("directory.tenant_id", &directory.tenant_id)?;
    }
    Ok(c)
}

/// Reads `[[destinations]] kind = "teams_bot"`.
///
/// Errors: unknown keys; `service_url` not an http(s) URL; empty `conversation_id`;
/// `conversation` other than `"approver"`; `conversation = "approver"` without
/// `fallback_conversation_id` and `tenant_id` or together with `conversation_id`;
/// `fallback_conversation_id` / `tenant_id` without `conversation = "approver"`;
/// `decision_ttl_seconds = 0`; `max_card_version` not `MAJOR.MINOR` or below 1.4 (the
/// buttons are `Action.Execute`, Adaptive Cards 1.4+); an empty `erp_name`.
pub fn parse_destination(table: toml::Table) -> Result<BotDestinationConfig, Problem> {
    let raw: RawDestination = parse_table(table)?;
    let (conversation_id, approver_chat) = conversation(&raw)?;
    let decision_ttl = match raw.decision_ttl_seconds {
        Some(0) => {
            return Err(Problem::new(
                "decision_ttl_seconds",
                "must be at least 1 (how long the Approve / Reject buttons stay valid)",
            ))
        }
        Some(s) => Duration::from_secs(s),
        None => DEFAULT_DECISION_TTL,
    };
    let max_card_version = match raw.max_card_version.as_deref() {
        None => DEFAULT_MAX_CARD_VERSION,
        Some(text) => match CardVersion::parse(text) {
            Some(v) if v >= card_minimum() => v,
            _ => {
                return Err(Problem::new(
                    "max_card_version",
                    format!("{text:?}: must be \"1.4\" or later as MAJOR.MINOR (the Approve / Reject buttons are Action.Execute, Adaptive Cards 1.4+)"),
                ))
            }
        },
    };
    let erp_name = raw.erp_name.unwrap_or_else(|| DEFAULT_ERP_NAME.to_string());
    not_empty("erp_name", &erp_name)?;
    let defaults = PeopleSettings::default();
    let seconds = |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);
    Ok(BotDestinationConfig {
        service_url: raw.service_url,
        conversation_id,
        approver_chat,
        decision_ttl,
        max_card_version,
        approver: ApproverOptions {
            inbound: raw.inbound,
            erp_name,
        },
        people: PeopleSettings {
            found_ttl: seconds(raw.people_cache_seconds, defaults.found_ttl),
            not_found_ttl: seconds(raw.people_not_found_cache_seconds, defaults.not_found_ttl),
        },
    })
}

/// The conversation keys of a destination: the channel posted to (or fallen back to) and the
/// 1:1 chats, checked (see [`parse_destination`]).
fn conversation(raw: &RawDestination) -> Result<(String, Option<ApproverChatConfig>), Problem> {
    match raw.conversation.as_deref() {
        None => {
            for (key, value) in [("fallback_conversation_id", &raw.fallback_conversation_id), ("tenant_id", &raw.tenant_id)] {
                if value.is_some() {
                    return Err(Problem::new(key, "only with conversation = \"approver\""));
                }
            }
            let id = raw.conversation_id.clone().ok_or_else(|| Problem::new("conversation_id", "missing (or conversation = \"approver\")"))?;
            not_empty("conversation_id", &id)?;
            Ok((id, None))
        }
        Some(APPROVER_CONVERSATION) => {
            if raw.conversation_id.is_some() {
                return Err(Problem::new("conversation_id", "not with conversation = \"approver\" (the channel for approvers without the app is fallback_conversation_id)"));
            }
            let required = |key: &str, value: &Option<String>| {
                let v = value.clone().ok_or_else(|| Problem::new(key, "required with conversation = \"approver\""))?;
                not_empty(key, &v).map(|()| v)
            };
            let fallback = required("fallback_conversation_id", &raw.fallback_conversation_id)?;
            let tenant_id = required("tenant_id", &raw.tenant_id)?;
            Ok((fallback, Some(ApproverChatConfig { tenant_id })))
        }
        Some(other) => Err(Problem::new("conversation", format!("{other:?}: the only value is \"approver\" (else give conversation_id)"))),
    }
}

/// Reads `[[sources]] kind = "teams_bot"`.
///
/// Errors: unknown keys, an empty `issuer`.
pub fn parse_source(table: toml::Table) -> Result<BotSourceConfig, Problem> {
    let c: BotSourceConfig = parse_table(table)?;
    not_empty("issuer", &c.issuer)?;
    Ok(c)
}

/// The lowest card version with `Action.Execute`: 1.4.
pub const fn card_minimum() -> CardVersion {
    CardVersion { major: 1, minor: 4 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(extra: &str) -> Result<BotDestinationConfig, Problem> {
        let text = format!("service_url = \"https://smba.trafficmanager.net/emea/\"\n{extra}");
        parse_destination(toml::from_str(&text).expect("toml"))
    }

    #[test]
    fn conversation_approver_needs_a_fallback_and_a_tenant_and_no_conversation_id() {
        let ok = destination("conversation = \"approver\"\nfallback_conversation_id = \"19:f@thread.tacv2\"\ntenant_id = \"t-1\"").expect("valid");
        assert_eq!((ok.conversation_id.as_str(), ok.approver_chat), ("19:f@thread.tacv2", Some(ApproverChatConfig { tenant_id: "t-1".into() })));
        let key = |extra: &str| destination(extra).expect_err("invalid").key;
        assert_eq!(key("conversation = \"approver\"\ntenant_id = \"t-1\""), "fallback_conversation_id");
        assert_eq!(key("conversation = \"approver\"\nfallback_conversation_id = \"19:f@thread.tacv2\""), "tenant_id");
        assert_eq!(key("conversation = \"approver\"\nconversation_id = \"19:c@thread.tacv2\""), "conversation_id");
        assert_eq!(key("conversation = \"channel\"\nconversation_id = \"19:c@thread.tacv2\""), "conversation");
        assert_eq!(key("conversation_id = \"19:c@thread.tacv2\"\ntenant_id = \"t-1\""), "tenant_id");
        assert_eq!(key(""), "conversation_id");
        assert_eq!(destination("conversation_id = \"19:c@thread.tacv2\"").expect("valid").approver_chat, None);
    }
}
