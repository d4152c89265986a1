//! The Teams connector on the conformance suite ([`crate::connectors::kit::conformance`]):
//! [`EntraAppToken`] and [`EntraDelegatedToken`] against the simulated Entra token endpoint,
//! [`GraphSink`] (a channel in HTML, a chat as Adaptive Card) and [`WorkflowsSink`] against the
//! simulated Graph and Workflows (`src/sandbox/teams`).

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::Authenticator;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use url::Url;

use super::{
    BearerToken, EntraAppToken, EntraDelegatedToken, EntraSettings, GraphSink, GraphTarget,
    MessageFormat, RefreshTokenVault, WorkflowsSink, GRAPH_APP_SCOPE,
    GRAPH_DELEGATED_SCOPE,
};
use crate::connectors::kit::conformance::{
    check_authenticator, check_sink, client, outbox_entry, serve, unreachable_url, AuthFixture,
    Lookups,
    Served, SinkFixture,
};
use crate::sandbox::teams::{TeamsFault, TeamsSandboxConfig, TeamsSim};

const TEAM_ID: &str = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b";
const CHANNEL_ID: &str = "19:conformance@thread.tacv2";
const CHAT_ID: &str = "19:conformance@thread.v2";
const FLOW_ID: &str = "conformance-flow";
/// A client secret and a refresh token the simulator does not know.
const WRONG: &str = "wrong-credential-value";
/// Request timeout of the sinks: well below [`HANG`].
const TIMEOUT: Duration = Duration::from_secs(1);
/// The `sig` of the Workflows webhook URL (a secret).
const WEBHOOK_SIG: &str = "conformance-webhook-signature";
/// How long a hung answer is held back.
const HANG: Duration = Duration::from_secs(3);
/// `Retry-After` of an injected Graph 429, seconds.
const GRAPH_RETRY_AFTER: u64 = 7;
/// `Retry-After` of an injected token-endpoint 429, seconds.
const TOKEN_RETRY_AFTER: u64 = 3;

/// The simulated Entra ID, Graph and Workflows served behind a request log, with one channel,
/// one chat and one flow. No per-channel rate limit: the contracts inject their own 429s.
struct TeamsFixture {
    sim: TeamsSim,
    served: Served,
}

impl TeamsFixture {
    fn start() -> TeamsFixture {
        let sim = TeamsSim::new(TeamsSandboxConfig {
            channel_rps: None,
            ..TeamsSandboxConfig::default()
        });
        sim.add_team_channel(TEAM_ID, CHANNEL_ID);
        sim.add_chat(CHAT_ID);
        sim.add_workflow(FLOW_ID);
        let mounted = sim.clone();
        let served = serve(move |cfg| mounted.configure(cfg));
        TeamsFixture { sim, served }
    }

    fn entra(&self, login_base: Url, client_secret: &str, scope: &str) -> EntraSettings {
        let config = self.sim.config();
        EntraSettings {
            login_base,
            tenant_id: config.tenant_id,
            client_id: config.client_id,
            client_secret: SecretString::from(client_secret),
            scope: scope.into(),
        }
    }

    /// The delegated credential of the service account, with the simulator's current refresh
    /// token (or `refresh_token` when given) in a fresh vault.
    fn delegated(&self, login_base: Url, refresh_token: Option<&str>) -> EntraDelegatedToken {
        let token = refresh_token
            .map(str::to_string)
            .unwrap_or_else(|| self.sim.current_refresh_token());
        let settings = self.entra(
            login_base,
            &self.sim.config().client_secret,
            GRAPH_DELEGATED_SCOPE,
        );
        let vault = Arc::new(SimVault(Mutex::new(SecretString::from(token))));
        EntraDelegatedToken::new(client(TIMEOUT), settings, vault, "conformance/refresh-token")
            .expect("login base")
            .with_graph_base(self.served.root.clone())
    }

    /// A delegated token for the sinks (logs in at the simulator).
    async fn bearer(&self) -> BearerToken {
        self.delegated(self.served.root.clone(), None)
            .login()
            .await
            .expect("delegated login")
            .credentials
    }

    fn requests_under(&self, prefix: &str) -> usize {
        self.served.log.count(|_, path| path.starts_with(prefix))
    }
}

/// The refresh token kept in memory (the store's vault in production).
struct SimVault(Mutex<SecretString>);

impl RefreshTokenVault for SimVault {
    fn load(&self) -> Result<SecretString, String> {
        Ok(self.0.lock().map_err(|_| "vault poisoned")?.clone())
    }

    fn store(&self, new_token: &SecretString) -> Result<(), String> {
        *self.0.lock().map_err(|_| "vault poisoned")? = new_token.clone();
        Ok(())
    }
}

