//! Endless `-5002`: the design card says "log in again and retry once" on a `-5002`; when the
//! same request answers `-5002` again on a fresh session it is SAP's generic business
//! validation error ("field/value invalid"), not a session problem (api notes, "Errors").
//!
//! [`Persistent5002`] remembers, per request (page reference), which session saw the first
//! `-5002`. The first one is reported as "session gone" (the binding logs in again and retries
//! once); a `-5002` on another session — or any later one — is a business error for that page:
//! reported as `Refused` (cursor kept), counted in `mlc_sap_business_errors_total`, logged, and
//! the request is not sent again before a backoff (doubling from `base` up to `max`) has passed.
//! So a page that keeps failing costs one extra login in all, not one per cycle.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use ml_connector_actors::clock::UnixMillis;

/// Metric: business errors of Service Layer reads, labels `entity`, `code`.
pub const BUSINESS_ERRORS: &str = "mlc_sap_business_errors_total";

#[derive(Debug, Clone)]
struct Entry {
    /// Digest of the session cookie that saw the first `-5002` (never the cookie itself).
    first_session: u64,
    /// Business errors counted so far (0: only the first, session-gone answer).
    failures: u32,
    /// No request before this instant.
    until_ms: UnixMillis,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Treat the `-5002` as "session gone": log in again and retry once.
    LoginAgain,
    /// A business error; do not send before `retry_in`.
    Business { failures: u32, retry_in: Duration },
}

/// Per-request memory of `-5002` answers.
#[derive(Debug)]
pub struct Persistent5002 {
    entries: HashMap<String, Entry>,
    base: Duration,
    max: Duration,
}

/// Longest page reference remembered (longer ones are cut; they only serve as a key).
const MAX_KEY: usize = 512;

fn key(page: &str) -> String {
    page.chars().take(MAX_KEY).collect()
}

/// Digest of a session cookie value.
pub fn session_digest(cookie: &str) -> u64 {
    let mut h = DefaultHasher::new();
    cookie.hash(&mut h);
    h.finish()
}

impl Persistent5002 {
    /// Backoff doubling from `base` up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            base,
            max: max.max(base),
        }
    }

    /// Before sending `page`: `Some(wait)` while its business-error backoff runs.
    pub fn blocked(&self, page: &str, now: UnixMillis) -> Option<Duration> {
        let entry = self.entries.get(&key(page))?;
        (entry.failures > 0 && now < entry.until_ms)
            .then(|| Duration::from_millis(u64::try_from(entry.until_ms - now).unwrap_or(0)))
    }

    /// `page` answered `-5002` on the session with digest `session`.
    pub fn answered_5002(&mut self, page: &str, session: u64, now: UnixMillis) -> Verdict {
        let base = self.base;
        let max = self.max;
        let entry = self.entries.entry(key(page)).or_insert(Entry {
            first_session: session,
            failures: 0,
            until_ms: 0,
        });
        if entry.failures == 0 && entry.first_session == session {
            return Verdict::LoginAgain;
        }
        entry.failures += 1;
        let factor = 1u32 << (entry.failures - 1).min(16);
        let retry_in = base.saturating_mul(factor).min(max);
        entry.until_ms = now + i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX / 2);
        Verdict::Business {
            failures: entry.failures,
            retry_in,
        }
    }

    /// `page` was answered normally: forget its `-5002` history.
    pub fn answered_ok(&mut self, page: &str) {
        if !self.entries.is_empty() {
            self.entries.remove(&key(page));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn business(failures: u32, secs: u64) -> Verdict {
        Verdict::Business {
            failures,
            retry_in: Duration::from_secs(secs),
        }
    }

    #[test]
    fn first_is_login_again_then_business_with_doubling_backoff() {
        let mut p = Persistent5002::new(Duration::from_secs(10), Duration::from_secs(25));
        assert_eq!(p.answered_5002("P", 1, 0), Verdict::LoginAgain);
        // Same session again (the re-login has not happened yet): still a login-again.
        assert_eq!(p.answered_5002("P", 1, 0), Verdict::LoginAgain);
        assert_eq!(p.blocked("P", 0), None);
        // Fresh session, same answer: business error.
        assert_eq!(
            p.answered_5002("P", 2, 0),
            business(1, 10)
        );
        assert_eq!(p.blocked("P", 9_999), Some(Duration::from_millis(1)));
        assert_eq!(p.blocked("P", 10_000), None);
        assert_eq!(
            p.answered_5002("P", 2, 10_000),
            business(2, 20)
        );
        assert_eq!(
            p.answered_5002("P", 2, 30_000),
            business(3, 25)
        );
        p.answered_ok("P");
        assert_eq!(p.blocked("P", 30_000), None);
        assert_eq!(p.answered_5002("P", 2, 0), Verdict::LoginAgain);
    }
}
