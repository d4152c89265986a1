//! The status callback endpoint `/inbound/twilio_status/{source name}`.
//!
//! Twilio POSTs form-encoded status callbacks (messages: `MessageSid`, `MessageStatus`,
//! `ErrorCode`, `To`, `From`, `AccountSid`, …; calls: `CallSid`, `CallStatus`,
//! `CallDuration`, …) with `X-Twilio-Signature` and `I-Twilio-Idempotency-Token`.
//!
//! - Signature checked over `public_url` as configured + `?` + the request's query (the
//!   sinks' `mlc_ref` marker) + the sorted form parameters ([`super::signature`]). Missing or
//!   wrong → 403 (Twilio's guidance), one audit line, nothing else stored.
//! - Not form data with a SID and a status → 400; another method → 405.
//! - A SID with no pending receipt (unknown, already final, another account) or whose
//!   `mlc_ref` does not match the receipt's marker → 200, nothing committed, counted in
//!   `mlc_twilio_status_unmatched_total{source}`.
//! - Otherwise one change: entity `Message`/`Call`, key the SID, the record of
//!   [`super::receipt::status_record`]; sender id the idempotency token (or `<sid>/<status>`
//!   when Twilio sent none), so a redelivered callback commits nothing new. After the commit a
//!   final status forgets the pending receipt and counts `mlc_twilio_final_status_total`.

use std::fmt;

use ml_connector_actors::boxed::BoxFuture;
use ml_connector_actors::inbound::{
    Accepted, Inbound, InboundChange, InboundReply, InboundRequest, Refusal,
};
use secrecy::{ExposeSecret, SecretString};

use super::receipt::{status_record, Observed, ReceiptBook, ReceiptEntity};
use super::signature::{self, SIGNATURE_HEADER};
use super::settle::settle;
use super::UNMATCHED;
use crate::connectors::twilio::wire;

/// Header with Twilio's delivery id of a webhook.
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";

/// The callback endpoint of one `twilio_status` source.
pub struct TwilioStatusInbound {
    name: String,
    public_url: String,
    auth_token: SecretString,
    book: ReceiptBook,
}

impl fmt::Debug for TwilioStatusInbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioStatusInbound")
            .field("name", &self.name)
            .field("public_url", &self.public_url)
            .field("account_sid", &self.book.account_sid())
            .field("auth_token", &"[REDACTED]")
            .finish()
    }
}

fn refuse(status: u16, reason: String) -> Refusal {
    Refusal { status, reason }
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

impl TwilioStatusInbound {
    /// The endpoint of source `name`, called by Twilio at `public_url` (as written), checking
    /// signatures with the account's `auth_token`, matching SIDs against `book`.
    pub fn new(name: &str, public_url: &str, auth_token: SecretString, book: ReceiptBook) -> Self {
        TwilioStatusInbound {
            name: name.to_string(),
            public_url: public_url.to_string(),
            auth_token,
            book,
        }
    }

    /// The URL Twilio signed: `public_url`, plus `?query` when the request had one.
    fn called_url(&self, request: &InboundRequest) -> String {
        if request.query.is_empty() {
            self.public_url.clone()
        } else {
            format!("{}?{}", self.public_url, request.query)
        }
    }

    fn unmatched(&self, why: &str) -> Result<Accepted, Refusal> {
        metrics::counter!(UNMATCHED, "source" => self.name.clone()).increment(1);
        tracing::debug!(source = %self.name, why, "status callback matches no pending receipt; ignored");
        Ok(Accepted {
            changes: Vec::new(),
            nudges: Vec::new(),
            reply: InboundReply::empty(200),
        })
    }
}

impl Inbound for TwilioStatusInbound {
    fn kind(&self) -> &'static str {
        "twilio_status"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn watched_fields(&self, entity: &str) -> Vec<String> {
        ReceiptEntity::from_name(entity)
            .map(|e| vec![e.status_field().to_string()])
            .unwrap_or_default()
    }

    /// Errors: 405 for a method other than POST, 403 for a missing or wrong signature, 400
    /// for a body without a SID and status. Reasons name the source, never the token.
    fn receive(&self, request: &InboundRequest) -> Result<Accepted, Refusal> {
        if request.method != "POST" {
            return Err(refuse(
                405,
                format!("method {} not accepted by source '{}'", request.method, self.name),
            ));
        }
        let params: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let signed = request.header(SIGNATURE_HEADER).is_some_and(|s| {
            signature::verify(
                self.auth_token.expose_secret().as_bytes(),
                &self.called_url(request),
                &params,
                s,
            )
        });
        if !signed {
            return Err(refuse(
                403,
                format!(
                    "bad or missing {SIGNATURE_HEADER} for source '{}' ({} bytes)",
                    self.name,
                    request.body.len()
                ),
            ));
        }
        let Some((entity, sid, status)) = ReceiptEntity::ALL.into_iter().find_map(|e| {
            Some((e, get(&params, e.sid_field())?, get(&params, e.status_field())?))
        }) else {
            return Err(refuse(
                400,
                format!("status callback for source '{}' without MessageSid/MessageStatus or CallSid/CallStatus", self.name),
            ));
        };
        let receipt = match self.book.get(entity, sid) {
            Ok(Some(r)) => r,
            Ok(None) => return self.unmatched("no pending receipt"),
            Err(e) => {
                tracing::error!(source = %self.name, error = %e, "pending receipts unreadable");
                return Err(refuse(503, "temporarily unable to read the store; retry".into()));
            }
        };
        let marker = url::form_urlencoded::parse(request.query.as_bytes())
            .find(|(k, _)| k == "mlc_ref")
            .map(|(_, v)| v.into_owned());
        if marker.is_some_and(|m| m != wire::marker(&receipt.dedupe_key)) {
            return self.unmatched("mlc_ref of another entry");
        }
        let observed = Observed {
            status: status.to_string(),
            error_code: get(&params, "ErrorCode").map(str::to_string),
            to: get(&params, "To").unwrap_or_default().to_string(),
            from: get(&params, "From").unwrap_or_default().to_string(),
            duration: get(&params, "CallDuration").map(str::to_string),
        };
        let sender_id = request
            .header(IDEMPOTENCY_HEADER)
            .filter(|t| !t.is_empty())
            .map_or_else(|| format!("{sid}/{status}"), str::to_string);
        Ok(Accepted {
            changes: vec![InboundChange {
                sender_id,
                source: self.name.clone(),
                entity: entity.name().to_string(),
                record: status_record(self.book.account_sid(), &receipt, &observed),
            }],
            nudges: Vec::new(),
            reply: InboundReply::empty(200),
        })
    }

    /// Forget the pending receipts the committed changes made final.
    fn committed<'a>(&'a self, changes: &'a [InboundChange]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for change in changes {
                let Some(entity) = ReceiptEntity::from_name(&change.entity) else {
                    continue;
                };
                let fields = &change.record.fields;
                let status = fields[entity.status_field()].as_str().unwrap_or_default();
                let destination = fields["destination"].as_str().unwrap_or_default();
                settle(&self.book, entity, &change.record.key, status, destination).await;
            }
        })
    }
}
