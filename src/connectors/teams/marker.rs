//! The delivery marker: a deterministic tag derived from an outbox entry's dedupe key, put in
//! every Teams message so an earlier attempt can be found again after an ambiguous failure.

use sha2::{Digest, Sha256};

/// Marker of one outbox entry.
///
/// - [`Marker::guid`]: the first 16 bytes of SHA-256(`dedupe_key`) as a lowercase
///   8-4-4-4-12 GUID (`"3f2a9c1e-...-..."`); used as the Graph `chatMessage` attachment id
///   (Graph requires `<attachment id="GUID">` in the body to match `attachments[].id`).
/// - [`Marker::reference`]: `"mlc-"` + the first 12 hex digits of the same hash; shown in a
///   visible HTML footer so operators can quote it and HTML messages can be looked up too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    guid: String,
    reference: String,
}

impl Marker {
    /// Derive the marker from `OutboxEntry::dedupe_key` (`"<event_key>-><destination>"`).
    pub fn from_dedupe_key(dedupe_key: &str) -> Self {
        let digest = Sha256::digest(dedupe_key.as_bytes());
        let hex = hex::encode(&digest[..16]);
        let guid = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        let reference = format!("mlc-{}", &hex[..12]);
        Self { guid, reference }
    }

    /// The GUID form, 36 characters, lowercase.
    pub fn guid(&self) -> &str {
        &self.guid
    }

    /// The short form `mlc-` + 12 lowercase hex digits (16 characters).
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The visible footer appended to every Graph HTML body:
    /// `<p><small>ref mlc-0123456789ab</small></p>`.
    pub fn html_footer(&self) -> String {
        format!("<p><small>ref {}</small></p>", self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let a = Marker::from_dedupe_key("acme/PurchaseOrders/42/created->finance");
        let b = Marker::from_dedupe_key("acme/PurchaseOrders/42/created->finance");
        let c = Marker::from_dedupe_key("acme/PurchaseOrders/43/created->finance");
        assert_eq!(a, b);
        assert_ne!(a, c);
        let g = a.guid();
        assert_eq!(g.len(), 36);
        let groups: Vec<usize> = g.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert!(g
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
        // The reference is the first 12 hex digits of the same hash.
        assert_eq!(a.reference(), format!("mlc-{}{}", &g[0..8], &g[9..13]));
        assert_eq!(
            a.html_footer(),
            format!("<p><small>ref {}</small></p>", a.reference())
        );
    }

    #[test]
    fn matches_sha256_known_value() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
        let m = Marker::from_dedupe_key("abc");
        assert_eq!(m.guid(), "ba7816bf-8f01-cfea-4141-40de5dae2223");
        assert_eq!(m.reference(), "mlc-ba7816bf8f01");
    }
}
