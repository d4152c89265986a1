//! What a [`super::SapSource`] remembers between polls so that re-reads of the overlap window
//! (and of recent payments) stay light: for each `DocEntry` handed to the poller in full, its
//! version (`UpdateDate`/`UpdateTime` stamp, empty for payments) and a digest of its watched
//! fields. A record read again with the same version and watched values needs no full
//! document.
//!
//! A record only counts as known once the poller has committed it: the poller commits a page
//! before it asks for the next one, and commits the last page of a cycle together with the new
//! cursor. So the records of a page are *pending* until the poller asks for that page's
//! `next`, or until the next cycle starts from a cursor at or past all of them (last page);
//! otherwise (a failed commit, an unstable cycle whose cursor stayed behind) they are
//! forgotten and read in full again — never delivered with light fields.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Version and watched digest of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `"YYYY-MM-DDTHH:MM:SS"` update stamp (server wall clock), `""` for payments.
    pub stamp: String,
    /// Digest of the watched fields' JSON values, in watched order.
    pub watched: u64,
}

impl Version {
    /// The version of `fields` (a record object) with its `stamp`.
    pub fn of(stamp: String, fields: &serde_json::Value, watched: &[String]) -> Version {
        let mut hasher = DefaultHasher::new();
        for name in watched {
            name.hash(&mut hasher);
            match fields.get(name) {
                Some(value) => value.to_string().hash(&mut hasher),
                None => 0u8.hash(&mut hasher),
            }
        }
        Version {
            stamp,
            watched: hasher.finish(),
        }
    }
}

/// Records handed out by the last fetch, waiting for proof of their commit.
#[derive(Debug, Default)]
struct Pending {
    /// `next` of the page they came with (`None`: last page of a cycle).
    next: Option<String>,
    /// Largest poll position among them.
    max_position: Option<String>,
    records: Vec<(u64, Version)>,
}

/// Known versions plus the pending batch.
#[derive(Debug, Default)]
pub struct Memory {
    known: HashMap<u64, Version>,
    pending: Pending,
}

impl Memory {
    /// Is `doc_entry` known at exactly `version`?
    pub fn is_known(&self, doc_entry: u64, version: &Version) -> bool {
        self.known.get(&doc_entry) == Some(version)
    }

    /// A fetch of `page` is starting: if `page` is the `next` of the pending batch, the poller
    /// committed that batch.
    pub fn fetching(&mut self, page: &str) {
        let pending = std::mem::take(&mut self.pending);
        if pending.next.as_deref() == Some(page) {
            self.known.extend(pending.records);
        }
    }

    /// A cycle is starting after `cursor`: a pending last page is known if the cursor covers
    /// it (it was committed with that cursor), forgotten otherwise.
    pub fn cycle_starts(&mut self, cursor: Option<&str>) {
        let pending = std::mem::take(&mut self.pending);
        let covered = match (&pending.max_position, cursor) {
            (None, _) => true,
            (Some(max), Some(cursor)) => cursor >= max.as_str(),
            (Some(_), None) => false,
        };
        if pending.next.is_none() && covered {
            self.known.extend(pending.records);
        }
    }

    /// Records of the page just returned (position, DocEntry, version read in full).
    pub fn handed_out(&mut self, next: Option<String>, records: Vec<(String, u64, Version)>) {
        let max_position = records.iter().map(|(p, _, _)| p.clone()).max();
        self.pending = Pending {
            next,
            max_position,
            records: records.into_iter().map(|(_, k, v)| (k, v)).collect(),
        };
    }

    /// Forget versions older than `stamp` (they are before the overlap window and will not be
    /// read again). Payment versions (empty stamp) are kept until [`Memory::retain_keys`].
    pub fn forget_before(&mut self, stamp: &str) {
        self.known
            .retain(|_, v| v.stamp.is_empty() || v.stamp.as_str() >= stamp);
    }

    /// Forget every key for which `keep` is false (payments that left the recheck window).
    pub fn retain_keys(&mut self, keep: impl Fn(u64) -> bool) {
        self.known.retain(|k, _| keep(*k));
    }

    /// Number of known records.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// No known record.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(stamp: &str, status: &str) -> Version {
        Version::of(
            stamp.into(),
            &json!({"DocumentStatus": status, "CardName": "x"}),
            &["DocumentStatus".to_string()],
        )
    }

    #[test]
    fn known_only_after_commit_evidence() {
        let mut m = Memory::default();
        m.handed_out(
            Some("p2".into()),
            vec![("a|1".into(), 1, v("a", "open"))],
        );
        assert!(!m.is_known(1, &v("a", "open")));
        // The poller asked for the next page: page 1 was committed.
        m.fetching("p2");
        assert!(m.is_known(1, &v("a", "open")));
        assert!(!m.is_known(1, &v("a", "closed")));
        assert!(!m.is_known(1, &v("b", "open")));
        // Last page, then a cycle from a cursor that covers it.
        m.handed_out(None, vec![("b|2".into(), 2, v("b", "open"))]);
        m.cycle_starts(Some("b|2"));
        assert!(m.is_known(2, &v("b", "open")));
        // Last page, but the cursor stayed behind (commit failed or unstable cycle).
        m.handed_out(None, vec![("c|3".into(), 3, v("c", "open"))]);
        m.cycle_starts(Some("b|2"));
        assert!(!m.is_known(3, &v("c", "open")));
        // A page whose next was never asked for (the cycle failed) is forgotten.
        m.handed_out(Some("p9".into()), vec![("d|4".into(), 4, v("d", "open"))]);
        m.cycle_starts(Some("z"));
        assert!(!m.is_known(4, &v("d", "open")));
        m.forget_before("b");
        assert_eq!(m.len(), 1);
    }
}
