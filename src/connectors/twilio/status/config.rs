//! `[[sources]] kind = "twilio_status"`: delivery receipts of the Twilio sinks of one
//! credential (`credential = "<twilio credential>"`).
//!
//! ```toml
//! [[sources]]
//! name = "receipts"
//! kind = "twilio_status"
//! credential = "twilio"
//! public_url = "https://gw.example.com/inbound/twilio_status/receipts"  # optional
//! poll = true                      # default: true when public_url is absent, else false
//! poll_interval_seconds = 60       # default 60
//! give_up_after_seconds = 259200   # default 3 days
//! escalate_after_seconds = 600     # default 0 = off
//! ```
//!
//! `public_url` is the callback URL exactly as Twilio calls it (behind a proxy or tunnel: the
//! public one, scheme, host and port as written): the signature covers it, so it is used as
//! written, never rebuilt from the request's `Host`. Give the destinations the same URL as
//! `status_callback_url`. Without it no callback endpoint is mounted and polling is the only
//! way (on by default). With it, `poll = true` adds polling as a safety net.
//!
//! `escalate_after_seconds` (> 0) turns on escalation: an SMS not `delivered`/`read` that long
//! after it was sent (still pending, or final `failed`/`undelivered`/`canceled`) makes one
//! record of entity `Escalation` ([`super::escalate`]); a route to a `twilio_voice`
//! destination places the call. It must be shorter than `give_up_after_seconds`.

use std::time::Duration;

use serde::Deserialize;

use crate::seam::{parse_table, Problem};

/// Default `poll_interval_seconds`.
pub const DEFAULT_POLL_INTERVAL_SECONDS: u64 = 60;
/// Default `give_up_after_seconds`: 3 days (Twilio keeps retrying undelivered SMS for up to
/// the message's validity period, 4 hours by default at most 36 hours).
pub const DEFAULT_GIVE_UP_AFTER_SECONDS: u64 = 3 * 24 * 3600;

/// `[[sources]] kind = "twilio_status"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioStatusConfig {
    /// `public_url`: the callback URL as Twilio calls it, as written (no query, no fragment).
    pub public_url: Option<String>,
    /// `poll`: read `Messages/{Sid}.json` / `Calls/{Sid}.json` of pending receipts.
    pub poll: bool,
    /// `poll_interval_seconds`.
    pub poll_interval: Duration,
    /// `give_up_after_seconds`: a SID with no final status this long after it was sent is no
    /// longer polled (audit line `twilio_receipt_gave_up`, counter status `gave_up`).
    pub give_up_after: Duration,
    /// `escalate_after_seconds`: an SMS without `delivered`/`read` this long after it was
    /// sent makes one `Escalation` record; `None` (0 or absent): no escalation.
    pub escalate_after: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    poll: Option<bool>,
    #[serde(default = "default_interval")]
    poll_interval_seconds: u64,
    #[serde(default = "default_give_up")]
    give_up_after_seconds: u64,
    #[serde(default)]
    escalate_after_seconds: u64,
}

fn default_interval() -> u64 {
    DEFAULT_POLL_INTERVAL_SECONDS
}
fn default_give_up() -> u64 {
    DEFAULT_GIVE_UP_AFTER_SECONDS
}

/// Is `text` a URL Twilio can call back as written: `http(s)://host/…`, no query or fragment
/// (the sinks add `?mlc_ref=…`)? `Err` says why not.
pub fn check_public_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err("scheme must be https (or http)".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("no query or fragment: the sinks add their own marker query".into());
    }
    Ok(())
}

/// Reads the table of a `twilio_status` source.
///
/// Errors: unknown keys; a `public_url` that is not an http(s) URL without query;
/// `poll = false` without `public_url` (nothing would report statuses); a zero interval or
/// give-up time; `escalate_after_seconds` not below `give_up_after_seconds` (the receipt
/// would be given up before it is escalated).
pub fn parse(table: toml::Table) -> Result<TwilioStatusConfig, Problem> {
    let raw: Raw = parse_table(table)?;
    if let Some(url) = &raw.public_url {
        check_public_url(url).map_err(|e| Problem::new("public_url", e))?;
    }
    let poll = raw.poll.unwrap_or(raw.public_url.is_none());
    if !poll && raw.public_url.is_none() {
        return Err(Problem::new(
            "poll",
            "poll = false needs public_url: without callbacks or polling no status is ever read",
        ));
    }
    for (key, value) in [
        ("poll_interval_seconds", raw.poll_interval_seconds),
        ("give_up_after_seconds", raw.give_up_after_seconds),
    ] {
        if value == 0 {
            return Err(Problem::new(key, "must be at least 1"));
        }
    }
    if raw.escalate_after_seconds >= raw.give_up_after_seconds {
        return Err(Problem::new(
            "escalate_after_seconds",
            format!(
                "must be below give_up_after_seconds ({}): a receipt given up is never escalated",
                raw.give_up_after_seconds
            ),
        ));
    }
    Ok(TwilioStatusConfig {
        public_url: raw.public_url,
        poll,
        poll_interval: Duration::from_secs(raw.poll_interval_seconds),
        give_up_after: Duration::from_secs(raw.give_up_after_seconds),
        escalate_after: (raw.escalate_after_seconds > 0).then(|| Duration::from_secs(raw.escalate_after_seconds)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).expect("toml")
    }

    #[test]
    fn polling_defaults_follow_public_url() {
        let c = parse(table("")).expect("empty");
        assert_eq!(
            c,
            TwilioStatusConfig {
                public_url: None,
                poll: true,
                poll_interval: Duration::from_secs(60),
                give_up_after: Duration::from_secs(259_200),
                escalate_after: None,
            }
        );
        let c = parse(table("escalate_after_seconds = 600")).expect("escalation");
        assert_eq!(c.escalate_after, Some(Duration::from_secs(600)));
        assert_eq!(parse(table("escalate_after_seconds = 0")).expect("off").escalate_after, None);
        let c = parse(table("public_url = \"https://gw.example.com:443/inbound/twilio_status/r\"")).expect("url");
        assert_eq!(c.public_url.as_deref(), Some("https://gw.example.com:443/inbound/twilio_status/r"));
        assert!(!c.poll);
        let c = parse(table("public_url = \"https://gw.example.com/i\"\npoll = true\npoll_interval_seconds = 5")).expect("both");
        assert!(c.poll);
        assert_eq!(c.poll_interval, Duration::from_secs(5));
    }

    #[test]
    fn problems_name_their_key() {
        for (text, key) in [
            ("poll = false", "poll"),
            ("public_url = \"https://gw/x?a=1\"", "public_url"),
            ("public_url = \"ftp://gw/x\"", "public_url"),
            ("public_url = \"gw/x\"", "public_url"),
            ("poll_interval_seconds = 0", "poll_interval_seconds"),
            ("give_up_after_seconds = 0", "give_up_after_seconds"),
            ("escalate_after_seconds = 259200", "escalate_after_seconds"),
            ("give_up_after_seconds = 60\nescalate_after_seconds = 61", "escalate_after_seconds"),
            ("entities = [\"Message\"]", "entities"),
        ] {
            let problem = parse(table(text)).expect_err(text);
            assert_eq!(problem.key, key, "{text}: {}", problem.message);
        }
    }
}
