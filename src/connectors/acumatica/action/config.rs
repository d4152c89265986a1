//! The TOML table of `[[destinations]] kind = "acumatica_action"`: what an approval does to
//! the bill, and how the long-running `ReleaseBill` is awaited.
//!
//! ```toml
//! [[destinations]]
//! name = "bill-actions"
//! kind = "acumatica_action"
//! credential = "acme-acu"          # a [[credentials]] kind = "acumatica"
//! on_approve = "release"           # or "remove_hold"
//! action_poll_seconds = 1          # GET of the operation's Location every 1 s (fractions allowed)
//! action_timeout_seconds = 120     # give up on the operation after 120 s
//! ```
//!
//! Source: `/work/shared/api-notes/acumatica.md` ("Actions": poll the `Location` every
//! second; "Removing a hold is a PUT with `Hold=false`").

use std::time::Duration;

use serde::Deserialize;

use crate::seam::{parse_table, Problem};

/// Default `action_poll_seconds` (the notes: "GET it every second").
pub const DEFAULT_POLL_SECONDS: f64 = 1.0;
/// Default `action_timeout_seconds`.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 120.0;

/// What an approval does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnApprove {
    /// `PUT Hold=false`, then `POST Bill/ReleaseBill` awaited to its end.
    Release,
    /// `PUT Hold=false` only.
    RemoveHold,
}

/// `[[destinations]] kind = "acumatica_action"`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AcumaticaActionConfig {
    /// `on_approve`: default [`OnApprove::Release`].
    pub on_approve: OnApprove,
    /// `action_poll_seconds`: pause between two reads of a running operation.
    pub poll: Duration,
    /// `action_timeout_seconds`: how long a release may run before it counts as failed.
    pub timeout: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default = "default_on_approve")]
    on_approve: OnApprove,
    #[serde(default = "default_poll")]
    action_poll_seconds: f64,
    #[serde(default = "default_timeout")]
    action_timeout_seconds: f64,
}

fn default_on_approve() -> OnApprove {
    OnApprove::Release
}
fn default_poll() -> f64 {
    DEFAULT_POLL_SECONDS
}
fn default_timeout() -> f64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// Reads `[[destinations]] kind = "acumatica_action"`.
///
/// Errors (key relative to the entry): `on_approve` not `release`/`remove_hold`;
/// `action_poll_seconds` not in 0.01..=60; `action_timeout_seconds` below the poll interval or
/// above 3600; unknown keys.
pub fn parse_action(table: toml::Table) -> Result<AcumaticaActionConfig, Problem> {
    let raw: Raw = parse_table(table)?;
    if !(0.01..=60.0).contains(&raw.action_poll_seconds) {
        return Err(Problem::new(
            "action_poll_seconds",
            format!("must be between 0.01 and 60, found {}", raw.action_poll_seconds),
        ));
    }
    if !(raw.action_poll_seconds..=3600.0).contains(&raw.action_timeout_seconds) {
        return Err(Problem::new(
            "action_timeout_seconds",
            format!(
                "must be between action_poll_seconds ({}) and 3600, found {}",
                raw.action_poll_seconds, raw.action_timeout_seconds
            ),
        ));
    }
    Ok(AcumaticaActionConfig {
        on_approve: raw.on_approve,
        poll: Duration::from_secs_f64(raw.action_poll_seconds),
        timeout: Duration::from_secs_f64(raw.action_timeout_seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AcumaticaActionConfig, Problem> {
        parse_action(toml::from_str(text).expect("toml"))
    }

    #[test]
    fn defaults_release_every_second_for_two_minutes() {
        assert_eq!(
            parse(""),
            Ok(AcumaticaActionConfig { on_approve: OnApprove::Release, poll: Duration::from_secs(1), timeout: Duration::from_secs(120) })
        );
        assert_eq!(
            parse("on_approve = \"remove_hold\"\naction_poll_seconds = 0.25\naction_timeout_seconds = 30").map(|c| (c.on_approve, c.poll, c.timeout)),
            Ok((OnApprove::RemoveHold, Duration::from_millis(250), Duration::from_secs(30)))
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(parse("action_poll_seconds = 0").map_err(|p| p.key), Err("action_poll_seconds".to_string()));
        assert_eq!(
            parse("action_poll_seconds = 5\naction_timeout_seconds = 2"),
            Err(Problem::new("action_timeout_seconds", "must be between action_poll_seconds (5) and 3600, found 2"))
        );
        assert_eq!(parse("on_approve = \"pay\"").map_err(|p| p.key), Err("on_approve".to_string()));
        assert_eq!(parse("entity = \"Bill\"").map_err(|p| p.key), Err("entity".to_string()));
    }
}
