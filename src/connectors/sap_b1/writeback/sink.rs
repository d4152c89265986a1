//! [`SapRecordSink`]: writes one outbox entry as one SAP Business One record — an Activity
//! (`POST Activities`) or a row of a user-defined table (`POST U_<TABLE>`) — and finds it
//! again after an ambiguous answer, so a record is never created twice.
//!
//! The Service Layer has no idempotency key (api notes, "Writes"), so every create carries a
//! marker derived from the dedupe key ([`super::marker`]):
//! - Activities: ` [ref mlc-…]` at the end of `marker_field` (default `Details`). After a
//!   timeout, reset or 5xx the runtime calls [`SapRecordSink::find_existing`]:
//!   `GET Activities?$filter=contains(<field>,'mlc-…')&$select=ActivityCode` → the lowest
//!   `ActivityCode` found, or `NotFound`.
//! - User-defined tables: `Code` = the marker (and `Name` too unless the route maps it). A
//!   create that SAP refuses with 400 (its duplicate-key answer, `-10`/`-2035` depending on
//!   the version) is checked with `GET U_<TABLE>('mlc-…')`: there → delivered with that
//!   `Code`; absent → permanent with SAP's message. The lookup is the same GET.
//!
//! Answers (classification of [`wire::classify`]): 201 → delivered with `ActivityCode` /
//! `Code`; 401 or code 301 → session gone (one re-login by the runtime); `-5002` → session gone
//! the first time, then — repeated on a fresh session — SAP's business error (e.g. an unknown
//! `CardCode`), permanent with SAP's message; other 4xx → permanent with SAP's message;
//! 408/429 → retry (`Retry-After` honoured); 5xx, other statuses, unreadable 201 → unknown
//! (looked up before any new POST). A payload without a `record` object → permanent, no
//! request.
//!
//! Payload: `{"record": {"<Field>": <JSON value>, …}}` (the route's `map`).

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};
use reqwest::header::{HeaderValue, COOKIE};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use url::Url;

use super::config::RecordTarget;
use super::marker::{marked, marker};
use crate::connectors::kit::outbound::{describe, retry_after, transport_outcome};
use crate::connectors::sap_b1::business::{session_digest, Persistent5002, Verdict};
use crate::connectors::sap_b1::wire::{self, describe_answer, ErrorClass, SapError};
use crate::connectors::sap_b1::SapSession;

/// One `sap_b1_record` destination (see the module docs).
pub struct SapRecordSink {
    client: reqwest::Client,
    root: Url,
    target: RecordTarget,
    /// `-5002` answers per dedupe key: the first is "log in again", a repeat on a fresh
    /// session is SAP's business error.
    refusals: Mutex<Persistent5002>,
}

impl fmt::Debug for SapRecordSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SapRecordSink")
            .field("root", &self.root.as_str())
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// An HTTP answer read whole: status, `Retry-After`, body.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Answer {
    fn error(&self) -> Option<SapError> {
        SapError::parse(&self.body)
    }
}

impl SapRecordSink {
    /// A sink writing to `target` below the service root `root` (`…/b1s/v2/`) with `client`
    /// (the credential's client: its TLS trust and timeout).
    pub fn new(client: reqwest::Client, root: Url, target: RecordTarget) -> SapRecordSink {
        SapRecordSink {
            client,
            root,
            target,
            refusals: Mutex::new(Persistent5002::new(Duration::ZERO, Duration::ZERO)),
        }
    }

    /// Where it writes.
    pub fn target(&self) -> &RecordTarget {
        &self.target
    }

    fn what(&self) -> String {
        format!("SAP {}", self.target.entity())
    }

