//! End-to-end tests of the Teams sandbox over real HTTP (`spawn` + reqwest).

use std::time::Duration;

use serde_json::{json, Value};

use super::*;

const TEAM: &str = "team-1";
const CHANNEL: &str = "19:abc@thread.tacv2";
const CHAT: &str = "19:chat1@thread.v2";
const CARD: &str = "application/vnd.microsoft.card.adaptive";

pub(super) struct Fixture {
    pub(super) sim: TeamsSim,
    base: url::Url,
    pub(super) http: reqwest::Client,
    _server: SpawnedServer,
}

pub(super) fn fixture(config: TeamsSandboxConfig) -> Fixture {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = TeamsSim::new(config);
    sim.add_team_channel(TEAM, CHANNEL);
    sim.add_chat(CHAT);
    sim.add_workflow("flow-1");
    let (base, server) = spawn(sim.clone(), 0).expect("spawn sandbox");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    Fixture {
        sim,
        base,
        http,
        _server: server,
    }
}

impl Fixture {
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url("contoso-tenant/oauth2/v2.0/token"))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub(super) async fn app_token(&self) -> String {
        let (status, body) = self
            .token(&[
                ("client_id", "sandbox-client"),
                ("client_secret", "sandbox-secret"),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn user_token(&self) -> String {
        let refresh = self.sim.current_refresh_token();
        let (status, body) = self.refresh(&refresh).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.token(&[
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
            (
                "scope",
                "https://graph.microsoft.com/.default offline_access",
            ),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    fn channel_messages_url(&self) -> String {
        self.url(&format!("v1.0/teams/{TEAM}/channels/{CHANNEL}/messages"))
    }

    pub(super) async fn post_json(&self, url: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("post")
    }

    pub(super) async fn get(&self, url: &str, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn text_message(text: &str) -> Value {
    json!({"body": {"contentType": "html", "content": format!("<p>{text}</p>")}})
}

fn card_message(id: &str, title: &str) -> Value {
    let card =
        json!({"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":title}]});
    json!({
        "body": {"contentType": "html", "content": format!("<attachment id=\"{id}\"></attachment>")},
        "attachments": [{"id": id, "contentType": CARD, "contentUrl": null, "content": card.to_string()}]
    })
}

fn no_rate_limit() -> TeamsSandboxConfig {
    TeamsSandboxConfig {
        channel_rps: None,
        tenant_post_rps: None,
        ..Default::default()
    }
}

#[tokio::test]
async fn both_grants_rotation_and_invalid_grant() {
    let f = fixture(TeamsSandboxConfig::default());
    let (status, body) = f
        .token(&[
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body["access_token"].is_string());
    assert!(body.get("refresh_token").is_none());

    let (status, body) = f
        .token(&[
            ("client_id", "sandbox-client"),
            ("client_secret", "wrong"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    for key in [
        "error_description",
        "timestamp",
        "trace_id",
        "correlation_id",
    ] {
        assert!(body[key].is_string(), "{key} in {body}");
    }

    let (status, first) = f.refresh("sandbox-refresh-0").await;
    assert_eq!(status, 200, "{first}");
    let rotated = first["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!rotated.is_empty() && rotated != "sandbox-refresh-0");
    assert_eq!(f.sim.current_refresh_token(), rotated);
    assert!(first["scope"]
        .as_str()
        .is_some_and(|s| s.contains("ChannelMessage.Send")));
    assert!(first["access_token"].is_string());

    let (status, reused) = f.refresh("sandbox-refresh-0").await;
    assert_eq!(status, 400);
    assert_eq!(reused["error"], "invalid_grant");
    assert_eq!(reused["error_codes"], json!([70008]));

    let (status, second) = f.refresh(&rotated).await;
    assert_eq!(status, 200);
    assert_ne!(second["refresh_token"], first["refresh_token"]);

    f.sim.inject(TeamsFault::TokenError {
        error: "temporarily_unavailable".into(),
        description: "AADSTS50196: The server is temporarily unavailable.".into(),
    });
    let (status, body) = f.refresh(&f.sim.current_refresh_token()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["error_codes"], json!([50196]));

    let stats = f.sim.stats();
    assert_eq!(stats.token_client_credentials, 1);
    assert_eq!(stats.token_refresh, 2);
    assert_eq!(stats.token_errors, 3);
}

#[tokio::test]
async fn app_only_post_is_forbidden_but_reads_work() {
    let f = fixture(TeamsSandboxConfig::default());
    let app = f.app_token().await;
    let resp = f
        .post_json(&f.channel_messages_url(), &app, &text_message("hi"))
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "Unauthorized");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with(
            "Message POST is allowed in application-only context only for import purposes"
        )));
    assert!(f.sim.channel_messages(TEAM, CHANNEL).is_empty());
    assert_eq!(f.sim.stats().forbidden_403, 1);

    let (status, body) = f.get(&f.channel_messages_url(), &app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["@odata.count"], 0);
    let (status, body) = f
        .get(
            &f.url(&format!("v1.0/teams/{TEAM}/channels/{CHANNEL}")),
            &app,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], CHANNEL);
    assert_eq!(body["membershipType"], "standard");
    let (status, body) = f.get(&f.url(&format!("v1.0/chats/{CHAT}")), &app).await;
    assert_eq!(status, 200);
    assert_eq!(body["chatType"], "group");
    let (status, body) = f
        .get(
            &f.url("v1.0/teams/team-1/channels/19:nope@thread.tacv2"),
            &app,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "NotFound");

    let (status, body) = f.get(&f.channel_messages_url(), "garbage").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn delegated_post_returns_chat_message_and_notifies() {
    let f = fixture(TeamsSandboxConfig::default());
    let rx = f.sim.subscribe();
    let user = f.user_token().await;
    let resp = f
        .post_json(
            &f.channel_messages_url(),
            &user,
            &card_message("att-1", "Sales order 42"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let msg: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(msg["id"]
        .as_str()
        .is_some_and(|id| id.parse::<i64>().is_ok()));
    assert_eq!(msg["etag"], msg["id"]);
    assert_eq!(msg["messageType"], "message");
    assert_eq!(
        msg["channelIdentity"],
        json!({"teamId": TEAM, "channelId": CHANNEL})
    );
    assert_eq!(msg["attachments"][0]["id"], "att-1");
    assert!(msg["attachments"][0]["content"].is_string());
    assert!(msg["from"]["user"]["displayName"].is_string());
    assert!(msg["createdDateTime"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(msg["webUrl"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://teams.microsoft.com/l/message/")));

    let resp = f
        .post_json(
            &f.url(&format!("v1.0/chats/{CHAT}/messages")),
            &user,
            &text_message("Hello &amp; welcome"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let chat_msg: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(chat_msg["chatId"], CHAT);
    assert_eq!(chat_msg["channelIdentity"], Value::Null);

    let first = rx.recv_timeout(Duration::from_secs(2)).expect("delivered");
    assert_eq!(first.target, format!("{TEAM}/{CHANNEL}"));
    assert_eq!(first.summary, "Sales order 42");
    let second = rx.recv_timeout(Duration::from_secs(2)).expect("delivered");
    assert_eq!(second.target, CHAT);
    assert_eq!(second.summary, "Hello & welcome");

    let stored = f.sim.channel_messages(TEAM, CHANNEL);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body_content_type, "html");
    assert_eq!(
        stored[0].raw,
        msg.as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("@odata.context");
                Value::Object(o)
            })
            .unwrap_or(Value::Null)
    );

    // Attachment not referenced in the body.
    let mut bad = card_message("att-2", "x");
    bad["body"]["content"] = json!("<attachment id=\"other\"></attachment>");
    let resp = f.post_json(&f.channel_messages_url(), &user, &bad).await;
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "BadRequest");
    // Card content must be a JSON string.
    let mut bad = card_message("att-3", "x");
    bad["attachments"][0]["content"] = json!({"type": "AdaptiveCard"});
    let resp = f.post_json(&f.channel_messages_url(), &user, &bad).await;
    assert_eq!(resp.status().as_u16(), 400);
    // Unknown chat.
    let resp = f
        .post_json(
            &f.url("v1.0/chats/19:none@thread.v2/messages"),
            &user,
            &text_message("x"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(f.sim.stats().posts_accepted, 2);
}

#[tokio::test]
async fn rate_window_and_injected_throttle_give_429_with_retry_after() {
    let f = fixture(TeamsSandboxConfig {
        channel_rps: Some(2),
        ..Default::default()
    });
    let user = f.user_token().await;
    let url = f.channel_messages_url();
    for i in 0..2 {
        let resp = f
            .post_json(&url, &user, &text_message(&format!("m{i}")))
            .await;
        assert_eq!(resp.status().as_u16(), 201);
    }
    let resp = f.post_json(&url, &user, &text_message("m2")).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(body["error"]["innerError"]["status"], "429");
    // The chat has its own window.
    let resp = f
        .post_json(
            &f.url(&format!("v1.0/chats/{CHAT}/messages")),
            &user,
            &text_message("c"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);

    tokio::time::sleep(Duration::from_millis(1050)).await;
    let resp = f.post_json(&url, &user, &text_message("m3")).await;
    assert_eq!(resp.status().as_u16(), 201);

    f.sim.inject(TeamsFault::Throttle {
        retry_after_secs: 7,
    });
    let resp = f.post_json(&url, &user, &text_message("m4")).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    assert_eq!(f.sim.channel_messages(TEAM, CHANNEL).len(), 3);
    assert_eq!(f.sim.stats().throttled_429, 2);
}

#[tokio::test]
async fn oversized_message_gets_413() {
    let f = fixture(TeamsSandboxConfig {
        max_message_bytes: 1_000,
        ..no_rate_limit()
    });
    let user = f.user_token().await;
    let resp = f
        .post_json(
            &f.channel_messages_url(),
            &user,
            &text_message(&"x".repeat(2_000)),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 413);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "RequestEntityTooLarge");
    assert!(f.sim.channel_messages(TEAM, CHANNEL).is_empty());
}

#[tokio::test]
async fn after_store_faults_store_then_fail_or_delay() {
    let f = fixture(no_rate_limit());
    let user = f.user_token().await;
    let url = f.channel_messages_url();

    f.sim.inject(TeamsFault::ErrorAfterStore { status: 500 });
    let resp = f.post_json(&url, &user, &text_message("ambiguous")).await;
    assert_eq!(resp.status().as_u16(), 500);
    let stored = f.sim.channel_messages(TEAM, CHANNEL);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content, "<p>ambiguous</p>");

    f.sim.inject(TeamsFault::DelayAfterStore {
        delay: Duration::from_millis(600),
    });
    let err = f
        .http
        .post(&url)
        .bearer_auth(&user)
        .json(&text_message("slow"))
        .timeout(Duration::from_millis(150))
        .send()
        .await
        .expect_err("client times out");
    assert!(err.is_timeout());
    assert_eq!(f.sim.channel_messages(TEAM, CHANNEL).len(), 2);

    f.sim.inject(TeamsFault::Status {
        status: 503,
        code: "ServiceNotAvailable".into(),
        message: "Try later".into(),
    });
    let resp = f.post_json(&url, &user, &text_message("refused")).await;
    assert_eq!(resp.status().as_u16(), 503);
    let resp = f.post_json(&url, &user, &text_message("ok")).await;
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(f.sim.channel_messages(TEAM, CHANNEL).len(), 3);
    assert_eq!(f.sim.pending_faults(), 0);
}

#[tokio::test]
async fn list_pages_newest_first_with_absolute_next_link() {
    let f = fixture(no_rate_limit());
    let user = f.user_token().await;
    for i in 0..5 {
        let resp = f
            .post_json(
                &f.channel_messages_url(),
                &user,
                &text_message(&format!("n{i}")),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 201);
    }
    let app = f.app_token().await;
    let mut url = format!("{}?$top=2", f.channel_messages_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = f.get(&url, &app).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        let values = body["value"].as_array().cloned().unwrap_or_default();
        assert_eq!(body["@odata.count"], values.len());
        seen.extend(values.iter().map(|m| {
            m["body"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }));
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(f.base.as_str()), "{next}");
                assert!(next.contains("$skiptoken="));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        [
            "<p>n4</p>",
            "<p>n3</p>",
            "<p>n2</p>",
            "<p>n1</p>",
            "<p>n0</p>"
        ]
    );

    let (status, body) = f
        .get(&format!("{}?$top=51", f.channel_messages_url()), &app)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = f
        .get(&f.url(&format!("v1.0/chats/{CHAT}/messages")), &app)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], json!([]));
    assert_eq!(f.sim.stats().list_requests, 4);
}

#[tokio::test]
async fn workflow_accepts_valid_envelopes_with_202() {
    let f = fixture(TeamsSandboxConfig::default());
    let rx = f.sim.subscribe();
    let envelope = json!({"type":"message","attachments":[{"contentType":CARD,"contentUrl":null,
        "content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Invoice 7 overdue"}]}}]});
    let resp = f
        .http
        .post(f.url("workflows/flow-1"))
        .json(&envelope)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(resp.bytes().await.map(|b| b.len()).unwrap_or(1), 0);
    assert_eq!(f.sim.workflow_posts("flow-1"), vec![envelope.clone()]);
    let d = rx.recv_timeout(Duration::from_secs(2)).expect("delivered");
    assert_eq!(d.target, "workflow:flow-1");
    assert_eq!(d.summary, "Invoice 7 overdue");

    let mut bad = envelope.clone();
    bad["attachments"][0]["content"] = json!("{\"type\":\"AdaptiveCard\"}");
    let resp = f
        .http
        .post(f.url("workflows/flow-1"))
        .json(&bad)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "TriggerInputSchemaMismatch");

    let resp = f
        .http
        .post(f.url("workflows/nope"))
        .json(&envelope)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 404);

    f.sim.inject(TeamsFault::WorkflowStatus { status: 429 });
    let resp = f
        .http
        .post(f.url("workflows/flow-1/triggers/manual/paths/invoke"))
        .json(&envelope)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(f.sim.workflow_posts("flow-1").len(), 1);
    let stats = f.sim.stats();
    assert_eq!(stats.workflow_posts_accepted, 1);
    assert_eq!(stats.posts_accepted, 1);
}

#[tokio::test]
async fn tokens_expire_on_the_sandbox_clock() {
    let f = fixture(TeamsSandboxConfig {
        token_lifetime: Duration::from_secs(60),
        refresh_token_inactivity: Duration::from_secs(24 * 3600),
        ..no_rate_limit()
    });
    let user = f.user_token().await;
    let resp = f
        .post_json(&f.channel_messages_url(), &user, &text_message("a"))
        .await;
    assert_eq!(resp.status().as_u16(), 201);

    f.sim.set_time_offset(Duration::from_secs(61));
    let resp = f
        .post_json(&f.channel_messages_url(), &user, &text_message("b"))
        .await;
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        body["error"]["message"],
        "Access token has expired or is not yet valid."
    );

    let fresh = f.user_token().await;
    let resp = f
        .post_json(&f.channel_messages_url(), &fresh, &text_message("c"))
        .await;
    assert_eq!(resp.status().as_u16(), 201);

    // The refresh token dies after the configured inactivity.
    f.sim
        .set_time_offset(Duration::from_secs(61 + 24 * 3600 + 1));
    let (status, body) = f.refresh(&f.sim.current_refresh_token()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_codes"], json!([700082]));
}

#[tokio::test]
async fn concurrent_posts_get_unique_increasing_ids() {
    let f = fixture(no_rate_limit());
    let user = f.user_token().await;
    let url = f.channel_messages_url();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (http, url, user) = (f.http.clone(), url.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            http.post(&url)
                .bearer_auth(&user)
                .json(&text_message(&format!("p{i}")))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap_or(0), 201);
    }
    let stored = f.sim.channel_messages(TEAM, CHANNEL);
    assert_eq!(stored.len(), 200);
    assert!(stored.windows(2).all(|w| w[0].created_ms < w[1].created_ms));
}

impl Fixture {
    /// A refresh-token grant for `scope` (the status and the body).
    async fn grant(&self, scope: &str) -> (u16, Value) {
        let refresh = self.sim.current_refresh_token();
        self.token(&[
            ("client_id", "sandbox-client"),
            ("client_secret", "sandbox-secret"),
            ("scope", scope),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .await
    }

    async fn token_for(&self, scope: &str) -> String {
        let (status, body) = self.grant(scope).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

#[tokio::test]
async fn entra_refuses_unconsented_scopes_and_grants_exactly_what_was_asked() {
    let f = fixture(TeamsSandboxConfig {
        consented_scopes: "ChannelMessage.Send ChatMessage.Send".into(),
        ..no_rate_limit()
    });
    let (status, body) = f
        .grant("https://graph.microsoft.com/ChannelMessage.Send https://graph.microsoft.com/ChannelMessage.Read.All offline_access")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"], json!([65001]));
    let (status, body) = f
        .grant("https://graph.microsoft.com/ChannelMessage.Send offline_access")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["scope"],
        "https://graph.microsoft.com/ChannelMessage.Send"
    );
    let (status, _) = f.grant("https://outlook.office.com/Mail.Read").await;
    assert_eq!(status, 400, "another resource's scope is not consented");
    let (status, body) = f.grant("").await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (400, json!([900144]))
    );
}

#[tokio::test]
async fn graph_checks_the_token_scopes_on_posts_reads_and_gets() {
    let f = fixture(no_rate_limit());
    let send = f
        .token_for("https://graph.microsoft.com/ChannelMessage.Send offline_access")
        .await;
    let read = f
        .token_for("https://graph.microsoft.com/ChannelMessage.Read.All offline_access")
        .await;
    let resp = f
        .post_json(&f.channel_messages_url(), &send, &text_message("hi"))
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let resp = f
        .post_json(&f.channel_messages_url(), &read, &text_message("hi"))
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    let (status, body) = f
        .get(&format!("{}?$top=1", f.channel_messages_url()), &send)
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Forbidden");
    assert_eq!(
        body["error"]["message"],
        "Missing scope permissions on the request. API requires one of 'ChannelMessage.Read.All, ChannelMessage.ReadWrite, Group.Read.All, Group.ReadWrite.All'. Scopes on the request 'ChannelMessage.Send'"
    );
    let (status, body) = f
        .get(&format!("{}?$top=1", f.channel_messages_url()), &read)
        .await;
    assert_eq!(
        (status, body["value"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    // The channel resource needs Channel.ReadBasic.All, which neither token has.
    let (status, _) = f
        .get(
            &f.url(&format!("v1.0/teams/{TEAM}/channels/{CHANNEL}")),
            &read,
        )
        .await;
    assert_eq!(status, 403);
    let chat_list = f.url(&format!("v1.0/chats/{CHAT}/messages"));
    let (status, _) = f.get(&chat_list, &read).await;
    assert_eq!(status, 403, "chats need Chat.Read");
    let stats = f.sim.stats();
    assert_eq!((stats.list_forbidden, stats.forbidden_403), (2, 4));
}

#[tokio::test]
async fn chat_lists_last_modified_first_unless_ordered_by_creation() {
    let f = fixture(no_rate_limit());
    let token = f
        .token_for("https://graph.microsoft.com/ChatMessage.Send https://graph.microsoft.com/Chat.Read offline_access")
        .await;
    let chat_url = f.url(&format!("v1.0/chats/{CHAT}/messages"));
    let mut ids = Vec::new();
    for text in ["first", "second", "third"] {
        let resp = f.post_json(&chat_url, &token, &text_message(text)).await;
        let body: Value = resp.json().await.expect("chatMessage");
        ids.push(body["id"].as_str().unwrap_or_default().to_string());
    }
    f.sim.set_time_offset(Duration::from_secs(5));
    assert!(f.sim.react(&ids[0]));
    assert!(!f.sim.react("no-such-id"));
    let order = |body: &Value| -> Vec<String> {
        body["value"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|m| m["id"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, by_default) = f.get(&chat_url, &token).await;
    assert_eq!(
        order(&by_default),
        vec![ids[0].clone(), ids[2].clone(), ids[1].clone()]
    );
    assert_eq!(
        by_default["value"][0]["reactions"][0]["reactionType"],
        "like"
    );
    let (_, by_creation) = f
        .get(
            &format!("{chat_url}?$orderby=createdDateTime%20desc&$top=2"),
            &token,
        )
        .await;
    assert_eq!(order(&by_creation), vec![ids[2].clone(), ids[1].clone()]);
    let next = by_creation["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_string();
    let (_, rest) = f.get(&next, &token).await;
    assert_eq!(
        order(&rest),
        vec![ids[0].clone()],
        "the next page keeps the order"
    );
    let (status, _) = f
        .get(
            &format!("{chat_url}?$orderby=createdDateTime%20asc"),
            &token,
        )
        .await;
    assert_eq!(status, 400);
    let channel_token = f
        .token_for("https://graph.microsoft.com/ChannelMessage.Read.All offline_access")
        .await;
    let (status, body) = f
        .get(
            &format!(
                "{}?$orderby=createdDateTime%20desc",
                f.channel_messages_url()
            ),
            &channel_token,
        )
        .await;
    assert_eq!(
        status, 400,
        "channel lists take only $top and $expand: {body}"
    );
}

#[tokio::test]
async fn workflows_fail_cards_above_1_4_inside_the_run_only() {
    let f = fixture(TeamsSandboxConfig::default());
    let envelope = |version: &str| {
        json!({"type":"message","attachments":[{"contentType":CARD,"contentUrl":null,
            "content":{"type":"AdaptiveCard","version":version,"body":[{"type":"TextBlock","text":"PO"}]}}]})
    };
    for version in ["1.5", "1.4"] {
        let resp = f
            .http
            .post(f.url("workflows/flow-1"))
            .json(&envelope(version))
            .send()
            .await
            .expect("post");
        assert_eq!(
            resp.status().as_u16(),
            202,
            "{version}: accepted either way"
        );
    }
    assert_eq!(f.sim.workflow_posts("flow-1"), vec![envelope("1.4")]);
    let runs = f.sim.workflow_runs("flow-1");
    assert_eq!(runs.len(), 2);
    assert!(!runs[0].succeeded);
    assert_eq!(
        runs[0].error.as_deref(),
        Some("Action 'Post_card_in_a_chat_or_channel' failed: The Adaptive Card version '1.5' is not supported; the Flow bot renders versions up to 1.4.")
    );
    assert_eq!((runs[1].succeeded, runs[1].error.clone()), (true, None));
    let stats = f.sim.stats();
    assert_eq!(
        (stats.workflow_runs_failed, stats.workflow_posts_accepted),
        (1, 1)
    );
}

/// Posts `n` messages to `url`; the statuses in order.
async fn post_n(f: &Fixture, url: &str, token: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let resp = f
            .post_json(url, token, &text_message(&format!("p{i}")))
            .await;
        statuses.push(resp.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn the_tenant_budget_counts_posts_to_every_channel_and_chat() {
    let f = fixture(TeamsSandboxConfig {
        channel_rps: None,
        tenant_post_rps: Some(3),
        ..Default::default()
    });
    let user = f.user_token().await;
    let chat = f.url(&format!("v1.0/chats/{CHAT}/messages"));
    assert_eq!(
        post_n(&f, &f.channel_messages_url(), &user, 2).await,
        vec![201, 201]
    );
    assert_eq!(post_n(&f, &chat, &user, 2).await, vec![201, 429]);
    assert_eq!(f.sim.stats().throttled_429, 1);
}

#[tokio::test]
async fn without_a_tenant_budget_only_the_channel_window_counts() {
    let f = fixture(TeamsSandboxConfig {
        channel_rps: None,
        tenant_post_rps: None,
        ..Default::default()
    });
    let user = f.user_token().await;
    let statuses = post_n(&f, &f.channel_messages_url(), &user, 60).await;
    assert_eq!(statuses, vec![201; 60]);
}

#[tokio::test]
async fn the_daily_cap_answers_429_until_the_oldest_message_leaves_the_day() {
    let f = fixture(TeamsSandboxConfig {
        channel_rps: None,
        daily_cap: Some(3),
        ..Default::default()
    });
    let user = f.user_token().await;
    let url = f.channel_messages_url();
    assert_eq!(post_n(&f, &url, &user, 4).await, vec![201, 201, 201, 429]);
    // Another conversation has its own count.
    let chat = f.url(&format!("v1.0/chats/{CHAT}/messages"));
    assert_eq!(post_n(&f, &chat, &user, 1).await, vec![201]);
    // 23 h later the day still holds three messages; the answer names the wait.
    f.sim.set_time_offset(Duration::from_secs(23 * 3600));
    let user = f.user_token().await;
    let resp = f.post_json(&url, &user, &text_message("late")).await;
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap();
    assert!(
        (3599..=3600).contains(&retry),
        "about one hour, got {retry}"
    );
    f.sim.set_time_offset(Duration::from_secs(24 * 3600 + 1));
    let user = f.user_token().await;
    assert_eq!(post_n(&f, &url, &user, 1).await, vec![201]);
}

#[tokio::test]
async fn without_a_daily_cap_a_channel_takes_any_number() {
    let f = fixture(TeamsSandboxConfig {
        channel_rps: None,
        tenant_post_rps: None,
        daily_cap: None,
        ..Default::default()
    });
    let user = f.user_token().await;
    let statuses = post_n(&f, &f.channel_messages_url(), &user, 5).await;
    assert_eq!(statuses, vec![201; 5]);
}

#[test]
fn the_fault_mix_spreads_hangs_and_errors_evenly() {
    let mix = PostFaultMix {
        hang_percent: 10,
        error_percent: 10,
        hang_for: Duration::from_secs(60),
    };
    let faults: Vec<(u64, Option<u16>)> = (1..=20)
        .filter_map(|n| mix.fault_of(n).map(|f| (n, f)))
        .collect();
    assert_eq!(
        faults,
        vec![(5, Some(503)), (10, None), (15, Some(500)), (20, None)]
    );
}
