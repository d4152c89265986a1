//! [`ActionSink`]: one approval decision becomes its Acumatica action exactly once, and its
//! outcome is recorded in the [`OutcomeBook`] before the delivery is answered.
//!
//! For a decision on bill `document` at `version` (key `<document>@<version>`):
//! 1. an outcome already recorded answers at once, without a request (a redelivery);
//! 2. `reject` → outcome `rejected`, no request at all (the bill stays on hold);
//! 3. `approve`: `GET` the bill first ([`BillApi::get`]); then
//!    - the bill already shows the target (released: `Status` `Open` and `Hold` false, after
//!      the gateway's own `ReleaseBill` or at the decided version; hold removed: `Hold` false)
//!      → done, nothing sent (a crash after Acumatica acted re-sends nothing);
//!    - its `LastModifiedDateTime` is neither the decided version nor one the gateway's own
//!      `PUT`s produced ([`StepMarker::own_versions`]) → `stale`, nothing written. One
//!      exception: the gateway sent `PUT Hold=false` and lost the answer, and the bill shows
//!      exactly that (hold off, not released, no release sent): its version is adopted as the
//!      gateway's own (Acumatica keeps no author per version on this API);
//!    - on hold → `PUT Hold=false` (marker written before; the new version after);
//!    - `remove_hold` → outcome `hold_removed`;
//!    - `release` → `POST Bill/ReleaseBill` (marker with the send time written before), then
//!      `GET <Location>` every `action_poll_seconds`: 204 → `released`; a failure → the hold
//!      is put back (`PUT Hold=true`) and the outcome is `failed` with Acumatica's
//!      `exceptionMessage`, answered `Permanent` (dead letter); still running after
//!      `action_timeout_seconds` (since the send) → the same as a failure.
//!
//! A `ReleaseBill` whose answer was lost is never sent again: the next attempt (after the
//! runtime's lookup, which `GET`s the bill) waits for the bill to show the release until
//! `action_timeout_seconds` after the send, then counts it as failed and puts the hold back.
//!
//! Answers: `released`, `hold_removed`, `rejected`, `stale` → `Delivered { remote_id:
//! "<outcome> <document>@<version>" }`; `failed` → `Permanent` naming Acumatica's message;
//! 401 → `SessionGone`; 429/408/connection refused, a read's 5xx → `Retry` (`Retry-After`
//! honoured); a write's lost answer → `Unknown`; a store error → `Retry`; a payload that is
//! not a decision record → `Permanent` with no request. `find_existing` never writes to
//! Acumatica: a recorded outcome → `Found` (`failed` → `Refused`), else a bill that shows
//! the target after the gateway's own step → outcome recorded, `Found`; else `NotFound`.
//!
//! Metric: [`super::ACTIONS`] `{destination, outcome}`, once per decision.
//! Source: `/work/shared/api-notes/acumatica.md` ("Create/update", "Actions", "Errors").

use std::fmt;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};

use super::super::auth::AcumaticaSession;
use super::super::wire::parse_stamp;
use super::bill::{Bill, BillApi, Call, Operation};
use super::book::{ActionOutcome, OutcomeBook, OutcomeKind, StepMarker};
use super::config::{AcumaticaActionConfig, OnApprove};
use super::request::{ActionRequest, REJECT};

/// `Status` of a released, unpaid bill.
pub const RELEASED_STATUS: &str = "Open";

/// An early answer of one step.
type Step<T> = Result<T, Outcome>;

/// One `acumatica_action` destination (see the module docs).
pub struct ActionSink {
    api: BillApi,
    book: OutcomeBook,
    config: AcumaticaActionConfig,
    destination: String,
    clock: SharedClock,
}

impl fmt::Debug for ActionSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionSink")
            .field("destination", &self.destination)
            .field("config", &self.config)
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

fn retry(reason: String) -> Outcome {
    Outcome::Retry { after: None, reason, throttled: false }
}

