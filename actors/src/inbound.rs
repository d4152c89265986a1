//! Inbound path: requests pushed to the gateway (push notifications, status callbacks,
//! approvals) are verified by an [`Inbound`] component and their changes committed durably —
//! the same snapshot → event → outbox path as a polled page ([`Store::commit_inbound`]) —
//! before the sender gets its 2xx answer. A refused request leaves exactly one audit line and
//! nothing else.
//!
//! The HTTP layer maps its request to an [`InboundRequest`], calls [`handle_inbound`] and writes
//! the [`InboundReply`] back; the logic lives in plain async functions (no actor needed).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::boxed::BoxFuture;
use crate::event::Router;
use crate::metrics_names as m;
use crate::nudges::Nudges;
use crate::source::Record;
use crate::store::{blocking, InboundCommit, Store};

/// One HTTP request as the inbound component sees it.
#[derive(Clone, Default)]
pub struct InboundRequest {
    /// HTTP method, upper case (`POST`).
    pub method: String,
    /// Path after the endpoint's mount point (`/inbound/{kind}/{name}`), possibly empty.
    pub path_tail: String,
    /// Raw query string without `?`, possibly empty.
    pub query: String,
    /// Headers in arrival order; names lower case, values as sent.
    pub headers: Vec<(String, String)>,
    /// Raw body bytes (signatures are computed over these).
    pub body: Vec<u8>,
}

