//! The simulated account: messages, calls, status progression, signed status callbacks.

use std::collections::VecDeque;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

use super::{TwilioFault, TwilioSandboxConfig};

/// Regions the sandbox serves: `us1` at `/`, `ie1` at `/ie1/` (the EU host
/// `api.dublin.ie1.twilio.com`), each with its own auth token and its own data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// `https://api.twilio.com`.
    Us1,
    /// `https://api.dublin.ie1.twilio.com`.
    Ie1,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// `SM` + 32 hex digits.
    pub sid: String,
    /// Region that stored it.
    pub region: Region,
    /// `To`.
    pub to: String,
    /// `From` (the service's number when sent through a Messaging Service).
    pub from: String,
    /// `MessagingServiceSid`, when used.
    pub messaging_service_sid: Option<String>,
    /// `Body` exactly as received.
    pub body: String,
    /// `queued`, `sent`, `delivered`, `undelivered`, `failed`.
    pub status: String,
    /// Error code of a failed delivery (`30003` unreachable, `30006` landline).
    pub error_code: Option<u32>,
    /// Creation time.
    pub date_created: OffsetDateTime,
    /// When it was sent; `None` while queued.
    pub date_sent: Option<OffsetDateTime>,
    /// Last change.
    pub date_updated: OffsetDateTime,
    /// `StatusCallback` as received.
    pub status_callback: Option<String>,
}

/// A call as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCall {
    /// `CA` + 32 hex digits.
    pub sid: String,
    /// Region that stored it.
    pub region: Region,
    /// `To`.
    pub to: String,
    /// `From`.
    pub from: String,
    /// `Twiml` as received.
    pub twiml: String,
    /// `queued`, `ringing`, `in-progress`, `completed`, `no-answer`.
    pub status: String,
    /// Creation time.
    pub date_created: OffsetDateTime,
    /// When it started ringing; `None` while queued.
    pub start_time: Option<OffsetDateTime>,
    /// When it ended.
    pub end_time: Option<OffsetDateTime>,
    /// Last change.
    pub date_updated: OffsetDateTime,
    /// `StatusCallback` as received.
    pub status_callback: Option<String>,
}

/// A status callback request the sandbox made (or would make): POST `url`, form `params`,
/// headers `X-Twilio-Signature: signature` and `I-Twilio-Idempotency-Token: idempotency_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The `StatusCallback` URL exactly as given at create.
    pub url: String,
    /// Form parameters in sending order.
    pub params: Vec<(String, String)>,
    /// `X-Twilio-Signature`.
    pub signature: String,
    /// `I-Twilio-Idempotency-Token`.
    pub idempotency_token: String,
}

/// `X-Twilio-Signature` of a form POST: base64 of HMAC-SHA1 keyed with the auth token over
/// the URL followed by every parameter's name and value, sorted by name.
/// Source: twilio.com/docs/usage/security ("Validating signatures from Twilio").
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// RFC 2822 in GMT, as Twilio writes `date_created` (`Thu, 24 Aug 2023 05:01:45 +0000`).
pub fn rfc2822(at: OffsetDateTime) -> String {
    at.format(&Rfc2822).unwrap_or_default()
}

/// The whole simulated account.
#[derive(Debug)]
pub struct State {
    pub config: TwilioSandboxConfig,
    pub messages: Vec<StoredMessage>,
    pub calls: Vec<StoredCall>,
    pub faults: VecDeque<TwilioFault>,
    pub callbacks: Vec<Callback>,
    /// When `auto_advance` last moved the statuses.
    pub last_auto: std::time::Instant,
    counter: u64,
}

impl State {
    pub fn new(config: TwilioSandboxConfig) -> State {
        State {
            config,
            messages: Vec::new(),
            calls: Vec::new(),
            faults: VecDeque::new(),
            callbacks: Vec::new(),
            last_auto: std::time::Instant::now(),
            counter: 0,
        }
    }

    /// A new SID with `prefix`: 32 hex digits of SHA-256 over the account and a counter.
    pub fn sid(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let digest = Sha256::digest(format!("{}/{}/{}", self.config.account_sid, prefix, self.counter));
        format!("{prefix}{}", hex::encode(&digest[..16]))
    }

    /// The auth token of `region`.
    pub fn auth_token(&self, region: Region) -> &str {
        match region {
            Region::Us1 => &self.config.auth_token,
            Region::Ie1 => &self.config.eu_auth_token,
        }
    }

