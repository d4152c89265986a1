//! Configuration of the Teams sandbox (Entra ID, Graph, Workflows).

use std::time::Duration;

/// What the sandbox accepts and how it behaves. Every duration is on the sandbox clock
/// (real time plus [`TeamsSim::set_time_offset`](super::TeamsSim::set_time_offset)) so tests can run in
/// seconds.
///
/// Defaults follow Microsoft's public documentation (learn.microsoft.com: "Microsoft identity
/// platform and the OAuth 2.0 client credentials flow", "Microsoft Graph service-specific
/// throttling limits", "Send chatMessage in a channel or a chat").
#[derive(Debug, Clone)]
pub struct TeamsSandboxConfig {
    /// Tenant id in the token URL `/{tenant}/oauth2/v2.0/token`. Default `"contoso-tenant"`.
    pub tenant_id: String,
    /// Application (client) id of the app registration. Default `"sandbox-client"`.
    pub client_id: String,
    /// Client secret value of the app registration. Default `"sandbox-secret"`.
    pub client_secret: String,
    /// The first valid refresh token of the delegated service account (as if a human had signed in
    /// once). Default `"sandbox-refresh-0"`. Every refresh-token grant replaces it (rotation).
    pub initial_refresh_token: String,
    /// Access token lifetime, reported as `expires_in` / `ext_expires_in` in whole seconds.
    /// Default 3599 s.
    pub token_lifetime: Duration,
    /// A refresh token dies after this much sandbox time without use (Entra default: 90 days of
    /// inactivity; then `invalid_grant` AADSTS700082).
    pub refresh_token_inactivity: Duration,
    /// HTTP status for `invalid_client` (wrong or missing client secret). The brief and the API
    /// notes say 400; public MSAL/Guzzle/Keycloak reports show Entra answering 401. Default 400.
    pub invalid_client_status: u16,
    /// POST message requests per second allowed per team/channel or per chat, in a 1 s sliding
    /// window of accepted posts ("at most 4 requests per second per app on a given team or
    /// channel"). Default `Some(4)`; `None` turns rate limiting off (benchmarks).
    pub channel_rps: Option<u32>,
    /// POST message requests per second allowed for the app in the whole tenant (all channels
    /// and chats), in a 1 s sliding window of accepted posts; above it 429 with `Retry-After: 1`.
    /// Graph documents 50 rps per app per tenant for channel posts (20 for chats; an older
    /// version of the page: 2). Default `Some(50)`; `None` turns it off (benchmarks).
    pub tenant_post_rps: Option<u32>,
    /// Messages accepted per channel or chat in a rolling 24 h of sandbox time ("at most 3000
    /// messages per app per day to one channel"); the next post is answered 429 with a
    /// `Retry-After` until the oldest of them leaves the day. Default `Some(3000)`; `None`: off.
    pub daily_cap: Option<u32>,
    /// A share of POST message requests that fail after the message was stored (benchmarks of
    /// fault tolerance); `None` (default): none. Queued faults ([`TeamsSandboxConfig`] `inject`)
    /// take precedence.
    pub post_fault_mix: Option<PostFaultMix>,
    /// Largest accepted POST message request body in bytes; above it Graph answers
    /// 413 `RequestEntityTooLarge`. Default 28 000 (Teams' ~28 KB message limit; users measured
    /// 413 at ~28.5 K characters).
    pub max_message_bytes: usize,
    /// Entra object id of the delegated service-account user shown in `from.user.id`.
    pub service_user_id: String,
    /// Display name of the delegated service-account user shown in `from.user.displayName`.
    pub service_user_display_name: String,
    /// Space-separated delegated Graph permissions an administrator consented to for the app
    /// (short names such as `ChannelMessage.Send`; a `https://graph.microsoft.com/` prefix is
    /// accepted). A refresh-token grant asking for any other Graph scope is refused with
    /// `invalid_grant` AADSTS65001, as real Entra refuses unconsented scopes; the token carries
    /// exactly the Graph scopes asked for (`.default`: every consented one), and Graph checks
    /// them on every call. Default: what the gateway's defaults ask for
    /// (`ChannelMessage.Send ChannelMessage.Read.All ChatMessage.Send Chat.Read`) plus
    /// `User.Read`.
    pub consented_scopes: String,
    /// Space-separated application permissions (app roles) granted with admin consent; a
    /// client-credentials token carries them as its `roles`. Graph checks them where an
    /// app-only read needs one (`GET /users/{id | userPrincipalName}`: `User.Read.All`,
    /// `User.ReadWrite.All`, `Directory.Read.All` or `Directory.ReadWrite.All`, else 403
    /// `Authorization_RequestDenied`). Default `"User.Read.All"`.
    pub app_roles: String,
    /// Order of `GET /teams/{id}/channels/{id}/messages` (Microsoft does not document it):
    /// newest created first, or most recently modified first (edits and reactions move a
    /// message up), like chats. Default [`ListOrder::LastModified`] (the harder one for a
    /// client that stops reading on creation times).
    pub channel_list_order: ListOrder,
    /// Highest Adaptive Card version a Workflows flow renders ("1.4"); a post with a higher
    /// (or missing) card version is answered 202 and its run fails inside the flow, visible
    /// only in [`TeamsSim::workflow_runs`](super::TeamsSim::workflow_runs). Default `(1, 4)`.
    pub workflows_max_card_version: (u32, u32),
    /// Longest subscription lifetime (`expirationDateTime` minus now) Graph accepts for a
    /// Teams chatMessage resource with a `lifecycleNotificationUrl`. Documented as 4320 minutes
    /// (3 days) for chatMessage, older pages say 60 minutes. Default 4320 minutes.
    pub subscription_max_expiry: Duration,
    /// Longest lifetime without a `lifecycleNotificationUrl` ("required ... when the
    /// expirationDateTime value is set to greater than 1 hour"). Default 1 hour.
    pub subscription_max_expiry_without_lifecycle: Duration,
    /// Graph requires https notification and lifecycle URLs. Default `true`; tests serving
    /// plain http on 127.0.0.1 turn it off.
    pub subscription_require_https: bool,
    /// How long a validation request (and each notification POST) may take before it counts as
    /// failed. Graph: 10 s. Default 10 s.
    pub validation_timeout: Duration,
    /// POSTs per notification until one is answered 202 (Graph retries with back-off for up to
    /// 4 hours; the sandbox retries at once). Default 3.
    pub notification_attempts: u32,
}

