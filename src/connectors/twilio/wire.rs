//! Twilio's wire format: request URLs, the error body, list pages, the answer classification
//! shared by both sinks, the lookup marker and the `<Say>` TwiML.
//!
//! Source: `twilio_api_v2010.json` (`ListMessageResponse`, `ListCallResponse`,
//! `api.v2010.account.message`, `api.v2010.account.call`); `api-notes/twilio.md` ("Errors").

use std::fmt;
use std::time::Duration;

use ml_connector_actors::Outcome;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::connectors::kit::outbound::retry_after;

/// Twilio's "too many concurrent requests" code: never processed, always safe to retry.
pub const TOO_MANY_REQUESTS: u32 = 20429;

/// `{api}2010-04-01/Accounts/{account_sid}/{tail}`.
pub fn account_url(api: &Url, account_sid: &str, tail: &str) -> Url {
    let mut url = api.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend(["2010-04-01", "Accounts", account_sid])
            .extend(tail.split('/'));
    }
    url
}

/// The JSON error body: `{"code":21211,"message":"…","more_info":"…","status":400}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TwilioError {
    /// Twilio error code (`21211`); `None` when the body was not Twilio's error JSON.
    #[serde(default)]
    pub code: Option<u32>,
    /// Human message.
    #[serde(default)]
    pub message: Option<String>,
    /// Documentation link.
    #[serde(default)]
    pub more_info: Option<String>,
}

impl TwilioError {
    /// Read the error body of `response` (an unreadable or non-JSON body gives an empty error).
    pub async fn read(response: reqwest::Response) -> TwilioError {
        let bytes = response.bytes().await.unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }
}

impl fmt::Display for TwilioError {
    /// `error 21211: The 'To' number … (https://www.twilio.com/docs/errors/21211)`, or
    /// `no error body`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (None, None) => f.write_str("no error body"),
            (code, message) => {
                if let Some(code) = code {
                    write!(f, "error {code}")?;
                }
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                if let Some(more) = &self.more_info {
                    write!(f, " ({more})")?;
                }
                Ok(())
            }
        }
    }
}

/// What to do with an answer that was not a 201, per Twilio's documented semantics.
///
/// - 429, or code 20429 with any status → [`Outcome::Retry`] (`throttled`, honouring
///   `Retry-After`): Twilio did not process it;
/// - 401 → [`Outcome::SessionGone`] (the runtime probes the credentials again and pauses the
///   destination when they stay refused);
/// - other 4xx → [`Outcome::Permanent`] with Twilio's code and message (21211 invalid number,
///   21614 not a mobile number, 21610 recipient unsubscribed, 21606 sender not of the account);
/// - 5xx and anything else → [`Outcome::Unknown`]: the create may have been stored.
pub fn classify(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    error: &TwilioError,
    what: &str,
) -> Outcome {
    if status == 429 || error.code == Some(TOO_MANY_REQUESTS) {
        return Outcome::Retry {
            after: retry_after(headers),
            reason: format!("{what}: Twilio throttled the request ({status}, {error})"),
            throttled: true,
        };
    }
    match status {
        401 => Outcome::SessionGone {
            reason: format!("{what}: Twilio refused the credentials ({error})"),
        },
        400..=499 => Outcome::Permanent {
            status: Some(status),
            reason: format!("{what}: Twilio refused it with {status} ({error})"),
        },
        _ => Outcome::Unknown {
            reason: format!("{what}: Twilio answered {status} ({error}); it may have been stored"),
        },
    }
}

/// One page of `GET …/Messages.json` or `GET …/Calls.json`: the records (under `messages` or
/// `calls`) and `next_page_uri` (host-relative, `null` on the last page).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListPage {
    /// Messages of a message list.
    #[serde(default)]
    pub messages: Vec<Resource>,
    /// Calls of a call list.
    #[serde(default)]
    pub calls: Vec<Resource>,
    /// `/2010-04-01/Accounts/AC…/Messages.json?…&PageToken=…`, or `null`.
    #[serde(default)]
    pub next_page_uri: Option<String>,
}

/// The fields of a Message or Call resource the gateway reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Resource {
    /// `SM…`/`MM…` or `CA…`.
    pub sid: String,
    /// Message text (messages only; `null` for calls, or when the body was redacted).
    #[serde(default)]
    pub body: Option<String>,
    /// `queued`, `sent`, `delivered`, … / `queued`, `ringing`, `completed`, …
    #[serde(default)]
    pub status: Option<String>,
    /// RFC 2822, GMT (`Thu, 24 Aug 2023 05:01:45 +0000`).
    #[serde(default)]
    pub date_created: Option<String>,
    /// Messages: when it was sent (`null` while queued).
    #[serde(default)]
    pub date_sent: Option<String>,
    /// Calls: when it started (`null` while queued).
    #[serde(default)]
    pub start_time: Option<String>,
}

impl Resource {
    /// `date_created` as UTC milliseconds, when present and RFC 2822.
    pub fn created_ms(&self) -> Option<i64> {
        let text = self.date_created.as_deref()?;
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822)
            .ok()?;
        Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
    }
}

