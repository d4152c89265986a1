//! The delivery keys every destination has: `rate_per_second`, `burst`, `concurrency`,
//! `on_unverifiable`, `request_timeout_seconds`, `connect_timeout_seconds`,
//! `tenant_rate_per_second`, `daily_cap`, `quiet_hours` + `time_zone`. Defaults of the rate, concurrency, tenant budget and
//! daily cap come from the destination kind (the vendor's documented limits).

use std::time::Duration;

use serde::Deserialize;

use super::quiet::QuietHours;
use crate::seam::{parse_table, DeliveryDefaults, Problem};

/// Default `request_timeout_seconds`: a send or lookup without a complete answer after this
/// is abandoned (a send is then "unknown" and looked up before any resend).
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: f64 = 30.0;
/// Default `connect_timeout_seconds`.
pub const DEFAULT_CONNECT_TIMEOUT_SECONDS: f64 = 10.0;

/// What to do when a send's outcome is unknown and the destination cannot be searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnverifiable {
    /// `"dead_letter"` (default): park it for a human; never a blind re-POST.
    #[default]
    DeadLetter,
    /// `"resend"`: send again, accepting a possible duplicate.
    Resend,
}

/// The checked delivery keys of one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// `rate_per_second`: sends per second, `>= 0` (`0` turns the limit off), enforced as a
    /// rolling window (how Graph counts).
    pub rate_per_second: f64,
    /// `burst`: with `rate_per_second` r the window admits `max(burst, ceil(r))` sends per
    /// `max(burst, ceil(r)) / r` seconds; `>= 1`, default 1 (4/s → 4 per rolling second;
    /// `burst = 10` at 1/s → "10 messages every 10 seconds").
    pub burst: u32,
    /// `concurrency`: sends in flight at once, `>= 1`.
    pub concurrency: u32,
    /// `on_unverifiable`.
    pub on_unverifiable: OnUnverifiable,
    /// `request_timeout_seconds`: a send or lookup without an answer after this is abandoned
    /// (`> 0`, default 30).
    pub request_timeout: Duration,
    /// `connect_timeout_seconds`: time to open the connection (`> 0`, at most the request
    /// timeout, default 10).
    pub connect_timeout: Duration,
    /// `tenant_rate_per_second`: posting budget shared by every destination of the same kind
    /// on the same credential (Graph: per app per tenant), `>= 0` (`0`: none). When they
    /// disagree, the smallest value applies to all of them.
    pub tenant_rate_per_second: f64,
    /// `daily_cap`: at most this many messages per rolling day to this destination (`0`: no
    /// cap); at the cap messages wait in the outbox (gauge `mlc_daily_cap_held`).
    pub daily_cap: u64,
    /// `quiet_hours` (`"21:00-07:00"`) in `time_zone` (IANA, required with it): no send starts
    /// inside the window; messages are held in the outbox and delivered, once each, when it
    /// ends (gauge `mlc_quiet_hours_held`). `None`: always open.
    pub quiet_hours: Option<QuietHours>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    rate_per_second: Option<f64>,
    burst: Option<u32>,
    concurrency: Option<u32>,
    #[serde(default)]
    on_unverifiable: OnUnverifiable,
    request_timeout_seconds: Option<f64>,
    connect_timeout_seconds: Option<f64>,
    tenant_rate_per_second: Option<f64>,
    daily_cap: Option<u64>,
    quiet_hours: Option<String>,
    time_zone: Option<String>,
}

const KEYS: [&str; 10] = [
    "rate_per_second",
    "burst",
    "concurrency",
    "on_unverifiable",
    "request_timeout_seconds",
    "connect_timeout_seconds",
    "tenant_rate_per_second",
    "daily_cap",
    "quiet_hours",
    "time_zone",
];

/// Keys read as floats that may be written as integers (`rate_per_second = 4`).
const FLOAT_KEYS: [&str; 4] = [
    "rate_per_second",
    "request_timeout_seconds",
    "connect_timeout_seconds",
    "tenant_rate_per_second",
];

/// A rate `>= 0`, or a [`Problem`] at `key`.
fn rate(key: &str, value: f64) -> Result<f64, Problem> {
    if !value.is_finite() || value < 0.0 {
        return Err(Problem::new(
            key,
            "must be a number >= 0 (0 turns the limit off)",
        ));
    }
    Ok(value)
}