fn store_failed(e: impl fmt::Display) -> Outcome {
    retry(format!("outcome book unavailable: {e}"))
}

/// Do two `LastModifiedDateTime` texts name the same instant (or, unparsable, read the same)?
pub fn same_stamp(a: &str, b: &str) -> bool {
    match (parse_stamp(a), parse_stamp(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The card line of an outcome.
pub fn card_line(outcome: OutcomeKind, request: &ActionRequest, detail: &str) -> String {
    let who = if request.approver_name.is_empty() { "the approver" } else { request.approver_name.as_str() };
    let doc = &request.document;
    match outcome {
        OutcomeKind::Released => format!("Approved by {who} — bill {doc} released in Acumatica."),
        OutcomeKind::HoldRemoved => format!("Approved by {who} — bill {doc} taken off hold in Acumatica."),
        OutcomeKind::Rejected => format!("Rejected by {who} — bill {doc} stays on hold."),
        OutcomeKind::Failed => format!("Release failed in Acumatica: {}. The bill stays on hold.", detail.trim_end_matches('.')),
        OutcomeKind::Stale => format!(
            "Approved by {who}, but bill {doc} changed in Acumatica after this card was posted: the card is out of date and nothing was done."
        ),
    }
}

impl<T> Call<T> {
    /// `Done(v)` as `Ok(v)`; anything else as its early answer (`Refused` handled by the
    /// caller first).
    fn step(self, what: &str) -> Step<T> {
        match self {
            Call::Done(v) => Ok(v),
            Call::Gone(reason) => Err(Outcome::SessionGone { reason: format!("{what}: {reason}") }),
            Call::Retry { after, reason, throttled } => Err(Outcome::Retry { after, reason: format!("{what}: {reason}"), throttled }),
            Call::Ambiguous(reason) => Err(Outcome::Unknown { reason: format!("{what}: {reason}; the bill is read before anything is sent again") }),
            Call::Refused { status, message } => {
                Err(Outcome::Permanent { status: (status != 0).then_some(status), reason: format!("{what}: {message}") })
            }
        }
    }
}

impl ActionSink {
    /// A sink of destination `destination` calling `api`, recording in `book`, timing the
    /// release with `clock`.
    pub fn new(api: BillApi, book: OutcomeBook, config: AcumaticaActionConfig, destination: &str, clock: SharedClock) -> ActionSink {
        ActionSink { api, book, config, destination: destination.to_string(), clock }
    }

    /// The outcome book.
    pub fn book(&self) -> &OutcomeBook {
        &self.book
    }

    /// The answer for a recorded outcome.
    fn answer(outcome: &ActionOutcome) -> Outcome {
        match outcome.outcome {
            OutcomeKind::Failed => Outcome::Permanent {
                status: None,
                reason: format!(
                    "ReleaseBill of bill {} failed in Acumatica: {}; the bill stays on hold",
                    outcome.document, outcome.detail
                ),
            },
            kind => Outcome::Delivered { remote_id: format!("{} {}", kind.as_str(), outcome.key) },
        }
    }

    /// Record the outcome (durably), count it, answer it.
    async fn finish(&self, request: &ActionRequest, kind: OutcomeKind, bill_status: &str, detail: &str) -> Outcome {
        let outcome = ActionOutcome {
            key: request.key(),
            document: request.document.clone(),
            bill_type: request.bill_type.clone(),
            version: request.version.clone(),
            outcome: kind,
            message: card_line(kind, request, detail),
            detail: detail.chars().take(300).collect(),
            bill_status: bill_status.to_string(),
            verb: request.verb.clone(),
            approver_name: request.approver_name.clone(),
            service_url: request.service_url.clone(),
            conversation_id: request.conversation_id.clone(),
            activity_id: request.activity_id.clone(),
            destination: self.destination.clone(),
            recorded_ms: self.clock.now_ms(),
        };
        if let Err(e) = self.book.record(&outcome).await {
            return store_failed(e);
        }
        metrics::counter!(super::ACTIONS, "destination" => self.destination.clone(), "outcome" => kind.as_str())
            .increment(1);
        tracing::info!(destination = %self.destination, document = %request.document, outcome = kind.as_str(), "decision acted on in Acumatica");
        Self::answer(&outcome)
    }

    async fn save(&self, request: &ActionRequest, marker: &StepMarker) -> Step<()> {
        self.book.save_steps(&request.key(), marker).await.map_err(store_failed)
    }

    /// Is the bill at the decided version or at one the gateway's own `PUT` produced?
    fn known(bill: &Bill, marker: &StepMarker, request: &ActionRequest) -> bool {
        same_stamp(&bill.version, &request.version) || marker.own_versions.iter().any(|v| same_stamp(v, &bill.version))
    }

    /// The outcome when the bill already shows what the approval asks for.
    fn reached(&self, bill: &Bill, marker: &StepMarker, request: &ActionRequest) -> Option<OutcomeKind> {
        let known = Self::known(bill, marker, request);
        match self.config.on_approve {
            OnApprove::Release => (bill.status == RELEASED_STATUS && !bill.hold && (marker.release_sent_ms.is_some() || known))
                .then_some(OutcomeKind::Released),
            OnApprove::RemoveHold => (!bill.hold && (marker.hold_put_sent || known)).then_some(OutcomeKind::HoldRemoved),
        }
    }

    /// `GET` the bill; a missing bill is a `failed` outcome.
    async fn read(&self, session: &AcumaticaSession, request: &ActionRequest) -> Step<Bill> {
        match self.api.get(session, &request.bill_type, &request.document).await.step("GET Bill")? {
            Some(bill) => Ok(bill),
            None => Err(self.finish(request, OutcomeKind::Failed, "", &format!("bill {} {} does not exist", request.bill_type, request.document)).await),
        }
    }

    async fn approve(&self, request: &ActionRequest, session: &AcumaticaSession) -> Step<Outcome> {
        let mut marker = self.book.steps(&request.key()).await.map_err(store_failed)?;
        let bill = self.read(session, request).await?;
        if let Some(failure) = marker.failure.clone() {
            return self.restore_hold(request, session, &mut marker, &failure).await;
        }
        if let Some(kind) = self.reached(&bill, &marker, request) {
            return Ok(self.finish(request, kind, &bill.status, "").await);
        }
        if !Self::known(&bill, &marker, request) {
            let ours = marker.hold_put_sent && !bill.hold && bill.status != RELEASED_STATUS && marker.release_sent_ms.is_none();
            if !ours {
                return Ok(self.finish(request, OutcomeKind::Stale, &bill.status, "").await);
            }
            marker.own_versions.push(bill.version.clone());
            self.save(request, &marker).await?;
        }
        let bill = if bill.hold {
            marker.hold_put_sent = true;
            self.save(request, &marker).await?;
            match self.api.set_hold(session, &request.bill_type, &request.document, false).await {
                Call::Refused { message, .. } => return Ok(self.finish(request, OutcomeKind::Failed, &bill.status, &message).await),
                call => {
                    let saved = call.step("PUT Bill Hold=false")?;
                    marker.own_versions.push(saved.version.clone());
                    self.save(request, &marker).await?;
                    saved
                }
            }
        } else {
            bill
        };
        if self.config.on_approve == OnApprove::RemoveHold {
            return Ok(self.finish(request, OutcomeKind::HoldRemoved, &bill.status, "").await);
        }
        self.release(request, session, &mut marker).await
    }

    /// Send `ReleaseBill` once (or find the one sent) and await it.
    async fn release(&self, request: &ActionRequest, session: &AcumaticaSession, marker: &mut StepMarker) -> Step<Outcome> {
        let now = self.clock.now_ms();
        let location = match (marker.release_sent_ms, marker.location.clone()) {
            (Some(_), Some(location)) => url::Url::parse(&location).map_err(|e| retry(format!("stored Location unreadable: {e}")))?,
            (Some(sent), None) => {
                if now.saturating_sub(sent) < self.timeout_ms() {
                    return Err(Outcome::Unknown {
                        reason: "an earlier ReleaseBill's answer was lost; waiting for the bill to show the release (never sent twice)".into(),
                    });
                }
                let failure = format!("ReleaseBill gave no answer and the bill was not released within {} s", self.config.timeout.as_secs_f64());
                return self.fail(request, session, marker, failure).await;
            }
            (None, _) => {
                marker.release_sent_ms = Some(now);
                self.save(request, marker).await?;
                match self.api.release(session, &request.bill_type, &request.document).await {
                    Call::Done(location) => {
                        marker.location = Some(location.to_string());
                        self.save(request, marker).await?;
                        location
                    }
                    Call::Refused { message, .. } => return self.fail(request, session, marker, message).await,
                    Call::Ambiguous(reason) => return self.after_lost_release(request, session, reason).await,
                    definite => {
                        // 401, 429, refused connection: Acumatica did not take the action.
                        marker.release_sent_ms = None;
                        self.save(request, marker).await?;
                        return Err(definite.step("POST Bill/ReleaseBill").err().unwrap_or_else(|| retry("ReleaseBill not sent".into())));
                    }
                }
            }
        };
        self.await_operation(request, session, marker, &location).await
    }

    /// A `ReleaseBill` whose answer was lost: `GET` the bill, never a second POST.
    async fn after_lost_release(&self, request: &ActionRequest, session: &AcumaticaSession, reason: String) -> Step<Outcome> {
        let bill = self.read(session, request).await?;
        if bill.status == RELEASED_STATUS && !bill.hold {
            return Ok(self.finish(request, OutcomeKind::Released, &bill.status, "").await);
        }
        Err(Outcome::Unknown { reason: format!("POST Bill/ReleaseBill: {reason}; the bill does not show the release yet (never sent twice)") })
    }

    fn timeout_ms(&self) -> i64 {
        i64::try_from(self.config.timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// `GET <Location>` every `action_poll_seconds` until done, failed or timed out.
    async fn await_operation(&self, request: &ActionRequest, session: &AcumaticaSession, marker: &mut StepMarker, location: &url::Url) -> Step<Outcome> {
        let most = (self.config.timeout.as_secs_f64() / self.config.poll.as_secs_f64()).ceil() as u64 + 1;
        let sent = marker.release_sent_ms.unwrap_or_else(|| self.clock.now_ms());
        for _ in 0..most {
            match self.api.operation(session, location).await.step("GET ReleaseBill status")? {
                Operation::Done => {
                    let status = match self.api.get(session, &request.bill_type, &request.document).await {
                        Call::Done(Some(bill)) => bill.status,
                        _ => RELEASED_STATUS.to_string(),
                    };
                    return Ok(self.finish(request, OutcomeKind::Released, &status, "").await);
                }
                Operation::Failed(message) => return self.fail(request, session, marker, message).await,
                Operation::Running if self.clock.now_ms().saturating_sub(sent) >= self.timeout_ms() => break,
                Operation::Running => tokio::time::sleep(self.config.poll).await,
            }
        }
        let failure = format!("ReleaseBill did not finish within {} s", self.config.timeout.as_secs_f64());
        self.fail(request, session, marker, failure).await
    }

    /// The release failed with `message`: remember it, put the hold back, record `failed`.
    async fn fail(&self, request: &ActionRequest, session: &AcumaticaSession, marker: &mut StepMarker, message: String) -> Step<Outcome> {
        marker.failure = Some(message.clone());
        self.save(request, marker).await?;
        self.restore_hold(request, session, marker, &message).await
    }

    /// Put the hold back after a failed release (unless the bill was released after all),
    /// then record `failed`.
    async fn restore_hold(&self, request: &ActionRequest, session: &AcumaticaSession, marker: &mut StepMarker, failure: &str) -> Step<Outcome> {
        let bill = self.read(session, request).await?;
        if bill.status == RELEASED_STATUS && !bill.hold {
            return Ok(self.finish(request, OutcomeKind::Released, &bill.status, "").await);
        }
        if bill.hold {
            return Ok(self.finish(request, OutcomeKind::Failed, &bill.status, failure).await);
        }
        match self.api.set_hold(session, &request.bill_type, &request.document, true).await {
            Call::Refused { message, .. } => {
                tracing::error!(destination = %self.destination, document = %request.document, %message, "the hold could not be put back after a failed release");
                let detail = format!("{failure}; putting the hold back was refused: {message}");
                Ok(self.finish(request, OutcomeKind::Failed, &bill.status, &detail).await)
            }
            call => {
                let saved = call.step("PUT Bill Hold=true")?;
                marker.own_versions.push(saved.version.clone());
                self.save(request, marker).await?;
                Ok(self.finish(request, OutcomeKind::Failed, &saved.status, failure).await)
            }
        }
    }
}

impl Sink for ActionSink {
    type Credentials = AcumaticaSession;

    async fn deliver(&self, entry: &OutboxEntry, session: &AcumaticaSession) -> Outcome {
        let request = match ActionRequest::parse(&entry.payload) {
            Ok(r) => r,
            Err(reason) => return Outcome::Permanent { status: None, reason },
        };
        match self.book.outcome(&request.key()).await {
            Ok(Some(outcome)) => return Self::answer(&outcome),
            Ok(None) => {}
            Err(e) => return store_failed(e),
        }
        if request.verb == REJECT {
            return self.finish(&request, OutcomeKind::Rejected, "", "").await;
        }
        self.approve(&request, session).await.unwrap_or_else(|early| early)
    }

    async fn find_existing(&self, entry: &OutboxEntry, session: &AcumaticaSession) -> Lookup {
        let Ok(request) = ActionRequest::parse(&entry.payload) else {
            return Lookup::NotFound;
        };
        let found = |outcome: &ActionOutcome| match Self::answer(outcome) {
            Outcome::Delivered { remote_id } => Lookup::Found { remote_id },
            other => Lookup::Refused { reason: format!("{other:?}") },
        };
        match self.book.outcome(&request.key()).await {
            Ok(Some(outcome)) => return found(&outcome),
            Ok(None) if request.verb == REJECT => return Lookup::NotFound,
            Ok(None) => {}
            Err(e) => return Lookup::Failed { reason: format!("outcome book unavailable: {e}") },
        }
        let marker = match self.book.steps(&request.key()).await {
            Ok(m) => m,
            Err(e) => return Lookup::Failed { reason: format!("outcome book unavailable: {e}") },
        };
        let bill = match self.api.get(session, &request.bill_type, &request.document).await {
            Call::Done(Some(bill)) => bill,
            Call::Done(None) => return Lookup::NotFound,
            Call::Gone(reason) => return Lookup::SessionGone { reason },
            Call::Retry { reason, .. } | Call::Ambiguous(reason) | Call::Refused { message: reason, .. } => {
                return Lookup::Failed { reason: format!("GET Bill: {reason}") }
            }
        };
        let ours = marker.hold_put_sent || marker.release_sent_ms.is_some();
        match self.reached(&bill, &marker, &request).filter(|_| ours) {
            Some(kind) => match self.finish(&request, kind, &bill.status, "").await {
                Outcome::Delivered { remote_id } => Lookup::Found { remote_id },
                other => Lookup::Failed { reason: format!("{other:?}") },
            },
            None => Lookup::NotFound,
        }
    }
}
