//! The `teams_bot` connector on the conformance suite: [`BotToken`] against the simulated
//! token endpoint, [`BotSink`] against the simulated Bot Connector, [`TeamsBotInbound`]
//! against simulated taps (genuine and forged JWTs).

use std::time::Duration;

use ml_connector_actors::inbound::InboundRequest;
use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::Authenticator;
use serde_json::json;

use super::tests::{bot_token, tap_request, Rig, DECISION_KEY};
use super::{BotSink, BotToken, TeamsBotInbound};
use crate::connectors::kit::conformance::{
    check_authenticator, check_inbound, check_sink, outbox_entry, unreachable_url, AuthFixture,
    InboundFixture, Lookups, SinkFixture,
};
use crate::connectors::teams::BearerToken;
use crate::sandbox::teams_bot::{BotFault, Forgery};

/// `Retry-After` of injected 429s, seconds.
const RETRY_AFTER: u64 = 4;

impl AuthFixture for Rig {
    type Auth = BotToken;

    fn authenticator(&self) -> BotToken {
        bot_token(&self.sim, self.served.root.clone(), &self.sim.config().app_password)
    }

    fn wrong_credentials(&self) -> BotToken {
        bot_token(&self.sim, self.served.root.clone(), "wrong-app-password")
    }

    fn unreachable(&self) -> BotToken {
        bot_token(&self.sim, unreachable_url(""), &self.sim.config().app_password)
    }

    fn fail_next_login(&self, status: u16) {
        self.sim.inject(BotFault::Token { status, retry_after_secs: None });
    }

    fn throttle_next_login(&self) -> Option<Duration> {
        self.sim.inject(BotFault::Token { status: 429, retry_after_secs: Some(RETRY_AFTER) });
        Some(Duration::from_secs(RETRY_AFTER))
    }

    fn login_requests(&self) -> usize {
        self.sim.token_requests()
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.sim.config().app_password, DECISION_KEY.to_string()];
        secrets.extend(self.sim.issued_tokens());
        secrets
    }
}

impl SinkFixture for Rig {
    type Sink = BotSink;

    fn sink(&self) -> &BotSink {
        &self.sink
    }

    async fn credentials(&self) -> BearerToken {
        self.authenticator().login().await.expect("bot token").credentials
    }

    fn refused_credentials(&self) -> Option<BearerToken> {
        Some(BearerToken::new("never-issued-token".to_string().into()))
    }

    fn entry(&self, n: u64) -> OutboxEntry {
        outbox_entry("approvals-card", n, json!({"summary": format!("Bill {n}"), "card": {
            "type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": format!("Bill {n}")}],
            "mlc_approval": {"document": format!("B-{n}"), "version": "v1", "approver": "aad-jane", "approver_name": "Jane Smith"},
        }}))
    }

    fn bad_entry(&self) -> OutboxEntry {
        outbox_entry("approvals-card", 999, json!({"summary": "html only", "html": "<p>not a card</p>"}))
    }

    fn stored(&self) -> Vec<Option<String>> {
        self.sim.activities().into_iter().map(|a| Some(a.id)).collect()
    }

    fn requests(&self) -> usize {
        self.served.log.count(|_, path| path.starts_with("/v3/"))
    }

    fn throttle_next(&self) -> Duration {
        self.sim.inject(BotFault::Throttle { retry_after_secs: RETRY_AFTER });
        Duration::from_secs(RETRY_AFTER)
    }

    fn hang_after_store_next(&self) {
        self.sim.inject(BotFault::HangAfterStore { delay: Duration::from_secs(3) });
    }

    fn lookups(&self) -> Lookups {
        Lookups::Unsupported
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![DECISION_KEY.to_string()];
        secrets.extend(self.sim.issued_tokens());
        secrets
    }
}

/// The endpoint over the rig's simulator; a genuine tap on an unknown card is accepted
/// (answered "out of date"), forged JWTs are refused.
struct EndpointFixture(Rig);

impl InboundFixture for EndpointFixture {
    type Inbound = TeamsBotInbound;

    fn endpoint(&self) -> TeamsBotInbound {
        self.0.endpoint()
    }

    /// A genuine press on a button that is not one of this gateway's (HTTP 200 with an error
    /// invoke answer, nothing committed).
    fn signed_request(&self) -> InboundRequest {
        tap_request(&self.0.tap(json!({}), "approve", "aad-jane", Forgery::None))
    }

    fn forged_requests(&self) -> Vec<InboundRequest> {
        let mut unsigned = self.signed_request();
        unsigned.headers.retain(|(name, _)| name != "authorization");
        let mut forged: Vec<InboundRequest> = [Forgery::WrongKey, Forgery::Expired, Forgery::WrongAudience, Forgery::WrongServiceUrl]
            .into_iter()
            .map(|f| tap_request(&self.0.tap(json!({}), "approve", "aad-jane", f)))
            .collect();
        forged.push(unsigned);
        forged
    }

    fn secrets(&self) -> Vec<String> {
        vec![DECISION_KEY.to_string(), self.0.sim.config().app_password]
    }
}

#[actix_web::test]
async fn bot_token_passes_the_auth_contract() {
    check_authenticator(&Rig::start()).await;
}

#[actix_web::test]
async fn bot_sink_passes_the_sink_contract() {
    check_sink(&Rig::start()).await;
}

#[actix_web::test]
async fn bot_endpoint_passes_the_inbound_contract() {
    check_inbound(&EndpointFixture(Rig::start())).await;
}