/// Order of a message list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// `createdDateTime desc` (ties: higher id first).
    Created,
    /// `lastModifiedDateTime desc` (ties: higher id first); chats' documented default.
    LastModified,
}

impl Default for TeamsSandboxConfig {
    fn default() -> Self {
        TeamsSandboxConfig {
            tenant_id: "contoso-tenant".to_string(),
            client_id: "sandbox-client".to_string(),
            client_secret: "sandbox-secret".to_string(),
            initial_refresh_token: "sandbox-refresh-0".to_string(),
            token_lifetime: Duration::from_secs(3599),
            refresh_token_inactivity: Duration::from_secs(90 * 24 * 3600),
            invalid_client_status: 400,
            channel_rps: Some(4),
            tenant_post_rps: Some(50),
            daily_cap: Some(3000),
            post_fault_mix: None,
            max_message_bytes: 28_000,
            service_user_id: "8ea0e38b-efb3-4757-924a-5f94061cf8c2".to_string(),
            service_user_display_name: "ML Connector Service".to_string(),
            consented_scopes:
                "ChannelMessage.Send ChannelMessage.Read.All ChatMessage.Send Chat.Read User.Read"
                    .to_string(),
            app_roles: "User.Read.All".to_string(),
            channel_list_order: ListOrder::LastModified,
            workflows_max_card_version: (1, 4),
            subscription_max_expiry: Duration::from_secs(4320 * 60),
            subscription_max_expiry_without_lifecycle: Duration::from_secs(3600),
            subscription_require_https: true,
            validation_timeout: Duration::from_secs(10),
            notification_attempts: 3,
        }
    }
}

/// Faults spread evenly over stored posts: of every 100, `hang_percent` are answered only after
/// `hang_for` (the client's timeout fires first), `error_percent` are answered 503 or 500
/// (alternately) — both after the message was stored, so the client's outcome is ambiguous.
/// Deterministic: post number n (1-based) hangs when `floor(n·h/100)` steps up, fails when
/// `floor((n+5)·e/100)` steps up (a post picked by both hangs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostFaultMix {
    /// Percent of stored posts whose answer hangs.
    pub hang_percent: u32,
    /// Percent of stored posts answered with a 5xx.
    pub error_percent: u32,
    /// How long a hanging answer is held back.
    pub hang_for: Duration,
}

impl PostFaultMix {
    /// The fault of stored post number `n` (1-based): `Some(None)` hang, `Some(Some(status))`
    /// a 5xx, `None` a normal answer.
    pub(crate) fn fault_of(&self, n: u64) -> Option<Option<u16>> {
        let steps = |n: u64, p: u32| n * p as u64 / 100 > (n - 1) * p as u64 / 100;
        if n == 0 {
            return None;
        }
        if steps(n, self.hang_percent) {
            return Some(None);
        }
        if steps(n + 5, self.error_percent) {
            let nth = (n + 5) * self.error_percent as u64 / 100;
            return Some(Some(if nth.is_multiple_of(2) { 500 } else { 503 }));
        }
        None
    }
}
