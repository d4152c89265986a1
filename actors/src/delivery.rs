//! Delivery: one actor per destination drains its outbox with its own rate limit.
//!
//! A batch goes: lookups for entries that may already be at the destination → one commit
//! marking the rest "attempt started" → sends (concurrent up to `concurrency`, each through the
//! rate limiter) → one commit with every outcome. A crash between the two commits leaves the
//! entries marked `maybe_sent`, so they are looked up, never blindly re-sent (invariant 4).
//!
//! Without a usable session (the sink answers [`Outcome::SessionGone`] / [`Lookup::SessionGone`]
//! after its one re-login, or no login succeeds) an entry is postponed without counting an
//! attempt or a lookup (it never dead-letters for that) and the destination pauses until then.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::stream::{self, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::boxed::DeliverySink;
use crate::clock::SharedClock;
use crate::lifecycle::Lifecycle;
use crate::metrics_names as m;
use crate::nudges::Nudges;
use crate::retry::BackoffPolicy;
use crate::sink::{Lookup, Outcome};
use crate::store::{blocking, OutboxEntry, Resolution, Store, StoreError};

/// What to do with an entry whose earlier attempt may have arrived, when the destination
/// cannot be asked (send-only webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unverifiable {
    /// Move it to the dead-letter table for a human to check and replay (default: no blind
    /// re-POST).
    DeadLetter,
    /// Send again (accepts a possible duplicate).
    Resend,
}

/// Settings of one destination's delivery.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Destination name.
    pub destination: String,
    /// Requests per second; `0.0` (the default) disables the limiter. Connectors set their
    /// destination's documented limit.
    pub rate_per_second: f64,
    /// Requests allowed at once above the steady rate.
    pub burst: u32,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Entries per batch.
    pub batch: usize,
    /// Failures after which an entry is dead-lettered: sends started
    /// ([`OutboxEntry::attempts`]), and lookups made when one fails
    /// ([`OutboxEntry::lookups`]).
    pub max_attempts: u32,
    /// Retry schedule.
    pub backoff: BackoffPolicy,
    /// Policy for ambiguous outcomes at send-only destinations.
    pub on_unverifiable: Unverifiable,
}

impl DeliveryConfig {
    /// Vendor-neutral defaults: no rate limit (`rate_per_second` 0.0; the caller sets the
    /// destination's own limit), burst 1, concurrency 4, batch 32, 20 attempts, the delivery
    /// backoff, dead-letter unverifiable entries.
    pub fn new(destination: &str) -> Self {
        Self {
            destination: destination.to_string(),
            rate_per_second: 0.0,
            burst: 1,
            concurrency: 4,
            batch: 32,
            max_attempts: 20,
            backoff: BackoffPolicy::DELIVERY,
            on_unverifiable: Unverifiable::DeadLetter,
        }
    }
}

/// The destination's delivery loop state; cheap to clone.
#[derive(Clone)]
pub struct DeliveryContext {
    /// The destination's settings.
    pub config: DeliveryConfig,
    /// The destination with its session inside ([`crate::bind_sink`]).
    pub sink: Arc<dyn DeliverySink>,
    /// The outbox.
    pub store: Store,
    /// Time source of retry and backoff times.
    pub clock: SharedClock,
    /// Wake-up signals (this destination waits on `destination:<name>`).
    pub nudges: Nudges,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

/// What one batch did (for tests and logs).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchReport {
    /// Entries confirmed by the destination.
    pub delivered: usize,
    /// Entries found at the destination by a lookup (not sent again).
    pub found_existing: usize,
    /// Entries scheduled for another send.
    pub retried: usize,
    /// Entries whose outcome is unknown, or whose lookup failed (looked up again later).
    pub unknown: usize,
    /// Entries moved to the dead-letter table.
    pub dead: usize,
    /// Sends and lookups postponed for want of a session (not counted as attempts).
    pub deferred: usize,
    /// Pause the whole destination until this time (UTC ms) after a throttling answer.
    pub pause_until_ms: Option<i64>,
}

impl DeliveryContext {
    /// Build the context; the rate limiter is created here (one per destination).
    pub fn new(
        config: DeliveryConfig,
        sink: Arc<dyn DeliverySink>,
        store: Store,
        clock: SharedClock,
        nudges: Nudges,
    ) -> Self {
        let limiter = (config.rate_per_second > 0.0).then(|| {
            let period = Duration::from_secs_f64(1.0 / config.rate_per_second);
            let burst = NonZeroU32::new(config.burst.max(1)).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            Arc::new(RateLimiter::direct(quota))
        });
        Self {
            config,
            sink,
            store,
            clock,
            nudges,
            limiter,
        }
    }

