//! [`TwilioSink`]: one SMS recipient (`POST …/Messages.json`) or one call recipient
//! (`POST …/Calls.json` with inline `<Say>` TwiML), and the lookup that keeps an ambiguous
//! create from being sent twice.
//!
//! Twilio has no idempotency key on creates: a timeout, reset or 5xx after the request left
//! may have stored the message. The sink answers [`Outcome::Unknown`] and the runtime asks
//! [`TwilioSink::find_existing`] before any new POST:
//! - SMS: the body carries ` [ref xxxxxxxx]` (8 hex digits of SHA-256 of the dedupe key).
//!   The lookup lists messages `To` the recipient (`From` the sender when it is a number)
//!   sent since the entry was created (`DateSent>=` that UTC date, minus `clock_skew`), all
//!   pages up to `lookup_max_pages`, plus the newest page without a date filter for messages
//!   still queued (their `date_sent` is `null`, so a date filter cannot see them), and matches
//!   the marker in `body`. Found → the entry is delivered with that `SM…` SID.
//!   A `StatusCallback` is not searchable (the Message resource does not return it), so the
//!   marker must be in the body; with `body_marker = false` the lookup answers
//!   [`Lookup::Unsupported`] and the destination's `on_unverifiable` decides.
//! - Voice: the Call resource returns neither the TwiML nor the callback URL, so a call
//!   carries no marker Twilio lets anyone read back. The lookup lists calls to the recipient
//!   from the sender since the entry was created (`StartTime>=`, plus `Status=queued`):
//!   none → [`Lookup::NotFound`] (safe to dial); any → [`Lookup::Unsupported`], because the
//!   gateway cannot prove whose call it is; `on_unverifiable` (default: dead letter for an
//!   operator) decides. Never a second call on a guess.
//!
//! Receipts: with [`TwilioSink::with_receipts`], every SID the sink answers `Delivered` or a
//! lookup answers `Found` for is first recorded as a pending receipt (`status::receipt`); a
//! store failure there answers `Unknown` / lookup `Failed` (never `Delivered` unrecorded, never
//! a resend). The `StatusCallback` URL carries the entry's marker as `?mlc_ref=…`. An SMS
//! receipt keeps the text as rendered (without the marker) for escalation calls.
//!
//! Only 429 / code 20429 are retried blindly; invalid or non-mobile numbers (21211, 21614)
//! are permanent with Twilio's reason; 401 is "session gone".

use std::fmt;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};
use url::Url;

use super::auth::TwilioCredentials;
use super::status::{PendingReceipt, ReceiptBook, ReceiptEntity};
use super::config::{SayOptions, Sender, TwilioDestinationConfig, MAX_BODY_CHARS, MAX_TWIML_CHARS};
use super::wire::{self, ListPage, Resource, TwilioError, LOOKUP_PAGE_SIZE};
use crate::connectors::kit::outbound::{describe, transport_outcome};

/// Messages or Calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Sms,
    Voice,
}

impl Channel {
    fn collection(self) -> &'static str {
        match self {
            Channel::Sms => "Messages.json",
            Channel::Voice => "Calls.json",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Channel::Sms => "Twilio SMS",
            Channel::Voice => "Twilio call",
        }
    }
}

/// One Twilio destination (see the module docs).
#[derive(Clone)]
pub struct TwilioSink {
    client: reqwest::Client,
    collection: Url,
    channel: Channel,
    config: TwilioDestinationConfig,
    receipts: Option<ReceiptBook>,
}

impl fmt::Debug for TwilioSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSink")
            .field("collection", &self.collection.as_str())
            .field("channel", &self.channel)
            .field("to", &self.config.to)
            .field("sender", &self.config.sender)
            .finish_non_exhaustive()
    }
}

/// Where the records of a list page are.
fn records(page: ListPage, channel: Channel) -> Vec<Resource> {
    match channel {
        Channel::Sms => page.messages,
        Channel::Voice => page.calls,
    }
}

impl TwilioSink {
    /// A sink for `config` (a `twilio_sms` destination when `config.say` is `None`, else
    /// `twilio_voice`) on account `account_sid` at the REST root `api`.
    pub fn new(
        client: reqwest::Client,
        api: &Url,
        account_sid: &str,
        config: TwilioDestinationConfig,
    ) -> TwilioSink {
        let channel = if config.say.is_some() {
            Channel::Voice
        } else {
            Channel::Sms
        };
        TwilioSink {
            client,
            collection: wire::account_url(api, account_sid, channel.collection()),
            channel,
            config,
            receipts: None,
        }
    }

    /// This sink recording what it sent as pending receipts in `book` (see [`Self::sent`]).
    pub fn with_receipts(mut self, book: ReceiptBook) -> TwilioSink {
        self.receipts = Some(book);
        self
    }