/// How one Entra grant builds its authenticator for [`EntraFixture`].
trait Grant {
    type Auth: Authenticator<Credentials = BearerToken> + std::fmt::Debug;
    /// The authenticator at `login_base`, with credentials the simulator refuses when `wrong`.
    fn build(teams: &TeamsFixture, login_base: Url, wrong: bool) -> Self::Auth;
}

/// Client-credentials grant; wrong credentials = a wrong client secret (`invalid_client`).
struct AppGrant;

impl Grant for AppGrant {
    type Auth = EntraAppToken;

    fn build(teams: &TeamsFixture, login_base: Url, wrong: bool) -> EntraAppToken {
        let secret = if wrong {
            WRONG.to_string()
        } else {
            teams.sim.config().client_secret
        };
        EntraAppToken::new(
            client(TIMEOUT),
            teams.entra(login_base, &secret, GRAPH_APP_SCOPE),
        )
        .expect("login base")
    }
}

/// Refresh-token grant; wrong credentials = an unknown refresh token (`invalid_grant`).
struct DelegatedGrant;

impl Grant for DelegatedGrant {
    type Auth = EntraDelegatedToken;

    fn build(teams: &TeamsFixture, login_base: Url, wrong: bool) -> EntraDelegatedToken {
        teams.delegated(login_base, wrong.then_some(WRONG))
    }
}

struct EntraFixture<G> {
    teams: TeamsFixture,
    grant: PhantomData<G>,
}

impl<G: Grant> EntraFixture<G> {
    fn start() -> Self {
        EntraFixture {
            teams: TeamsFixture::start(),
            grant: PhantomData,
        }
    }
}

impl<G: Grant> AuthFixture for EntraFixture<G> {
    type Auth = G::Auth;

    fn authenticator(&self) -> G::Auth {
        G::build(&self.teams, self.teams.served.root.clone(), false)
    }

    fn wrong_credentials(&self) -> G::Auth {
        G::build(&self.teams, self.teams.served.root.clone(), true)
    }

    fn unreachable(&self) -> G::Auth {
        G::build(&self.teams, unreachable_url(""), false)
    }

    fn fail_next_login(&self, status: u16) {
        self.teams.sim.inject(TeamsFault::TokenStatus {
            status,
            error: "server_error".into(),
            retry_after_secs: None,
        });
    }

    fn throttle_next_login(&self) -> Option<Duration> {
        self.teams.sim.inject(TeamsFault::TokenStatus {
            status: 429,
            error: "temporarily_unavailable".into(),
            retry_after_secs: Some(TOKEN_RETRY_AFTER),
        });
        Some(Duration::from_secs(TOKEN_RETRY_AFTER))
    }

    fn login_requests(&self) -> usize {
        self.teams
            .served
            .log
            .count(|_, path| path.ends_with("/oauth2/v2.0/token"))
    }

    fn secrets(&self) -> Vec<String> {
        let config = self.teams.sim.config();
        let mut secrets = vec![
            config.client_secret,
            config.initial_refresh_token,
            self.teams.sim.current_refresh_token(),
            WRONG.to_string(),
        ];
        secrets.extend(self.teams.sim.issued_access_tokens());
        secrets
    }
}

#[tokio::test]
async fn entra_app_token_passes_the_contract() {
    check_authenticator(&EntraFixture::<AppGrant>::start()).await;
}

#[tokio::test]
async fn entra_delegated_token_passes_the_contract() {
    check_authenticator(&EntraFixture::<DelegatedGrant>::start()).await;
}


/// A Teams message with both bodies (each destination renders only its own format).
fn teams_payload(n: u64) -> Value {
    json!({
        "summary": format!("Purchase order {n} from Acme Supplies (V10000): 12,500.00 EUR"),
        "html": format!("<h3>Purchase order {n}</h3><p>Acme Supplies (V10000)</p>"),
        "card": {"type": "AdaptiveCard", "version": "1.4",
                 "body": [{"type": "TextBlock", "text": format!("Purchase order {n}")}]},
    })
}

/// A payload of another destination kind (an SMS body): not a Teams message.
fn sms_payload() -> Value {
    json!({"to": "+15555550100", "body": "Purchase order 1 approved"})
}

/// [`GraphSink`] posting to one channel or chat of the simulator.
struct GraphFixture {
    teams: TeamsFixture,
    target: GraphTarget,
    sink: GraphSink,
}

impl GraphFixture {
    fn start(target: GraphTarget, format: MessageFormat) -> GraphFixture {
        let teams = TeamsFixture::start();
        let sink = GraphSink::new(
            client(TIMEOUT),
            teams.served.root.clone(),
            target.clone(),
            format,
        )
        .expect("graph base");
        GraphFixture {
            teams,
            target,
            sink,
        }
    }
}

