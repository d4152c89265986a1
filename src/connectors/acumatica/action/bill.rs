//! The bill calls of an `acumatica_action` destination, on the contract-based REST API:
//!
//! - read: `GET <entity root>Bill/{Type}/{ReferenceNbr}` → 200 wrapped record; not found is
//!   500 `NoEntitySatisfiesTheConditionException` (or 404);
//! - hold: `PUT <entity root>Bill` with `If-Match: *` (update only, never a new bill)
//!   `{"Type":{"value"},"ReferenceNbr":{"value"},"Hold":{"value":bool}}` → 200 wrapped
//!   record (its new `LastModifiedDateTime`); 422 with a top-level `error`;
//! - release: `POST <entity root>Bill/ReleaseBill`
//!   `{"entity":{"Type":{"value"},"ReferenceNbr":{"value"}},"parameters":{}}` → 202 with
//!   `Location: /entity/<ep>/<ver>/Bill/ReleaseBill/status/<guid>`;
//! - operation: `GET <Location>` → 202 running, 204 done, anything else failed (its
//!   `exceptionMessage`).
//!
//! Every call answers a [`Call`]: a write whose answer was lost (timeout after sending,
//! connection reset, a 5xx without Acumatica's error body) is [`Call::Ambiguous`], never
//! retried blindly by the caller. Texts never hold the session cookie.
//!
//! Source: `/work/shared/api-notes/acumatica.md` ("Create/update", "Actions", "Errors").

use std::time::Duration;

use reqwest::header::{ACCEPT, COOKIE, IF_MATCH, LOCATION};
use serde_json::{json, Value};
use url::Url;

use super::super::auth::AcumaticaSession;
use super::super::wire::{unwrap_record, ApiError};
use crate::connectors::kit::outbound::{describe, failed_before_sending, retry_after};

/// The .NET exception of a read that matched nothing.
const NOT_FOUND: &str = "NoEntitySatisfiesTheCondition";

/// A bill as the action reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// `Status` (`On Hold`, `Balanced`, `Open`, `Closed`).
    pub status: String,
    /// `Hold`.
    pub hold: bool,
    /// `LastModifiedDateTime`, as sent.
    pub version: String,
}

/// State of a long-running action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// 202: still running.
    Running,
    /// 204: done.
    Done,
    /// Anything else: failed, with Acumatica's text.
    Failed(String),
}

/// How one call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Call<T> {
    /// Answered as hoped.
    Done(T),
    /// 401: the session is gone.
    Gone(String),
    /// Not processed (429/408, connection refused, a read's 5xx — Acumatica's error body or
    /// not — or timeout): try later.
    Retry { after: Option<Duration>, reason: String, throttled: bool },
    /// A write that may have been processed (answer lost, 5xx without an error body).
    Ambiguous(String),
    /// Refused for good (422, other 4xx, a write's 500 with Acumatica's error): its text. `status` 0:
    /// refused before sending (a URL that cannot be built).
    Refused { status: u16, message: String },
}

/// The bill calls of one credential's entity root.
#[derive(Debug, Clone)]
pub struct BillApi {
    client: reqwest::Client,
    root: Url,
}

/// An answer read whole.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

/// Acumatica's text of an error body: a 422's top-level `error`, else `exceptionMessage`,
/// else `message`; cut to 300 characters.
pub fn error_text(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(text) = value.get("error").and_then(Value::as_str) {
        return text.chars().take(300).collect();
    }
    ApiError::parse(body).map(|e| e.text()).unwrap_or_default()
}

impl BillApi {
    /// Calls below `root` (`<base>/entity/<endpoint>/<version>/`) with `client`.
    pub fn new(client: reqwest::Client, root: Url) -> BillApi {
        BillApi { client, root }
    }

    fn bill_url(&self, tail: &[&str]) -> Result<Url, String> {
        let mut url = self.root.clone();
        url.path_segments_mut()
            .map_err(|()| format!("{} cannot be a base URL", self.root))?
            .pop_if_empty()
            .push("Bill")
            .extend(tail);
        Ok(url)
    }