    /// Record `sid`, sent for `entry`, as a pending receipt (when receipts are on), before the
    /// caller answers `Delivered` / `Found`. Recording again (after a crash in between, or a
    /// lookup finding it) writes the same receipt. Errors: the store's reason.
    async fn sent(&self, entry: &OutboxEntry, sid: &str) -> Result<(), String> {
        let Some(book) = &self.receipts else {
            return Ok(());
        };
        let receipt = PendingReceipt {
            sid: sid.to_string(),
            entity: match self.channel {
                Channel::Sms => ReceiptEntity::Message,
                Channel::Voice => ReceiptEntity::Call,
            },
            dedupe_key: entry.dedupe_key.clone(),
            event_key: entry.event_key.clone(),
            destination: entry.destination.clone(),
            to: self.config.to.clone(),
            sent_ms: book.store().now_ms(),
            body: match self.channel {
                Channel::Sms => entry.payload.get("text").and_then(|v| v.as_str()).unwrap_or_default().trim().to_string(),
                Channel::Voice => String::new(),
            },
        };
        book.record(&receipt)
            .await
            .map_err(|e| format!("{} {sid} was sent but its receipt could not be recorded: {e}", self.channel.what()))
    }

    /// The status callback URL with the entry's marker (`?mlc_ref=…`), when configured.
    fn status_callback(&self, marker: &str) -> Option<String> {
        self.config.status_callback_url.as_ref().map(|url| {
            let mut url = url.clone();
            url.query_pairs_mut().append_pair("mlc_ref", marker);
            url.to_string()
        })
    }

    /// The form of the create request for `entry`, or why its payload cannot be sent (no
    /// request is made then).
    ///
    /// SMS: `To`, `From` | `MessagingServiceSid`, `Body` (payload `{"text": …}` plus the
    /// marker), `StatusCallback`. Voice: `To`, `From`, `Twiml` (payload `{"say": …}`),
    /// `StatusCallback`. No `StatusCallbackEvent`: without it Twilio calls back on `completed`
    /// only, which carries the final `CallStatus` (completed, busy, no-answer, failed,
    /// canceled) — all the gateway needs. (Twilio's OpenAPI types the parameter as an array,
    /// and a spec-validating server refuses a single value: see `prism.rs`.)
    pub fn form(&self, entry: &OutboxEntry) -> Result<Vec<(&'static str, String)>, String> {
        let marker = wire::marker(&entry.dedupe_key);
        let mut form = vec![("To", self.config.to.clone())];
        match &self.config.sender {
            Sender::From(from) => form.push(("From", from.clone())),
            Sender::Service(sid) => form.push(("MessagingServiceSid", sid.clone())),
        }
        let text = |key: &str| {
            entry
                .payload
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    format!("payload has no non-empty \"{key}\" text (not a {} payload)", self.channel.what())
                })
        };
        match (&self.config.say, self.channel) {
            (Some(SayOptions { voice, language }), Channel::Voice) => {
                let twiml = wire::say_twiml(&text("say")?, voice, language);
                if twiml.chars().count() > MAX_TWIML_CHARS {
                    return Err(format!(
                        "the call script is {} characters as TwiML; Twilio accepts {MAX_TWIML_CHARS}: \
                         shorten the route's voice template",
                        twiml.chars().count()
                    ));
                }
                form.push(("Twiml", twiml));
            }
            _ => {
                let mark = self.config.body_marker.then_some(marker.as_str());
                form.push(("Body", wire::marked_body(&text("text")?, mark, MAX_BODY_CHARS)));
            }
        }
        if let Some(callback) = self.status_callback(&marker) {
            form.push(("StatusCallback", callback));
        }
        Ok(form)
    }

    /// Every record of `query` (all pages, at most `lookup_max_pages`), or the first page only.
    async fn list(
        &self,
        credentials: &TwilioCredentials,
        query: &[(&str, String)],
        all_pages: bool,
    ) -> Result<Vec<Resource>, Lookup> {
        let mut url = self.collection.clone();
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())))
            .append_pair("PageSize", &LOOKUP_PAGE_SIZE.to_string());
        let mut found = Vec::new();
        for _ in 0..self.config.lookup_max_pages {
            let response = credentials
                .apply(self.client.get(url.clone()))
                .send()
                .await
                .map_err(|e| Lookup::Failed {
                    reason: format!("{} lookup failed: {}", self.channel.what(), describe(&e)),
                })?;
            let status = response.status().as_u16();
            if status != 200 {
                let error = TwilioError::read(response).await;
                let reason = format!("{} lookup: Twilio answered {status} ({error})", self.channel.what());
                return Err(if status == 401 {
                    Lookup::SessionGone { reason }
                } else {
                    Lookup::Failed { reason }
                });
            }
            let page: ListPage = response.json().await.map_err(|e| Lookup::Failed {
                reason: format!("{} lookup: unreadable list page: {}", self.channel.what(), describe(&e)),
            })?;
            let next = page.next_page_uri.clone();
            found.extend(records(page, self.channel));
            match next {
                Some(next) if all_pages => {
                    url = self.collection.join(&next).map_err(|e| Lookup::Failed {
                        reason: format!("bad next_page_uri: {e}"),
                    })?;
                }
                _ => return Ok(found),
            }
        }
        Err(Lookup::Failed {
            reason: format!(
                "{} lookup read {} pages without reaching the end; raise lookup_max_pages",
                self.channel.what(),
                self.config.lookup_max_pages
            ),
        })
    }

    /// The recipient/sender filters of a lookup.
    fn filters(&self) -> Vec<(&'static str, String)> {
        let mut filters = vec![("To", self.config.to.clone())];
        if let Sender::From(from) = &self.config.sender {
            filters.push(("From", from.clone()));
        }
        filters
    }

    async fn lookup(&self, entry: &OutboxEntry, credentials: &TwilioCredentials) -> Result<Lookup, Lookup> {
        if self.channel == Channel::Sms && !self.config.body_marker {
            return Ok(Lookup::Unsupported);
        }
        let since = wire::filter_date(entry.created_ms, self.config.clock_skew);
        let (date_key, pending) = match self.channel {
            Channel::Sms => ("DateSent>", None),
            Channel::Voice => ("StartTime>", Some(("Status", "queued".to_string()))),
        };
        let mut dated = self.filters();
        dated.push((date_key, since));
        let mut candidates = self.list(credentials, &dated, true).await?;
        let mut recent = self.filters();
        recent.extend(pending);
        candidates.extend(
            self.list(credentials, &recent, false)
                .await?
                .into_iter()
                .filter(|r| r.date_sent.is_none() && r.start_time.is_none()),
        );
        match self.channel {
            Channel::Sms => {
                let mark = wire::body_marker(&wire::marker(&entry.dedupe_key));
                Ok(candidates
                    .into_iter()
                    .find(|m| m.body.as_deref().is_some_and(|b| b.ends_with(&mark)))
                    .map_or(Lookup::NotFound, |m| Lookup::Found { remote_id: m.sid }))
            }
            Channel::Voice => {
                let from_ms = entry.created_ms - self.config.clock_skew.as_millis() as i64;
                let calls: Vec<String> = candidates
                    .into_iter()
                    .filter(|c| c.created_ms().is_none_or(|ms| ms >= from_ms))
                    .map(|c| c.sid)
                    .collect();
                if calls.is_empty() {
                    Ok(Lookup::NotFound)
                } else {
                    tracing::warn!(
                        destination = %entry.destination,
                        calls = ?calls,
                        "a call whose create was ambiguous cannot be matched: Twilio calls carry no readable marker"
                    );
                    Ok(Lookup::Unsupported)
                }
            }
        }
    }
}

