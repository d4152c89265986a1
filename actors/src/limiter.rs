//! Send limits as the destination counts them: an exact rolling-window limiter (Graph: "4
//! requests per second per app on a given team or channel", a per-tenant posting budget) and a
//! daily cap counter (Graph: "3000 messages per app per day to one channel").
//!
//! A token bucket with a burst overshoots a rolling window (a full bucket plus the refill of
//! the same second): measured against a simulator counting a rolling second it reached 79 % of
//! the limit and drew 429s. [`RollingLimiter`] admits a request at `t` only if fewer than
//! `limit` were admitted in `(t - window, t]`, so no window of that length ever holds more than
//! `limit` admissions, and it admits as soon as that holds (no idle gap).
//!
//! Times are UTC milliseconds from the runtime's [`crate::Clock`], so tests drive a
//! [`crate::ManualClock`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::UnixMillis;

/// Rolling-window limit: at most `limit` admissions in any window of `window`.
#[derive(Debug)]
pub struct RollingLimiter {
    limit: usize,
    window_ms: i64,
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// Admission times of the last `limit` admissions, oldest first.
    admitted: VecDeque<UnixMillis>,
    /// Nothing is admitted before this time (a 429's `Retry-After`).
    blocked_until: UnixMillis,
}

impl Window {
    /// Earliest time `>= now` at which one more admission keeps every window within `limit`.
    fn free_at(&self, limit: usize, window_ms: i64, now: UnixMillis) -> UnixMillis {
        let by_window = if self.admitted.len() < limit {
            now
        } else {
            // The admission `limit` places back must leave the window first.
            self.admitted[self.admitted.len() - limit] + window_ms
        };
        by_window.max(self.blocked_until).max(now)
    }

    fn admit(&mut self, limit: usize, now: UnixMillis) {
        self.admitted.push_back(now);
        while self.admitted.len() > limit {
            self.admitted.pop_front();
        }
    }
}

impl RollingLimiter {
    /// At most `limit` (at least 1) admissions in any window of `window` (at least 1 ms).
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1) as usize,
            window_ms: (window.as_millis() as i64).max(1),
            state: Mutex::new(Window::default()),
        }
    }

    /// The limiter of a configured rate: `rate_per_second` r and `burst` b admit
    /// `n = max(b, ceil(r))` requests per rolling `n / r` seconds, plus `margin` on the window
    /// (absorbs the jitter between admission here and arrival at the server, which is where the
    /// service counts). Examples: 4/s, burst 1 → 4 per 1 s + margin; 1/s, burst 10 → 10 per
    /// 10 s ("10 messages every 10 seconds"); 0.5/s → 1 per 2 s. `None` when `r <= 0` (off).
    pub fn from_rate(rate_per_second: f64, burst: u32, margin: Duration) -> Option<Self> {
        if !(rate_per_second.is_finite() && rate_per_second > 0.0) {
            return None;
        }
        let n = (burst.max(1) as f64).max(rate_per_second.ceil());
        let window = Duration::from_secs_f64(n / rate_per_second) + margin;
        Some(Self::new(n as u32, window))
    }

    /// Requests admitted per window.
    pub fn limit(&self) -> u32 {
        self.limit as u32
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms as u64)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit one request at `now` if the window allows it; otherwise `Err(t)`: the earliest
    /// time (UTC ms) it would be admitted.
    pub fn try_acquire(&self, now: UnixMillis) -> Result<(), UnixMillis> {
        Self::try_acquire_all(&[self], now)
    }

    /// Admit one request at `now` through every limiter in `limiters` at once (a destination's
    /// own window and its credential's tenant budget), or none: `Err(t)` with the earliest time
    /// all of them would admit. Limiters are locked in slice order; callers always pass their
    /// own limiter before the shared ones, so two destinations cannot lock in opposite orders.
    pub fn try_acquire_all(
        limiters: &[&RollingLimiter],
        now: UnixMillis,
    ) -> Result<(), UnixMillis> {
        let mut guards: Vec<_> = limiters.iter().map(|l| (l, l.lock())).collect();
        let free = guards
            .iter()
            .map(|(l, w)| w.free_at(l.limit, l.window_ms, now))
            .max()
            .unwrap_or(now);
        if free > now {
            return Err(free);
        }
        for (l, w) in guards.iter_mut() {
            w.admit(l.limit, now);
        }
        Ok(())
    }

    /// Move one admission recorded at `from` to `to` (`>= from`): the request really left at
    /// `to` (the durable attempt mark between admission and send took `to - from`), and the
    /// service counts from its arrival, so the window must too.
    pub fn restamp(&self, from: UnixMillis, to: UnixMillis) {
        let mut w = self.lock();
        if let Some(slot) = w.admitted.iter_mut().rev().find(|t| **t == from) {
            *slot = to.max(from);
            w.admitted.make_contiguous().sort_unstable();
        }
    }

    /// Admit nothing before `until_ms` (the destination answered 429 with `Retry-After`).
    pub fn block_until(&self, until_ms: UnixMillis) {
        let mut w = self.lock();
        w.blocked_until = w.blocked_until.max(until_ms);
    }
}

