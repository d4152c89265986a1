//! The TOML tables of the Twilio kinds.
//!
//! - `[[credentials]] kind = "twilio"`: HTTP Basic with `account_sid` + `auth_token`, or
//!   `api_key_sid` + `api_key_secret` (the account SID stays in every path). Secrets by
//!   reference only (`{ secret = "NAME" }` / `{ env = "VAR" }`).
//! - `[[destinations]] kind = "twilio_sms"`: `POST …/Messages.json` to one number.
//! - `[[destinations]] kind = "twilio_voice"`: `POST …/Calls.json` with inline TwiML `<Say>`.
//!
//! Every phone number is checked against E.164 (`+` and 2 to 15 digits, no leading zero) when
//! the file is loaded, so a typo is a `file:line: key to` error instead of a dead letter.
//!
//! Source: `api-notes/twilio.md`; `twilio_api_v2010.json` (patterns of `AccountSid` `^AC[0-9a-fA-F]{32}$`,
//! `MessagingServiceSid` `^MG…`); twilio.com/docs/global-infrastructure (edges and regions).

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::secrets::SecretRef;
use crate::seam::{parse_table, Problem};

/// Twilio's default REST host (region `us1`).
pub const TWILIO_API_BASE: &str = "https://api.twilio.com/";
/// Messages: 10 creates per second per destination by default (Twilio queues what a sender
/// cannot send at once; a long code sends about 1 SMS/s from that queue).
pub const SMS_RATE_PER_SECOND: f64 = 10.0;
/// Calls: Twilio's default is 1 call per second (CPS) per account.
pub const VOICE_RATE_PER_SECOND: f64 = 1.0;
/// Sends in flight at once per SMS destination (Twilio's account concurrency limit is 100).
pub const SMS_CONCURRENCY: u32 = 4;
/// Calls in flight at once per voice destination.
pub const VOICE_CONCURRENCY: u32 = 1;
/// Twilio's limit of a message `Body`, characters (error 21617 above).
pub const MAX_BODY_CHARS: usize = 1600;
/// Twilio's limit of the `Twiml` parameter of a call, characters.
pub const MAX_TWIML_CHARS: usize = 4000;
/// Default `voice` of `<Say>` (Twilio's basic voice; `Polly.*` / `Google.*` names also work).
pub const DEFAULT_VOICE: &str = "alice";
/// Default `language` of `<Say>`.
pub const DEFAULT_LANGUAGE: &str = "en-US";

/// Edges Twilio documents, with their region (the EU one is `dublin` / `ie1`).
const EDGES: &[(&str, &str)] = &[
    ("ashburn", "us1"),
    ("umatilla", "us1"),
    ("dublin", "ie1"),
    ("frankfurt", "de1"),
    ("sao-paulo", "br1"),
    ("singapore", "sg1"),
    ("sydney", "au1"),
    ("tokyo", "jp1"),
];

/// Is `number` an E.164 phone number: `+`, a non-zero digit, then 1 to 14 more digits?
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// The problem of a number that is not E.164, at `key`.
fn check_e164(key: &str, number: &str) -> Result<(), Problem> {
    if is_e164(number) {
        Ok(())
    } else {
        Err(Problem::new(
            key,
            format!(
                "\"{number}\" is not an E.164 phone number: write + then the country code and \
                 the number, digits only, 15 at most (e.g. \"+4915123456789\")"
            ),
        ))
    }
}

/// Does `sid` match `^{prefix}[0-9a-fA-F]{32}$`?
pub fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34
        && sid.starts_with(prefix)
        && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_sid(key: &str, sid: &str, prefix: &str, what: &str) -> Result<(), Problem> {
    if is_sid(sid, prefix) {
        Ok(())
    } else {
        Err(Problem::new(
            key,
            format!("must be {what}: {prefix} followed by 32 hexadecimal digits"),
        ))
    }
}

