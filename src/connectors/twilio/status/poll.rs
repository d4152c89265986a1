//! The polling fallback of a `twilio_status` source: for each pending receipt of its
//! credential's account, `GET …/Messages/{Sid}.json` or `…/Calls/{Sid}.json`, one record per
//! receipt and poll (the snapshot makes an event only when the status changed).
//!
//! Page references are JSON ([`PageRef`]): a page reads up to [`PAGE_SIZE`] receipts after
//! `after`; the final statuses it read are forgotten when the *next* page is fetched, which
//! the poller does only after committing this one (durability: a status is committed before
//! its receipt goes). A last page that read final statuses therefore has one more, empty page.
//!
//! Answers: 200 → a record; 404 → skipped this poll (another region or deleted; the give-up
//! time ends it); 401 → session gone; 429, 5xx, transport errors → transient (with
//! `Retry-After`); other 4xx → refused; an unreadable 200 → malformed.

use std::time::Duration;

use ml_connector_actors::{Page, Record, Source, SourceError};
use serde::{Deserialize, Serialize};
use url::Url;

use super::receipt::{status_record, Observed, PendingReceipt, ReceiptBook, ReceiptEntity};
use super::settle::{give_up, settle};
use crate::connectors::kit::outbound::{describe, retry_after};
use crate::connectors::twilio::auth::TwilioCredentials;
use crate::connectors::twilio::wire::{self, TwilioError};

/// Receipts read per page.
pub const PAGE_SIZE: usize = 50;

/// A page reference (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRef {
    /// Read receipts after this SID (`None`: from the first).
    #[serde(default)]
    pub after: Option<String>,
    /// Nothing more to read: only settle.
    #[serde(default)]
    pub done: bool,
    /// `(sid, final status, destination)` committed by the previous page, to forget now.
    #[serde(default)]
    pub settle: Vec<(String, String, String)>,
}

/// The fields of a Message or Call resource a status needs.
#[derive(Debug, Deserialize)]
struct StatusResource {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    error_code: Option<serde_json::Value>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    duration: Option<String>,
}

/// One entity (`Message` or `Call`) of a `twilio_status` source.
#[derive(Clone, Debug)]
pub struct StatusSource {
    client: reqwest::Client,
    api: Url,
    entity: ReceiptEntity,
    watched: Vec<String>,
    book: ReceiptBook,
    give_up_after: Duration,
}

impl StatusSource {
    /// Polls the receipts of `entity` in `book` at the REST root `api`.
    pub fn new(client: reqwest::Client, api: Url, entity: ReceiptEntity, book: ReceiptBook, give_up_after: Duration) -> Self {
        StatusSource {
            client,
            api,
            entity,
            watched: vec![entity.status_field().to_string()],
            book,
            give_up_after,
        }
    }

    /// The current status of `receipt`; `Ok(None)` on 404.
    async fn read(&self, receipt: &PendingReceipt, credentials: &TwilioCredentials) -> Result<Option<Observed>, SourceError> {
        let file = format!("{}/{}.json", self.entity.collection(), receipt.sid);
        let url = wire::account_url(&self.api, self.book.account_sid(), &file);
        let what = format!("GET {}/{}", self.entity.collection(), receipt.sid);
        let response = credentials
            .apply(self.client.get(url))
            .send()
            .await
            .map_err(|e| SourceError::Transient { reason: format!("{what}: {}", describe(&e)), retry_after: None })?;
        let status = response.status().as_u16();
        if status == 200 {
            let r: StatusResource = response.json().await.map_err(|e| SourceError::Malformed {
                context: format!("{what}: {}", describe(&e)),
            })?;
            let error_code = r.error_code.and_then(|c| match c {
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::String(s) if !s.is_empty() => Some(s),
                _ => None,
            });
            return Ok(Some(Observed {
                status: r.status.unwrap_or_default(),
                error_code,
                to: r.to.unwrap_or_default(),
                from: r.from.unwrap_or_default(),
                duration: r.duration,
            }));
        }
        let after = retry_after(response.headers());
        let error = TwilioError::read(response).await;
        let reason = format!("{what}: Twilio answered {status} ({error})");
        match status {
            404 => {
                tracing::warn!(sid = %receipt.sid, %reason, "pending receipt not found at Twilio; skipped this poll");
                Ok(None)
            }
            401 => Err(SourceError::SessionGone { reason }),
            429 => Err(SourceError::Transient { reason, retry_after: after }),
            400..=499 if error.code != Some(wire::TOO_MANY_REQUESTS) => Err(SourceError::Refused { reason }),
            _ => Err(SourceError::Transient { reason, retry_after: after }),
        }
    }
}

impl Source for StatusSource {
    type Credentials = TwilioCredentials;

    fn entity(&self) -> &str {
        self.entity.name()
    }

    fn watched_fields(&self) -> &[String] {
        &self.watched
    }

    /// Always from the first receipt (the cursor is not used).
    fn first_page(&self, _cursor: Option<&str>) -> String {
        String::new()
    }

    async fn fetch(&self, credentials: &TwilioCredentials, page: &str) -> Result<Page, SourceError> {
        let page_ref: PageRef = if page.is_empty() {
            PageRef::default()
        } else {
            serde_json::from_str(page).map_err(|e| SourceError::Malformed { context: format!("page reference: {e}") })?
        };
        for (sid, status, destination) in &page_ref.settle {
            settle(&self.book, self.entity, sid, status, destination).await;
        }
        if page_ref.done {
            return Ok(Page::default());
        }
        let receipts = self
            .book
            .scan(self.entity, page_ref.after.clone(), PAGE_SIZE)
            .await
            .map_err(|e| SourceError::Transient { reason: format!("pending receipts unreadable: {e}"), retry_after: None })?;
        let now = self.book.store().now_ms();
        let mut records: Vec<Record> = Vec::new();
        let mut finals = Vec::new();
        for receipt in &receipts {
            let waited = now - receipt.sent_ms;
            if waited > self.give_up_after.as_millis() as i64 {
                give_up(&self.book, receipt, waited).await.map_err(|e| SourceError::Transient {
                    reason: format!("giving up on {}: {e}", receipt.sid),
                    retry_after: None,
                })?;
                continue;
            }
            let Some(observed) = self.read(receipt, credentials).await? else {
                continue;
            };
            if self.entity.is_final(&observed.status) {
                finals.push((receipt.sid.clone(), observed.status.clone(), receipt.destination.clone()));
            }
            records.push(status_record(self.book.account_sid(), receipt, &observed));
        }
        let next = if receipts.len() == PAGE_SIZE {
            Some(PageRef { after: receipts.last().map(|r| r.sid.clone()), done: false, settle: finals })
        } else if !finals.is_empty() {
            Some(PageRef { after: None, done: true, settle: finals })
        } else {
            None
        };
        Ok(Page {
            records,
            next: next.map(|n| serde_json::to_string(&n).unwrap_or_default()),
        })
    }
}
