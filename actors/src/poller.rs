//! Poller: one per (source, entity). Reads pages from the stored cursor to the end, commits
//! each page (events → outbox + ledger) and moves the cursor only with the last page.
//!
//! Cursor rule. Paging by `$skip` over data that changes can skip a record when an already
//! read record is updated and moves behind the reading position. Such a move is visible: the
//! same key comes back later in the same cycle. When that happens the cursor only advances to
//! the last position of the first page (every skipped record lies after it), so the next cycle
//! re-reads the rest and the ledger drops what was already queued. Otherwise the cursor
//! advances to the largest position read. The source applies an overlap window on top.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::auth::AuthError;
use crate::boxed::PollSource;
use crate::event::Router;
use crate::lifecycle::Lifecycle;
use crate::metrics_names as m;
use crate::nudges::Nudges;
use crate::schedule::Cadence;
use crate::source::SourceError;
use crate::store::{blocking, PageInput, Store, StoreError};

/// Poller settings.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Name of the source (metrics label `source`, snapshot and event keys, cursor
    /// `"<source>/<entity>"`).
    pub source: String,
    /// When cycles run: a pause between the end of one cycle and the start of the next, or
    /// a cron expression in a time zone ([`Cadence`]; the wait is computed from the store's
    /// clock).
    pub cadence: Cadence,
}