    /// Move every message and call one status further; returns the callbacks that makes.
    ///
    /// Messages: `queued` → `sent` (sets `date_sent`) → `delivered`, or `undelivered` with the
    /// configured error code for a number of `undeliverable`, or `queued` → `failed` with the
    /// configured code for a number of `failing`. Calls: `queued` → `ringing`
    /// (sets `start_time`) → `in-progress` → `completed`, or `ringing` → `no-answer` for a
    /// number of `no_answer`.
    pub fn advance(&mut self) -> Vec<Callback> {
        let now = OffsetDateTime::now_utc();
        let mut made = Vec::new();
        for i in 0..self.messages.len() {
            let m = &self.messages[i];
            let failure = self.config.undeliverable.iter().find(|(n, _)| *n == m.to).map(|(_, c)| *c);
            let refused = self.config.failing.iter().find(|(n, _)| *n == m.to).map(|(_, c)| *c);
            let (status, code) = match (m.status.as_str(), failure) {
                ("queued", _) if refused.is_some() => ("failed", refused),
                ("queued", _) => ("sent", None),
                ("sent", Some(code)) => ("undelivered", Some(code)),
                ("sent", None) => ("delivered", None),
                _ => continue,
            };
            let m = &mut self.messages[i];
            m.status = status.to_string();
            m.error_code = code;
            m.date_updated = now;
            if status == "sent" {
                m.date_sent = Some(now);
            }
            let m = m.clone();
            if let Some(url) = &m.status_callback {
                let mut params = vec![
                    ("AccountSid".to_string(), self.config.account_sid.clone()),
                    ("ApiVersion".to_string(), "2010-04-01".to_string()),
                    ("From".to_string(), m.from.clone()),
                    ("MessageSid".to_string(), m.sid.clone()),
                    ("MessageStatus".to_string(), m.status.clone()),
                    ("SmsSid".to_string(), m.sid.clone()),
                    ("SmsStatus".to_string(), m.status.clone()),
                    ("To".to_string(), m.to.clone()),
                ];
                if let Some(code) = m.error_code {
                    params.push(("ErrorCode".to_string(), code.to_string()));
                }
                made.push(self.callback(m.region, url, params));
            }
        }
        for i in 0..self.calls.len() {
            let c = &self.calls[i];
            let silent = self.config.no_answer.contains(&c.to);
            let status = match (c.status.as_str(), silent) {
                ("queued", _) => "ringing",
                ("ringing", true) => "no-answer",
                ("ringing", false) => "in-progress",
                ("in-progress", _) => "completed",
                _ => continue,
            };
            let c = &mut self.calls[i];
            c.status = status.to_string();
            c.date_updated = now;
            match status {
                "ringing" => c.start_time = Some(now),
                "completed" | "no-answer" => c.end_time = Some(now),
                _ => {}
            }
            let c = c.clone();
            // StatusCallbackEvent defaults to `completed` only: final statuses call back.
            if let (Some(url), "completed" | "no-answer") = (&c.status_callback, status) {
                let params = vec![
                    ("AccountSid".to_string(), self.config.account_sid.clone()),
                    ("ApiVersion".to_string(), "2010-04-01".to_string()),
                    ("CallDuration".to_string(), if status == "completed" { "12" } else { "0" }.to_string()),
                    ("CallSid".to_string(), c.sid.clone()),
                    ("CallStatus".to_string(), c.status.clone()),
                    ("Direction".to_string(), "outbound-api".to_string()),
                    ("From".to_string(), c.from.clone()),
                    ("To".to_string(), c.to.clone()),
                ];
                made.push(self.callback(c.region, url, params));
            }
        }
        self.callbacks.extend(made.iter().cloned());
        made
    }

    fn callback(&mut self, region: Region, url: &str, params: Vec<(String, String)>) -> Callback {
        let signature = twilio_signature(self.auth_token(region), url, &params);
        let idempotency_token = self.sid("");
        Callback {
            url: url.to_string(),
            params,
            signature,
            idempotency_token,
        }
    }
}

/// The JSON of a message (fields of `api.v2010.account.message`).
pub fn message_json(account_sid: &str, m: &StoredMessage) -> Value {
    let uri = format!("/2010-04-01/Accounts/{account_sid}/Messages/{}.json", m.sid);
    json!({
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": rfc2822(m.date_created),
        "date_sent": m.date_sent.map(rfc2822),
        "date_updated": rfc2822(m.date_updated),
        "direction": "outbound-api",
        "error_code": m.error_code,
        "error_message": m.error_code.map(|_| "Unreachable destination handset"),
        "from": m.from,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": "0",
        "num_segments": segments(&m.body).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": m.sid,
        "status": m.status,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": m.to,
        "uri": uri,
    })
}

/// SMS segments of `body`: GSM-7 bodies 160 characters in one segment, 153 per segment
/// beyond; anything else (UCS-2) 70, then 67.
fn segments(body: &str) -> usize {
    const GSM: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    let n = body.chars().count();
    let (one, many) = if body.chars().all(|c| GSM.contains(c)) {
        (160, 153)
    } else {
        (70, 67)
    };
    if n <= one {
        1
    } else {
        n.div_ceil(many)
    }
}

/// The JSON of a call (fields of `api.v2010.account.call`).
pub fn call_json(account_sid: &str, c: &StoredCall) -> Value {
    let duration = match (c.start_time, c.end_time) {
        (Some(_), Some(_)) if c.status == "completed" => Some("12"),
        (_, Some(_)) => Some("0"),
        _ => None,
    };
    json!({
        "account_sid": account_sid,
        "answered_by": null,
        "api_version": "2010-04-01",
        "caller_name": null,
        "date_created": rfc2822(c.date_created),
        "date_updated": rfc2822(c.date_updated),
        "direction": "outbound-api",
        "duration": duration,
        "end_time": c.end_time.map(rfc2822),
        "forwarded_from": null,
        "from": c.from,
        "from_formatted": c.from,
        "group_sid": null,
        "parent_call_sid": null,
        "phone_number_sid": null,
        "price": null,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": c.sid,
        "start_time": c.start_time.map(rfc2822),
        "status": c.status,
        "subresource_uris": {},
        "to": c.to,
        "to_formatted": c.to,
        "trunk_sid": null,
        "uri": format!("/2010-04-01/Accounts/{account_sid}/Calls/{}.json", c.sid),
    })
}