    /// The JSON body of the create for `entry`: the route's record plus the marker (see the
    /// module docs), or why the payload cannot be written (no request is made then).
    pub fn body(&self, entry: &OutboxEntry) -> Result<Map<String, Value>, String> {
        let mut record = entry
            .payload
            .get("record")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| {
                "payload has no \"record\" object (not a record payload: give the route a `map`)"
                    .to_string()
            })?;
        let marker = marker(&entry.dedupe_key);
        match &self.target {
            RecordTarget::Activities { marker_field } => {
                let text = match record.get(marker_field) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => {
                        return Err(format!(
                            "map field {marker_field} holds the lookup marker and must be text"
                        ))
                    }
                };
                record.insert(marker_field.clone(), Value::String(marked(&text, &marker)));
            }
            RecordTarget::UserTable { .. } => {
                if record.contains_key("Code") {
                    return Err(
                        "the route's map sets Code; remove it: the sink sets Code to the entry's \
                         marker so SAP refuses a second create"
                            .to_string(),
                    );
                }
                record.insert("Code".into(), Value::String(marker.clone()));
                record
                    .entry("Name")
                    .or_insert_with(|| Value::String(marker));
            }
        }
        Ok(record)
    }

    fn cookie(session: &SapSession) -> Result<HeaderValue, String> {
        session
            .cookie_header()
            .map_err(|_| "the session cookie cannot be sent".to_string())
    }

    /// `GET <path-and-query below the root>` read whole.
    async fn get(&self, session: &SapSession, url: Url) -> Result<Answer, Lookup> {
        let cookie = Self::cookie(session).map_err(|reason| Lookup::SessionGone { reason })?;
        let response = self
            .client
            .get(url)
            .header(COOKIE, cookie)
            .send()
            .await
            .map_err(|e| Lookup::Failed {
                reason: format!("{} lookup failed: {}", self.what(), describe(&e)),
            })?;
        read(response).await.map_err(|e| Lookup::Failed {
            reason: format!("{} lookup: {}", self.what(), describe(&e)),
        })
    }

    /// The URL of the Activities lookup: `Activities?$filter=contains(<field>,'<marker>')&$select=ActivityCode`.
    pub fn lookup_url(&self, marker: &str) -> Url {
        let mut url = self.collection();
        match &self.target {
            RecordTarget::Activities { marker_field } => url.set_query(Some(&format!(
                "$filter=contains({marker_field},'{marker}')&$select=ActivityCode"
            ))),
            RecordTarget::UserTable { entity } => {
                url = self.root.join(&format!("{entity}('{marker}')")).unwrap_or(url);
            }
        }
        url
    }

    /// The URL `check` reads: the Activities lookup for a marker nobody has, `&$top=1`; a
    /// user-defined table's `U_<TABLE>?$top=1`.
    pub fn probe_url(&self) -> Url {
        match &self.target {
            RecordTarget::Activities { .. } => {
                let mut url = self.lookup_url(&marker("ml-connector check"));
                let query = format!("{}&$top=1", url.query().unwrap_or_default());
                url.set_query(Some(&query));
                url
            }
            RecordTarget::UserTable { .. } => {
                let mut url = self.collection();
                url.set_query(Some("$top=1"));
                url
            }
        }
    }

    fn collection(&self) -> Url {
        self.root
            .join(self.target.entity())
            .unwrap_or_else(|_| self.root.clone())
    }

    /// Search SAP for the record of `entry` (see the module docs).
    async fn lookup(&self, entry: &OutboxEntry, session: &SapSession) -> Result<Lookup, Lookup> {
        let answer = self.get(session, self.lookup_url(&marker(&entry.dedupe_key))).await?;
        let error = answer.error();
        let text = describe_answer(answer.status, error.as_ref());
        let what = self.what();
        match (answer.status, &self.target) {
            (200, RecordTarget::Activities { .. }) => {
                let value: Value = serde_json::from_slice(&answer.body).map_err(|e| Lookup::Failed {
                    reason: format!("{what} lookup: body is not JSON ({})", wire::json_error_kind(&e)),
                })?;
                let codes: Option<Vec<i64>> = value
                    .get("value")
                    .and_then(Value::as_array)
                    .map(|rows| rows.iter().filter_map(|r| r.get("ActivityCode")?.as_i64()).collect());
                let Some(codes) = codes else {
                    return Err(Lookup::Failed {
                        reason: format!("{what} lookup: answer has no value list"),
                    });
                };
                if codes.len() > 1 {
                    tracing::warn!(destination = %entry.destination, activities = ?codes, "more than one SAP Activity carries this entry's marker; the lowest ActivityCode is taken");
                }
                Ok(codes
                    .into_iter()
                    .min()
                    .map_or(Lookup::NotFound, |code| Lookup::Found {
                        remote_id: code.to_string(),
                    }))
            }
            (200, RecordTarget::UserTable { .. }) => Ok(Lookup::Found {
                remote_id: marker(&entry.dedupe_key),
            }),
            (404, RecordTarget::UserTable { .. }) if error.as_ref().and_then(SapError::code_number) == Some(NO_MATCHING_RECORDS) => {
                Ok(Lookup::NotFound)
            }
            (status, _) => Err(match wire::classify(status, error.as_ref(), false) {
                ErrorClass::SessionGone => Lookup::SessionGone {
                    reason: format!("{what} lookup: {text}"),
                },
                ErrorClass::BadRequest => Lookup::Refused {
                    reason: format!(
                        "{what} lookup refused ({text}): check that the entity set exists and \
                         that the marker field can be filtered (`ml-connector check`)"
                    ),
                },
                _ => Lookup::Failed {
                    reason: format!("{what} lookup: {text}"),
                },
            }),
        }
    }

    /// The outcome of a non-201 answer to the create.
    async fn refused(&self, entry: &OutboxEntry, session: &SapSession, answer: Answer) -> Outcome {
        let error = answer.error();
        let text = describe_answer(answer.status, error.as_ref());
        let what = self.what();
        match wire::classify(answer.status, error.as_ref(), false) {
            ErrorClass::SessionGone => Outcome::SessionGone {
                reason: format!("{what}: {text}"),
            },
            ErrorClass::LoginAgainOnce => {
                let digest = session_digest(session.b1session.expose_secret());
                let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
                match refusals.answered_5002(&entry.dedupe_key, digest, 0) {
                    Verdict::LoginAgain => Outcome::SessionGone {
                        reason: format!("{what}: {text} (log in again and retry once)"),
                    },
                    Verdict::Business { .. } => {
                        refusals.answered_ok(&entry.dedupe_key);
                        Outcome::Permanent {
                            status: Some(answer.status),
                            reason: format!("{what} refused the record: {text}"),
                        }
                    }
                }
            }
            ErrorClass::BadRequest | ErrorClass::WrongCredentials => {
                if matches!(self.target, RecordTarget::UserTable { .. }) && answer.status == 400 {
                    // SAP's duplicate-key answer: is our row (same Code) already there?
                    match self.lookup(entry, session).await {
                        Ok(Lookup::Found { remote_id }) => return Outcome::Delivered { remote_id },
                        Ok(_) => {}
                        Err(Lookup::SessionGone { reason }) => return Outcome::SessionGone { reason },
                        Err(other) => {
                            return Outcome::Unknown {
                                reason: format!("{what}: {text}; checking for an existing row failed: {other:?}"),
                            }
                        }
                    }
                }
                Outcome::Permanent {
                    status: Some(answer.status),
                    reason: format!("{what} refused the record: {text}"),
                }
            }
            ErrorClass::Busy => Outcome::Retry {
                after: answer.retry_after,
                reason: format!("{what}: {text}"),
                throttled: answer.status == 429,
            },
            ErrorClass::Server | ErrorClass::ConcurrentLogin | ErrorClass::Unexpected => {
                Outcome::Unknown {
                    reason: format!("{what}: {text} (the record may have been stored)"),
                }
            }
        }
    }
}