/// Messages sent to one destination in a rolling period (default one day), counted in
/// one-minute buckets. The count is conservative: a bucket counts until the whole minute has
/// left the period, so the cap is never overshot because of the bucketing.
#[derive(Debug)]
pub struct DailyCap {
    cap: u64,
    period_ms: i64,
    /// Bucket start (UTC ms, multiple of 60 000) → messages sent in that minute.
    buckets: Mutex<BTreeMap<UnixMillis, u64>>,
}

/// Bucket width of [`DailyCap`].
pub const CAP_BUCKET_MS: i64 = 60_000;

impl DailyCap {
    /// At most `cap` messages per rolling `period`.
    pub fn new(cap: u64, period: Duration) -> Self {
        Self {
            cap,
            period_ms: (period.as_millis() as i64).max(CAP_BUCKET_MS),
            buckets: Mutex::new(BTreeMap::new()),
        }
    }

    /// The cap.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// The bucket (minute start) of `at`.
    pub fn bucket_of(at: UnixMillis) -> UnixMillis {
        at.div_euclid(CAP_BUCKET_MS) * CAP_BUCKET_MS
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<UnixMillis, u64>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Oldest bucket start still inside the period ending at `now`.
    fn first_bucket(&self, now: UnixMillis) -> UnixMillis {
        Self::bucket_of(now - self.period_ms)
    }

    /// Add `n` messages sent at `at`.
    pub fn record(&self, at: UnixMillis, n: u64) {
        *self.lock().entry(Self::bucket_of(at)).or_default() += n;
    }

    /// Messages counted in the period ending at `now` (forgets older buckets).
    pub fn count(&self, now: UnixMillis) -> u64 {
        let first = self.first_bucket(now);
        let mut b = self.lock();
        *b = b.split_off(&first);
        b.values().sum()
    }

    /// Would `extra` more messages (already in flight) plus one reach past the cap at `now`?
    /// Then `Some(t)`: when the oldest counted minute leaves the period.
    pub fn held_until(&self, now: UnixMillis, extra: u64) -> Option<UnixMillis> {
        if self.count(now) + extra < self.cap {
            return None;
        }
        let oldest = self.lock().keys().next().copied().unwrap_or(now);
        Some((oldest + CAP_BUCKET_MS + self.period_ms).max(now + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_of_rounds_down_to_the_minute() {
        assert_eq!(DailyCap::bucket_of(119_999), 60_000);
        assert_eq!(DailyCap::bucket_of(120_000), 120_000);
    }

    #[test]
    fn from_rate_maps_rate_and_burst_to_a_window() {
        let l = RollingLimiter::from_rate(4.0, 1, Duration::ZERO).unwrap();
        assert_eq!((l.limit(), l.window()), (4, Duration::from_secs(1)));
        let l = RollingLimiter::from_rate(1.0, 10, Duration::ZERO).unwrap();
        assert_eq!((l.limit(), l.window()), (10, Duration::from_secs(10)));
        let l = RollingLimiter::from_rate(0.5, 1, Duration::from_millis(25)).unwrap();
        assert_eq!((l.limit(), l.window()), (1, Duration::from_millis(2025)));
        assert!(RollingLimiter::from_rate(0.0, 1, Duration::ZERO).is_none());
    }
}
