//! `[[sources]] kind = "teams_replies"`: replies to the messages of one channel, read with an
//! `entra` credential (`credential = "<entra credential>"`; app-only needs the application
//! permission `ChannelMessage.Read.All`, delegated the delegated one).
//!
//! ```toml
//! [[sources]]
//! name = "approvals"
//! kind = "teams_replies"
//! credential = "graph"
//! team_id = "0f5c…"                         # group id of the team
//! channel_id = "19:abc@thread.tacv2"
//! public_base_url = "https://gw.example.com/" # optional: where Graph reaches this gateway
//! expiry_seconds = 86400                    # default 1 day (Graph allows 3 days with a lifecycle URL)
//! renew_before_seconds = 3600               # default 1 hour
//! check_interval_seconds = 60               # default 60: how often the subscription is looked at
//! poll = true                               # default: true without public_base_url, else false
//! poll_interval_seconds = 300               # default 300
//! ```
//!
//! `public_base_url` is the public origin (tunnel, reverse proxy) that forwards
//! `/inbound/teams_replies/<name>` to this gateway; both the notification and the lifecycle URL
//! are `<public_base_url>inbound/teams_replies/<name>`. Without it no subscription is made and
//! polling is the only way.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::seam::{parse_base_url, parse_table, Problem};

/// Default `expiry_seconds`: one day.
pub const DEFAULT_EXPIRY_SECONDS: u64 = 24 * 3600;
/// Default `renew_before_seconds`: one hour.
pub const DEFAULT_RENEW_BEFORE_SECONDS: u64 = 3600;
/// Default `check_interval_seconds`.
pub const DEFAULT_CHECK_INTERVAL_SECONDS: u64 = 60;
/// Default `poll_interval_seconds`.
pub const DEFAULT_POLL_INTERVAL_SECONDS: u64 = 300;
/// Longest subscription Graph grants for Teams chatMessage resources with a lifecycle URL
/// (4320 minutes).
pub const MAX_EXPIRY_SECONDS: u64 = 4320 * 60;

/// `[[sources]] kind = "teams_replies"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsRepliesConfig {
    /// `team_id`: group id of the team.
    pub team_id: String,
    /// `channel_id`: `19:…@thread.tacv2`.
    pub channel_id: String,
    /// `public_base_url`: public origin of `/inbound/...`, ends with `/`.
    pub public_base_url: Option<Url>,
    /// `expiry_seconds`: lifetime asked for at creation and each renewal.
    pub expiry: Duration,
    /// `renew_before_seconds`: renew when the subscription expires within this.
    pub renew_before: Duration,
    /// `check_interval_seconds`: cadence of the keeper.
    pub check_interval: Duration,
    /// `poll`: list the channel's replies every `poll_interval`.
    pub poll: bool,
    /// `poll_interval_seconds`.
    pub poll_interval: Duration,
}

impl TeamsRepliesConfig {
    /// The notification (and lifecycle) URL of source `name`:
    /// `<public_base_url>inbound/teams_replies/<name>`; `None` without `public_base_url`.
    pub fn notification_url(&self, name: &str) -> Option<String> {
        let base = self.public_base_url.as_ref()?;
        let mut url = base.clone();
        url.path_segments_mut().ok()?.pop_if_empty().extend(["inbound", "teams_replies", name]);
        Some(url.to_string())
    }

