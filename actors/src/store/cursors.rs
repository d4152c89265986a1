//! Every stored cursor with the time it was stored (status page: each poller's position and
//! its age).

use redb::ReadableTable;

use super::tables::{CURSORS, CURSOR_TIMES};
use super::{Store, StoreError};
use crate::clock::UnixMillis;

/// One poller's stored position.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorRow {
    /// `"<source>/<entity>"`.
    pub stream: String,
    /// The cursor as stored (UTF-8, lossy).
    pub cursor: String,
    /// When it was last stored, UTC milliseconds (`None`: stored by a build that did not
    /// record the time).
    pub stored_ms: Option<UnixMillis>,
}

impl Store {
    /// Every stored cursor, sorted by stream.
    pub fn cursors(&self) -> Result<Vec<CursorRow>, StoreError> {
        let txn = self.read()?;
        let cursors = txn.open_table(CURSORS)?;
        let times = match txn.open_table(CURSOR_TIMES) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in cursors.iter()? {
            let (k, v) = row?;
            let stream = k.value().to_string();
            let stored_ms = match &times {
                Some(t) => t.get(stream.as_str())?.map(|v| v.value()),
                None => None,
            };
            out.push(CursorRow {
                cursor: String::from_utf8_lossy(v.value()).into_owned(),
                stream,
                stored_ms,
            });
        }
        Ok(out)
    }
}
