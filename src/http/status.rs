//! The status page: `GET /status` (server-rendered HTML, no script) and
//! `POST /status/dead-letters/{id}/replay` (form field `token` = the admin token).
//!
//! The page shows a banner in shadow mode (`run --dry-run`), sessions (state, last login, reason when not ready: the readiness board),
//! every poller (readiness, stored cursor, when it was stored and its age), outbox depth and
//! oldest age per destination, dead letters (newest 200) with their reason and a **Replay**
//! form when the admin API is enabled, and the newest 20 audit lines. Every value is
//! HTML-escaped by minijinja's auto-escaping (records, reasons and audit lines are untrusted).
//!
//! The replay form posts the token in the request body (never in a URL, never logged); a wrong
//! token answers 401 with the page and a notice. Success redirects (303) to
//! `/status?replayed=ID&seq=SEQ` (or `?not_replayed=ID` when the ledger says it was delivered
//! meanwhile), so reloading the page does not post again.

use std::collections::BTreeMap;

use actix_web::{http::header, web, HttpResponse};
use minijinja::{context, AutoEscape, Environment};
use ml_connector_actors::blocking;
use ml_connector_actors::health::ComponentStatus;
use ml_connector_actors::store::{AuditLine, CursorRow, DeadLetter, OutboxStats};
use serde::{Deserialize, Serialize};

use super::HttpState;
use crate::time_text::{age, utc};

/// Dead letters shown (the count shows them all).
const DEAD_SHOWN: usize = 200;
/// Audit lines shown, newest first.
const AUDIT_SHOWN: usize = 20;

const TEMPLATE: &str = include_str!("status.html");

/// Register the page's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/status", web::get().to(page))
        .route("/status/dead-letters/{id}/replay", web::post().to(replay));
}

/// What `GET /status` may be told by a redirect.
#[derive(Deserialize, Default)]
struct Notice {
    replayed: Option<u64>,
    seq: Option<u64>,
    not_replayed: Option<u64>,
}

/// The replay form.
#[derive(Deserialize)]
struct ReplayForm {
    token: String,
}

/// Everything the page shows, read from the store in one blocking call.
struct Snapshot {
    now: i64,
    cursors: Vec<CursorRow>,
    outbox: BTreeMap<String, OutboxStats>,
    dead: Vec<DeadLetter>,
    dead_count: u64,
    audit: Vec<AuditLine>,
}

#[derive(Serialize)]
struct SessionRow {
    name: String,
    ready: bool,
    last_login: String,
    detail: String,
}

#[derive(Serialize)]
struct PollerRow {
    stream: String,
    ready: Option<bool>,
    cursor: String,
    stored: String,
    age: String,
    detail: String,
}

#[derive(Serialize)]
struct OutboxRow {
    destination: String,
    depth: u64,
    oldest: String,
    age: String,
    ready: Option<bool>,
    detail: String,
}

#[derive(Serialize)]
struct DeadRow {
    id: u64,
    at: String,
    destination: String,
    route: String,
    event_key: String,
    status: String,
    reason: String,
}

#[derive(Serialize)]
struct AuditRow {
    at: String,
    kind: String,
    detail: String,
}

async fn page(state: web::Data<HttpState>, q: web::Query<Notice>) -> HttpResponse {
    let notice = match (q.replayed, q.seq, q.not_replayed) {
        (Some(id), Some(seq), _) => {
            Some(format!("Dead letter {id} replayed as outbox entry {seq}."))
        }
        (_, _, Some(id)) => Some(format!(
            "Dead letter {id} not replayed: the ledger says it was delivered meanwhile."
        )),
        _ => None,
    };
    render(&state, notice, false, actix_web::http::StatusCode::OK).await
}