    fn label(&self) -> String {
        self.config.destination.clone()
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(m::DELIVERIES, "destination" => self.label(), "outcome" => outcome)
            .increment(1);
    }

    fn retry_at(&self, entry: &OutboxEntry, after: Option<Duration>) -> i64 {
        let delay = after.unwrap_or_else(|| self.config.backoff.delay(entry.attempts.max(1)));
        self.clock.now_ms() + delay.as_millis() as i64
    }

    fn give_up(&self, entry: &OutboxEntry, reason: &str) -> Option<Resolution> {
        (entry.attempts >= self.config.max_attempts).then(|| Resolution::Dead {
            status: None,
            reason: format!(
                "gave up after {} attempts; last error: {reason}",
                entry.attempts
            ),
        })
    }

    /// [`Self::give_up`], counted as a dead letter in the report, metrics and log.
    fn gave_up(
        &self,
        entry: &OutboxEntry,
        reason: &str,
        report: &mut BatchReport,
    ) -> Option<Resolution> {
        let dead = self.give_up(entry, reason)?;
        report.dead += 1;
        self.count("dead");
        metrics::counter!(m::DEAD_LETTERED, "destination" => self.label()).increment(1);
        tracing::error!(destination = %self.config.destination, key = %entry.dedupe_key, attempt = entry.attempts, %reason, "delivery attempts exhausted; dead-lettered");
        Some(dead)
    }

    /// A lookup of an entry that may have arrived failed (`entry.lookups` already counts it):
    /// look again after a backoff based on the lookups made, or dead-letter the entry once
    /// `max_attempts` lookups were made (the message may or may not be at the destination;
    /// the letter keeps `maybe_sent`).
    fn lookup_failed(
        &self,
        entry: &OutboxEntry,
        reason: &str,
        report: &mut BatchReport,
    ) -> Resolution {
        let dest = &self.config.destination;
        if entry.lookups >= self.config.max_attempts {
            report.dead += 1;
            self.count("dead");
            metrics::counter!(m::DEAD_LETTERED, "destination" => self.label()).increment(1);
            tracing::error!(destination = %dest, key = %entry.dedupe_key, lookups = entry.lookups, %reason, "lookups exhausted; dead-lettered");
            return Resolution::Dead {
                status: None,
                reason: format!(
                    "gave up after {} lookups; the last lookup failed: {reason}; the message may have arrived: check the destination and replay the dead letter if it is missing",
                    entry.lookups
                ),
            };
        }
        report.unknown += 1;
        let delay = self.config.backoff.delay(entry.lookups.max(1));
        let at_ms = self.clock.now_ms() + delay.as_millis() as i64;
        tracing::warn!(destination = %dest, key = %entry.dedupe_key, lookups = entry.lookups, %reason, retry_in_ms = delay.as_millis() as u64, "lookup failed; will look again");
        Resolution::RetryAt {
            at_ms,
            reason: format!("lookup failed: {reason}"),
            maybe_sent: true,
        }
    }

    /// No session: postpone `entry` by the backoff of its deferrals without counting an
    /// attempt (`attempt_started`: undo this batch's attempt mark) and pause the destination
    /// until then.
    fn defer(
        &self,
        entry: &OutboxEntry,
        reason: &str,
        attempt_started: bool,
        report: &mut BatchReport,
    ) -> Resolution {
        let delay = self.config.backoff.delay(entry.deferrals.saturating_add(1));
        let at_ms = self.clock.now_ms() + delay.as_millis() as i64;
        report.deferred += 1;
        report.pause_until_ms = Some(report.pause_until_ms.map_or(at_ms, |p| p.max(at_ms)));
        self.count("deferred");
        tracing::warn!(destination = %self.config.destination, key = %entry.dedupe_key, deferrals = entry.deferrals + 1, %reason, retry_in_ms = delay.as_millis() as u64, "no usable session; delivery postponed, not counted as an attempt");
        Resolution::Deferred {
            at_ms,
            reason: reason.to_string(),
            attempt_started,
        }
    }