/// The lookup marker of an outbox entry: 8 hex digits of SHA-256 of its dedupe key.
/// In an SMS body as ` [ref 1a2b3c4d]`, in a status callback URL as `?mlc_ref=1a2b3c4d`.
pub fn marker(dedupe_key: &str) -> String {
    hex::encode(&Sha256::digest(dedupe_key.as_bytes())[..4])
}

/// The text appended to an SMS body: ` [ref 1a2b3c4d]`.
pub fn body_marker(marker: &str) -> String {
    format!(" [ref {marker}]")
}

/// `text` with the marker appended, shortened (with `…`) so the body stays within
/// `max_chars` characters (Twilio refuses longer bodies with 21617; shorter long texts are
/// left to Twilio's segmentation).
pub fn marked_body(text: &str, marker: Option<&str>, max_chars: usize) -> String {
    let suffix = marker.map(body_marker).unwrap_or_default();
    let room = max_chars.saturating_sub(suffix.chars().count());
    let mut body: String = if text.chars().count() > room {
        let mut cut: String = text.chars().take(room.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        text.to_string()
    };
    body.push_str(&suffix);
    body
}

/// `<Response><Say voice="…" language="…">text</Say></Response>`, written with quick-xml so
/// text and attribute values are escaped (`&`, `<`, `>`, `"`, `'`). Characters XML 1.0 does not
/// allow (control characters other than tab and newline) are replaced by a space.
pub fn say_twiml(text: &str, voice: &str, language: &str) -> String {
    use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    ' '
                } else {
                    c
                }
            })
            .collect()
    };
    let (text, voice, language) = (clean(text), clean(voice), clean(language));
    let mut writer = quick_xml::Writer::new(Vec::new());
    let say = BytesStart::new("Say").with_attributes([
        ("voice", voice.as_str()),
        ("language", language.as_str()),
    ]);
    // Writing to a Vec cannot fail.
    let _ = writer.write_event(Event::Start(BytesStart::new("Response")));
    let _ = writer.write_event(Event::Start(say));
    let _ = writer.write_event(Event::Text(BytesText::new(&text)));
    let _ = writer.write_event(Event::End(BytesEnd::new("Say")));
    let _ = writer.write_event(Event::End(BytesEnd::new("Response")));
    String::from_utf8_lossy(&writer.into_inner()).into_owned()
}

/// Lookups read at most this many records per page.
pub const LOOKUP_PAGE_SIZE: u32 = 100;

/// The UTC date (`YYYY-MM-DD`) of `ms` minus `skew`, for `DateSent>` / `StartTime>` filters.
pub fn filter_date(ms: i64, skew: Duration) -> String {
    let at = ms - skew.as_millis() as i64;
    let date = time::OffsetDateTime::from_unix_timestamp_nanos(at as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_escapes_text_and_attributes() {
        assert_eq!(
            say_twiml("Invoice <12> & \"Ben's\" \u{7}", "Polly.Joanna\"", "en-US"),
            "<Response><Say voice=\"Polly.Joanna&quot;\" language=\"en-US\">Invoice &lt;12&gt; \
             &amp; &quot;Ben&apos;s&quot;  </Say></Response>"
        );
    }

    #[test]
    fn bodies_keep_the_marker_within_1600_characters() {
        assert_eq!(marked_body("Hi", Some("1a2b3c4d"), 1600), "Hi [ref 1a2b3c4d]");
        assert_eq!(marked_body("Hi", None, 1600), "Hi");
        let long = "é".repeat(2000);
        let body = marked_body(&long, Some("1a2b3c4d"), 1600);
        assert_eq!(body.chars().count(), 1600);
        assert!(body.ends_with("é… [ref 1a2b3c4d]"));
    }

    #[test]
    fn urls_markers_and_dates() {
        let api = Url::parse("https://api.twilio.com/").expect("url");
        assert_eq!(
            account_url(&api, "AC1", "Messages.json").as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
        );
        assert_eq!(marker("a->b"), hex::encode(&Sha256::digest(b"a->b")[..4]));
        assert_eq!(marker("a->b").len(), 8);
        // 2026-11-21T00:02:00Z minus 5 minutes is the day before.
        assert_eq!(filter_date(1_795_219_320_000, Duration::from_secs(300)), "2026-11-20");
        let r = Resource {
            date_created: Some("Thu, 24 Aug 2023 05:01:45 +0000".into()),
            ..Resource::default()
        };
        assert_eq!(r.created_ms(), Some(1_692_853_305_000));
    }

    #[test]
    fn answers_are_classified_by_twilio_semantics() {
        let h = reqwest::header::HeaderMap::new();
        let code = |c| TwilioError {
            code: Some(c),
            message: Some("m".into()),
            more_info: None,
        };
        assert!(matches!(classify(429, &h, &code(20429), "x"), Outcome::Retry { throttled: true, .. }));
        assert!(matches!(classify(503, &h, &code(20429), "x"), Outcome::Retry { .. }));
        assert!(matches!(classify(401, &h, &code(20003), "x"), Outcome::SessionGone { .. }));
        assert_eq!(
            classify(400, &h, &code(21211), "sms"),
            Outcome::Permanent {
                status: Some(400),
                reason: "sms: Twilio refused it with 400 (error 21211: m)".into()
            }
        );
        assert!(matches!(classify(500, &h, &TwilioError::default(), "x"), Outcome::Unknown { .. }));
    }
}
