//! The SAP server's wall clock.
//!
//! `UpdateDate`/`UpdateTime`, `CreationDate` and `DocDate` are the Service Layer host's local
//! date and time, not UTC (api notes, "Corrections": server-local time). [`ServerZone`] turns
//! an instant into that wall clock with the IANA time-zone database (`jiff`, database bundled
//! so an appliance without `/usr/share/zoneinfo` works) and tells where the wall clock repeats
//! itself: when daylight saving time ends (e.g. `America/New_York`, first Sunday of November,
//! 02:00 EDT → 01:00 EST) the hour 01:00–02:00 happens twice, and records written during the
//! second pass carry stamps *earlier* than records of the first pass.

use std::fmt;
use std::time::Duration;

use jiff::tz::{AmbiguousOffset, TimeZone};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The time zone of a Service Layer host (default UTC).
#[derive(Clone, PartialEq)]
pub struct ServerZone {
    zone: TimeZone,
    name: String,
}

impl fmt::Debug for ServerZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerZone({})", self.name)
    }
}

impl Default for ServerZone {
    fn default() -> Self {
        ServerZone::utc()
    }
}

impl fmt::Display for ServerZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl ServerZone {
    /// UTC (no daylight saving time).
    pub fn utc() -> ServerZone {
        ServerZone {
            zone: TimeZone::UTC,
            name: "UTC".to_string(),
        }
    }

    /// An IANA time-zone name such as `"America/New_York"`, `"Europe/Berlin"` or `"UTC"`.
    ///
    /// Errors: a name the time-zone database does not know (text names it).
    pub fn named(name: &str) -> Result<ServerZone, String> {
        let zone = TimeZone::get(name).map_err(|e| {
            format!("unknown time zone \"{name}\" (an IANA name such as \"America/New_York\"): {e}")
        })?;
        Ok(ServerZone {
            zone,
            name: name.to_string(),
        })
    }

    /// The configured name (`"UTC"` by default).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `at` on the server's wall clock, whole seconds.
    pub fn wall_clock(&self, at: OffsetDateTime) -> PrimitiveDateTime {
        let fallback = PrimitiveDateTime::new(at.date(), at.time());
        let Ok(ts) = jiff::Timestamp::from_second(at.unix_timestamp()) else {
            return fallback;
        };
        from_civil(self.zone.to_datetime(ts)).unwrap_or(fallback)
    }

    /// How much the wall clock steps back around `wall`: when `wall` lies in a repeated hour
    /// (daylight saving time ends), the length of the repetition (1 h in most zones, 30 min on
    /// Lord Howe Island); zero otherwise. A record stamped during the second pass can carry a
    /// stamp up to this much earlier than one of the first pass.
    pub fn fold_at(&self, wall: PrimitiveDateTime) -> Duration {
        let Some(civil) = to_civil(wall) else {
            return Duration::ZERO;
        };
        match self.zone.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Fold { before, after } => {
                let step = i64::from(before.seconds()) - i64::from(after.seconds());
                Duration::from_secs(u64::try_from(step).unwrap_or(0))
            }
            _ => Duration::ZERO,
        }
    }
}

fn to_civil(wall: PrimitiveDateTime) -> Option<jiff::civil::DateTime> {
    let year = i16::try_from(wall.year()).ok()?;
    jiff::civil::DateTime::new(
        year,
        i8::try_from(u8::from(wall.month())).ok()?,
        i8::try_from(wall.day()).ok()?,
        i8::try_from(wall.hour()).ok()?,
        i8::try_from(wall.minute()).ok()?,
        i8::try_from(wall.second()).ok()?,
        0,
    )
    .ok()
}

fn from_civil(dt: jiff::civil::DateTime) -> Option<PrimitiveDateTime> {
    let month = Month::try_from(u8::try_from(dt.month()).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::from(dt.year()), month, u8::try_from(dt.day()).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(dt.hour()).ok()?,
        u8::try_from(dt.minute()).ok()?,
        u8::try_from(dt.second()).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn new_york_wall_clock_and_fold() {
        let ny = ServerZone::named("America/New_York").expect("zone");
        // Winter: UTC−5.
        assert_eq!(
            ny.wall_clock(datetime!(2026-11-21 15:00:00 UTC)),
            datetime!(2026-11-21 10:00:00)
        );
        // Summer: UTC−4.
        assert_eq!(
            ny.wall_clock(datetime!(2026-07-01 15:00:30.9 UTC)),
            datetime!(2026-07-01 11:00:30)
        );
        // 2026-11-01 02:00 EDT → 01:00 EST: 01:00–01:59:59 happens twice.
        assert_eq!(
            ny.fold_at(datetime!(2026-11-01 01:30:00)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            ny.fold_at(datetime!(2026-11-01 00:59:59)),
            Duration::ZERO
        );
        assert_eq!(
            ny.fold_at(datetime!(2026-11-01 02:00:00)),
            Duration::ZERO
        );
        // Spring gap is no fold.
        assert_eq!(ny.fold_at(datetime!(2026-03-08 02:30:00)), Duration::ZERO);
        assert_eq!(
            ServerZone::utc().fold_at(datetime!(2026-11-01 01:30:00)),
            Duration::ZERO
        );
        assert!(ServerZone::named("Mars/Olympus_Mons")
            .expect_err("unknown")
            .contains("Mars/Olympus_Mons"));
    }
}
