//! [`GraphSink`] against the strict Teams sandbox: lookups need the read permission and read
//! in an order that reactions cannot fool; `check` probes the message list.

use std::time::Duration;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Health, Lookup, Sink};
use secrecy::SecretString;
use serde_json::{json, Value};
use url::Url;

use super::graph::{GraphSink, GraphTarget};
use super::marker::Marker;
use super::problems::ProblemBoard;
use super::test_server::test_client;
use super::{BearerToken, MessageFormat, GRAPH_CHANNEL_SCOPES, GRAPH_CHAT_SCOPES};
use crate::sandbox::teams::{spawn, ListOrder, SpawnedServer, TeamsSandboxConfig, TeamsSim};

const TEAM: &str = "team-1";
const CHANNEL: &str = "19:general@thread.tacv2";
const CHAT: &str = "19:cfo@thread.v2";
const KEY: &str = "acme/PurchaseOrders/42/created->finance";

struct Fixture {
    sim: TeamsSim,
    base: Url,
    _server: SpawnedServer,
}

fn fixture(config: TeamsSandboxConfig) -> Fixture {
    let sim = TeamsSim::new(TeamsSandboxConfig {
        channel_rps: None,
        tenant_post_rps: None,
        ..config
    });
    sim.add_team_channel(TEAM, CHANNEL);
    sim.add_chat(CHAT);
    let (base, server) = spawn(sim.clone(), 0).expect("spawn sandbox");
    Fixture {
        sim,
        base,
        _server: server,
    }
}

impl Fixture {
    /// A delegated token for `scopes` (space-separated), by the refresh-token grant.
    async fn token(&self, scopes: &str) -> BearerToken {
        let refresh = self.sim.current_refresh_token();
        let form = [
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("scope", scopes),
        ];
        let body: Value = test_client()
            .post(self.base.join("contoso-tenant/oauth2/v2.0/token").unwrap())
            .form(&form)
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token JSON");
        let token = body["access_token"].as_str().expect("access_token");
        BearerToken::new(SecretString::from(token.to_string()))
    }

    fn sink(&self, target: GraphTarget) -> GraphSink {
        GraphSink::new(test_client(), self.base.clone(), target, MessageFormat::Html)
            .expect("sink")
    }

    /// Post `count` HTML messages to `url` with `token`; the Graph ids, oldest first.
    async fn post(&self, url: &Url, token: &BearerToken, count: usize, text: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..count {
            let body = json!({"body": {"contentType": "html", "content": format!("<p>{text} {i}</p>")}});
            let created: Value = test_client()
                .post(url.clone())
                .header("authorization", token.header_value().unwrap())
                .json(&body)
                .send()
                .await
                .expect("post")
                .json()
                .await
                .expect("chatMessage");
            ids.push(created["id"].as_str().expect("id").to_string());
        }
        ids
    }
}

fn channel() -> GraphTarget {
    GraphTarget::Channel {
        team_id: TEAM.into(),
        channel_id: CHANNEL.into(),
    }
}

fn chat() -> GraphTarget {
    GraphTarget::Chat {
        chat_id: CHAT.into(),
    }
}

fn scopes(list: &[&str]) -> String {
    let mut s = list.join(" ");
    s.push_str(" offline_access");
    s
}

fn entry(created_ms: i64) -> OutboxEntry {
    OutboxEntry {
        seq: 1,
        destination: "finance".into(),
        route: "r".into(),
        dedupe_key: KEY.into(),
        event_key: "acme/PurchaseOrders/42/created".into(),
        payload: json!({"summary": "s", "html": "<p>PO 42</p>"}),
        created_ms,
        attempts: 1,
        lookups: 0,
        next_attempt_ms: created_ms,
        maybe_sent: true,
        last_error: None,
        deferrals: 0,
    }
}

/// The scenario lookups used to lose: 50 messages created long before the entry are reacted
/// to after the entry's message arrived, so they fill the first page of a last-modified list.
/// Returns the entry and the id of its message.
async fn reacted_history(f: &Fixture, target: &GraphTarget, token: &BearerToken) -> (OutboxEntry, String) {
    let url = f.sink(target.clone()).messages_url().clone();
    let old = f.post(&url, token, 50, "old").await;
    f.sim.set_time_offset(Duration::from_secs(20 * 60));
    let entry = entry(f.sim.now_ms());
    let footer = Marker::from_dedupe_key(KEY).html_footer();
    let body = json!({"body": {"contentType": "html", "content": format!("<p>PO 42</p>{footer}")}});
    let created: Value = test_client()
        .post(url)
        .header("authorization", token.header_value().unwrap())
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("chatMessage");
    // The reactions come a second later: every old message is now modified after it.
    f.sim.set_time_offset(Duration::from_secs(20 * 60 + 1));
    for id in &old {
        assert!(f.sim.react(id));
    }
    (entry, created["id"].as_str().expect("id").to_string())
}

