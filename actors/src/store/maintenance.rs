//! Operator views: outbox statistics, dead-letter listing and replay.

use std::collections::BTreeMap;

use redb::{ReadableTable, ReadableTableMetadata};

use super::outbox::OutboxTables;
use super::tables::*;
use super::trace::{TraceStep, TraceWriter};
use super::types::OutboxPayload;
use super::{
    append_audit, decode, enqueue, next_seq, AuditLine, DeadLetter, LedgerEntry, LedgerState,
    Store, StoreError,
};
use crate::clock::UnixMillis;

/// Outbox figures of one destination.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OutboxStats {
    /// Entries waiting.
    pub depth: u64,
    /// `created_ms` of the oldest waiting entry.
    pub oldest_created_ms: Option<UnixMillis>,
}

impl Store {
    /// Outbox depth and oldest entry per destination.
    pub fn outbox_stats(&self) -> Result<BTreeMap<String, OutboxStats>, StoreError> {
        let txn = self.read()?;
        let states = txn.open_table(OUTBOX_STATE)?;
        let payloads = txn.open_table(OUTBOX_PAYLOAD)?;
        let mut out: BTreeMap<String, OutboxStats> = BTreeMap::new();
        for row in states.iter()? {
            let (k, _) = row?;
            let key = k.value();
            let dest = key.split('\x1f').next().unwrap_or_default();
            if let Some(s) = out.get_mut(dest) {
                s.depth += 1;
                continue;
            }
            // Keys sort by sequence within a destination and `created_ms` grows with the
            // sequence (a replay is re-created), so the first entry is the oldest: only its
            // payload row is decoded.
            let created = match payloads.get(key)? {
                Some(v) => {
                    Some(decode::<OutboxPayload>(OUTBOX_PAYLOAD_NAME, v.value())?.created_ms)
                }
                None => None,
            };
            out.insert(
                dest.to_string(),
                OutboxStats {
                    depth: 1,
                    oldest_created_ms: created,
                },
            );
        }
        Ok(out)
    }

    /// Dead letters, oldest first, at most `limit`.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(DEAD_LETTERS)?;
        let mut out = Vec::new();
        for row in table.iter()?.take(limit) {
            out.push(decode(DEAD_LETTERS_NAME, row?.1.value())?);
        }
        Ok(out)
    }

    /// Dead letters, newest first, at most `limit`.
    pub fn dead_letters_newest(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(DEAD_LETTERS)?;
        let mut out = Vec::new();
        for row in table.iter()?.rev().take(limit) {
            out.push(decode(DEAD_LETTERS_NAME, row?.1.value())?);
        }
        Ok(out)
    }

    /// Number of dead letters.
    pub fn dead_letter_count(&self) -> Result<u64, StoreError> {
        let txn = self.read()?;
        Ok(txn.open_table(DEAD_LETTERS)?.len()?)
    }

    /// One dead letter by its id (the outbox `seq` it had).
    pub fn dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(DEAD_LETTERS)?;
        match table.get(id)? {
            Some(v) => Ok(Some(decode(DEAD_LETTERS_NAME, v.value())?)),
            None => Ok(None),
        }
    }

    /// Put a dead letter back into the outbox through the dedupe ledger: if the ledger says the
    /// event was delivered meanwhile, nothing is queued and `Ok(None)` is returned; otherwise the
    /// new outbox `seq`. The replayed entry counts its age and delivery latency from the replay.
    /// Errors: [`StoreError::NotFound`] for an unknown id.
    pub fn replay_dead_letter(&self, id: u64) -> Result<Option<u64>, StoreError> {
        let now = self.now_ms();
        self.write(|txn| {
            let mut dead = txn.open_table(DEAD_LETTERS)?;
            let letter: DeadLetter = match dead.remove(id)? {
                Some(v) => decode(DEAD_LETTERS_NAME, v.value())?,
                None => return Err(StoreError::NotFound(format!("dead letter {id}"))),
            };
            let mut ledger = txn.open_table(DEDUPE)?;
            let state: Option<LedgerEntry> = match ledger.get(letter.entry.dedupe_key.as_str())? {
                Some(v) => Some(decode(DEDUPE_NAME, v.value())?),
                None => None,
            };
            let detail;
            let result = if state.is_some_and(|s| s.state == LedgerState::Delivered) {
                detail = format!(
                    "dead letter {id} not replayed: {} already delivered",
                    letter.entry.dedupe_key
                );
                let mut trace = TraceWriter::open(txn, now, self.trace_lines_per_document())?;
                let step = TraceStep::Replayed {
                    destination: letter.entry.destination.clone(),
                    dead_letter: id,
                    seq: None,
                };
                trace.push_for(id, step)?;
                trace.unlink(id)?;
                None
            } else {
                let seq = next_seq(txn, "outbox_seq")?;
                let mut entry = letter.entry.clone();
                entry.seq = seq;
                entry.attempts = 0;
                entry.lookups = 0;
                entry.deferrals = 0;
                entry.created_ms = now;
                entry.next_attempt_ms = now;
                entry.maybe_sent = false;
                entry.last_error = None;
                detail = format!(
                    "dead letter {id} replayed as outbox entry {seq} for {}",
                    entry.destination
                );
                let destination = entry.destination.clone();
                let (payload, state) = entry.split();
                enqueue(
                    &mut OutboxTables::open(txn)?,
                    &mut ledger,
                    &payload,
                    &state,
                    now,
                )?;
                let mut trace = TraceWriter::open(txn, now, self.trace_lines_per_document())?;
                if let Some(document) = trace.document_of(id)? {
                    trace.unlink(id)?;
                    trace.link(seq, &document)?;
                    let step = TraceStep::Replayed {
                        destination,
                        dead_letter: id,
                        seq: Some(seq),
                    };
                    trace.push(&document, step)?;
                }
                Some(seq)
            };
            append_audit(
                txn,
                &AuditLine {
                    at_ms: now,
                    kind: "replay".into(),
                    detail,
                },
            )?;
            Ok(result)
        })
    }
}