impl Sink for TwilioSink {
    type Credentials = TwilioCredentials;

    /// One form-encoded create. 201 → [`Outcome::Delivered`] with the `SM…`/`CA…` SID; other
    /// answers per [`wire::classify`]; a payload not of this channel → `Permanent`, no request.
    async fn deliver(&self, entry: &OutboxEntry, credentials: &TwilioCredentials) -> Outcome {
        let what = self.channel.what();
        let form = match self.form(entry) {
            Ok(form) => form,
            Err(reason) => {
                return Outcome::Permanent {
                    status: None,
                    reason: format!("{what}: {reason}"),
                }
            }
        };
        let sent = credentials
            .apply(self.client.post(self.collection.clone()))
            .form(&form)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return transport_outcome(&e, what),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if status == 201 {
            return match response.json::<Resource>().await {
                Ok(r) if !r.sid.is_empty() => match self.sent(entry, &r.sid).await {
                    Ok(()) => Outcome::Delivered { remote_id: r.sid },
                    // Sent, not recorded: the lookup before any resend finds it and records it.
                    Err(reason) => Outcome::Unknown { reason },
                },
                Ok(_) => Outcome::Unknown {
                    reason: format!("{what}: Twilio answered 201 without a sid"),
                },
                Err(e) => Outcome::Unknown {
                    reason: format!("{what}: the 201 answer could not be read: {}", describe(&e)),
                },
            };
        }
        let error = TwilioError::read(response).await;
        wire::classify(status, &headers, &error, what)
    }

    async fn find_existing(&self, entry: &OutboxEntry, credentials: &TwilioCredentials) -> Lookup {
        let found = match self.lookup(entry, credentials).await {
            Ok(found) | Err(found) => found,
        };
        if let Lookup::Found { remote_id } = &found {
            if let Err(reason) = self.sent(entry, remote_id).await {
                return Lookup::Failed { reason };
            }
        }
        found
    }
}
