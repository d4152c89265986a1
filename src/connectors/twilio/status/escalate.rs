//! Escalation, "SMS first; a call if not `delivered` within X": the `Escalation` entity of a
//! `twilio_status` source with `escalate_after_seconds`.
//!
//! Every `poll_interval` (whether status polling is on or not: callbacks-only sites escalate
//! too) the escalation poller reads, without any request to Twilio:
//! 1. the pending SMS receipts (`twilio_receipts/<AccountSid>/Message`), and
//! 2. the SMS receipts settled with a final status other than `delivered`/`read`, held for
//!    escalation by [`super::settle`] (`twilio_escalations/<AccountSid>`),
//!
//! and makes one record per receipt sent at least `escalate_after` ago whose status (the
//! `MessageStatus` the source last committed for that SID, from its snapshot) is not
//! `delivered`/`read`: key and position the `MessageSid`, fields [`escalation_record`]. The
//! entity watches no field, so the first record of a SID is its one `created` event and every
//! later one (the next poll, after a restart, the same SID found in both lists) makes none.
//! A route from `Escalation` to a `twilio_voice` destination then places the call.
//!
//! Held receipts are released when the *next* page is fetched, i.e. after the poller
//! committed the page that escalated them (as in [`super::poll`]).

use std::time::Duration;

use ml_connector_actors::{blocking, Page, Record, Source, SourceError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::poll::PAGE_SIZE;
use super::receipt::{add_origin, PendingReceipt, ReceiptBook, ReceiptEntity};
use crate::connectors::twilio::auth::TwilioCredentials;

/// Entity name of escalation records.
pub const ENTITY: &str = "Escalation";

/// Is `status` one that ends the wait for an SMS (`delivered`, `read`)?
pub fn is_delivered(status: &str) -> bool {
    matches!(status, "delivered" | "read")
}

/// A page reference (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PageRef {
    /// Reading the held receipts (else the pending ones).
    #[serde(default)]
    held: bool,
    /// Read receipts after this SID (`None`: from the first).
    #[serde(default)]
    after: Option<String>,
    /// Nothing more to read: only release.
    #[serde(default)]
    done: bool,
    /// Held SIDs the previous page escalated (or found delivered), to release now.
    #[serde(default)]
    release: Vec<String>,
}

/// The escalation record of `receipt` whose last committed status is `status` (`None`: no
/// status reported yet): key the SID; fields `{"MessageSid", "MessageStatus" (text or
/// `null`), "To", "Body" (the SMS text without marker), "AccountSid", "event_key",
/// "destination", "origin_source", "origin_entity", "origin_key"}`.
pub fn escalation_record(account_sid: &str, receipt: &PendingReceipt, status: Option<&str>) -> Record {
    let mut fields = json!({
        "MessageSid": receipt.sid,
        "MessageStatus": status,
        "To": receipt.to,
        "Body": receipt.body,
    });
    add_origin(&mut fields, account_sid, receipt);
    Record {
        key: receipt.sid.clone(),
        position: receipt.sid.clone(),
        fields,
    }
}

/// The `Escalation` entity of `twilio_status` source `source`.
#[derive(Clone, Debug)]
pub struct EscalationSource {
    source: String,
    book: ReceiptBook,
    after: Duration,
}

fn store_error(what: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError::Transient { reason: format!("{what}: {e}"), retry_after: None }
}

impl EscalationSource {
    /// Escalates the SMS receipts of `book` (of source `source`, whose `Message` snapshots
    /// hold the statuses) not delivered `after` they were sent.
    pub fn new(source: &str, book: ReceiptBook, after: Duration) -> Self {
        EscalationSource { source: source.to_string(), book, after }
    }

    /// The last committed `MessageStatus` of each SID (`None`: never reported).
    async fn statuses(&self, receipts: &[PendingReceipt]) -> Result<Vec<Option<String>>, SourceError> {
        let store = self.book.store().clone();
        let (source, sids): (String, Vec<String>) = (self.source.clone(), receipts.iter().map(|r| r.sid.clone()).collect());
        let status_field = ReceiptEntity::Message.status_field();
        blocking(move || {
            sids.iter()
                .map(|sid| {
                    Ok(store
                        .snapshot(&source, ReceiptEntity::Message.name(), sid)?
                        .and_then(|s| s.watched.get(status_field).and_then(|v| v.as_str()).map(str::to_string)))
                })
                .collect()
        })
        .await
        .map_err(|e| store_error("message statuses unreadable", e))
    }
}

impl Source for EscalationSource {
    type Credentials = TwilioCredentials;

    fn entity(&self) -> &str {
        ENTITY
    }

    /// None: one event per SID, ever.
    fn watched_fields(&self) -> &[String] {
        &[]
    }

    /// Always from the first receipt (the cursor is not used).
    fn first_page(&self, _cursor: Option<&str>) -> String {
        String::new()
    }

    async fn fetch(&self, _credentials: &TwilioCredentials, page: &str) -> Result<Page, SourceError> {
        let page_ref: PageRef = if page.is_empty() {
            PageRef::default()
        } else {
            serde_json::from_str(page).map_err(|e| SourceError::Malformed { context: format!("page reference: {e}") })?
        };
        for sid in &page_ref.release {
            self.book.release(sid).await.map_err(|e| store_error("releasing a held receipt", e))?;
        }
        if page_ref.done {
            return Ok(Page::default());
        }
        let receipts = if page_ref.held {
            self.book.scan_held(page_ref.after.clone(), PAGE_SIZE).await
        } else {
            self.book.scan(ReceiptEntity::Message, page_ref.after.clone(), PAGE_SIZE).await
        }
        .map_err(|e| store_error("receipts unreadable", e))?;
        let now = self.book.store().now_ms();
        let due: Vec<PendingReceipt> = receipts
            .iter()
            .filter(|r| now - r.sent_ms >= self.after.as_millis() as i64)
            .cloned()
            .collect();
        let statuses = self.statuses(&due).await?;
        let mut records = Vec::new();
        let mut release = Vec::new();
        for (receipt, status) in due.iter().zip(statuses) {
            if page_ref.held {
                release.push(receipt.sid.clone());
            }
            if !status.as_deref().is_some_and(is_delivered) {
                records.push(escalation_record(self.book.account_sid(), receipt, status.as_deref()));
            }
        }
        let next = if receipts.len() == PAGE_SIZE {
            Some(PageRef { held: page_ref.held, after: receipts.last().map(|r| r.sid.clone()), done: false, release })
        } else if !page_ref.held {
            Some(PageRef { held: true, ..PageRef::default() })
        } else if !release.is_empty() {
            Some(PageRef { held: true, after: None, done: true, release })
        } else {
            None
        };
        Ok(Page {
            records,
            next: next.map(|n| serde_json::to_string(&n).unwrap_or_default()),
        })
    }
}
