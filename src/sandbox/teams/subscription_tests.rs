//! The sandbox's subscriptions and replies over real HTTP: as strict as Graph at creation,
//! renewal and deletion; notifications retried until 202.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::tests::{fixture, Fixture};
use super::*;

const TEAM: &str = "team-1";
const CHANNEL: &str = "19:abc@thread.tacv2";

/// What a receiver does with a validation request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Echo {
    /// 200 with the token.
    Token,
    /// 200 with another body.
    Wrong,
}

/// A notification receiver on 127.0.0.1: answers validations per [`Echo`], notifications with
/// the queued statuses (202 once the queue is empty), and records every request.
struct Receiver {
    url: String,
    /// `(query, body)` of every request, in arrival order.
    seen: Arc<Mutex<Vec<(String, String)>>>,
    _server: SpawnedServer,
}

fn receiver(echo: Echo, statuses: &[u16]) -> Receiver {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let queue = Arc::new(Mutex::new(statuses.iter().copied().collect::<VecDeque<u16>>()));
    let (log, queue2) = (seen.clone(), queue.clone());
    let (addr, server) = crate::sandbox::server::spawn_app(0, move |cfg| {
        let (log, queue) = (log.clone(), queue2.clone());
        cfg.route(
            "/hook",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let (log, queue) = (log.clone(), queue.clone());
                async move {
                    let query = req.query_string().to_string();
                    log.lock().expect("log").push((query.clone(), String::from_utf8_lossy(&body).into_owned()));
                    let token = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "validationToken").map(|(_, v)| v.into_owned());
                    match (token, echo) {
                        (Some(t), Echo::Token) => HttpResponse::Ok().content_type("text/plain").body(t),
                        (Some(_), Echo::Wrong) => HttpResponse::Ok().content_type("text/plain").body("hello"),
                        (None, _) => {
                            let status = queue.lock().expect("queue").pop_front().unwrap_or(202);
                            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).finish()
                        }
                    }
                }
            }),
        );
    })
    .expect("receiver");
    drop(queue);
    Receiver { url: format!("http://{addr}/hook"), seen, _server: server }
}

fn lenient() -> TeamsSandboxConfig {
    TeamsSandboxConfig { subscription_require_https: false, ..TeamsSandboxConfig::default() }
}

fn graph_time_in(f: &Fixture, seconds: i64) -> String {
    let ms = f.sim.now_ms() + seconds * 1000;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn request(f: &Fixture, hook: &str, lifecycle: Option<&str>, seconds: i64) -> Value {
    json!({
        "changeType": "created",
        "notificationUrl": hook,
        "lifecycleNotificationUrl": lifecycle,
        "resource": format!("/teams/{TEAM}/channels/{CHANNEL}/messages"),
        "expirationDateTime": graph_time_in(f, seconds),
        "clientState": "state-1",
    })
}

async fn create(f: &Fixture, token: &str, body: &Value) -> (u16, Value) {
    let answer = f.post_json(&f.url("v1.0/subscriptions"), token, body).await;
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn creation_is_as_strict_as_graph() {
    let f = fixture(lenient());
    let token = f.app_token().await;
    let hook = receiver(Echo::Token, &[]);

    let (status, body) = create(&f, &token, &request(&f, &hook.url, None, 7200)).await;
    assert_eq!(status, 400);
    assert!(message(&body).starts_with("lifecycleNotificationUrl is a required property"), "{body}");
    let mut long_state = request(&f, &hook.url, Some(&hook.url), 600);
    long_state["clientState"] = json!("x".repeat(129));
    assert_eq!(create(&f, &token, &long_state).await.0, 400);
    assert_eq!(create(&f, &token, &request(&f, &hook.url, Some(&hook.url), 4320 * 60 + 60)).await.0, 400);
    assert_eq!(create(&f, &token, &request(&f, &hook.url, Some(&hook.url), -60)).await.0, 400);
    let mut unknown = request(&f, &hook.url, None, 600);
    unknown["resource"] = json!(format!("/teams/{TEAM}/channels/19:nope@thread.tacv2/messages"));
    assert_eq!(create(&f, &token, &unknown).await.0, 404);
    unknown["resource"] = json!("/users/someone/messages");
    assert_eq!(create(&f, &token, &unknown).await.0, 400);
    assert_eq!(hook.seen.lock().expect("seen").len(), 0, "refused before any validation");
    assert_eq!(create(&f, "not-a-token", &request(&f, &hook.url, None, 600)).await.0, 401);

    let (status, body) = create(&f, &token, &request(&f, &hook.url, Some(&hook.url), 7200)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["clientState"], json!("state-1"));
    assert_eq!(body["lifecycleNotificationUrl"], json!(hook.url));
    let seen = hook.seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), 2, "notification and lifecycle URL validated");
    assert!(seen.iter().all(|(q, b)| q.starts_with("validationToken=") && b.is_empty()));
    assert_eq!(f.sim.subscriptions().len(), 1);
}

#[tokio::test]
async fn https_is_required_by_default_and_a_wrong_echo_fails_validation() {
    let f = fixture(TeamsSandboxConfig::default());
    let token = f.app_token().await;
    let hook = receiver(Echo::Token, &[]);
    let (status, body) = create(&f, &token, &request(&f, &hook.url, None, 600)).await;
    assert_eq!((status, message(&body)), (400, "notificationUrl must use https."));

    let f = fixture(lenient());
    let token = f.app_token().await;
    let wrong = receiver(Echo::Wrong, &[]);
    let (status, body) = create(&f, &token, &request(&f, &wrong.url, None, 600)).await;
    assert_eq!(status, 400);
    assert!(message(&body).starts_with("Subscription validation request failed."), "{body}");
    assert_eq!(wrong.seen.lock().expect("seen").len(), 1);
    assert_eq!(f.sim.subscriptions(), Vec::new());
}