#[tokio::test]
async fn chat_lookup_asks_creation_order_and_finds_past_reacted_messages() {
    let f = fixture(TeamsSandboxConfig::default());
    let token = f.token(&scopes(&GRAPH_CHAT_SCOPES)).await;
    let (entry, id) = reacted_history(&f, &chat(), &token).await;
    let found = f.sink(chat()).find_existing(&entry, &token).await;
    assert_eq!(found, Lookup::Found { remote_id: id });
    assert_eq!(f.sim.stats().list_requests, 1, "first page, newest created first");
}

#[tokio::test]
async fn channel_lookup_stops_on_creation_and_modification_in_either_order() {
    for (order, pages) in [(ListOrder::LastModified, 2), (ListOrder::Created, 1)] {
        let f = fixture(TeamsSandboxConfig {
            channel_list_order: order,
            ..Default::default()
        });
        let token = f.token(&scopes(&GRAPH_CHANNEL_SCOPES)).await;
        let (entry, id) = reacted_history(&f, &channel(), &token).await;
        let found = f.sink(channel()).find_existing(&entry, &token).await;
        assert_eq!(found, Lookup::Found { remote_id: id }, "{order:?}");
        assert_eq!(f.sim.stats().list_requests, pages, "{order:?}");
    }
}

#[tokio::test]
async fn channel_lookup_ends_on_a_page_neither_created_nor_modified_in_the_window() {
    let f = fixture(TeamsSandboxConfig::default());
    let token = f.token(&scopes(&GRAPH_CHANNEL_SCOPES)).await;
    let url = f.sink(channel()).messages_url().clone();
    f.post(&url, &token, 60, "old").await;
    f.sim.set_time_offset(Duration::from_secs(20 * 60));
    let found = f
        .sink(channel())
        .find_existing(&entry(f.sim.now_ms()), &token)
        .await;
    assert_eq!(found, Lookup::NotFound);
    assert_eq!(f.sim.stats().list_requests, 1);
}

#[tokio::test]
async fn a_lookup_without_the_read_permission_is_refused_once_and_reported() {
    let f = fixture(TeamsSandboxConfig::default());
    let send_only = f.token("https://graph.microsoft.com/ChannelMessage.Send offline_access").await;
    let health = Health::default();
    let sink = f
        .sink(channel())
        .with_problem_board(ProblemBoard::new(health.clone(), "finance"));
    let found = sink.find_existing(&entry(f.sim.now_ms()), &send_only).await;
    let Lookup::Refused { reason } = found else {
        panic!("expected Refused, got {found:?}");
    };
    assert!(reason.starts_with("Graph 403 Forbidden: Missing scope permissions on the request. API requires one of 'ChannelMessage.Read.All, "), "{reason}");
    assert!(reason.contains("the delegated token lacks ChannelMessage.Read.All"), "{reason}");
    let (ready, components) = health.report();
    assert!(!ready);
    let status = &components["destination:finance:config"];
    assert!(!status.ready);
    assert_eq!(status.detail, reason);
    let stats = f.sim.stats();
    assert_eq!((stats.list_forbidden, stats.list_requests), (1, 0));

    // With the permission, lookups work again and the reason is cleared.
    let full = f.token(&scopes(&GRAPH_CHANNEL_SCOPES)).await;
    assert_eq!(
        sink.find_existing(&entry(f.sim.now_ms()), &full).await,
        Lookup::NotFound
    );
    let (_, components) = health.report();
    assert!(components["destination:finance:config"].ready);
}

#[tokio::test]
async fn check_probes_the_message_list_with_the_read_permission() {
    let f = fixture(TeamsSandboxConfig::default());
    let sink = f.sink(channel());
    assert_eq!(
        sink.probe_target(),
        format!("GET /v1.0/teams/{TEAM}/channels/{CHANNEL}/messages?$top=1")
    );
    let full = f.token(&scopes(&GRAPH_CHANNEL_SCOPES)).await;
    assert_eq!(
        sink.probe(&full).await,
        Ok("reachable; messages readable (ChannelMessage.Read.All granted, lookups work)".into())
    );
    let send_only = f.token("https://graph.microsoft.com/ChannelMessage.Send offline_access").await;
    let refused = sink.probe(&send_only).await.expect_err("403");
    assert!(refused.contains("lacks ChannelMessage.Read.All"), "{refused}");
    assert_eq!(f.sim.stats().list_requests, 1);
    assert_eq!(f.sim.stats().list_forbidden, 1);

    let chat_sink = f.sink(chat());
    assert_eq!(
        chat_sink.probe_target(),
        format!("GET /v1.0/chats/{CHAT}/messages?$top=1")
    );
    let refused = chat_sink.probe(&full).await.expect_err("no Chat.Read");
    assert!(refused.contains("lacks Chat.Read"), "{refused}");
}
