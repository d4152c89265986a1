//! Times and durations as operators read them: RFC 3339 UTC and short ages (`3h 12m`).

use ml_connector_actors::clock::UnixMillis;

/// RFC 3339 UTC time of `ms` (milliseconds since the epoch), e.g.
/// `2026-12-01T14:33:24.512Z`; the number itself when out of range.
pub fn utc(ms: UnixMillis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// A duration in milliseconds as its two largest units: `850 ms`, `42s`, `3m 12s`, `5h 04m`,
/// `2d 07h`. Negative durations (clock skew) read as `0s`.
pub fn age(ms: i64) -> String {
    if ms < 1000 {
        return format!("{} ms", ms.max(0));
    }
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_their_two_largest_units() {
        assert_eq!(age(-5), "0 ms");
        assert_eq!(age(850), "850 ms");
        assert_eq!(age(42_000), "42s");
        assert_eq!(age(192_000), "3m 12s");
        assert_eq!(age(5 * 3_600_000 + 4 * 60_000), "5h 04m");
        assert_eq!(age(2 * 86_400_000 + 7 * 3_600_000), "2d 07h");
        assert_eq!(utc(1_763_700_000_000), "2025-11-21T04:40:00Z");
    }
}
