//! Delivery: one actor per destination drains its outbox; every message progresses on its own.
//!
//! The loop keeps up to `concurrency` sends and lookups running and starts the next due entry as
//! soon as one of them finishes: a send that hangs until its timeout, an ambiguous answer waiting
//! for its lookup, or a slow lookup holds only its own entry. Each turn of the loop writes in one
//! durable commit ([`Store::settle`]) the outcomes that came in since the last turn and the
//! attempt marks of the sends about to start, then starts them. While tasks run, a turn waits until
//! half of `concurrency` is free, so one commit carries about that many outcomes and marks (group
//! commit under load); a crash leaves started sends, and finished ones not yet committed, marked
//! `maybe_sent`: they are looked up, never blindly re-sent (invariant 4).
//!
//! With [`DeliveryConfig::arm_ahead`] (destinations whose lookups find earlier attempts), the
//! commit that marks the sends starting now also marks that many queued entries: they start as
//! slots free without a commit of their own, and the outcomes that came in meanwhile ride on the
//! next commit that marks. A crash leaves them `maybe_sent` too (looked up before any send); a
//! stop withdraws the marks of those not started.
//!
//! Limits, checked before each send starts:
//! - quiet hours ([`HoldWindow`], `DeliveryConfig::hold`): inside a window no send starts;
//!   entries wait unchanged (no attempt) and leave once it ends, gauge `mlc_quiet_hours_held`;
//! - the destination's rolling window ([`RollingLimiter`]) and, when set, the per-tenant budget it
//!   shares with the other destinations of its credential (both admit or neither does);
//! - the daily cap ([`DailyCap`], counted per minute, persisted in the store): at the cap,
//!   entries stay in the outbox unchanged (no attempt, no dead letter), gauge
//!   `mlc_daily_cap_held` is 1 until the rolling day frees room;
//! - a throttling answer (429, 503 with `Retry-After`) pauses the destination's sends until the
//!   given time and is not counted as an attempt.
//!
//! A send or lookup with no answer within `request_timeout` is abandoned: a send becomes
//! [`Outcome::Unknown`] (it may have arrived; looked up before any resend), a lookup
//! [`Lookup::Failed`]. A task running longer than `straggler_after` stops counting against
//! `concurrency` (so hanging requests cannot occupy every slot); `max_in_flight` bounds all tasks.
//!
//! Without a usable session (the sink answers [`Outcome::SessionGone`] / [`Lookup::SessionGone`]
//! after its one re-login, or no login succeeds) an entry is postponed without counting an
//! attempt or a lookup (it never dead-letters for that) and the destination pauses until then.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::time::Instant;

