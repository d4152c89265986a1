//! Connector state: a small durable key → bytes table that connectors use for their own
//! working state (Twilio: message and call SIDs awaiting a final status; later: caches),
//! namespaced so connectors never see each other's keys.
//!
//! Rows live in the `connector_state` table under `"<namespace>\x1f<key>"`; a namespace must
//! not contain U+001F (the separator). Values are opaque bytes (the connector's own encoding,
//! usually JSON). Every write is its own durable transaction (`Durability::Immediate`).

use super::tables::CONNECTOR_STATE;
use super::{Store, StoreError};

/// Separator between namespace and key.
const SEPARATOR: char = '\x1f';

/// `"<ns>\x1f<key>"`. Errors: [`StoreError::Txn`] when `ns` contains the separator.
fn row_key(ns: &str, key: &str) -> Result<String, StoreError> {
    if ns.contains(SEPARATOR) {
        return Err(StoreError::Txn(format!(
            "connector state namespace {ns:?} contains U+001F"
        )));
    }
    Ok(format!("{ns}{SEPARATOR}{key}"))
}

impl Store {
    /// Store `value` under `key` in namespace `ns` (replacing what was there), durably.
    /// Errors: a namespace containing U+001F, [`StoreError::Txn`] / [`StoreError::Io`].
    pub fn put_state(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let row = row_key(ns, key)?;
        self.write(|txn| {
            txn.open_table(CONNECTOR_STATE)?
                .insert(row.as_str(), value)?;
            Ok(())
        })
    }

    /// The value under `key` in namespace `ns`, if any.
    pub fn get_state(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = row_key(ns, key)?;
        let txn = self.read()?;
        let table = txn.open_table(CONNECTOR_STATE)?;
        Ok(table.get(row.as_str())?.map(|v| v.value().to_vec()))
    }

    /// Remove `key` from namespace `ns`, durably; `true` when it was there (so a caller
    /// can act exactly once per removal).
    pub fn delete_state(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        let row = row_key(ns, key)?;
        self.write(|txn| {
            let removed = txn
                .open_table(CONNECTOR_STATE)?
                .remove(row.as_str())?
                .is_some();
            Ok(removed)
        })
    }

    /// Up to `limit` rows `(key, value)` of namespace `ns` in key order (byte-wise), starting
    /// after `after` (`None`: from the first key). Page with the last key returned.
    pub fn scan_state(
        &self,
        ns: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let prefix = row_key(ns, "")?;
        let end = format!("{ns}\x20");
        let start = format!("{prefix}{}", after.unwrap_or_default());
        let txn = self.read()?;
        let table = txn.open_table(CONNECTOR_STATE)?;
        let mut out = Vec::new();
        for row in table.range(start.as_str()..end.as_str())? {
            if out.len() == limit {
                break;
            }
            let (k, v) = row?;
            let key = &k.value()[prefix.len()..];
            if after == Some(key) {
                continue;
            }
            out.push((key.to_string(), v.value().to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::ManualClock;
    use crate::store::Store;

    fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(&dir.path().join("s.redb"), Arc::new(ManualClock::new(0))).expect("open")
    }

    #[test]
    fn put_get_delete_in_namespaces() {
        let dir = tempfile::tempdir().expect("dir");
        let s = store(&dir);
        s.put_state("twilio/AC1/Message", "SM1", b"one")
            .expect("put");
        s.put_state("twilio/AC1/Call", "SM1", b"other ns")
            .expect("put");
        assert_eq!(
            s.get_state("twilio/AC1/Message", "SM1").expect("get"),
            Some(b"one".to_vec())
        );
        s.put_state("twilio/AC1/Message", "SM1", b"two")
            .expect("replace");
        assert_eq!(
            s.get_state("twilio/AC1/Message", "SM1").expect("get"),
            Some(b"two".to_vec())
        );
        assert!(s.delete_state("twilio/AC1/Message", "SM1").expect("delete"));
        assert!(!s
            .delete_state("twilio/AC1/Message", "SM1")
            .expect("delete again"));
        assert_eq!(s.get_state("twilio/AC1/Message", "SM1").expect("get"), None);
        assert_eq!(
            s.get_state("twilio/AC1/Call", "SM1").expect("get"),
            Some(b"other ns".to_vec())
        );
        assert!(s.put_state("bad\x1fns", "k", b"v").is_err());
    }

    #[test]
    fn scan_pages_one_namespace_in_key_order() {
        let dir = tempfile::tempdir().expect("dir");
        let s = store(&dir);
        for key in ["c", "a", "b", "d"] {
            s.put_state("ns", key, key.as_bytes()).expect("put");
        }
        s.put_state("ns2", "a", b"x").expect("put");
        s.put_state("n", "z", b"x").expect("put");
        let keys =
            |rows: Vec<(String, Vec<u8>)>| rows.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(s.scan_state("ns", None, 3).expect("scan")),
            ["a", "b", "c"]
        );
        assert_eq!(keys(s.scan_state("ns", Some("c"), 3).expect("scan")), ["d"]);
        assert_eq!(
            keys(s.scan_state("ns", Some("d"), 3).expect("scan")),
            Vec::<String>::new()
        );
        assert_eq!(
            s.scan_state("ns", None, 1).expect("scan"),
            vec![("a".to_string(), b"a".to_vec())]
        );
        assert_eq!(keys(s.scan_state("ns2", None, 10).expect("scan")), ["a"]);
    }
}