/// How requests authenticate (HTTP Basic user name and the secret's reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioAuthConfig {
    /// `account_sid:auth_token`.
    AuthToken(SecretRef),
    /// `api_key_sid:api_key_secret` (a Standard API key of the account).
    ApiKey {
        /// `SK…`.
        sid: String,
        /// The key's secret.
        secret: SecretRef,
    },
}

/// `[[credentials]] kind = "twilio"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioCredentialConfig {
    /// `account_sid` (`AC…`), part of every request path.
    pub account_sid: String,
    /// The Basic credentials.
    pub auth: TwilioAuthConfig,
    /// `auth_token` when given (also with an API key: only the auth token verifies
    /// `X-Twilio-Signature` on status callbacks).
    pub auth_token: Option<SecretRef>,
    /// The REST root: `base_url`, or the host of `edge`/`region`, or `https://api.twilio.com/`.
    pub base_url: Url,
    /// `timeout_seconds`: per-request timeout (default 30).
    pub timeout: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    account_sid: String,
    #[serde(default)]
    auth_token: Option<SecretRef>,
    #[serde(default)]
    api_key_sid: Option<String>,
    #[serde(default)]
    api_key_secret: Option<SecretRef>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    edge: Option<String>,
    #[serde(default, deserialize_with = "optional_base_url")]
    base_url: Option<Url>,
    #[serde(default = "default_timeout")]
    timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    30
}

fn optional_base_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    crate::seam::base_url(d).map(Some)
}

/// The REST root of `edge` and `region`: `https://api.{edge}.{region}.twilio.com/`.
///
/// Errors: an unknown edge, a region without an edge (Twilio retires the `api.{region}` form:
/// `api.ie1.twilio.com` stops working on 2026-04-28), an edge of another region.
fn regional_base(edge: Option<&str>, region: Option<&str>) -> Result<Option<Url>, Problem> {
    let known = || {
        EDGES
            .iter()
            .map(|(e, r)| format!("{e} ({r})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (edge, region) = match (edge, region) {
        (None, None) => return Ok(None),
        (None, Some("us1")) => return Ok(None),
        (None, Some(r)) => {
            let edges: Vec<&str> = EDGES.iter().filter(|(_, x)| *x == r).map(|(e, _)| *e).collect();
            return Err(Problem::new(
                "edge",
                format!(
                    "region = \"{r}\" needs an edge (e.g. edge = \"{}\"): Twilio retires the \
                     api.{r}.twilio.com form; known edges: {}",
                    edges.first().copied().unwrap_or("dublin"),
                    known()
                ),
            ));
        }
        (Some(e), r) => (e, r),
    };
    let Some((_, edge_region)) = EDGES.iter().find(|(e, _)| *e == edge) else {
        return Err(Problem::new(
            "edge",
            format!("unknown edge \"{edge}\"; known edges: {}", known()),
        ));
    };
    let region = region.unwrap_or(edge_region);
    if region != "us1" && region != *edge_region {
        return Err(Problem::new(
            "region",
            format!("edge \"{edge}\" serves region {edge_region}, not {region}"),
        ));
    }
    let url = Url::parse(&format!("https://api.{edge}.{region}.twilio.com/"))
        .map_err(|e| Problem::new("edge", e.to_string()))?;
    Ok(Some(url))
}

/// Reads `[[credentials]] kind = "twilio"`.
///
/// Errors: unknown keys; an `account_sid` or `api_key_sid` of the wrong pattern; neither
/// `auth_token` nor the `api_key_sid` + `api_key_secret` pair (or half of that pair); an
/// unknown `edge`, a `region` without an edge, `base_url` together with `edge`/`region`; a
/// zero timeout.
pub fn parse_credential(table: toml::Table) -> Result<TwilioCredentialConfig, Problem> {
    let raw: RawCredential = parse_table(table)?;
    check_sid("account_sid", &raw.account_sid, "AC", "an Account SID")?;
    let auth = match (&raw.api_key_sid, &raw.api_key_secret, &raw.auth_token) {
        (Some(sid), Some(secret), _) => {
            check_sid("api_key_sid", sid, "SK", "an API key SID")?;
            TwilioAuthConfig::ApiKey {
                sid: sid.clone(),
                secret: secret.clone(),
            }
        }
        (Some(_), None, _) => {
            return Err(Problem::new(
                "api_key_secret",
                "missing: an API key needs its secret, api_key_secret = { secret = \"NAME\" }",
            ))
        }
        (None, Some(_), _) => {
            return Err(Problem::new(
                "api_key_sid",
                "missing: api_key_secret needs the key's SID (SK…)",
            ))
        }
        (None, None, Some(token)) => TwilioAuthConfig::AuthToken(token.clone()),
        (None, None, None) => {
            return Err(Problem::new(
                "auth_token",
                "missing: give auth_token = { secret = \"NAME\" }, or api_key_sid and \
                 api_key_secret",
            ))
        }
    };
    let regional = regional_base(raw.edge.as_deref(), raw.region.as_deref())?;
    let base_url = match (raw.base_url, regional) {
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                "base_url",
                "give either base_url or edge/region, not both",
            ))
        }
        (Some(url), None) | (None, Some(url)) => url,
        #[allow(clippy::expect_used)]
        (None, None) => Url::parse(TWILIO_API_BASE).expect("TWILIO_API_BASE is a valid URL"),
    };
    if raw.timeout_seconds == 0 {
        return Err(Problem::new("timeout_seconds", "must be at least 1"));
    }
    Ok(TwilioCredentialConfig {
        account_sid: raw.account_sid,
        auth,
        auth_token: raw.auth_token,
        base_url,
        timeout: Duration::from_secs(raw.timeout_seconds),
    })
}

