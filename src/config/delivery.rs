//! The delivery keys every destination has: `rate_per_second`, `burst`, `concurrency`,
//! `on_unverifiable`. Their defaults come from the destination kind (the vendor's limits).

use serde::Deserialize;

use crate::seam::{parse_table, DeliveryDefaults, Problem};

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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliverySettings {
    /// `rate_per_second`: sends per second, `>= 0` (`0` turns the limit off).
    pub rate_per_second: f64,
    /// `burst`: sends allowed at once above the steady rate, `>= 1`. Default 1: a rolling
    /// one-second window (how Graph counts) is never overshot by a bucket's burst.
    pub burst: u32,
    /// `concurrency`: sends in flight at once, `>= 1`.
    pub concurrency: u32,
    /// `on_unverifiable`.
    pub on_unverifiable: OnUnverifiable,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    rate_per_second: Option<f64>,
    burst: Option<u32>,
    concurrency: Option<u32>,
    #[serde(default)]
    on_unverifiable: OnUnverifiable,
}

const KEYS: [&str; 4] = ["rate_per_second", "burst", "concurrency", "on_unverifiable"];

/// Takes the delivery keys out of a destination's table and checks them.
///
/// Errors: a [`Problem`] (key relative to the destination) for a negative or non-finite rate,
/// `burst = 0`, `concurrency = 0`, an unknown `on_unverifiable` or a wrong type.
pub(super) fn take(
    table: &mut toml::Table,
    defaults: DeliveryDefaults,
) -> Result<DeliverySettings, Problem> {
    let mut own = toml::Table::new();
    for key in KEYS {
        if let Some(mut value) = table.remove(key) {
            if let (Some(i), "rate_per_second") = (value.as_integer(), key) {
                value = toml::Value::Float(i as f64);
            }
            own.insert(key.to_string(), value);
        }
    }
    let raw: RawDelivery = parse_table(own)?;
    let rate_per_second = raw.rate_per_second.unwrap_or(defaults.rate_per_second);
    if !rate_per_second.is_finite() || rate_per_second < 0.0 {
        return Err(Problem::new(
            "rate_per_second",
            "must be a number >= 0 (0 turns the limit off)",
        ));
    }
    let burst = raw.burst.unwrap_or(1);
    if burst == 0 {
        return Err(Problem::new("burst", "must be at least 1"));
    }
    let concurrency = raw.concurrency.unwrap_or(defaults.concurrency);
    if concurrency == 0 {
        return Err(Problem::new("concurrency", "must be at least 1"));
    }
    Ok(DeliverySettings {
        rate_per_second,
        burst,
        concurrency,
        on_unverifiable: raw.on_unverifiable,
    })
}