/// A duration of `> 0` seconds (at most a day), or a [`Problem`] at `key`.
fn seconds(key: &str, value: f64) -> Result<Duration, Problem> {
    if !value.is_finite() || value <= 0.0 || value > 86_400.0 {
        return Err(Problem::new(
            key,
            "must be a number of seconds > 0 and <= 86400",
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Takes the delivery keys out of a destination's table and checks them.
///
/// Errors: a [`Problem`] (key relative to the destination) for a negative or non-finite rate,
/// `burst = 0`, `concurrency = 0`, a timeout `<= 0`, a connect timeout above the request
/// timeout, an unknown `on_unverifiable` or a wrong type.
pub(super) fn take(
    table: &mut toml::Table,
    defaults: DeliveryDefaults,
) -> Result<DeliverySettings, Problem> {
    let mut own = toml::Table::new();
    for key in KEYS {
        if let Some(mut value) = table.remove(key) {
            if let (Some(i), true) = (value.as_integer(), FLOAT_KEYS.contains(&key)) {
                value = toml::Value::Float(i as f64);
            }
            own.insert(key.to_string(), value);
        }
    }
    let raw: RawDelivery = parse_table(own)?;
    let rate_per_second = rate(
        "rate_per_second",
        raw.rate_per_second.unwrap_or(defaults.rate_per_second),
    )?;
    let tenant_rate_per_second = rate(
        "tenant_rate_per_second",
        raw.tenant_rate_per_second
            .unwrap_or(defaults.tenant_rate_per_second),
    )?;
    let burst = raw.burst.unwrap_or(1);
    if burst == 0 {
        return Err(Problem::new("burst", "must be at least 1"));
    }
    let concurrency = raw.concurrency.unwrap_or(defaults.concurrency);
    if concurrency == 0 {
        return Err(Problem::new("concurrency", "must be at least 1"));
    }
    let request_timeout = seconds(
        "request_timeout_seconds",
        raw.request_timeout_seconds
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECONDS),
    )?;
    let connect_timeout = seconds(
        "connect_timeout_seconds",
        raw.connect_timeout_seconds
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECONDS.min(request_timeout.as_secs_f64())),
    )?;
    if connect_timeout > request_timeout {
        return Err(Problem::new(
            "connect_timeout_seconds",
            "must not exceed request_timeout_seconds",
        ));
    }
    let quiet_hours = match (raw.quiet_hours, raw.time_zone) {
        (Some(window), Some(zone)) => Some(QuietHours::parse(&window, &zone)?),
        (Some(_), None) => return Err(Problem::new(
            "time_zone",
            "is required with quiet_hours: the IANA zone of the window (e.g. \"Europe/Berlin\")",
        )),
        (None, Some(_)) => {
            return Err(Problem::new(
                "time_zone",
                "only applies to quiet_hours, which is not set",
            ))
        }
        (None, None) => None,
    };
    Ok(DeliverySettings {
        rate_per_second,
        burst,
        concurrency,
        on_unverifiable: raw.on_unverifiable,
        request_timeout,
        connect_timeout,
        tenant_rate_per_second,
        daily_cap: raw.daily_cap.unwrap_or(defaults.daily_cap),
        quiet_hours,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: DeliveryDefaults = DeliveryDefaults {
        rate_per_second: 4.0,
        concurrency: 4,
        tenant_rate_per_second: 50.0,
        daily_cap: 3000,
    };

    fn take_str(text: &str) -> Result<DeliverySettings, Problem> {
        let mut table: toml::Table = toml::from_str(text).unwrap();
        take(&mut table, DEFAULTS)
    }

    #[test]
    fn defaults_come_from_the_kind_and_the_frame() {
        let s = take_str("").unwrap();
        assert_eq!(
            s,
            DeliverySettings {
                rate_per_second: 4.0,
                burst: 1,
                concurrency: 4,
                on_unverifiable: OnUnverifiable::DeadLetter,
                request_timeout: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(10),
                tenant_rate_per_second: 50.0,
                daily_cap: 3000,
                quiet_hours: None,
            }
        );
    }

    #[test]
    fn every_key_can_be_set_and_is_taken_out_of_the_table() {
        let mut table: toml::Table = toml::from_str(
            "request_timeout_seconds = 5\nconnect_timeout_seconds = 1.5\n\
             tenant_rate_per_second = 2\ndaily_cap = 0\nteam_id = \"t\"\n",
        )
        .unwrap();
        let s = take(&mut table, DEFAULTS).unwrap();
        assert_eq!(s.request_timeout, Duration::from_secs(5));
        assert_eq!(s.connect_timeout, Duration::from_millis(1500));
        assert_eq!(s.tenant_rate_per_second, 2.0);
        assert_eq!(s.daily_cap, 0);
        assert_eq!(table.keys().collect::<Vec<_>>(), vec!["team_id"]);
    }

    #[test]
    fn a_short_request_timeout_lowers_the_default_connect_timeout() {
        let s = take_str("request_timeout_seconds = 3").unwrap();
        assert_eq!(s.connect_timeout, Duration::from_secs(3));
    }

    #[test]
    fn bad_timeouts_and_budgets_are_refused_with_their_key() {
        let key = |text: &str| take_str(text).unwrap_err().key;
        assert_eq!(
            key("request_timeout_seconds = 0"),
            "request_timeout_seconds"
        );
        assert_eq!(
            key("request_timeout_seconds = 5\nconnect_timeout_seconds = 6"),
            "connect_timeout_seconds"
        );
        assert_eq!(key("tenant_rate_per_second = -1"), "tenant_rate_per_second");
    }

    #[test]
    fn quiet_hours_need_their_time_zone_and_the_zone_needs_a_window() {
        let s = take_str("quiet_hours = \"21:00-07:00\"\ntime_zone = \"Europe/Berlin\"").unwrap();
        assert_eq!(
            s.quiet_hours.as_ref().map(|q| q.label()),
            Some("21:00-07:00 Europe/Berlin")
        );
        let key = |text: &str| take_str(text).unwrap_err().key;
        assert_eq!(key("quiet_hours = \"21:00-07:00\""), "time_zone");
        assert_eq!(key("time_zone = \"Europe/Berlin\""), "time_zone");
        assert_eq!(
            key("quiet_hours = \"21-07\"\ntime_zone = \"Europe/Berlin\""),
            "quiet_hours"
        );
    }
}