/// Who sends: a number of the account, or a Messaging Service (SMS only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// `from`: an E.164 number of the account.
    From(String),
    /// `messaging_service_sid`: `MG…`; Twilio picks the number.
    Service(String),
}

/// The voice of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SayOptions {
    /// `voice`: `<Say voice="…">` (default [`DEFAULT_VOICE`]).
    pub voice: String,
    /// `language`: `<Say language="…">` (default [`DEFAULT_LANGUAGE`]).
    pub language: String,
}

/// `[[destinations]] kind = "twilio_sms" | "twilio_voice"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioDestinationConfig {
    /// `to`: the recipient, E.164.
    pub to: String,
    /// `from` or `messaging_service_sid`.
    pub sender: Sender,
    /// `status_callback_url`: the public URL of this destination's callback endpoint as Twilio
    /// must call it (behind a proxy: the public one); none on outbound-only sites.
    pub status_callback_url: Option<Url>,
    /// `body_marker` (SMS; default true): append ` [ref xxxxxxxx]` to the text so a send whose
    /// outcome is unknown can be found again. `false`: such a send is "unverifiable" and the
    /// destination's `on_unverifiable` decides.
    pub body_marker: bool,
    /// Voice and language of a call; `None` for SMS.
    pub say: Option<SayOptions>,
    /// `lookup_max_pages`: list pages a lookup reads at most before giving up (default 10).
    pub lookup_max_pages: u32,
    /// `clock_skew_seconds`: how far before the entry's creation a lookup searches (default 300).
    pub clock_skew: Duration,
    /// `receipts` (default true): record each sent SID as a pending receipt for the
    /// `twilio_status` source of the credential (with none configured, set it to false: the
    /// receipts would wait for a status nobody reads).
    pub receipts: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSms {
    to: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    messaging_service_sid: Option<String>,
    #[serde(default, deserialize_with = "optional_url")]
    status_callback_url: Option<Url>,
    #[serde(default = "yes")]
    body_marker: bool,
    #[serde(default = "default_pages")]
    lookup_max_pages: u32,
    #[serde(default = "default_skew")]
    clock_skew_seconds: u64,
    #[serde(default = "yes")]
    receipts: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVoice {
    to: String,
    from: String,
    #[serde(default, deserialize_with = "optional_url")]
    status_callback_url: Option<Url>,
    #[serde(default = "default_voice")]
    voice: String,
    #[serde(default = "default_language")]
    language: String,
    #[serde(default = "default_pages")]
    lookup_max_pages: u32,
    #[serde(default = "default_skew")]
    clock_skew_seconds: u64,
    #[serde(default = "yes")]
    receipts: bool,
}

fn yes() -> bool {
    true
}
fn default_pages() -> u32 {
    10
}
fn default_skew() -> u64 {
    300
}
fn default_voice() -> String {
    DEFAULT_VOICE.to_string()
}
fn default_language() -> String {
    DEFAULT_LANGUAGE.to_string()
}

fn optional_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let text = String::deserialize(d)?;
    let url = Url::parse(&text).map_err(|e| serde::de::Error::custom(format!("invalid URL: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(serde::de::Error::custom("invalid URL: scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(serde::de::Error::custom(
            "invalid URL: no query or fragment (the gateway adds its own marker query)",
        ));
    }
    Ok(Some(url))
}

fn check_pages(pages: u32) -> Result<u32, Problem> {
    if pages == 0 {
        return Err(Problem::new("lookup_max_pages", "must be at least 1"));
    }
    Ok(pages)
}

/// Reads `[[destinations]] kind = "twilio_sms"`.
///
/// Errors: unknown keys; `to` or `from` not E.164; neither or both of `from` and
/// `messaging_service_sid`; a service SID of the wrong pattern; `lookup_max_pages = 0`.
pub fn parse_sms(table: toml::Table) -> Result<TwilioDestinationConfig, Problem> {
    let raw: RawSms = parse_table(table)?;
    check_e164("to", &raw.to)?;
    let sender = match (raw.from, raw.messaging_service_sid) {
        (Some(from), None) => {
            check_e164("from", &from)?;
            Sender::From(from)
        }
        (None, Some(sid)) => {
            check_sid("messaging_service_sid", &sid, "MG", "a Messaging Service SID")?;
            Sender::Service(sid)
        }
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                "messaging_service_sid",
                "give either from or messaging_service_sid, not both",
            ))
        }
        (None, None) => {
            return Err(Problem::new(
                "from",
                "missing: give from = \"+E164\" (a number of the account) or \
                 messaging_service_sid = \"MG…\"",
            ))
        }
    };
    Ok(TwilioDestinationConfig {
        to: raw.to,
        sender,
        status_callback_url: raw.status_callback_url,
        body_marker: raw.body_marker,
        say: None,
        lookup_max_pages: check_pages(raw.lookup_max_pages)?,
        clock_skew: Duration::from_secs(raw.clock_skew_seconds),
        receipts: raw.receipts,
    })
}