use crate::boxed::{BoxFuture, DeliverySink};
use crate::clock::SharedClock;
use crate::hold::HoldWindow;
use crate::lifecycle::{ActiveGuard, Lifecycle};
use crate::limiter::{DailyCap, RollingLimiter};
use crate::metrics_names as m;
use crate::nudges::Nudges;
use crate::retry::BackoffPolicy;
use crate::sink::{Lookup, Outcome};
use crate::store::{blocking, OutboxEntry, Resolution, Settlement, Store, StoreError};

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
    /// destination's documented limit. Enforced as a rolling window, see
    /// [`RollingLimiter::from_rate`].
    pub rate_per_second: f64,
    /// With `rate_per_second` r: the window admits `max(burst, ceil(r))` requests per
    /// `max(burst, ceil(r)) / r` seconds (`burst = 10` at 1/s: "10 messages every 10 seconds").
    pub burst: u32,
    /// Added to the rolling window: absorbs the jitter between admission here and arrival at
    /// the service, which is where it counts. Default 25 ms (4 per 1.025 s = 97.6 % of 4/s).
    pub rate_margin: Duration,
    /// A budget shared with other destinations (Graph: the per-tenant posting budget of one
    /// app registration); a send needs a slot in both windows.
    pub shared_limiter: Option<Arc<RollingLimiter>>,
    /// At most this many messages per rolling [`Self::daily_period`] (Graph: 3000 per app per
    /// channel per day); `None`: no cap.
    pub daily_cap: Option<u64>,
    /// The period of `daily_cap`; default 24 h.
    pub daily_period: Duration,
    /// Sends and lookups running at once (not counting stragglers).
    pub concurrency: usize,
    /// A send or lookup running longer than this stops counting against `concurrency`.
    /// Default 2 s.
    pub straggler_after: Duration,
    /// Sends and lookups running at once, stragglers included. Default 64.
    pub max_in_flight: usize,
    /// No answer within this time: a send is [`Outcome::Unknown`], a lookup
    /// [`Lookup::Failed`]. Default 30 s.
    pub request_timeout: Duration,
    /// Entries read per scan of the outbox.
    pub batch: usize,
    /// Failures after which an entry is dead-lettered: sends started
    /// ([`OutboxEntry::attempts`]), and lookups made when one fails
    /// ([`OutboxEntry::lookups`]). Throttling and missing sessions are not failures.
    pub max_attempts: u32,
    /// Retry schedule.
    pub backoff: BackoffPolicy,
    /// Policy for ambiguous outcomes at send-only destinations.
    pub on_unverifiable: Unverifiable,
    /// Quiet hours: inside a window no send starts (lookups of earlier attempts still run);
    /// entries wait unchanged and leave when it ends. `None` (default): always open.
    pub hold: Option<Arc<dyn HoldWindow>>,
    /// Entries marked ahead: a commit that marks sends about to start also marks up to this
    /// many more queued entries, which then start without a commit of their own as slots free
    /// (their outcomes ride on the next commit). A crash leaves them `maybe_sent`, so they are
    /// looked up before being sent: only for destinations whose lookups find earlier attempts
    /// (never send-only ones, whose unverifiable entries would be dead-lettered). Default 0.
    pub arm_ahead: usize,
}

