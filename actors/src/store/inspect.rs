//! A byte-level view of the whole store, for tests that assert exactly what one step changed
//! (e.g. "a refused inbound request writes one audit line and nothing else").

use std::collections::BTreeMap;

use redb::{Key, ReadableTable, TableDefinition, Value};

use super::tables::{ALL_STR_TABLES, AUDIT, DEAD_LETTERS, INBOUND_SEEN, META};
use super::{Store, StoreError};

/// Rows of one table as `(key bytes, value bytes)`, in key order.
pub type TableRows = Vec<(Vec<u8>, Vec<u8>)>;

impl Store {
    /// Every row of every table of this build's schema, keyed by table name, with keys and
    /// values as their redb byte encodings (so two views compare byte for byte). Tables that
    /// were never created read as empty. Reads one snapshot (a read transaction).
    /// Errors: [`StoreError::Txn`].
    pub fn table_rows(&self) -> Result<BTreeMap<String, TableRows>, StoreError> {
        let txn = self.read()?;
        let mut out = BTreeMap::new();
        for def in ALL_STR_TABLES {
            rows(&txn, *def, &mut out)?;
        }
        rows(&txn, INBOUND_SEEN, &mut out)?;
        rows(&txn, DEAD_LETTERS, &mut out)?;
        rows(&txn, AUDIT, &mut out)?;
        rows(&txn, META, &mut out)?;
        rows(&txn, super::tables::CURSOR_TIMES, &mut out)?;
        rows(&txn, super::trace::TRACE, &mut out)?;
        rows(&txn, super::trace::TRACE_DOCS, &mut out)?;
        Ok(out)
    }
}

/// Put the rows of table `def` into `out` under its name (empty when it does not exist).
fn rows<K: Key + 'static, V: Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<'static, K, V>,
    out: &mut BTreeMap<String, TableRows>,
) -> Result<(), StoreError> {
    let name = redb::TableHandle::name(&def).to_string();
    let mut rows = Vec::new();
    match txn.open_table(def) {
        Ok(table) => {
            for row in table.iter()? {
                let (k, v) = row?;
                rows.push((
                    K::as_bytes(&k.value()).as_ref().to_vec(),
                    V::as_bytes(&v.value()).as_ref().to_vec(),
                ));
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    out.insert(name, rows);
    Ok(())
}
