//! When a poller runs: a fixed pause between cycles, or a cron expression on the wall clock of
//! an IANA time zone ("every weekday at 07:00 Berlin time").
//!
//! Cron expressions are the standard five fields (`minute hour day-of-month month
//! day-of-week`, e.g. `"0 7 * * 1-5"`), parsed by the `croner` crate (OCPS / vixie-cron
//! semantics: a day-of-month and a day-of-week restriction are OR-ed). Zones come from jiff's
//! bundled tz database. The next run is computed from the runtime clock
//! ([`crate::clock::Clock`], milliseconds since the Unix epoch), so tests move a
//! [`crate::clock::ManualClock`] instead of sleeping.
//!
//! Daylight-saving edges (croner's rules, tested below): a wall-clock time that does not exist
//! (spring forward, e.g. 02:30 on 2026-03-29 in Europe/Berlin) runs at the first instant after
//! the gap (03:00 CEST); a wall-clock time that happens twice (fall back, 02:30 on 2026-10-25)
//! runs once, at its first occurrence (CEST).

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};
use croner::{CivilDate, CivilDateTime, CivilTime, Cron, CronDateTime, Resolution, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};

use crate::clock::UnixMillis;

/// How a poller paces its cycles.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Pause this long between the end of one cycle and the start of the next.
    Every(Duration),
    /// Run at each occurrence of a cron expression (no cycle at start: the first one waits for
    /// the next occurrence).
    Cron(Box<CronSchedule>),
}

impl Cadence {
    /// How long to wait after a cycle that ended at `now` (UTC milliseconds) before the next
    /// one: the interval, or the time to the next cron occurrence strictly after `now`.
    pub fn wait(&self, now: UnixMillis) -> Duration {
        match self {
            Cadence::Every(interval) => *interval,
            Cadence::Cron(schedule) => {
                let next = schedule.next_after(now);
                Duration::from_millis(next.saturating_sub(now).max(0) as u64)
            }
        }
    }

    /// The usual time between two cycles seen from `now` (UTC milliseconds): the interval, or
    /// the gap between the next two cron occurrences. Readiness uses it to decide when a
    /// source that keeps failing is reported.
    pub fn period(&self, now: UnixMillis) -> Duration {
        match self {
            Cadence::Every(interval) => *interval,
            Cadence::Cron(schedule) => {
                let first = schedule.next_after(now);
                let second = schedule.next_after(first);
                Duration::from_millis(second.saturating_sub(first).max(0) as u64)
            }
        }
    }

    /// Whether the poller runs a cycle as soon as it starts (`Every`) or waits for the first
    /// occurrence (`Cron`: an alert call at the configured local hour, never at 3 a.m.
    /// because the service restarted then).
    pub fn runs_at_start(&self) -> bool {
        matches!(self, Cadence::Every(_))
    }
}

/// Why a schedule could not be built. The message names the offending part; the caller adds
/// the configuration key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression is not five valid fields.
    #[error("invalid cron expression \"{expression}\": {reason}")]
    Expression { expression: String, reason: String },
    /// The time zone is not an IANA name jiff knows.
    #[error("unknown time zone \"{0}\" (an IANA name such as \"Europe/Berlin\")")]
    Zone(String),
}

/// A parsed cron expression in an IANA time zone.
#[derive(Clone)]
pub struct CronSchedule {
    expression: String,
    zone_name: String,
    cron: Cron,
    zone: TimeZone,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CronSchedule({:?} in {})",
            self.expression, self.zone_name
        )
    }
}