    /// Process up to one batch of due entries. Returns `Ok(None)` when nothing was due
    /// (with the time the next entry becomes due, if any).
    pub async fn batch(&self) -> Result<Result<BatchReport, Option<i64>>, StoreError> {
        let store = self.store.clone();
        let dest = self.config.destination.clone();
        let now = self.clock.now_ms();
        let limit = self.config.batch;
        let t0 = std::time::Instant::now();
        let scan = blocking(move || store.due_entries(&dest, now, limit)).await?;
        let t_scan = t0.elapsed();
        if scan.due.is_empty() {
            return Ok(Err(scan.next_due_ms));
        }
        let mut report = BatchReport::default();
        let mut resolutions: Vec<(u64, Resolution)> = Vec::new();
        let mut to_send: Vec<OutboxEntry> = Vec::new();
        let mut looked_up: Vec<u64> = Vec::new();
        for mut entry in scan.due {
            if !entry.maybe_sent {
                to_send.push(entry);
                continue;
            }
            let lookup = self.sink.find_existing(&entry).await;
            if let Lookup::SessionGone { reason } = &lookup {
                let resolution = self.defer(&entry, reason, false, &mut report);
                resolutions.push((entry.seq, resolution));
                continue;
            }
            entry.lookups = entry.lookups.saturating_add(1);
            looked_up.push(entry.seq);
            let outcome = match &lookup {
                Lookup::Found { .. } => "found",
                Lookup::NotFound => "not_found",
                Lookup::Unsupported => "unsupported",
                Lookup::Failed { .. } => "failed",
                Lookup::Refused { .. } => "refused",
                Lookup::SessionGone { .. } => "session_gone",
            };
            metrics::counter!(m::LOOKUPS, "destination" => self.label(), "outcome" => outcome)
                .increment(1);
            match lookup {
                Lookup::Found { remote_id } => {
                    tracing::info!(destination = %self.config.destination, key = %entry.dedupe_key, %remote_id, "earlier attempt had arrived; not sending again");
                    report.found_existing += 1;
                    self.count("found_existing");
                    resolutions.push((entry.seq, Resolution::Delivered { remote_id }));
                }
                Lookup::NotFound => to_send.push(entry),
                Lookup::Unsupported => match self.config.on_unverifiable {
                    Unverifiable::Resend => to_send.push(entry),
                    Unverifiable::DeadLetter => {
                        report.dead += 1;
                        self.count("dead");
                        metrics::counter!(m::DEAD_LETTERED, "destination" => self.label())
                            .increment(1);
                        resolutions.push((entry.seq, Resolution::Dead {
                            status: None,
                            reason: format!(
                                "outcome unknown ({}) and this destination cannot be queried; check the channel and replay the dead letter if the message is missing",
                                entry.last_error.as_deref().unwrap_or("interrupted")
                            ),
                        }));
                    }
                },
                Lookup::Failed { reason } => {
                    let resolution = self.lookup_failed(&entry, &reason, &mut report);
                    resolutions.push((entry.seq, resolution));
                }
                Lookup::Refused { reason } => {
                    // A configuration problem: dead-letter at once, no lookup retries.
                    report.dead += 1;
                    self.count("dead");
                    metrics::counter!(m::DEAD_LETTERED, "destination" => self.label()).increment(1);
                    tracing::error!(destination = %self.config.destination, key = %entry.dedupe_key, %reason, "lookup refused; dead-lettered");
                    let reason = format!("lookup refused: {reason}; the message may have arrived: check the destination and replay the dead letter if it is missing");
                    resolutions.push((
                        entry.seq,
                        Resolution::Dead {
                            status: None,
                            reason,
                        },
                    ));
                }
                Lookup::SessionGone { .. } => {}
            }
        }
        let seqs: Vec<u64> = to_send.iter().map(|e| e.seq).collect();
        let store = self.store.clone();
        let dest = self.config.destination.clone();
        let t1 = std::time::Instant::now();
        blocking(move || store.begin_attempts(&dest, &seqs)).await?;
        let t_mark = t1.elapsed();
        let t2 = std::time::Instant::now();
        let sent: Vec<(OutboxEntry, Outcome)> = stream::iter(to_send)
            .map(|mut entry| async move {
                if let Some(l) = &self.limiter {
                    l.until_ready().await;
                }
                entry.attempts += 1;
                let outcome = self.sink.deliver(&entry).await;
                (entry, outcome)
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        for (entry, outcome) in sent {
            let resolution = self.resolve_outcome(&entry, outcome, &mut report);
            resolutions.push((entry.seq, resolution));
        }
        let store = self.store.clone();
        let dest = self.config.destination.clone();
        let t_send = t2.elapsed();
        let t3 = std::time::Instant::now();
        blocking(move || store.resolve_with_lookups(&dest, &resolutions, &looked_up)).await?;
        tracing::debug!(
            destination = %self.config.destination,
            delivered = report.delivered,
            scan_ms = t_scan.as_millis() as u64,
            mark_ms = t_mark.as_millis() as u64,
            send_ms = t_send.as_millis() as u64,
            resolve_ms = t3.elapsed().as_millis() as u64,
            "delivery batch"
        );
        Ok(Ok(report))
    }

    fn resolve_outcome(
        &self,
        entry: &OutboxEntry,
        outcome: Outcome,
        report: &mut BatchReport,
    ) -> Resolution {
        let dest = &self.config.destination;
        match outcome {
            Outcome::Delivered { remote_id } => {
                report.delivered += 1;
                self.count("delivered");
                let latency = (self.clock.now_ms() - entry.created_ms).max(0) as f64 / 1000.0;
                metrics::histogram!(m::DELIVERY_LATENCY, "destination" => self.label())
                    .record(latency);
                Resolution::Delivered { remote_id }
            }
            Outcome::Retry {
                after,
                reason,
                throttled,
            } => {
                if throttled {
                    metrics::counter!(m::THROTTLED, "destination" => self.label()).increment(1);
                }
                let at_ms = self.retry_at(entry, after);
                if after.is_some() {
                    report.pause_until_ms =
                        Some(report.pause_until_ms.map_or(at_ms, |p| p.max(at_ms)));
                }
                if let Some(dead) = self.gave_up(entry, &reason, report) {
                    return dead;
                }
                report.retried += 1;
                self.count("retry");
                metrics::counter!(m::DELIVERY_RETRIES, "destination" => self.label()).increment(1);
                tracing::info!(destination = %dest, key = %entry.dedupe_key, attempt = entry.attempts, %reason, retry_in_ms = at_ms - self.clock.now_ms(), "delivery will be retried");
                Resolution::RetryAt {
                    at_ms,
                    reason,
                    maybe_sent: false,
                }
            }
            Outcome::SessionGone { reason } => self.defer(entry, &reason, true, report),
            Outcome::Permanent { status, reason } => {
                report.dead += 1;
                self.count("dead");
                metrics::counter!(m::DEAD_LETTERED, "destination" => self.label()).increment(1);
                tracing::error!(destination = %dest, key = %entry.dedupe_key, status, %reason, "delivery failed permanently; dead-lettered");
                Resolution::Dead { status, reason }
            }
            Outcome::Unknown { reason } => {
                let last = format!("outcome unknown, the message may have arrived: {reason}");
                if let Some(dead) = self.gave_up(entry, &last, report) {
                    return dead;
                }
                report.unknown += 1;
                self.count("unknown");
                metrics::counter!(m::DELIVERY_RETRIES, "destination" => self.label()).increment(1);
                tracing::warn!(destination = %dest, key = %entry.dedupe_key, attempt = entry.attempts, %reason, "delivery outcome unknown; will look it up before any resend");
                let at_ms = self.retry_at(entry, None);
                Resolution::RetryAt {
                    at_ms,
                    reason,
                    maybe_sent: true,
                }
            }
        }
    }

    /// Deliver until the lifecycle stops. Returns `Err` only on store failures (the actor then
    /// stops and is restarted).
    pub async fn run(self, lifecycle: Lifecycle) -> Result<(), StoreError> {
        let nudge = self
            .nudges
            .get(&Nudges::destination(&self.config.destination));
        let mut paused_until: Option<i64> = None;
        while !lifecycle.is_stopping() {
            if let Some(until) = paused_until.take() {
                let wait = (until - self.clock.now_ms()).max(0) as u64;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    _ = lifecycle.stopped() => break,
                }
            }
            let guard = lifecycle.guard();
            let result = self.batch().await;
            drop(guard);
            let result = match result {
                // The store reports and re-opens itself: wait for it instead of restarting.
                Err(e) if e.is_unavailable() => {
                    tokio::select! {
                        _ = self.store.recovered(&e) => continue,
                        _ = lifecycle.stopped() => break,
                    }
                }
                other => other?,
            };
            match result {
                Ok(report) => paused_until = report.pause_until_ms,
                Err(next_due) => {
                    let wait = next_due
                        .map(|t| (t - self.clock.now_ms()).clamp(0, 1000) as u64)
                        .unwrap_or(1000);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                        _ = nudge.notified() => {}
                        _ = lifecycle.stopped() => break,
                    }
                }
            }
        }
        Ok(())
    }
}

/// Supervised actor around [`DeliveryContext::run`].
pub struct DeliveryActor {
    ctx: DeliveryContext,
    lifecycle: Lifecycle,
}

impl DeliveryActor {
    /// Create the actor (start it with `actix::Supervisor::start`).
    pub fn new(ctx: DeliveryContext, lifecycle: Lifecycle) -> Self {
        Self { ctx, lifecycle }
    }
}

impl Actor for DeliveryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let run = self.ctx.clone().run(self.lifecycle.clone());
        ctx.spawn(run.into_actor(self).map(|res, act, ctx| {
            if let Err(e) = res {
                tracing::error!(destination = %act.ctx.config.destination, error = %e, "delivery stopped on a store error; restarting");
                ctx.stop();
            }
        }));
    }
}

impl Supervised for DeliveryActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        metrics::counter!(m::ACTOR_RESTARTS, "actor" => "delivery").increment(1);
    }
}
