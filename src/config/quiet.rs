//! Quiet hours of a destination: `quiet_hours = "21:00-07:00"` with `time_zone = "Europe/Berlin"`.
//!
//! Inside the window no send starts; messages wait in the outbox and leave, once each, when it
//! ends (the runtime side is [`HoldWindow`] in `actors/src/hold.rs`). Times are local wall-clock
//! times in the IANA zone, so the window follows daylight saving time: a window ending at 02:30
//! on the night the clocks spring forward (02:30 does not exist) ends at 03:30, the time read
//! with the offset before the gap (jiff's "compatible" disambiguation, as RFC 5545 does for
//! recurring events).

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use ml_connector_actors::clock::UnixMillis;
use ml_connector_actors::HoldWindow;

use crate::seam::Problem;

/// A daily window in local time; `start > end` spans midnight (`21:00-07:00`).
#[derive(Debug, Clone)]
pub struct QuietHours {
    start: Time,
    end: Time,
    zone: TimeZone,
    /// `"21:00-07:00 Europe/Berlin"`, as configured (logs, `check`).
    label: String,
}

impl PartialEq for QuietHours {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label
    }
}

impl QuietHours {
    /// Parse `quiet_hours` (`"HH:MM-HH:MM"`, 24-hour local times) and `time_zone` (an IANA name).
    ///
    /// Errors: a [`Problem`] at `quiet_hours` for a malformed window or one that starts where it
    /// ends, at `time_zone` for an unknown zone.
    pub fn parse(window: &str, time_zone: &str) -> Result<QuietHours, Problem> {
        let bad = || {
            Problem::new(
                "quiet_hours",
                format!("{window:?} is not a window \"HH:MM-HH:MM\" (24-hour local times, e.g. \"21:00-07:00\")"),
            )
        };
        let (start, end) = window.split_once('-').ok_or_else(bad)?;
        let time = |s: &str| -> Result<Time, Problem> {
            let s = s.trim();
            let (h, m) = s.split_once(':').ok_or_else(bad)?;
            let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
            if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
                return Err(bad());
            }
            let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            Time::new(h, m, 0, 0).map_err(|_| bad())
        };
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err(Problem::new(
                "quiet_hours",
                "the window starts where it ends; give two different times",
            ));
        }
        let zone = TimeZone::get(time_zone).map_err(|_| {
            Problem::new(
                "time_zone",
                format!("{time_zone:?} is not an IANA time zone (e.g. \"Europe/Berlin\")"),
            )
        })?;
        Ok(QuietHours {
            start,
            end,
            zone,
            label: format!("{window} {time_zone}"),
        })
    }

    /// `"21:00-07:00 Europe/Berlin"`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The instant `time` on `date` in the zone (a time inside a DST gap is read with the
    /// offset before the gap).
    fn at(&self, date: Date, time: Time) -> Option<UnixMillis> {
        let ts = self
            .zone
            .to_ambiguous_timestamp(date.to_datetime(time))
            .compatible()
            .ok()?;
        Some(ts.as_millisecond())
    }
}

impl HoldWindow for QuietHours {
    fn held_until(&self, now: UnixMillis) -> Option<UnixMillis> {
        let local = self
            .zone
            .to_datetime(Timestamp::from_millisecond(now).ok()?);
        let (date, time) = (local.date(), local.time());
        let end_date = if self.start < self.end {
            if time < self.start || time >= self.end {
                return None;
            }
            date
        } else if time >= self.start {
            date.tomorrow().ok()?
        } else if time < self.end {
            date
        } else {
            return None;
        };
        self.at(end_date, self.end).filter(|end| *end > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UTC ms of a local wall-clock time in `zone`.
    fn local(zone: &str, text: &str) -> UnixMillis {
        let dt: jiff::civil::DateTime = text.parse().unwrap();
        TimeZone::get(zone)
            .unwrap()
            .to_ambiguous_timestamp(dt)
            .compatible()
            .unwrap()
            .as_millisecond()
    }

    #[test]
    fn a_window_over_midnight_holds_until_the_next_morning() {
        let q = QuietHours::parse("21:00-07:00", "Europe/Berlin").unwrap();
        let morning = local("Europe/Berlin", "2026-12-02T07:00");
        assert_eq!(
            q.held_until(local("Europe/Berlin", "2026-12-01T21:00")),
            Some(morning)
        );
        assert_eq!(
            q.held_until(local("Europe/Berlin", "2026-12-01T23:59")),
            Some(morning)
        );
        assert_eq!(
            q.held_until(local("Europe/Berlin", "2026-12-02T06:59")),
            Some(morning)
        );
        assert_eq!(
            q.held_until(local("Europe/Berlin", "2026-12-02T07:00")),
            None
        );
        assert_eq!(
            q.held_until(local("Europe/Berlin", "2026-12-01T20:59")),
            None
        );
        assert_eq!(
            q.held_until(local("Europe/Berlin", "2026-12-01T12:00")),
            None
        );
    }

    #[test]
    fn a_window_within_a_day_holds_until_its_end() {
        let q = QuietHours::parse("12:00-13:30", "America/New_York").unwrap();
        let end = local("America/New_York", "2026-07-01T13:30");
        assert_eq!(
            q.held_until(local("America/New_York", "2026-07-01T12:00")),
            Some(end)
        );
        assert_eq!(
            q.held_until(local("America/New_York", "2026-07-01T13:29")),
            Some(end)
        );
        assert_eq!(
            q.held_until(local("America/New_York", "2026-07-01T13:30")),
            None
        );
        assert_eq!(
            q.held_until(local("America/New_York", "2026-07-01T11:59")),
            None
        );
    }

    #[test]
    fn the_window_follows_daylight_saving_time() {
        // Berlin springs forward on 2026-03-29 at 02:00 → 03:00; 02:30 does not exist, so the
        // window 22:00-02:30 ends at 02:30 read with the winter offset: 03:30 CEST = 01:30 UTC.
        let q = QuietHours::parse("22:00-02:30", "Europe/Berlin").unwrap();
        let from = local("Europe/Berlin", "2026-03-28T23:00");
        let end = Timestamp::from_second(1_774_747_800).unwrap(); // 2026-03-29T01:30:00Z
        assert_eq!(q.held_until(from), Some(end.as_millisecond()));
        // On an ordinary winter night it ends at 02:30 CET = 01:30 UTC.
        let q = QuietHours::parse("22:00-02:30", "Europe/Berlin").unwrap();
        let winter = local("Europe/Berlin", "2026-12-01T23:00");
        let end = Timestamp::from_second(1_796_175_000).unwrap(); // 2026-12-02T01:30:00Z
        assert_eq!(q.held_until(winter), Some(end.as_millisecond()));
    }

    #[test]
    fn malformed_windows_and_zones_name_their_key() {
        let key = |w: &str, z: &str| QuietHours::parse(w, z).unwrap_err().key;
        assert_eq!(key("21:00", "UTC"), "quiet_hours");
        assert_eq!(key("25:00-07:00", "UTC"), "quiet_hours");
        assert_eq!(key("21:60-07:00", "UTC"), "quiet_hours");
        assert_eq!(key("9pm-7am", "UTC"), "quiet_hours");
        assert_eq!(key("07:00-07:00", "UTC"), "quiet_hours");
        assert_eq!(key("21:00-07:00", "Europe/Nowhere"), "time_zone");
    }
}