impl CronSchedule {
    /// Parse a five-field cron `expression` (`"0 7 * * 1-5"`) for the IANA `zone`
    /// (`"Europe/Berlin"`, `"UTC"`).
    ///
    /// Errors: [`ScheduleError::Expression`] (not five fields, a value out of range, an
    /// expression that never matches a real date such as `"0 0 31 2 *"`),
    /// [`ScheduleError::Zone`].
    pub fn parse(expression: &str, zone: &str) -> Result<CronSchedule, ScheduleError> {
        let bad = |reason: String| ScheduleError::Expression {
            expression: expression.to_string(),
            reason,
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| bad(e.to_string()))?;
        let tz = TimeZone::get(zone).map_err(|_| ScheduleError::Zone(zone.to_string()))?;
        let schedule = CronSchedule {
            expression: expression.trim().to_string(),
            zone_name: zone.to_string(),
            cron,
            zone: tz,
        };
        // An expression that names no real date (Feb 30) fails its search: refuse it at load.
        schedule
            .try_next_after(0)
            .map_err(|e| bad(format!("it never runs ({e})")))?;
        Ok(schedule)
    }

    /// The expression as configured.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The IANA zone name as configured.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    fn try_next_after(&self, now: UnixMillis) -> Result<UnixMillis, String> {
        let at = Timestamp::from_millisecond(now).map_err(|e| e.to_string())?;
        let start = Local(at.to_zoned_datetime(self.zone.clone()));
        let next = self
            .cron
            .find_next_occurrence(&start, false)
            .map_err(|e| e.to_string())?;
        Ok(next.0.timestamp().as_millisecond())
    }

    /// The first occurrence strictly after `now` (UTC milliseconds), in UTC milliseconds.
    /// An expression accepted by [`CronSchedule::parse`] always has one; should the search
    /// still fail (a date beyond jiff's range), the answer is one day after `now`.
    pub fn next_after(&self, now: UnixMillis) -> UnixMillis {
        self.try_next_after(now).unwrap_or(now + 86_400_000)
    }
}

/// jiff 1 zoned time for croner's search (croner's own `jiff` feature targets jiff 0.2).
/// Follows croner's `time/jiff_impl.rs`.
#[derive(Clone)]
struct Local(ZonedDateTime);

fn to_civil(dt: jiff::civil::DateTime) -> CivilDateTime {
    CivilDateTime::new(
        CivilDate::from_parts_unchecked(i32::from(dt.year()), dt.month() as u32, dt.day() as u32),
        CivilTime::from_parts_unchecked(dt.hour() as u32, dt.minute() as u32, dt.second() as u32),
    )
}

impl CronDateTime for Local {
    fn to_civil(&self) -> CivilDateTime {
        to_civil(self.0.datetime())
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(self.0.weekday().to_sunday_zero_offset() as u32)
    }

    fn resolve_civil(
        &self,
        civil: CivilDateTime,
    ) -> Result<Resolution<Self>, croner::errors::CronError> {
        use croner::errors::CronError;
        let year = i16::try_from(civil.year()).map_err(|_| CronError::InvalidDate)?;
        let dt = jiff::civil::DateTime::new(
            year,
            civil.month() as i8,
            civil.day() as i8,
            civil.hour() as i8,
            civil.minute() as i8,
            civil.second() as i8,
            0,
        )
        .map_err(|_| CronError::InvalidDate)?;
        let ambiguous = self.0.time_zone().to_ambiguous_zoned_datetime(dt);
        Ok(match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => Resolution::Single(Local(
                ambiguous
                    .unambiguous()
                    .map_err(|_| CronError::InvalidTime)?,
            )),
            AmbiguousOffset::Fold { .. } => {
                let earlier = ambiguous
                    .clone()
                    .earlier()
                    .map_err(|_| CronError::InvalidTime)?;
                let later = ambiguous.later().map_err(|_| CronError::InvalidTime)?;
                Resolution::Ambiguous(Local(earlier), Local(later))
            }
            AmbiguousOffset::Gap { .. } => Resolution::Gap,
        })
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0
            .checked_add(SignedDuration::from_secs(seconds))
            .ok()
            .map(Local)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.timestamp().cmp(&other.0.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UTC milliseconds of an RFC 3339 instant.
    fn ms(rfc3339: &str) -> UnixMillis {
        rfc3339
            .parse::<Timestamp>()
            .expect("instant")
            .as_millisecond()
    }

    fn berlin(expression: &str) -> CronSchedule {
        CronSchedule::parse(expression, "Europe/Berlin").expect("schedule")
    }

    #[test]
    fn weekdays_at_seven_local_time() {
        let s = berlin("0 7 * * 1-5");
        // Friday 2026-01-09 07:00 CET = 06:00Z; the next run after it is Monday.
        assert_eq!(
            s.next_after(ms("2026-01-09T05:59:59Z")),
            ms("2026-01-09T06:00:00Z")
        );
        assert_eq!(
            s.next_after(ms("2026-01-09T06:00:00Z")),
            ms("2026-01-12T06:00:00Z")
        );
        // Summer time: 07:00 CEST = 05:00Z.
        assert_eq!(
            s.next_after(ms("2026-07-01T12:00:00Z")),
            ms("2026-07-02T05:00:00Z")
        );
    }

    #[test]
    fn spring_forward_gap_runs_once_right_after_the_gap() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
        let s = berlin("30 2 * * *");
        let day_before = s.next_after(ms("2026-03-28T00:00:00Z"));
        assert_eq!(day_before, ms("2026-03-28T01:30:00Z"));
        let gap_day = s.next_after(day_before);
        assert_eq!(gap_day, ms("2026-03-29T01:00:00Z"), "03:00 CEST");
        assert_eq!(
            s.next_after(gap_day),
            ms("2026-03-30T00:30:00Z"),
            "02:30 CEST"
        );
    }

