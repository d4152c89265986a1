//! The lookup marker of one outbox entry in SAP: `mlc-` + the first 16 hex digits (64 bits)
//! of SHA-256 of the dedupe key. 64 bits keep a false match between two audit records
//! negligible for the life of a company database (an 8-digit marker collides after ~65,000
//! records by the birthday bound).
//!
//! - Activities: the marker field ends with ` [ref mlc-…]` and is found again with
//!   `$filter=contains(<field>,'mlc-…')` (the filter holds no space, so no `+`/`%20`
//!   decoding question arises on the server).
//! - User-defined tables: `Code` = `mlc-…` (20 characters; SAP allows 50), so the key itself
//!   refuses a second create.

use sha2::{Digest, Sha256};

/// Hex digits of the digest kept in the marker.
const HEX_DIGITS: usize = 16;

/// `mlc-` + 16 lowercase hex digits derived from `dedupe_key`.
pub fn marker(dedupe_key: &str) -> String {
    let digest = Sha256::digest(dedupe_key.as_bytes());
    format!("mlc-{}", &hex::encode(digest)[..HEX_DIGITS])
}

/// The visible suffix put into an Activity's marker field: `[ref mlc-…]`.
pub fn reference(marker: &str) -> String {
    format!("[ref {marker}]")
}

/// `text` with the reference appended after one space (the reference alone when `text` is
/// empty after trimming).
pub fn marked(text: &str, marker: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        reference(marker)
    } else {
        format!("{text} {}", reference(marker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_stable_and_short() {
        let m = marker("acme/PurchaseInvoices/7/created->sap-audit");
        assert_eq!(m.len(), 20);
        assert!(m.starts_with("mlc-"));
        assert_eq!(m, marker("acme/PurchaseInvoices/7/created->sap-audit"));
        assert_ne!(m, marker("acme/PurchaseInvoices/8/created->sap-audit"));
        assert_eq!(marked("SMS delivered  ", &m), format!("SMS delivered [ref {m}]"));
        assert_eq!(marked(" ", &m), format!("[ref {m}]"));
    }
}
