//! Settling a receipt: once a final status is committed, the pending receipt is forgotten and
//! the outcome counted, exactly once per SID whichever path (callback or poll) got there
//! first; and giving up on a SID that never reached a final status.

use ml_connector_actors::blocking;

use super::receipt::{PendingReceipt, ReceiptBook, ReceiptEntity};
use super::FINAL_STATUS;

/// Audit kind of a delivery exception (`failed`, `undelivered`, `busy`, `no-answer`,
/// `canceled`): one line per SID, `"<destination>: <Message|Call> <sid> ended <status>"`.
pub const EXCEPTION_AUDIT: &str = "twilio_delivery_exception";

/// Forget the receipt of `sid` when `status` is final for `entity`, and count
/// `mlc_twilio_final_status_total{destination, status}` when this call removed it; a
/// delivery exception also gets one [`EXCEPTION_AUDIT`] line. A store
/// error is logged: the receipt stays and the next poll settles it (its snapshot already
/// holds the status, so no second event).
///
/// With escalation on ([`ReceiptBook::escalates`]), an SMS settled with a status other than
/// `delivered`/`read` is held for escalation first (a store error there keeps the receipt:
/// the next poll settles it again).
pub async fn settle(book: &ReceiptBook, entity: ReceiptEntity, sid: &str, status: &str, destination: &str) {
    if !entity.is_final(status) {
        return;
    }
    if book.escalates() && entity == ReceiptEntity::Message && !super::escalate::is_delivered(status) {
        if let Err(e) = hold(book, sid).await {
            tracing::error!(%sid, error = %e, "a settled SMS could not be held for escalation; the next poll retries");
            return;
        }
    }
    match book.forget(entity, sid).await {
        Ok(true) => {
            metrics::counter!(FINAL_STATUS, "destination" => destination.to_string(), "status" => status.to_string())
                .increment(1);
            if matches!(status, "failed" | "undelivered" | "busy" | "no-answer" | "canceled") {
                tracing::warn!(%destination, %sid, %status, "Twilio reports a delivery exception");
                let store = book.store().clone();
                let detail = format!("{destination}: {} {sid} ended {status}", entity.name());
                if let Err(e) = blocking(move || store.audit(EXCEPTION_AUDIT, &detail)).await {
                    tracing::error!(%sid, error = %e, "could not write the audit line of a delivery exception");
                }
            }
        }
        Ok(false) => {}
        Err(e) => tracing::error!(%sid, error = %e, "a settled receipt could not be forgotten; the next poll retries"),
    }
}

/// Copy the pending SMS receipt of `sid` (if still pending) to the held namespace.
async fn hold(book: &ReceiptBook, sid: &str) -> Result<(), ml_connector_actors::store::StoreError> {
    let (reader, key) = (book.clone(), sid.to_string());
    let receipt = blocking(move || reader.get(ReceiptEntity::Message, &key)).await?;
    match receipt {
        Some(receipt) => book.hold(&receipt).await,
        None => Ok(()),
    }
}

/// Stop waiting for `receipt`: one audit line `twilio_receipt_gave_up`, the receipt forgotten,
/// `mlc_twilio_final_status_total{status="gave_up"}` counted. Errors: the store's (nothing
/// forgotten then; the next poll tries again).
pub async fn give_up(book: &ReceiptBook, receipt: &PendingReceipt, waited_ms: i64) -> Result<(), ml_connector_actors::store::StoreError> {
    let store = book.store().clone();
    let detail = format!(
        "{} {} to {} for destination {} (event {}) had no final status after {} s; no longer polled",
        receipt.entity.name(),
        receipt.sid,
        receipt.to,
        receipt.destination,
        receipt.event_key,
        waited_ms / 1000
    );
    blocking(move || store.audit("twilio_receipt_gave_up", &detail)).await?;
    if book.forget(receipt.entity, &receipt.sid).await? {
        metrics::counter!(FINAL_STATUS, "destination" => receipt.destination.clone(), "status" => "gave_up")
            .increment(1);
    }
    tracing::warn!(sid = %receipt.sid, destination = %receipt.destination, "no final Twilio status in time; gave up");
    Ok(())
}