/// Reads `[[destinations]] kind = "twilio_voice"`.
///
/// Errors: unknown keys; `to` or `from` not E.164; an empty `voice` or `language`;
/// `lookup_max_pages = 0`.
pub fn parse_voice(table: toml::Table) -> Result<TwilioDestinationConfig, Problem> {
    let raw: RawVoice = parse_table(table)?;
    check_e164("to", &raw.to)?;
    check_e164("from", &raw.from)?;
    for (key, value) in [("voice", &raw.voice), ("language", &raw.language)] {
        if value.trim().is_empty() {
            return Err(Problem::new(key, "must not be empty"));
        }
    }
    Ok(TwilioDestinationConfig {
        to: raw.to,
        sender: Sender::From(raw.from),
        status_callback_url: raw.status_callback_url,
        body_marker: false,
        say: Some(SayOptions {
            voice: raw.voice,
            language: raw.language,
        }),
        lookup_max_pages: check_pages(raw.lookup_max_pages)?,
        clock_skew: Duration::from_secs(raw.clock_skew_seconds),
        receipts: raw.receipts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).expect("toml")
    }

    const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn e164_numbers() {
        for ok in ["+15005550006", "+4915123456789", "+44", "+123456789012345"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in ["15005550006", "+1", "+0123", "+1 500 555", "+1234567890123456", "+1-500"] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn credential_with_token_api_key_and_edge() {
        let c = parse_credential(table(&format!(
            "account_sid = \"{SID}\"\nauth_token = {{ secret = \"tw\" }}\n"
        )))
        .expect("token");
        assert_eq!(c.auth, TwilioAuthConfig::AuthToken(SecretRef::Secret("tw".into())));
        assert_eq!(c.base_url.as_str(), "https://api.twilio.com/");

        let c = parse_credential(table(&format!(
            "account_sid = \"{SID}\"\napi_key_sid = \"SK{}\"\napi_key_secret = {{ env = \"K\" }}\n\
             edge = \"dublin\"\nregion = \"ie1\"\n",
            "b".repeat(32)
        )))
        .expect("key");
        assert!(matches!(c.auth, TwilioAuthConfig::ApiKey { .. }));
        assert_eq!(c.base_url.as_str(), "https://api.dublin.ie1.twilio.com/");
    }

    #[test]
    fn credential_problems_name_their_key() {
        let cases = [
            ("account_sid = \"AC12\"\nauth_token = { secret = \"t\" }", "account_sid"),
            (&format!("account_sid = \"{SID}\""), "auth_token"),
            (&format!("account_sid = \"{SID}\"\nauth_token = \"plain\""), "auth_token"),
            (
                &format!("account_sid = \"{SID}\"\nauth_token = {{ secret = \"t\" }}\nregion = \"ie1\""),
                "edge",
            ),
            (
                &format!("account_sid = \"{SID}\"\nauth_token = {{ secret = \"t\" }}\nedge = \"dublin\"\nregion = \"au1\""),
                "region",
            ),
            (
                &format!("account_sid = \"{SID}\"\napi_key_sid = \"SK{}\"", "1".repeat(32)),
                "api_key_secret",
            ),
        ];
        for (text, key) in cases {
            let problem = parse_credential(table(text)).expect_err(text);
            assert_eq!(problem.key, key, "{text}: {}", problem.message);
        }
    }

    #[test]
    fn destinations_check_every_number() {
        let sms = parse_sms(table("to = \"+4915123456789\"\nfrom = \"+15005550006\"\n")).expect("sms");
        assert_eq!(sms.sender, Sender::From("+15005550006".into()));
        assert!(sms.body_marker);
        let problem = parse_sms(table("to = \"015123456789\"\nfrom = \"+15005550006\"\n"))
            .expect_err("national number");
        assert_eq!(problem.key, "to");
        assert!(problem.message.contains("\"015123456789\" is not an E.164 phone number"));
        let problem = parse_voice(table("to = \"+4915123456789\"\nfrom = \"+1 500 555 0006\"\n"))
            .expect_err("spaces");
        assert_eq!(problem.key, "from");
        let problem = parse_sms(table("to = \"+4915123456789\"\n")).expect_err("no sender");
        assert_eq!(problem.key, "from");
        let voice = parse_voice(table(
            "to = \"+4915123456789\"\nfrom = \"+15005550006\"\nvoice = \"Polly.Marlene\"\nlanguage = \"de-DE\"\n",
        ))
        .expect("voice");
        assert_eq!(
            voice.say,
            Some(SayOptions { voice: "Polly.Marlene".into(), language: "de-DE".into() })
        );
        let problem = parse_sms(table(
            "to = \"+4915123456789\"\nfrom = \"+15005550006\"\nstatus_callback_url = \"https://gw/x?a=1\"\n",
        ))
        .expect_err("query");
        assert_eq!(problem.key, "status_callback_url");
    }
}