    #[test]
    fn fall_back_fold_runs_once_at_the_first_occurrence() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        let s = berlin("30 2 * * *");
        let first = s.next_after(ms("2026-10-24T12:00:00Z"));
        assert_eq!(first, ms("2026-10-25T00:30:00Z"), "02:30 CEST");
        // The second 02:30 (CET, 01:30Z) is skipped: the next run is the following day.
        assert_eq!(s.next_after(first), ms("2026-10-26T01:30:00Z"));
        // Asked from inside the repeated hour (02:10 CET), still the following day.
        assert_eq!(
            s.next_after(ms("2026-10-25T01:10:00Z")),
            ms("2026-10-26T01:30:00Z")
        );
    }

    #[test]
    fn hourly_job_across_fall_back_runs_in_both_hours() {
        // "At minute 15 of every hour": 02:15 CEST and 02:15 CET are distinct instants.
        let s = berlin("15 * * * *");
        let a = s.next_after(ms("2026-10-25T00:00:00Z"));
        assert_eq!(a, ms("2026-10-25T00:15:00Z"));
        let b = s.next_after(a);
        assert_eq!(b, ms("2026-10-25T01:15:00Z"));
        assert_eq!(s.next_after(b), ms("2026-10-25T02:15:00Z"));
    }

    #[test]
    fn cadence_wait_is_the_time_to_the_next_occurrence() {
        let cron = Cadence::Cron(Box::new(berlin("0 8 * * *")));
        assert_eq!(
            cron.wait(ms("2026-01-09T06:30:00Z")),
            Duration::from_secs(30 * 60)
        );
        assert!(!cron.runs_at_start());
        assert_eq!(
            cron.period(ms("2026-01-09T06:30:00Z")),
            Duration::from_secs(24 * 3600)
        );
        let every = Cadence::Every(Duration::from_secs(30));
        assert_eq!(every.wait(0), Duration::from_secs(30));
        assert!(every.runs_at_start());
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        let err = CronSchedule::parse("0 25 * * *", "UTC").expect_err("hour 25");
        assert!(
            matches!(&err, ScheduleError::Expression { expression, .. } if expression == "0 25 * * *"),
            "{err}"
        );
        let err = CronSchedule::parse("0 7 * *", "UTC").expect_err("four fields");
        assert!(matches!(err, ScheduleError::Expression { .. }), "{err}");
        let err = CronSchedule::parse("0 0 31 2 *", "UTC").expect_err("never");
        assert!(err.to_string().contains("never runs"), "{err}");
        assert_eq!(
            CronSchedule::parse("0 7 * * *", "Europe/Atlantis").expect_err("zone"),
            ScheduleError::Zone("Europe/Atlantis".into())
        );
    }
}