impl InboundRequest {
    /// First value of header `name` (matched case-insensitively), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for InboundRequest {
    /// Header names and the body length only: values and body may carry signatures or secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundRequest")
            .field("method", &self.method)
            .field("path_tail", &self.path_tail)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The answer to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundReply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` of `body` (empty when the body is empty).
    pub content_type: String,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl InboundReply {
    /// A `text/plain; charset=utf-8` reply.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into().into_bytes(),
        }
    }

    /// A reply without a body (e.g. `204`, `202`).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: String::new(),
            body: Vec::new(),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// HTTP status: 401 (no or bad signature), 403 (valid signature, not allowed), 400
    /// (malformed body).
    pub status: u16,
    /// Operator text for the audit line and the reply body; never a secret, never the body.
    pub reason: String,
}

/// One verified change pushed by a sender.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundChange {
    /// The sender's own delivery / notification id: a redelivered change with the same id is
    /// committed only once per inbound endpoint.
    pub sender_id: String,
    /// Source name (as a poller's `PollerConfig::source`): a change and a polled record of the
    /// same source, entity and key share one snapshot, so one version makes one event.
    pub source: String,
    /// Entity name.
    pub entity: String,
    /// The record as pushed.
    pub record: Record,
}

/// A verified request: what to commit, whom to wake, what to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// Changes to commit before answering (may be empty: a request that only nudges).
    pub changes: Vec<InboundChange>,
    /// Poller signals to wake ([`Nudges::poller`] names), e.g. when the request only says
    /// "something changed".
    pub nudges: Vec<String>,
    /// The answer once everything is committed (2xx).
    pub reply: InboundReply,
}

/// One inbound endpoint (`/inbound/{kind}/{name}`): verifies and parses requests. Object-safe.
pub trait Inbound: Send + Sync + 'static {
    /// Connector kind (bounded; metrics label `kind`, part of sender keys).
    fn kind(&self) -> &'static str;
    /// Endpoint name from the configuration (metrics label `name`, part of sender keys).
    fn name(&self) -> &str;
    /// Fields of `entity` whose change is a `status_changed` event (empty: only `created`).
    fn watched_fields(&self, entity: &str) -> Vec<String>;
    /// Asynchronous work `receive` needs before it can check `request` (e.g. fetching a JWT
    /// signing key whose `kid` is not cached yet); called by [`handle_inbound`] right before
    /// [`Inbound::receive`]. Must not commit anything. Default: nothing.
    fn prepare<'a>(&'a self, request: &'a InboundRequest) -> BoxFuture<'a, ()> {
        let _ = request;
        Box::pin(async {})
    }
    /// Verify (HMAC, shared secret, JWT) and parse one request, synchronously. Errors: a
    /// [`Refusal`] with 401/403/400.
    fn receive(&self, request: &InboundRequest) -> Result<Accepted, Refusal>;
    /// Called once `changes` (those of [`Accepted::changes`], redeliveries included) are
    /// durably committed and before the reply is sent, for work that must follow the commit
    /// (e.g. forgetting connector state the changes settled). Not called when the commit
    /// failed. Default: nothing.
    fn committed<'a>(&'a self, changes: &'a [InboundChange]) -> BoxFuture<'a, ()> {
        let _ = changes;
        Box::pin(async {})
    }
}

/// Verify `req` with `inbound` ([`Inbound::prepare`], then [`Inbound::receive`]); commit
/// what it accepts; answer.
///
/// - Refused: counts `mlc_inbound_total{outcome="refused"}`, appends one audit line
///   (`inbound_refused`, the reason only) before answering, stores nothing else, answers the
///   refusal's status with its reason.
/// - Accepted: commits the changes durably ([`Store::commit_inbound`]) before answering, calls
///   [`Inbound::committed`] with them, then nudges the destinations that got entries and the pollers named in
///   [`Accepted::nudges`]; counts the request `accepted` and its changes `accepted` /
///   `duplicate`; answers [`Accepted::reply`].
/// - The store (or a template) failed: answers 503 so the sender retries; counted
///   `unavailable`.
pub async fn handle_inbound(
    inbound: &dyn Inbound,
    req: InboundRequest,
    store: &Store,
    router: &Arc<dyn Router>,
    nudges: &Nudges,
) -> InboundReply {
    let kind = inbound.kind();
    let name = inbound.name().to_string();
    let count = |outcome: &'static str| {
        metrics::counter!(m::INBOUND, "kind" => kind, "name" => name.clone(), "outcome" => outcome)
            .increment(1);
    };
    inbound.prepare(&req).await;
    let accepted = match inbound.receive(&req) {
        Ok(a) => a,
        Err(refusal) => {
            count("refused");
            tracing::warn!(kind, name = %name, status = refusal.status, reason = %refusal.reason, "inbound request refused");
            let detail = format!(
                "{kind}/{name} refused with {}: {}",
                refusal.status, refusal.reason
            );
            let s = store.clone();
            if let Err(e) = blocking(move || s.audit("inbound_refused", &detail)).await {
                tracing::error!(kind, name = %name, error = %e, "could not write the audit line of a refused inbound request");
            }
            return InboundReply::text(refusal.status, refusal.reason);
        }
    };
    drop(req);
    let Accepted {
        changes,
        nudges: pollers,
        reply,
    } = accepted;
    if !changes.is_empty() {
        let mut watched: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in &changes {
            if !watched.contains_key(&c.entity) {
                watched.insert(c.entity.clone(), inbound.watched_fields(&c.entity));
            }
        }
        let (s, r, n) = (store.clone(), router.clone(), name.clone());
        let committed = blocking(move || {
            s.commit_inbound(InboundCommit {
                kind,
                name: &n,
                changes: &changes,
                watched: &watched,
                router: r.as_ref(),
            })
            .map(|summary| (summary, changes))
        })
        .await;
        let summary = match committed {
            Ok((summary, changes)) => {
                inbound.committed(&changes).await;
                summary
            }
            Err(e) => {
                count("unavailable");
                tracing::error!(kind, name = %name, error = %e, "inbound changes could not be committed; answering 503");
                return InboundReply::text(503, "temporarily unable to store the request; retry");
            }
        };
        for (outcome, n) in [
            ("accepted", summary.accepted),
            ("duplicate", summary.duplicates),
        ] {
            metrics::counter!(m::INBOUND_CHANGES, "kind" => kind, "name" => name.clone(), "outcome" => outcome)
                .increment(n as u64);
        }
        for dest in &summary.destinations {
            nudges.nudge(&Nudges::destination(dest));
        }
        tracing::debug!(kind, name = %name, accepted = summary.accepted, duplicates = summary.duplicates, enqueued = summary.enqueued, "inbound changes committed");
    }
    for p in &pollers {
        nudges.nudge(p);
    }
    count("accepted");
    reply
}
