//! The decision token carried by a card's Approve / Reject buttons (`Action.Execute` `data`).
//!
//! Shape: `base64url(claims JSON) "." base64url(HMAC-SHA256(key, claims JSON))`, no padding.
//! Claims ([`DecisionClaims`]) bind the outbox entry (`dedupe_key`), the document key and its
//! version, the approver's Entra object id (and display name) and the expiry in Unix seconds.
//! The key is the credential's `decision_key` from the secret store; a token cannot be
//! altered (other document, other approver, later expiry) without it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Shortest accepted `decision_key`: 32 bytes (the HMAC-SHA256 output size).
pub const MIN_KEY_BYTES: usize = 32;

/// What a decision token binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionClaims {
    /// `dk`: the outbox entry that posted the card (`"<event_key>-><destination>"`).
    #[serde(rename = "dk")]
    pub dedupe_key: String,
    /// `doc`: the document key (e.g. an Acumatica bill `ReferenceNbr`).
    #[serde(rename = "doc")]
    pub document: String,
    /// `ver`: the document version the card shows (e.g. `LastModifiedDateTime`).
    #[serde(rename = "ver")]
    pub version: String,
    /// `apr`: Entra object id (`aadObjectId`) of the only person who may decide.
    #[serde(rename = "apr")]
    pub approver: String,
    /// `aprn`: that person's display name, for the answer cards.
    #[serde(rename = "aprn", default)]
    pub approver_name: String,
    /// `exp`: expiry, Unix seconds.
    pub exp: i64,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// Not `payload.signature` in base64url, or the payload is not the claims JSON.
    #[error("malformed decision token")]
    Malformed,
    /// The signature does not match (altered, or signed with another key).
    #[error("decision token signature does not match")]
    BadSignature,
    /// Past its `exp`.
    #[error("decision token expired")]
    Expired,
}

/// The HMAC key of decision tokens. `Debug` never shows it.
#[derive(Clone)]
pub struct DecisionKey(SecretString);

impl std::fmt::Debug for DecisionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecisionKey([REDACTED])")
    }
}

impl DecisionKey {
    /// A key from the secret store.
    ///
    /// # Errors
    /// A text (without the key) when it is shorter than [`MIN_KEY_BYTES`].
    pub fn new(key: SecretString) -> Result<DecisionKey, String> {
        let len = key.expose_secret().len();
        if len < MIN_KEY_BYTES {
            return Err(format!(
                "decision_key has {len} bytes; at least {MIN_KEY_BYTES} are needed (e.g. `openssl rand -hex 32`)"
            ));
        }
        Ok(DecisionKey(key))
    }

    fn mac(&self) -> Hmac<Sha256> {
        #[allow(clippy::expect_used)]
        <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length")
    }

    /// The signed token of `claims`.
    pub fn sign(&self, claims: &DecisionClaims) -> String {
        #[allow(clippy::expect_used)]
        let payload = serde_json::to_vec(claims).expect("claims serialize");
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The claims of `token` when its signature matches and `now_s` (Unix seconds) is not
    /// past its `exp`.
    ///
    /// # Errors
    /// [`DecisionError`]: malformed, bad signature (checked in constant time), expired.
    pub fn verify(&self, token: &str, now_s: i64) -> Result<DecisionClaims, DecisionError> {
        let (payload, tag) = token.split_once('.').ok_or(DecisionError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| DecisionError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| DecisionError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag)
            .map_err(|_| DecisionError::BadSignature)?;
        let claims: DecisionClaims =
            serde_json::from_slice(&payload).map_err(|_| DecisionError::Malformed)?;
        if now_s > claims.exp {
            return Err(DecisionError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> DecisionKey {
        DecisionKey::new(SecretString::from(text)).expect("long enough")
    }

    fn claims() -> DecisionClaims {
        DecisionClaims {
            dedupe_key: "erp/Bill/B1/created->approvals".into(),
            document: "B1".into(),
            version: "2026-01-05T10:00:00".into(),
            approver: "aad-jane".into(),
            approver_name: "Jane Smith".into(),
            exp: 1_000,
        }
    }

    #[test]
    fn signed_token_verifies_until_expiry_and_not_after() {
        let k = key("0123456789abcdef0123456789abcdef");
        let token = k.sign(&claims());
        assert_eq!(k.verify(&token, 1_000), Ok(claims()));
        assert_eq!(k.verify(&token, 1_001), Err(DecisionError::Expired));
    }

    #[test]
    fn other_key_altered_claims_and_garbage_are_refused() {
        let k = key("0123456789abcdef0123456789abcdef");
        let token = k.sign(&claims());
        let other = key("fedcba9876543210fedcba9876543210");
        assert_eq!(other.verify(&token, 0), Err(DecisionError::BadSignature));
        let mut altered = claims();
        altered.approver = "aad-mallory".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&altered).expect("json"));
        let tag = token.split_once('.').expect("dot").1;
        assert_eq!(
            k.verify(&format!("{forged_payload}.{tag}"), 0),
            Err(DecisionError::BadSignature)
        );
        assert_eq!(k.verify("no-dot", 0), Err(DecisionError::Malformed));
        assert_eq!(k.verify("!!.??", 0), Err(DecisionError::Malformed));
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_the_key() {
        assert_eq!(
            DecisionKey::new(SecretString::from("short")).map(|_| ()),
            Err("decision_key has 5 bytes; at least 32 are needed (e.g. `openssl rand -hex 32`)".to_string())
        );
        let k = key("0123456789abcdef0123456789abcdef");
        assert_eq!(format!("{k:?}"), "DecisionKey([REDACTED])");
    }
}
