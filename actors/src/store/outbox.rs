//! The outbox as two tables inside one write transaction: immutable payload rows written once,
//! small state rows rewritten by every attempt mark and outcome.

use redb::{ReadableTable, WriteTransaction};

use super::tables::*;
use super::types::{OutboxPayload, OutboxState};
use super::{decode, encode, OutboxEntry, StoreError};

type BytesTable<'t> = redb::Table<'t, &'static str, &'static [u8]>;

/// Both outbox tables, open in a write transaction.
pub(crate) struct OutboxTables<'t> {
    payloads: BytesTable<'t>,
    states: BytesTable<'t>,
}

impl<'t> OutboxTables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            payloads: txn.open_table(OUTBOX_PAYLOAD)?,
            states: txn.open_table(OUTBOX_STATE)?,
        })
    }

    /// Write a new entry (payload and state rows).
    pub(crate) fn insert(
        &mut self,
        payload: &OutboxPayload,
        state: &OutboxState,
    ) -> Result<(), StoreError> {
        let key = outbox_key(&payload.destination, payload.seq);
        self.payloads
            .insert(key.as_str(), encode(payload).as_slice())?;
        self.states.insert(key.as_str(), encode(state).as_slice())?;
        Ok(())
    }

    /// The state row of `key`, if the entry exists.
    pub(crate) fn state(&self, key: &str) -> Result<Option<OutboxState>, StoreError> {
        match self.states.get(key)? {
            Some(v) => Ok(Some(decode(OUTBOX_STATE_NAME, v.value())?)),
            None => Ok(None),
        }
    }

    /// Rewrite the state row of `key` (the payload row is not touched).
    pub(crate) fn put_state(&mut self, key: &str, state: &OutboxState) -> Result<(), StoreError> {
        self.states.insert(key, encode(state).as_slice())?;
        Ok(())
    }

    /// Remove the entry `key` and return its dedupe key, reading only that field of the
    /// payload row (a delivered entry needs nothing else: no payload is decoded).
    pub(crate) fn remove(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        /// The one field of an [`OutboxPayload`] row a delivery outcome needs.
        #[derive(serde::Deserialize)]
        struct DedupeKey {
            dedupe_key: String,
        }
        self.states.remove(key)?;
        match self.payloads.remove(key)? {
            Some(v) => Ok(Some(
                decode::<DedupeKey>(OUTBOX_PAYLOAD_NAME, v.value())?.dedupe_key,
            )),
            None => Ok(None),
        }
    }

    /// Remove the entry `key` and return it joined with `state` (its current state row).
    pub(crate) fn take(
        &mut self,
        key: &str,
        state: OutboxState,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        self.states.remove(key)?;
        let payload: Option<OutboxPayload> = match self.payloads.remove(key)? {
            Some(v) => Some(decode(OUTBOX_PAYLOAD_NAME, v.value())?),
            None => None,
        };
        Ok(payload.map(|p| OutboxEntry::join(p, state)))
    }
}