    /// The subscribed resource: `/teams/{team_id}/channels/{channel_id}/messages`.
    pub fn resource(&self) -> String {
        format!("/teams/{}/channels/{}/messages", self.team_id, self.channel_id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    team_id: String,
    channel_id: String,
    #[serde(default)]
    public_base_url: Option<String>,
    #[serde(default = "default_expiry")]
    expiry_seconds: u64,
    #[serde(default = "default_renew_before")]
    renew_before_seconds: u64,
    #[serde(default = "default_check_interval")]
    check_interval_seconds: u64,
    #[serde(default)]
    poll: Option<bool>,
    #[serde(default = "default_poll_interval")]
    poll_interval_seconds: u64,
}

fn default_expiry() -> u64 {
    DEFAULT_EXPIRY_SECONDS
}
fn default_renew_before() -> u64 {
    DEFAULT_RENEW_BEFORE_SECONDS
}
fn default_check_interval() -> u64 {
    DEFAULT_CHECK_INTERVAL_SECONDS
}
fn default_poll_interval() -> u64 {
    DEFAULT_POLL_INTERVAL_SECONDS
}

/// Reads the table of a `teams_replies` source.
///
/// Errors: unknown keys; empty ids; a `public_base_url` that is not an http(s) URL;
/// `poll = false` without `public_base_url`; zero durations; `expiry_seconds` above 4320
/// minutes; `renew_before_seconds` not below `expiry_seconds`; `check_interval_seconds` not
/// below `renew_before_seconds` (a check could miss the renewal window).
pub fn parse(table: toml::Table) -> Result<TeamsRepliesConfig, Problem> {
    let raw: Raw = parse_table(table)?;
    for (key, value) in [("team_id", &raw.team_id), ("channel_id", &raw.channel_id)] {
        if value.trim().is_empty() || value.contains('/') {
            return Err(Problem::new(key, "must be a non-empty Graph id without '/'"));
        }
    }
    let public_base_url = raw
        .public_base_url
        .as_deref()
        .map(parse_base_url)
        .transpose()
        .map_err(|e| Problem::new("public_base_url", e))?;
    let poll = raw.poll.unwrap_or(public_base_url.is_none());
    if !poll && public_base_url.is_none() {
        return Err(Problem::new(
            "poll",
            "poll = false needs public_base_url: without notifications or polling no reply is ever read",
        ));
    }
    for (key, value) in [
        ("expiry_seconds", raw.expiry_seconds),
        ("renew_before_seconds", raw.renew_before_seconds),
        ("check_interval_seconds", raw.check_interval_seconds),
        ("poll_interval_seconds", raw.poll_interval_seconds),
    ] {
        if value == 0 {
            return Err(Problem::new(key, "must be at least 1"));
        }
    }
    if raw.expiry_seconds > MAX_EXPIRY_SECONDS {
        return Err(Problem::new(
            "expiry_seconds",
            format!("at most {MAX_EXPIRY_SECONDS} (Graph's 4320 minutes for Teams messages)"),
        ));
    }
    if raw.renew_before_seconds >= raw.expiry_seconds {
        return Err(Problem::new("renew_before_seconds", "must be below expiry_seconds"));
    }
    if raw.check_interval_seconds >= raw.renew_before_seconds {
        return Err(Problem::new(
            "check_interval_seconds",
            "must be below renew_before_seconds, or a check could come after the expiry",
        ));
    }
    Ok(TeamsRepliesConfig {
        team_id: raw.team_id,
        channel_id: raw.channel_id,
        public_base_url,
        expiry: Duration::from_secs(raw.expiry_seconds),
        renew_before: Duration::from_secs(raw.renew_before_seconds),
        check_interval: Duration::from_secs(raw.check_interval_seconds),
        poll,
        poll_interval: Duration::from_secs(raw.poll_interval_seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(&format!("team_id = \"t1\"\nchannel_id = \"19:c@thread.tacv2\"\n{text}")).expect("toml")
    }

    #[test]
    fn defaults_and_the_notification_url() {
        let c = parse(table("")).expect("defaults");
        assert_eq!(
            c,
            TeamsRepliesConfig {
                team_id: "t1".into(),
                channel_id: "19:c@thread.tacv2".into(),
                public_base_url: None,
                expiry: Duration::from_secs(86_400),
                renew_before: Duration::from_secs(3600),
                check_interval: Duration::from_secs(60),
                poll: true,
                poll_interval: Duration::from_secs(300),
            }
        );
        assert_eq!(c.notification_url("r"), None);
        assert_eq!(c.resource(), "/teams/t1/channels/19:c@thread.tacv2/messages");
        let c = parse(table("public_base_url = \"https://gw.example.com/edge/\"")).expect("push");
        assert!(!c.poll);
        assert_eq!(c.notification_url("approvals").as_deref(), Some("https://gw.example.com/edge/inbound/teams_replies/approvals"));
    }

    #[test]
    fn problems_name_their_key() {
        for (text, key) in [
            ("poll = false", "poll"),
            ("public_base_url = \"ftp://gw\"", "public_base_url"),
            ("expiry_seconds = 0", "expiry_seconds"),
            ("expiry_seconds = 259201", "expiry_seconds"),
            ("expiry_seconds = 600\nrenew_before_seconds = 600", "renew_before_seconds"),
            ("renew_before_seconds = 60", "check_interval_seconds"),
            ("poll_interval_seconds = 0", "poll_interval_seconds"),
            ("entities = [\"Reply\"]", "entities"),
        ] {
            let problem = parse(table(text)).expect_err(text);
            assert_eq!(problem.key, key, "{text}: {}", problem.message);
        }
        assert_eq!(parse(toml::from_str("team_id = \"\"\nchannel_id = \"c\"").expect("toml")).expect_err("empty").key, "team_id");
    }
}