impl SinkFixture for GraphFixture {
    type Sink = GraphSink;

    fn sink(&self) -> &GraphSink {
        &self.sink
    }

    async fn credentials(&self) -> BearerToken {
        self.teams.bearer().await
    }

    fn refused_credentials(&self) -> Option<BearerToken> {
        Some(BearerToken::new(SecretString::from("expired-access-token")))
    }

    fn entry(&self, n: u64) -> OutboxEntry {
        outbox_entry("graph", n, teams_payload(n))
    }

    fn bad_entry(&self) -> OutboxEntry {
        outbox_entry("graph", 99, sms_payload())
    }

    fn stored(&self) -> Vec<Option<String>> {
        let messages = match &self.target {
            GraphTarget::Channel {
                team_id,
                channel_id,
            } => self.teams.sim.channel_messages(team_id, channel_id),
            GraphTarget::Chat { chat_id } => self.teams.sim.chat_messages(chat_id),
        };
        messages.into_iter().map(|m| Some(m.id)).collect()
    }

    fn requests(&self) -> usize {
        self.teams.requests_under("/v1.0/")
    }

    fn throttle_next(&self) -> Duration {
        self.teams.sim.inject(TeamsFault::Throttle {
            retry_after_secs: GRAPH_RETRY_AFTER,
        });
        Duration::from_secs(GRAPH_RETRY_AFTER)
    }

    fn hang_after_store_next(&self) {
        self.teams
            .sim
            .inject(TeamsFault::DelayAfterStore { delay: HANG });
    }

    fn lookups(&self) -> Lookups {
        Lookups::Supported
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = self.teams.sim.issued_access_tokens();
        secrets.push("expired-access-token".into());
        secrets
    }
}

#[tokio::test]
async fn graph_channel_sink_passes_the_contract() {
    let target = GraphTarget::Channel {
        team_id: TEAM_ID.into(),
        channel_id: CHANNEL_ID.into(),
    };
    check_sink(&GraphFixture::start(target, MessageFormat::Html)).await;
}

#[tokio::test]
async fn graph_chat_sink_passes_the_contract() {
    let target = GraphTarget::Chat {
        chat_id: CHAT_ID.into(),
    };
    check_sink(&GraphFixture::start(target, MessageFormat::Card)).await;
}

/// [`WorkflowsSink`] posting to one flow of the simulator (send-only, no session).
struct WorkflowsFixture {
    teams: TeamsFixture,
    sink: WorkflowsSink,
}

impl SinkFixture for WorkflowsFixture {
    type Sink = WorkflowsSink;

    fn sink(&self) -> &WorkflowsSink {
        &self.sink
    }

    async fn credentials(&self) {}

    fn refused_credentials(&self) -> Option<()> {
        None
    }

    fn entry(&self, n: u64) -> OutboxEntry {
        outbox_entry("workflows", n, teams_payload(n))
    }

    fn bad_entry(&self) -> OutboxEntry {
        outbox_entry("workflows", 99, sms_payload())
    }

    /// A flow assigns no ids.
    fn stored(&self) -> Vec<Option<String>> {
        vec![None; self.teams.sim.workflow_posts(FLOW_ID).len()]
    }

    fn requests(&self) -> usize {
        self.teams.requests_under("/workflows/")
    }

    /// The simulated flow sends `Retry-After: 1` with its 429.
    fn throttle_next(&self) -> Duration {
        self.teams
            .sim
            .inject(TeamsFault::WorkflowStatus { status: 429 });
        Duration::from_secs(1)
    }

    fn hang_after_store_next(&self) {
        self.teams
            .sim
            .inject(TeamsFault::WorkflowDelayAfterStore { delay: HANG });
    }

    fn lookups(&self) -> Lookups {
        Lookups::Unsupported
    }

    /// The webhook URL's signature.
    fn secrets(&self) -> Vec<String> {
        vec![WEBHOOK_SIG.into()]
    }
}

#[tokio::test]
async fn workflows_sink_passes_the_contract() {
    let teams = TeamsFixture::start();
    let url = teams
        .served
        .root
        .join(&format!("workflows/{FLOW_ID}?api-version=1&sig={WEBHOOK_SIG}"))
        .expect("flow URL");
    let sink = WorkflowsSink::new(client(TIMEOUT), &SecretString::from(url.as_str()))
        .expect("webhook URL");
    check_sink(&WorkflowsFixture { teams, sink }).await;
}

#[test]
fn the_vault_keeps_the_rotated_token() {
    let vault = SimVault(Mutex::new(SecretString::from("a")));
    vault.store(&SecretString::from("b")).expect("store");
    assert_eq!(vault.load().expect("load").expose_secret(), "b");
}