/// SAP's "No matching records found (ODBC -2028)" code.
const NO_MATCHING_RECORDS: i64 = -2028;

async fn read(response: reqwest::Response) -> Result<Answer, reqwest::Error> {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = response.bytes().await?.to_vec();
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

impl Sink for SapRecordSink {
    type Credentials = SapSession;

    async fn deliver(&self, entry: &OutboxEntry, session: &SapSession) -> Outcome {
        let what = self.what();
        let body = match self.body(entry) {
            Ok(body) => body,
            Err(reason) => {
                return Outcome::Permanent {
                    status: None,
                    reason: format!("{what}: {reason}"),
                }
            }
        };
        let cookie = match Self::cookie(session) {
            Ok(c) => c,
            Err(reason) => return Outcome::SessionGone { reason },
        };
        let sent = self
            .client
            .post(self.collection())
            .header(COOKIE, cookie)
            .json(&body)
            .send()
            .await;
        let answer = match sent {
            Ok(response) => read(response).await,
            Err(e) => return transport_outcome(&e, &what),
        };
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                return Outcome::Unknown {
                    reason: format!("{what}: the answer could not be read: {}", describe(&e)),
                }
            }
        };
        if answer.status != 201 {
            return self.refused(entry, session, answer).await;
        }
        self.refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .answered_ok(&entry.dedupe_key);
        let key = self.target.key();
        let id = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| match v.get(key)? {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                _ => None,
            });
        match id {
            Some(remote_id) => Outcome::Delivered { remote_id },
            None => Outcome::Unknown {
                reason: format!("{what}: SAP answered 201 without a readable {key}"),
            },
        }
    }

    async fn find_existing(&self, entry: &OutboxEntry, session: &SapSession) -> Lookup {
        match self.lookup(entry, session).await {
            Ok(found) | Err(found) => found,
        }
    }
}