/// Why a cycle stopped early. Nothing after the last committed page is lost: the cursor has
/// not moved past it.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// No session (login failing or backing off).
    #[error("no session: {0}")]
    Auth(#[from] AuthError),
    /// The source failed.
    #[error("{0}")]
    Source(#[from] SourceError),
    /// The store failed: the actor stops and is restarted.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What one cycle did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CycleReport {
    /// Pages read (including a final empty page).
    pub pages: usize,
    /// Records read.
    pub records: usize,
    /// Events detected.
    pub events: usize,
    /// Outbox entries written.
    pub enqueued: usize,
    /// A key came back within the cycle (data moved while paging).
    pub unstable: bool,
    /// Cursor stored at the end.
    pub cursor: Option<String>,
}

/// Everything a cycle needs; cheap to clone.
#[derive(Clone)]
pub struct PollContext {
    /// The poller's settings.
    pub config: PollerConfig,
    /// The entity's source with its session inside ([`crate::bind_source`]).
    pub source: Arc<dyn PollSource>,
    /// Cursor, snapshots, outbox.
    pub store: Store,
    /// Decides destinations and renders messages for detected events.
    pub router: Arc<dyn Router>,
    /// Wake-up signals (the poller waits on `poller:<source>/<entity>`, nudges destinations).
    pub nudges: Nudges,
}

impl PollContext {
    fn stream(&self) -> String {
        format!("{}/{}", self.config.source, self.source.entity())
    }

    /// One poll cycle from the stored cursor to the last page.
    pub async fn cycle(&self) -> Result<CycleReport, CycleError> {
        let stream = self.stream();
        let store = self.store.clone();
        let key = stream.clone();
        let stored = blocking(move || store.cursor(&key)).await?;
        let mut page_ref = self.source.first_page(stored.as_deref());
        let mut seen: HashSet<String> = HashSet::new();
        let mut report = CycleReport::default();
        let mut max_pos = stored.clone();
        let mut first_page_last: Option<String> = None;
        loop {
            let page = self.source.fetch(&page_ref).await?;
            for r in &page.records {
                if !seen.insert(r.key.clone()) {
                    report.unstable = true;
                }
                if max_pos.as_deref().is_none_or(|m| r.position.as_str() > m) {
                    max_pos = Some(r.position.clone());
                }
            }
            if report.pages == 0 {
                first_page_last = page.records.last().map(|r| r.position.clone());
            }
            report.pages += 1;
            report.records += page.records.len();
            let cursor = if page.next.is_none() {
                let candidate = if report.unstable {
                    first_page_last.clone()
                } else {
                    max_pos.clone()
                };
                match (&stored, candidate) {
                    (Some(old), Some(new)) if new.as_str() > old.as_str() => Some(new),
                    (None, Some(new)) => Some(new),
                    _ => None,
                }
            } else {
                None
            };
            let ctx = self.clone();
            let records = page.records;
            let cursor_for_commit = cursor.clone();
            let summary = blocking(move || {
                ctx.store.commit_page(PageInput {
                    source: &ctx.config.source,
                    entity: ctx.source.entity(),
                    records: &records,
                    watched: ctx.source.watched_fields(),
                    router: ctx.router.as_ref(),
                    cursor: cursor_for_commit.as_deref(),
                })
            })
            .await?;
            report.events += summary.events;
            report.enqueued += summary.enqueued;
            for dest in &summary.destinations {
                self.nudges.nudge(&Nudges::destination(dest));
            }
            if cursor.is_some() {
                report.cursor = cursor;
            }
            match page.next {
                Some(next) => page_ref = next,
                None => break,
            }
        }
        if report.cursor.is_none() {
            report.cursor = stored;
        }
        Ok(report)
    }

    fn record_metrics(&self, result: &Result<CycleReport, CycleError>, took: Duration) {
        let source = self.config.source.clone();
        let entity = self.source.entity().to_string();
        metrics::histogram!(m::POLL_DURATION, "source" => source.clone(), "entity" => entity.clone())
            .record(took.as_secs_f64());
        match result {
            Ok(r) => {
                metrics::counter!(m::POLLS, "source" => source.clone(), "entity" => entity.clone(), "outcome" => "ok").increment(1);
                metrics::counter!(m::RECORDS_SEEN, "source" => source.clone(), "entity" => entity.clone()).increment(r.records as u64);
                metrics::counter!(m::EVENTS, "source" => source, "entity" => entity)
                    .increment(r.events as u64);
            }
            Err(e) => {
                let error_type = match e {
                    CycleError::Auth(_) => "auth",
                    CycleError::Source(s) => s.kind(),
                    CycleError::Store(StoreError::Route(_)) => "route",
                    CycleError::Store(_) => "store",
                };
                metrics::counter!(m::POLLS, "source" => source.clone(), "entity" => entity.clone(), "outcome" => "error").increment(1);
                metrics::counter!(m::SOURCE_ERRORS, "source" => source, "entity" => entity, "error_type" => error_type).increment(1);
            }
        }
    }

    /// Poll until the lifecycle stops. While the store cannot write (I/O error, re-opening)
    /// the loop waits for [`Store::recovered`] instead of restarting. Returns `Err` only for
    /// other store failures (the actor then stops and its supervisor restarts it).
    pub async fn run(self, lifecycle: Lifecycle) -> Result<(), StoreError> {
        let nudge = self
            .nudges
            .get(&Nudges::poller(&self.config.source, self.source.entity()));
        if !self.config.cadence.runs_at_start() && !self.pause(&nudge, &lifecycle).await {
            return Ok(());
        }
        while !lifecycle.is_stopping() {
            let started = Instant::now();
            let result = tokio::select! {
                r = self.cycle() => r,
                _ = lifecycle.stopped() => break,
            };
            self.record_metrics(&result, started.elapsed());
            match result {
                Ok(r) if r.records > 0 || r.events > 0 => tracing::debug!(
                    stream = %self.stream(), pages = r.pages, records = r.records, events = r.events,
                    enqueued = r.enqueued, unstable = r.unstable, "poll cycle"
                ),
                Ok(_) => {}
                Err(CycleError::Store(StoreError::Route(reason))) => {
                    tracing::error!(stream = %self.stream(), %reason, "a message could not be rendered; cursor kept");
                }
                Err(CycleError::Store(e)) if e.is_unavailable() => {
                    // The store reports the error and re-opens itself; the cursor did not
                    // move past anything unstored. Wait for it, then poll again.
                    tokio::select! {
                        _ = self.store.recovered(&e) => continue,
                        _ = lifecycle.stopped() => break,
                    }
                }
                Err(CycleError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(stream = %self.stream(), error = %e, "poll cycle failed; cursor kept, retrying next interval")
                }
            }
            if !self.pause(&nudge, &lifecycle).await {
                break;
            }
        }
        Ok(())
    }

    /// Wait for the next cycle ([`Cadence::wait`] from the store's clock) or a nudge;
    /// `false` when the lifecycle stops.
    async fn pause(&self, nudge: &tokio::sync::Notify, lifecycle: &Lifecycle) -> bool {
        let wait = self.config.cadence.wait(self.store.now_ms());
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = nudge.notified() => true,
            _ = lifecycle.stopped() => false,
        }
    }
}

/// Supervised actor around [`PollContext::run`]. A store failure stops it; the supervisor
/// restarts it and the new loop starts from the stored cursor.
pub struct PollerActor {
    ctx: PollContext,
    lifecycle: Lifecycle,
}

impl PollerActor {
    /// Create the actor (start it with `actix::Supervisor::start`).
    pub fn new(ctx: PollContext, lifecycle: Lifecycle) -> Self {
        Self { ctx, lifecycle }
    }
}

impl Actor for PollerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let run = self.ctx.clone().run(self.lifecycle.clone());
        ctx.spawn(run.into_actor(self).map(|res, act, ctx| {
            if let Err(e) = res {
                tracing::error!(stream = %act.ctx.stream(), error = %e, "poller stopped on a store error; restarting");
                ctx.stop();
            }
        }));
    }
}

impl Supervised for PollerActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        metrics::counter!(m::ACTOR_RESTARTS, "actor" => "poller").increment(1);
    }
}