#[tokio::test]
async fn renewal_and_deletion_refuse_expired_and_unknown_subscriptions() {
    let f = fixture(lenient());
    let token = f.app_token().await;
    let hook = receiver(Echo::Token, &[]);
    let (_, body) = create(&f, &token, &request(&f, &hook.url, Some(&hook.url), 600)).await;
    let id = body["id"].as_str().expect("id").to_string();
    let patch = |id: &str, seconds: i64| {
        let body = json!({"expirationDateTime": graph_time_in(&f, seconds)});
        f.http.patch(f.url(&format!("v1.0/subscriptions/{id}"))).bearer_auth(&token).json(&body).send()
    };
    let renewed = patch(&id, 1200).await.expect("PATCH");
    assert_eq!(renewed.status().as_u16(), 200);
    assert_eq!(f.sim.subscriptions()[0].renewals, 1);
    assert_eq!(patch("no-such-id", 1200).await.expect("PATCH").status().as_u16(), 404);
    f.sim.set_time_offset(Duration::from_secs(1201));
    assert_eq!(patch(&id, 600).await.expect("PATCH").status().as_u16(), 404, "expired on the sandbox clock");
    assert_eq!(f.sim.subscriptions(), Vec::new());
    let deleted = f.http.delete(f.url(&format!("v1.0/subscriptions/{id}"))).bearer_auth(&token).send().await.expect("DELETE");
    assert_eq!(deleted.status().as_u16(), 404);
}

#[tokio::test]
async fn a_reply_notifies_with_graphs_shape_and_is_retried_until_202() {
    let f = fixture(lenient());
    let token = f.app_token().await;
    let hook = receiver(Echo::Token, &[500]);
    let (_, body) = create(&f, &token, &request(&f, &hook.url, Some(&hook.url), 600)).await;
    let id = body["id"].as_str().expect("id").to_string();
    let parent = f.sim.seed_message(TEAM, CHANNEL, "card").expect("parent");
    let (reply, statuses) = f.sim.post_reply(TEAM, CHANNEL, &parent, "Jane", "approved").await.expect("reply");
    assert_eq!(statuses, vec![Some(202)]);
    let attempts: Vec<Option<u16>> = f.sim.notification_attempts().iter().map(|a| a.status).collect();
    assert_eq!(attempts, vec![Some(500), Some(202)]);
    let seen = hook.seen.lock().expect("seen").clone();
    let notification: Value = serde_json::from_str(&seen[2].1).expect("json");
    let resource = format!("teams('{TEAM}')/channels('{CHANNEL}')/messages('{parent}')/replies('{reply}')");
    assert_eq!(notification["value"][0]["subscriptionId"], json!(id));
    assert_eq!(notification["value"][0]["clientState"], json!("state-1"));
    assert_eq!(notification["value"][0]["changeType"], json!("created"));
    assert_eq!(notification["value"][0]["resource"], json!(resource));
    assert_eq!(notification["value"][0]["resourceData"]["id"], json!(reply));
    assert_eq!(notification["value"][0]["tenantId"], json!("contoso-tenant"));

    let replies = f.url(&format!("v1.0/teams/{TEAM}/channels/{CHANNEL}/messages/{parent}/replies"));
    let (status, list) = f.get(&replies, &token).await;
    assert_eq!(status, 200);
    assert_eq!(list["value"][0]["id"], json!(reply));
    assert_eq!(list["value"][0]["replyToId"], json!(parent));
    assert_eq!(f.get(&format!("{replies}/{reply}"), &token).await.1["body"]["content"], json!("approved"));
    assert_eq!(f.get(&format!("{replies}?$filter=createdDateTime gt 2026-01-01"), &token).await.0, 400);
    assert_eq!(f.get(&format!("{replies}?$top=51"), &token).await.0, 400);
    let unknown = f.url(&format!("v1.0/teams/{TEAM}/channels/{CHANNEL}/messages/1/replies"));
    assert_eq!(f.get(&unknown, &token).await.0, 404);
    let (_, expanded) = f.get(&format!("{}?$expand=replies", f.url(&format!("v1.0/teams/{TEAM}/channels/{CHANNEL}/messages"))), &token).await;
    assert_eq!(expanded["value"][0]["replies"][0]["id"], json!(reply));
}

#[tokio::test]
async fn lifecycle_events_go_to_the_lifecycle_url_and_removal_deletes() {
    let f = fixture(lenient());
    let token = f.app_token().await;
    let hook = receiver(Echo::Token, &[]);
    let (_, body) = create(&f, &token, &request(&f, &hook.url, Some(&hook.url), 600)).await;
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(f.sim.lifecycle(&id, "reauthorizationRequired").await, Ok(Some(202)));
    assert_eq!(f.sim.subscriptions().len(), 1);
    assert_eq!(f.sim.lifecycle(&id, "subscriptionRemoved").await, Ok(Some(202)));
    assert_eq!(f.sim.subscriptions(), Vec::new());
    let events: Vec<String> = f.sim.notification_attempts().into_iter().map(|a| a.event).collect();
    assert_eq!(events, vec!["reauthorizationRequired".to_string(), "subscriptionRemoved".to_string()]);
    let seen = hook.seen.lock().expect("seen").clone();
    let last: Value = serde_json::from_str(&seen[3].1).expect("json");
    assert_eq!(last["value"][0]["lifecycleEvent"], json!("subscriptionRemoved"));
    assert_eq!(last["value"][0]["clientState"], json!("state-1"));
}