impl DeliveryConfig {
    /// Vendor-neutral defaults: no rate limit (`rate_per_second` 0.0; the caller sets the
    /// destination's own limit), burst 1, margin 25 ms, no shared budget, no daily cap,
    /// concurrency 4, stragglers after 2 s, 64 in flight, request timeout 30 s, batch 32,
    /// 20 attempts, the delivery backoff, dead-letter unverifiable entries, no quiet hours,
    /// nothing marked ahead.
    pub fn new(destination: &str) -> Self {
        Self {
            destination: destination.to_string(),
            rate_per_second: 0.0,
            burst: 1,
            rate_margin: Duration::from_millis(25),
            shared_limiter: None,
            daily_cap: None,
            daily_period: Duration::from_secs(24 * 3600),
            concurrency: 4,
            straggler_after: Duration::from_secs(2),
            max_in_flight: 64,
            request_timeout: Duration::from_secs(30),
            batch: 32,
            max_attempts: 20,
            backoff: BackoffPolicy::DELIVERY,
            on_unverifiable: Unverifiable::DeadLetter,
            hold: None,
            arm_ahead: 0,
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
    /// Time source of retry, backoff, rate and cap times.
    pub clock: SharedClock,
    /// Wake-up signals (this destination waits on `destination:<name>`).
    pub nudges: Nudges,
    limiter: Option<Arc<RollingLimiter>>,
    cap: Option<Arc<DailyCap>>,
    cap_held: Arc<AtomicBool>,
    quiet_held: Arc<AtomicBool>,
    /// The `destination` metric label, shared: each metric call clones a pointer, not the name.
    label: Arc<str>,
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
    /// Sends the destination throttled (not counted as attempts).
    pub throttled: usize,
    /// Entries not sent because the daily cap is reached (left unchanged in the outbox).
    pub held: usize,
    /// Pause the whole destination until this time (UTC ms) after a throttling answer.
    pub pause_until_ms: Option<i64>,
}

/// A finished task of the loop.
enum Done {
    Looked(OutboxEntry, Lookup),
    Sent(OutboxEntry, Outcome),
}

impl DeliveryContext {
    /// Build the context: the destination's rolling-window limiter, and its daily cap with the
    /// count of the current rolling day read from the store (a read error is logged and the
    /// count starts at 0).
    pub fn new(
        config: DeliveryConfig,
        sink: Arc<dyn DeliverySink>,
        store: Store,
        clock: SharedClock,
        nudges: Nudges,
    ) -> Self {
        let limiter =
            RollingLimiter::from_rate(config.rate_per_second, config.burst, config.rate_margin)
                .map(Arc::new);
        let cap = config.daily_cap.map(|n| {
            let cap = DailyCap::new(n, config.daily_period);
            let since = clock.now_ms() - config.daily_period.as_millis() as i64;
            match store.sent_counts(&config.destination, DailyCap::bucket_of(since)) {
                Ok(rows) => rows.into_iter().for_each(|(at, n)| cap.record(at, n)),
                Err(e) => {
                    tracing::warn!(destination = %config.destination, error = %e, "cannot read the daily count; counting from 0")
                }
            }
            Arc::new(cap)
        });
        let label = Arc::from(config.destination.as_str());
        Self {
            config,
            sink,
            store,
            clock,
            nudges,
            limiter,
            cap,
            cap_held: Arc::new(AtomicBool::new(false)),
            quiet_held: Arc::new(AtomicBool::new(false)),
            label,
        }
    }

    /// Is the destination holding messages at its daily cap (gauge `mlc_daily_cap_held`)?
    pub fn cap_held(&self) -> bool {
        self.cap_held.load(Ordering::SeqCst)
    }

    fn set_cap_held(&self, held: bool) {
        if self.cap_held.swap(held, Ordering::SeqCst) != held {
            if held {
                tracing::warn!(destination = %self.config.destination, cap = self.config.daily_cap, "daily cap reached; messages are held in the outbox until the rolling day frees room");
            } else {
                tracing::info!(destination = %self.config.destination, "below the daily cap again; sending");
            }
        }
        metrics::gauge!(m::DAILY_CAP_HELD, "destination" => self.label()).set(if held {
            1.0
        } else {
            0.0
        });
    }

    /// Is the destination inside its quiet hours, holding sends (gauge
    /// `mlc_quiet_hours_held`)?
    pub fn quiet_held(&self) -> bool {
        self.quiet_held.load(Ordering::SeqCst)
    }

    /// Inside a hold window at `now`: its end. Keeps the gauge and the log up to date.
    fn quiet_until(&self, now: i64) -> Option<i64> {
        let until = self.config.hold.as_ref().and_then(|h| h.held_until(now));
        let held = until.is_some();
        if self.quiet_held.swap(held, Ordering::SeqCst) != held {
            if held {
                tracing::info!(destination = %self.config.destination, until_ms = until, "quiet hours: messages wait in the outbox until the window ends");
            } else {
                tracing::info!(destination = %self.config.destination, "quiet hours over; sending");
            }
            metrics::gauge!(m::QUIET_HOURS_HELD, "destination" => self.label()).set(if held {
                1.0
            } else {
                0.0
            });
        }
        until
    }

    /// The `destination` label of this destination's metrics (no allocation per call).
    fn label(&self) -> Arc<str> {
        Arc::clone(&self.label)
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

    /// Process up to one batch of due entries (at most `batch`, read in one scan) until each
    /// has an outcome; sends that a rate window, a pause or the daily cap keeps back stay due
    /// and unchanged. Returns `Err(next_due)` when nothing was due. Tests and tools drive this;
    /// [`Self::run`] keeps scanning instead.
    pub async fn batch(&self) -> Result<Result<BatchReport, Option<i64>>, StoreError> {
        let mut turn = Turn::new(self);
        if !turn.scan().await? {
            return Ok(Err(turn.next_due_ms));
        }
        loop {
            turn.step().await?;
            if turn.in_flight.is_empty() {
                break;
            }
            if let Some(done) = turn.in_flight.next().await {
                turn.absorb(done);
            }
            turn.absorb_ready();
        }
        if self.cap_held() || self.quiet_held() {
            turn.report.held = turn.queue.iter().filter(|e| !e.maybe_sent).count();
        }
        turn.withdraw_queued();
        turn.commit().await?;
        Ok(Ok(turn.report))
    }

    /// Deliver until the lifecycle stops; on stop, start nothing new and wait for the sends
    /// and lookups in flight (their outcomes are committed). Returns `Err` only on store
    /// failures (the actor then stops and is restarted).
    pub async fn run(self, lifecycle: Lifecycle) -> Result<(), StoreError> {
        let nudge = self
            .nudges
            .get(&Nudges::destination(&self.config.destination));
        let mut turn = Turn::new(&self);
        let mut guard: Option<ActiveGuard> = None;
        loop {
            let stopping = lifecycle.is_stopping();
            let stepped = async {
                if !stopping && turn.wants_scan() {
                    turn.scan().await?;
                }
                if stopping {
                    turn.withdraw_queued();
                }
                turn.step().await
            }
            .await;
            if let Err(e) = stepped {
                if !e.is_unavailable() {
                    return Err(e);
                }
                // The store reports and re-opens itself: wait for it instead of restarting.
                // What was in flight stays marked `maybe_sent` and is looked up afterwards.
                turn = Turn::new(&self);
                guard = None;
                tokio::select! {
                    _ = self.store.recovered(&e) => continue,
                    _ = lifecycle.stopped() => break,
                }
            }
            metrics::gauge!(m::DELIVERY_IN_FLIGHT, "destination" => self.label())
                .set(turn.in_flight.len() as f64);
            if turn.in_flight.is_empty() {
                guard = None;
                if stopping {
                    break;
                }
            } else if guard.is_none() {
                guard = Some(lifecycle.guard());
            }
            let wait = turn.wait_ms();
            tokio::select! {
                Some(done) = turn.in_flight.next(), if !turn.in_flight.is_empty() => turn.absorb(done),
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = nudge.notified(), if !stopping => {}
                _ = lifecycle.stopped(), if !stopping => {}
            }
            turn.absorb_ready();
        }
        match turn.commit().await {
            Err(e) if e.is_unavailable() => {}
            other => other?,
        }
        drop(guard);
        Ok(())
    }

    /// Send one entry, abandoned as [`Outcome::Unknown`] after `request_timeout`.
    fn send_task(&self, entry: OutboxEntry) -> BoxFuture<'static, Done> {
        let (sink, timeout) = (self.sink.clone(), self.config.request_timeout);
        Box::pin(async move {
            let outcome = match tokio::time::timeout(timeout, sink.deliver(&entry)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Unknown {
                    reason: format!(
                        "no answer within {} s (request timeout); the message may have arrived",
                        timeout.as_secs_f64()
                    ),
                },
            };
            Done::Sent(entry, outcome)
        })
    }

    /// Look an entry up, [`Lookup::Failed`] after `request_timeout`.
    fn lookup_task(&self, entry: OutboxEntry) -> BoxFuture<'static, Done> {
        let (sink, timeout) = (self.sink.clone(), self.config.request_timeout);
        Box::pin(async move {
            let lookup = match tokio::time::timeout(timeout, sink.find_existing(&entry)).await {
                Ok(lookup) => lookup,
                Err(_) => Lookup::Failed {
                    reason: format!(
                        "no answer within {} s (request timeout)",
                        timeout.as_secs_f64()
                    ),
                },
            };
            Done::Looked(entry, lookup)
        })
    }

    /// An entry the lookup cleared for sending (in memory; the attempt mark sets the flag
    /// again in the store).
    fn cleared(mut entry: OutboxEntry) -> OutboxEntry {
        entry.maybe_sent = false;
        entry
    }

    /// What a finished lookup means for its entry: `Some(entry)` to send it now, else its
    /// resolution is pushed to `settle` (the lookup is counted there unless the session was
    /// missing).
    fn absorb_lookup(
        &self,
        mut entry: OutboxEntry,
        lookup: Lookup,
        settle: &mut Settlement,
        report: &mut BatchReport,
    ) -> Option<OutboxEntry> {
        if let Lookup::SessionGone { reason } = &lookup {
            let resolution = self.defer(&entry, reason, false, report);
            settle.resolutions.push((entry.seq, resolution));
            return None;
        }
        entry.lookups = entry.lookups.saturating_add(1);
        settle.looked_up.push(entry.seq);
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
        let resolution = match lookup {
            Lookup::Found { remote_id } => {
                tracing::info!(destination = %self.config.destination, key = %entry.dedupe_key, %remote_id, "earlier attempt had arrived; not sending again");
                report.found_existing += 1;
                self.count("found_existing");
                Resolution::Delivered { remote_id }
            }
            Lookup::NotFound => return Some(Self::cleared(entry)),
            Lookup::Unsupported => match self.config.on_unverifiable {
                Unverifiable::Resend => return Some(Self::cleared(entry)),
                Unverifiable::DeadLetter => {
                    report.dead += 1;
                    self.count("dead");
                    metrics::counter!(m::DEAD_LETTERED, "destination" => self.label()).increment(1);
                    Resolution::Dead {
                        status: None,
                        reason: format!(
                            "outcome unknown ({}) and this destination cannot be queried; check the channel and replay the dead letter if the message is missing",
                            entry.last_error.as_deref().unwrap_or("interrupted")
                        ),
                    }
                }
            },
            Lookup::Failed { reason } => self.lookup_failed(&entry, &reason, report),
            Lookup::Refused { reason } => {
                // A configuration problem: dead-letter at once, no lookup retries.
                report.dead += 1;
                self.count("dead");
                metrics::counter!(m::DEAD_LETTERED, "destination" => self.label()).increment(1);
                tracing::error!(destination = %self.config.destination, key = %entry.dedupe_key, %reason, "lookup refused; dead-lettered");
                Resolution::Dead {
                    status: None,
                    reason: format!("lookup refused: {reason}; the message may have arrived: check the destination and replay the dead letter if it is missing"),
                }
            }
            Lookup::SessionGone { .. } => return None,
        };
        settle.resolutions.push((entry.seq, resolution));
        None
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
                let at_ms = self.retry_at(entry, after);
                if after.is_some() {
                    report.pause_until_ms =
                        Some(report.pause_until_ms.map_or(at_ms, |p| p.max(at_ms)));
                }
                if throttled {
                    metrics::counter!(m::THROTTLED, "destination" => self.label()).increment(1);
                    report.throttled += 1;
                    self.count("throttled");
                    tracing::info!(destination = %dest, key = %entry.dedupe_key, %reason, retry_in_ms = at_ms - self.clock.now_ms(), "throttled; not counted as an attempt");
                    return Resolution::Throttled { at_ms, reason };
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
}

/// The state of a destination's delivery loop between turns.
struct Turn<'a> {
    ctx: &'a DeliveryContext,
    in_flight: FuturesUnordered<BoxFuture<'static, Done>>,
    /// Seq of every running task → when it started (tokio time: stragglers).
    started: HashMap<u64, Instant>,
    /// Sends in flight (counted against the daily cap before they answer).
    sends_in_flight: u64,
    /// Read from the outbox, not started yet (oldest first).
    queue: VecDeque<OutboxEntry>,
    /// Queued entries whose attempt mark is committed ([`DeliveryConfig::arm_ahead`]): they
    /// start without a commit (their `attempts` in `queue` already counts the mark).
    armed: HashSet<u64>,
    /// What the next commit writes.
    settle: Settlement,
    report: BatchReport,
    /// Start nothing before this time (UTC ms): throttling or a missing session.
    paused_until_ms: i64,
    /// When a rate window, the pause or the cap admits the next send (UTC ms).
    blocked_until_ms: Option<i64>,
    /// When the next non-due entry becomes due, from the last complete scan.
    next_due_ms: Option<i64>,
}

impl<'a> Turn<'a> {
    fn new(ctx: &'a DeliveryContext) -> Self {
        Self {
            ctx,
            in_flight: FuturesUnordered::new(),
            started: HashMap::new(),
            sends_in_flight: 0,
            queue: VecDeque::new(),
            armed: HashSet::new(),
            settle: Settlement::default(),
            report: BatchReport::default(),
            paused_until_ms: i64::MIN,
            blocked_until_ms: None,
            next_due_ms: None,
        }
    }

    /// Tasks started less than `straggler_after` ago.
    fn young(&self, now: Instant) -> usize {
        let limit = self.ctx.config.straggler_after;
        self.started
            .values()
            .filter(|t| now.duration_since(**t) < limit)
            .count()
    }

    /// Room to start tasks: with tasks running, at least half of `concurrency` free (so each
    /// turn's commit carries about that many outcomes and attempt marks, not one per finished
    /// task); with none running, always.
    fn has_room(&self, now: Instant) -> bool {
        let concurrency = self.ctx.config.concurrency.max(1);
        let young = self.young(now);
        self.slot_free(now, 0) && (young == 0 || concurrency - young >= concurrency.div_ceil(2))
    }

    /// A slot for one more task besides the running ones and `starting` more: below
    /// `concurrency` (stragglers not counted) and below `max_in_flight` (all counted).
    fn slot_free(&self, now: Instant, starting: usize) -> bool {
        self.young(now) + starting < self.ctx.config.concurrency.max(1)
            && self.started.len() + starting < self.ctx.config.max_in_flight.max(1)
    }

    /// A queued entry may start now: the gate is open, or an entry marked ahead waits and a
    /// slot is free.
    fn can_start(&self, now: Instant) -> bool {
        self.has_room(now) || (!self.armed.is_empty() && self.slot_free(now, 0))
    }

    /// Worth reading the outbox: few entries queued, room to start, not paused.
    fn wants_scan(&self) -> bool {
        let now_ms = self.ctx.clock.now_ms();
        self.queue.len() < self.ctx.config.concurrency.max(1)
            && self.has_room(Instant::now())
            && self.paused_until_ms <= now_ms
            && self.blocked_until_ms.is_none_or(|t| t <= now_ms)
    }

    /// Read due entries that are not running, queued or waiting for their outcome's commit;
    /// `false` when none was found.
    async fn scan(&mut self) -> Result<bool, StoreError> {
        // Entries whose outcome is absorbed but not yet written would read as due again: they
        // are skipped like running ones, and written with the next turn's attempt marks (one
        // commit per turn, not one before each scan and one for the marks).
        let ctx = self.ctx;
        let busy: HashSet<u64> = self
            .started
            .keys()
            .copied()
            .chain(self.queue.iter().map(|e| e.seq))
            .chain(self.settle.resolutions.iter().map(|(seq, _)| *seq))
            .collect();
        let (store, dest) = (ctx.store.clone(), ctx.config.destination.clone());
        let (now, limit) = (ctx.clock.now_ms(), ctx.config.batch.max(1));
        let scan = blocking(move || store.due_entries_except(&dest, now, limit, &busy)).await?;
        self.next_due_ms = scan.next_due_ms;
        let found = !scan.due.is_empty();
        self.queue.extend(scan.due);
        Ok(found)
    }

    /// The next send may start now (rate windows, pause, daily cap); otherwise records when.
    fn admit(&mut self, starting: u64, now: i64) -> bool {
        let ctx = self.ctx;
        if self.paused_until_ms > now {
            self.blocked_until_ms = Some(self.paused_until_ms);
            return false;
        }
        if let Some(until) = ctx.quiet_until(now) {
            self.blocked_until_ms = Some(until);
            return false;
        }
        if let Some(cap) = &ctx.cap {
            let held = cap.held_until(now, self.sends_in_flight + starting);
            ctx.set_cap_held(held.is_some());
            metrics::gauge!(m::DAILY_CAP_USED, "destination" => ctx.label())
                .set(cap.count(now) as f64);
            metrics::gauge!(m::DAILY_CAP_LIMIT, "destination" => ctx.label()).set(cap.cap() as f64);
            if let Some(until) = held {
                self.blocked_until_ms = Some(until);
                return false;
            }
        }
        let limiters: Vec<&RollingLimiter> = ctx
            .limiter
            .iter()
            .chain(ctx.config.shared_limiter.iter())
            .map(|l| l.as_ref())
            .collect();
        if let Err(at) = RollingLimiter::try_acquire_all(&limiters, now) {
            self.blocked_until_ms = Some(at);
            return false;
        }
        true
    }

    /// One turn: start lookups and admitted sends while there is room, commit what finished
    /// with the attempt marks of the new sends (and of up to `arm_ahead` queued ones), then
    /// start the sends. Sends marked ahead start as soon as a slot is free, without a commit;
    /// outcomes then wait for the next commit: the next marks, a turn with nothing marked
    /// ahead to start, or `concurrency + arm_ahead` outcomes waiting.
    async fn step(&mut self) -> Result<(), StoreError> {
        let ctx = self.ctx;
        let now = Instant::now();
        let concurrency = ctx.config.concurrency.max(1);
        // Sends that need a mark (and lookups) start only when the group-commit gate is open;
        // sends marked ahead need just a free slot.
        let gate_open = self.has_room(now);
        if !gate_open && self.armed.is_empty() {
            // Outcomes wait for the turn that has room (bounded: a task stops counting once
            // it turns straggler); a crash meanwhile leaves them `maybe_sent`, looked up.
            return Ok(());
        }
        let admitted_at = ctx.clock.now_ms();
        self.blocked_until_ms = None;
        let mut begin: Vec<OutboxEntry> = Vec::new();
        let mut go: Vec<OutboxEntry> = Vec::new();
        let mut rest = VecDeque::new();
        let mut sends_blocked = false;
        while let Some(entry) = self.queue.pop_front() {
            let starting = begin.len() + go.len();
            let room = self.slot_free(now, starting);
            let armed = self.armed.contains(&entry.seq);
            if !room || !(gate_open || armed) || self.paused_until_ms > ctx.clock.now_ms() {
                rest.push_back(entry);
                continue;
            }
            if entry.maybe_sent {
                self.started.insert(entry.seq, now);
                self.in_flight.push(ctx.lookup_task(entry));
            } else if !sends_blocked && self.admit(starting as u64, admitted_at) {
                if armed {
                    go.push(entry);
                } else {
                    begin.push(entry);
                }
            } else {
                sends_blocked = true;
                rest.push_back(entry);
            }
        }
        if self.paused_until_ms > ctx.clock.now_ms() {
            self.blocked_until_ms = Some(self.paused_until_ms);
        }
        self.queue = rest;
        let mut ahead = Vec::new();
        if !begin.is_empty() {
            let armed = &self.armed;
            for entry in self
                .queue
                .iter_mut()
                .filter(|e| !e.maybe_sent && !armed.contains(&e.seq))
                .take(ctx.config.arm_ahead)
            {
                entry.attempts += 1;
                ahead.push(entry.seq);
            }
        }
        let committed = !begin.is_empty()
            || (gate_open && go.is_empty())
            || self.settle.resolutions.len() >= concurrency + ctx.config.arm_ahead;
        if committed {
            self.settle.begin = begin
                .iter()
                .map(|e| e.seq)
                .chain(ahead.iter().copied())
                .collect();
            self.commit().await?;
            self.armed.extend(ahead);
        }
        if committed && !(begin.is_empty() && go.is_empty()) {
            // The sends leave now, after the commit: count them from here.
            let sent_at = ctx.clock.now_ms();
            for l in ctx.limiter.iter().chain(ctx.config.shared_limiter.iter()) {
                for _ in 0..begin.len() + go.len() {
                    l.restamp(admitted_at, sent_at);
                }
            }
        }
        for mut entry in begin {
            entry.attempts += 1;
            self.start_send(entry, now);
        }
        for entry in go {
            self.armed.remove(&entry.seq);
            self.start_send(entry, now);
        }
        Ok(())
    }

    /// Start a marked send.
    fn start_send(&mut self, entry: OutboxEntry, now: Instant) {
        self.sends_in_flight += 1;
        self.started.insert(entry.seq, now);
        self.in_flight.push(self.ctx.send_task(entry));
    }

    /// Drop the queue (the loop stops or the batch ends); the marks of entries marked ahead
    /// are withdrawn in the next commit (attempts back by one, not `maybe_sent`: never sent).
    fn withdraw_queued(&mut self) {
        for entry in self.queue.drain(..) {
            if self.armed.remove(&entry.seq) {
                self.settle.withdraw.push(entry.seq);
            }
        }
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        let settle = std::mem::take(&mut self.settle);
        if settle.is_empty() {
            return Ok(());
        }
        let (store, dest) = (self.ctx.store.clone(), self.ctx.config.destination.clone());
        blocking(move || store.settle(&dest, &settle)).await
    }

    /// Take a finished task's outcome into the next commit.
    fn absorb(&mut self, done: Done) {
        let ctx = self.ctx;
        match done {
            Done::Looked(entry, lookup) => {
                self.started.remove(&entry.seq);
                if let Some(entry) =
                    ctx.absorb_lookup(entry, lookup, &mut self.settle, &mut self.report)
                {
                    self.queue.push_front(entry);
                }
            }
            Done::Sent(entry, outcome) => {
                self.started.remove(&entry.seq);
                self.sends_in_flight = self.sends_in_flight.saturating_sub(1);
                if matches!(outcome, Outcome::Delivered { .. } | Outcome::Unknown { .. }) {
                    let now = ctx.clock.now_ms();
                    if let Some(cap) = &ctx.cap {
                        cap.record(now, 1);
                    }
                    // One row per minute bucket and commit, not per message.
                    let bucket = DailyCap::bucket_of(now);
                    match self.settle.sent.last_mut() {
                        Some((b, n)) if *b == bucket => *n += 1,
                        _ => self.settle.sent.push((bucket, 1)),
                    }
                }
                let resolution = ctx.resolve_outcome(&entry, outcome, &mut self.report);
                self.settle.resolutions.push((entry.seq, resolution));
            }
        }
        if let Some(until) = self.report.pause_until_ms {
            if until > self.paused_until_ms {
                self.paused_until_ms = until;
                if let Some(l) = &ctx.limiter {
                    l.block_until(until);
                }
            }
        }
    }

    /// Absorb every task that has already finished.
    fn absorb_ready(&mut self) {
        while let Some(Some(done)) = self.in_flight.next().now_or_never() {
            self.absorb(done);
        }
    }

    /// How long the loop may sleep (ms): until a send may start, a task turns straggler, or
    /// the next entry is due; at most 1 s (the store is re-read at least that often).
    fn wait_ms(&self) -> u64 {
        let now_ms = self.ctx.clock.now_ms();
        let mut wait: i64 = 1000;
        if let Some(t) = self.blocked_until_ms {
            wait = wait.min(t - now_ms);
        } else if !self.queue.is_empty() && self.can_start(Instant::now()) {
            wait = 0;
        }
        if self.queue.is_empty() {
            if let Some(t) = self.next_due_ms {
                wait = wait.min(t - now_ms);
            }
        }
        let now = Instant::now();
        let limit = self.ctx.config.straggler_after;
        if let Some(turns) = self
            .started
            .values()
            .filter(|t| now.duration_since(**t) < limit)
            .map(|t| (*t + limit).duration_since(now).as_millis() as i64)
            .min()
        {
            wait = wait.min(turns + 1);
        }
        wait.max(0) as u64
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