async fn replay(
    state: web::Data<HttpState>,
    id: web::Path<u64>,
    form: web::Form<ReplayForm>,
) -> HttpResponse {
    let id = id.into_inner();
    let Some(token) = &state.admin_token else {
        let notice = "Replay is disabled: set [http] admin_token_env.".to_string();
        return render(
            &state,
            Some(notice),
            true,
            actix_web::http::StatusCode::NOT_FOUND,
        )
        .await;
    };
    if !super::admin::token_matches(token, &form.token) {
        let notice = "Wrong admin token: nothing was replayed.".to_string();
        return render(
            &state,
            Some(notice),
            true,
            actix_web::http::StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let store = state.store.clone();
    let replayed = blocking(move || {
        let destination = store.dead_letter(id)?.map(|d| d.entry.destination);
        Ok((destination, store.replay_dead_letter(id)?))
    })
    .await;
    let location = match replayed {
        Ok((destination, Some(seq))) => {
            if let Some(d) = destination {
                state
                    .nudges
                    .nudge(&ml_connector_actors::Nudges::destination(&d));
            }
            format!("/status?replayed={id}&seq={seq}")
        }
        Ok((_, None)) => format!("/status?not_replayed={id}"),
        Err(e) => {
            let notice = format!("Replay of dead letter {id} failed: {e}");
            let code = actix_web::http::StatusCode::INTERNAL_SERVER_ERROR;
            return render(&state, Some(notice), true, code).await;
        }
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Read the store and the readiness board and render the page with `notice`.
async fn render(
    state: &HttpState,
    notice: Option<String>,
    notice_error: bool,
    code: actix_web::http::StatusCode,
) -> HttpResponse {
    let store = state.store.clone();
    let snapshot = blocking(move || {
        Ok(Snapshot {
            now: store.now_ms(),
            cursors: store.cursors()?,
            outbox: store.outbox_stats()?,
            dead: store.dead_letters_newest(DEAD_SHOWN)?,
            dead_count: store.dead_letter_count()?,
            audit: store.audit_lines(AUDIT_SHOWN)?,
        })
    })
    .await;
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(e) => {
            return HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body(format!("the store cannot be read: {e}"))
        }
    };
    let (ready, components) = state.health.report();
    let html = page_html(
        &snapshot,
        ready,
        &components,
        state.admin_token.is_some(),
        notice.as_deref(),
        notice_error,
    );
    match html {
        Ok(body) => HttpResponse::build(code)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => HttpResponse::InternalServerError()
            .content_type("text/plain; charset=utf-8")
            .body(format!("status page template failed: {e}")),
    }
}

/// The page's HTML (see the module docs). Errors: a template error (a bug).
fn page_html(
    s: &Snapshot,
    ready: bool,
    components: &BTreeMap<String, ComponentStatus>,
    admin: bool,
    notice: Option<&str>,
    notice_error: bool,
) -> Result<String, minijinja::Error> {
    let sessions: Vec<SessionRow> = with_prefix(components, "session:")
        .map(|(name, c)| SessionRow {
            name,
            ready: c.ready,
            last_login: if c.ready {
                utc(c.reported_ms)
            } else {
                "-".into()
            },
            detail: c.detail.clone(),
        })
        .collect();
    let mut pollers: BTreeMap<String, PollerRow> = with_prefix(components, "source:")
        .map(|(stream, c)| {
            let row = PollerRow {
                stream: stream.clone(),
                ready: Some(c.ready),
                cursor: "-".into(),
                stored: "-".into(),
                age: "-".into(),
                detail: c.detail.clone(),
            };
            (stream, row)
        })
        .collect();
    for c in &s.cursors {
        let row = pollers
            .entry(c.stream.clone())
            .or_insert_with(|| PollerRow {
                stream: c.stream.clone(),
                ready: None,
                cursor: String::new(),
                stored: "-".into(),
                age: "-".into(),
                detail: String::new(),
            });
        row.cursor = c.cursor.clone();
        if let Some(at) = c.stored_ms {
            row.stored = utc(at);
            row.age = age(s.now - at);
        }
    }
    let outbox: Vec<OutboxRow> = s
        .outbox
        .iter()
        .map(|(dest, st)| {
            let c = components.get(&format!("destination:{dest}"));
            OutboxRow {
                destination: dest.clone(),
                depth: st.depth,
                oldest: st.oldest_created_ms.map_or("-".into(), utc),
                age: st
                    .oldest_created_ms
                    .map_or("-".into(), |at| age(s.now - at)),
                ready: c.map(|c| c.ready),
                detail: c.map(|c| c.detail.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let dead: Vec<DeadRow> = s
        .dead
        .iter()
        .map(|d| DeadRow {
            id: d.entry.seq,
            at: utc(d.at_ms),
            destination: d.entry.destination.clone(),
            route: d.entry.route.clone(),
            event_key: d.entry.event_key.clone(),
            status: d.status.map_or("-".into(), |s| s.to_string()),
            reason: d.reason.clone(),
        })
        .collect();
    let audit: Vec<AuditRow> = s
        .audit
        .iter()
        .map(|a| AuditRow {
            at: utc(a.at_ms),
            kind: a.kind.clone(),
            detail: a.detail.clone(),
        })
        .collect();
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("status.html", TEMPLATE)?;
    env.get_template("status.html")?.render(context! {
        now => utc(s.now),
        dry_run => components.get("dry_run").map(|c| c.detail.clone()),
        ready,
        notice,
        notice_error,
        admin,
        sessions,
        pollers => pollers.into_values().collect::<Vec<_>>(),
        outbox,
        dead,
        dead_count => s.dead_count,
        audit,
    })
}

/// Components named `<prefix><name>`, as `(name, status)`.
fn with_prefix<'a>(
    components: &'a BTreeMap<String, ComponentStatus>,
    prefix: &'a str,
) -> impl Iterator<Item = (String, &'a ComponentStatus)> + 'a {
    components
        .iter()
        .filter_map(move |(k, c)| k.strip_prefix(prefix).map(|name| (name.to_string(), c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ml_connector_actors::store::OutboxEntry;

    const HOSTILE: &str = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";

    fn letter() -> DeadLetter {
        DeadLetter {
            entry: OutboxEntry {
                seq: 7,
                destination: "finance".into(),
                route: HOSTILE.into(),
                dedupe_key: "k".into(),
                event_key: format!("acme/PurchaseOrders/{HOSTILE}/created"),
                payload: serde_json::json!({}),
                created_ms: 1_000,
                attempts: 1,
                lookups: 0,
                deferrals: 0,
                next_attempt_ms: 1_000,
                maybe_sent: false,
                last_error: None,
            },
            status: Some(400),
            reason: HOSTILE.into(),
            at_ms: 2_000,
        }
    }

    #[test]
    fn untrusted_values_are_escaped_and_the_form_needs_the_admin_api() {
        let snapshot = Snapshot {
            now: 62_000,
            cursors: vec![CursorRow {
                stream: "acme/PurchaseOrders".into(),
                cursor: HOSTILE.into(),
                stored_ms: Some(2_000),
            }],
            outbox: BTreeMap::new(),
            dead: vec![letter()],
            dead_count: 1,
            audit: vec![AuditLine {
                at_ms: 3_000,
                kind: "dead_letter".into(),
                detail: HOSTILE.into(),
            }],
        };
        let components = BTreeMap::new();
        let html =
            page_html(&snapshot, true, &components, true, Some(HOSTILE), false).expect("renders");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        // Route, event key, reason, cursor, audit detail and the notice: six escaped copies.
        assert_eq!(html.matches("&lt;script&gt;").count(), 6, "{html}");
        assert_eq!(html.matches("<form method=\"post\"").count(), 1);
        assert!(html.contains("action=\"/status/dead-letters/7/replay\""));
        // The poller's age: 60 s after its cursor was stored.
        assert!(html.contains("<td>1m 00s</td>"), "{html}");

        let without_admin =
            page_html(&snapshot, true, &components, false, None, false).expect("renders");
        assert_eq!(without_admin.matches("<form").count(), 0);
    }
}