    async fn send(&self, request: reqwest::RequestBuilder, session: &AcumaticaSession, write: bool) -> Result<Answer, Lost> {
        let cookie = session.cookie_header().map_err(|_| Lost::Gone("session cookie is not a valid header".into()))?;
        let sent = request.header(COOKIE, cookie).header(ACCEPT, "application/json").send().await;
        let lost = |e: &reqwest::Error| {
            if failed_before_sending(e) || !write {
                Lost::Retry(describe(e))
            } else {
                Lost::Ambiguous(describe(e))
            }
        };
        let response = sent.map_err(|e| lost(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| lost(&e))?.to_vec();
        Ok(Answer { status, headers, body })
    }

    /// The [`Call`] of an answer that is not the hoped-for one.
    fn failure<T>(answer: &Answer, write: bool) -> Call<T> {
        let text = error_text(&answer.body);
        let described = if text.is_empty() { format!("HTTP {}", answer.status) } else { format!("HTTP {}: {text}", answer.status) };
        match answer.status {
            401 => Call::Gone(described),
            429 | 408 => Call::Retry { after: retry_after(&answer.headers), reason: described, throttled: answer.status == 429 },
            500 if write && ApiError::parse(&answer.body).is_some_and(|e| e.exception_message.is_some()) => {
                Call::Refused { status: 500, message: text }
            }
            500..=599 if write => Call::Ambiguous(described),
            500..=599 => Call::Retry { after: retry_after(&answer.headers), reason: described, throttled: false },
            _ => Call::Refused { status: answer.status, message: if text.is_empty() { described } else { text } },
        }
    }

    fn bill_of(body: &[u8]) -> Result<Bill, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("bill is not JSON: {e}"))?;
        let plain = unwrap_record(&value)?;
        Ok(Bill {
            status: plain["Status"].as_str().unwrap_or_default().to_string(),
            hold: plain["Hold"].as_bool().unwrap_or(false),
            version: plain["LastModifiedDateTime"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// `GET Bill/{Type}/{ReferenceNbr}`: `Done(None)` when Acumatica has no such bill.
    pub async fn get(&self, session: &AcumaticaSession, bill_type: &str, number: &str) -> Call<Option<Bill>> {
        let url = match self.bill_url(&[bill_type, number]) {
            Ok(u) => u,
            Err(message) => return Call::Refused { status: 0, message },
        };
        let answer = match self.send(self.client.get(url), session, false).await {
            Ok(a) => a,
            Err(lost) => return lost.call(),
        };
        let missing = ApiError::parse(&answer.body)
            .and_then(|e| e.exception_type.or(e.exception_message))
            .is_some_and(|t| t.contains(NOT_FOUND));
        match answer.status {
            200 => match Self::bill_of(&answer.body) {
                Ok(bill) => Call::Done(Some(bill)),
                Err(reason) => Call::Retry { after: None, reason, throttled: false },
            },
            404 | 500 if missing => Call::Done(None),
            _ => Self::failure(&answer, false),
        }
    }

    /// `PUT Bill` with `If-Match: *` setting `Hold`: the bill as saved.
    pub async fn set_hold(&self, session: &AcumaticaSession, bill_type: &str, number: &str, hold: bool) -> Call<Bill> {
        let url = match self.bill_url(&[]) {
            Ok(u) => u,
            Err(message) => return Call::Refused { status: 0, message },
        };
        let body = json!({"Type": {"value": bill_type}, "ReferenceNbr": {"value": number}, "Hold": {"value": hold}});
        let answer = match self.send(self.client.put(url).header(IF_MATCH, "*").json(&body), session, true).await {
            Ok(a) => a,
            Err(lost) => return lost.call(),
        };
        match answer.status {
            200 => match Self::bill_of(&answer.body) {
                Ok(bill) => Call::Done(bill),
                Err(reason) => Call::Ambiguous(reason),
            },
            _ => Self::failure(&answer, true),
        }
    }

    /// `POST Bill/ReleaseBill`: the operation's `Location`, absolute.
    pub async fn release(&self, session: &AcumaticaSession, bill_type: &str, number: &str) -> Call<Url> {
        let url = match self.bill_url(&["ReleaseBill"]) {
            Ok(u) => u,
            Err(message) => return Call::Refused { status: 0, message },
        };
        let body = json!({"entity": {"Type": {"value": bill_type}, "ReferenceNbr": {"value": number}}, "parameters": {}});
        let answer = match self.send(self.client.post(url.clone()).json(&body), session, true).await {
            Ok(a) => a,
            Err(lost) => return lost.call(),
        };
        match answer.status {
            202 => {
                let location = answer.headers.get(LOCATION).and_then(|v| v.to_str().ok()).and_then(|l| url.join(l).ok());
                match location {
                    Some(l) => Call::Done(l),
                    None => Call::Ambiguous("ReleaseBill answered 202 without a Location".into()),
                }
            }
            // An action that finished at once.
            200 | 204 => Call::Done(url),
            _ => Self::failure(&answer, true),
        }
    }

    /// `GET <Location>` of a running action.
    pub async fn operation(&self, session: &AcumaticaSession, location: &Url) -> Call<Operation> {
        let answer = match self.send(self.client.get(location.clone()), session, false).await {
            Ok(a) => a,
            Err(lost) => return lost.call(),
        };
        match answer.status {
            202 => Call::Done(Operation::Running),
            204 | 200 => Call::Done(Operation::Done),
            401 => Call::Gone(format!("HTTP 401 on {}", location.path())),
            429 | 408 | 502..=504 => Self::failure(&answer, false),
            status => {
                let text = error_text(&answer.body);
                Call::Done(Operation::Failed(if text.is_empty() { format!("HTTP {status}") } else { text }))
            }
        }
    }
}

/// Why [`BillApi::send`] has no answer to read.
enum Lost {
    /// The cookie cannot be sent.
    Gone(String),
    /// Not sent, or a read: try later.
    Retry(String),
    /// A write whose answer was lost.
    Ambiguous(String),
}

impl Lost {
    fn call<T>(self) -> Call<T> {
        match self {
            Lost::Gone(r) => Call::Gone(r),
            Lost::Retry(reason) => Call::Retry { after: None, reason, throttled: false },
            Lost::Ambiguous(r) => Call::Ambiguous(r),
        }
    }
}
