//! The sandbox's Bot Connector signing keys: RSA 2048 key pairs generated in the process
//! (`rsa` crate), served as a JWKS, and JWTs signed RS256 with them (`jsonwebtoken`).
//!
//! Three keys exist per process (generated once, on first use, because RSA generation takes
//! a moment): the *current* key (served from the start), the *rotated* key (served only once
//! [`super::BotSim::rotate_key`] was called, under a new `kid`) and an *attacker* key (never
//! served: tokens signed with it are forgeries).

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value as Json};

/// One RSA key pair with its `kid`.
pub struct SigningKey {
    /// Key id (`kid`), as in the JWKS.
    pub kid: &'static str,
    encoding: EncodingKey,
    /// Modulus, base64url.
    n: String,
    /// Public exponent, base64url.
    e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    fn generate(kid: &'static str) -> SigningKey {
        let mut rng = rsa::rand_core::OsRng;
        #[allow(clippy::expect_used)]
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation");
        #[allow(clippy::expect_used)]
        let der = key.to_pkcs1_der().expect("PKCS#1 encoding");
        SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        }
    }

    /// The JWK of the public key (`kty`, `use`, `kid`, `n`, `e`, `endorsements`).
    pub fn jwk(&self) -> Json {
        json!({"kty": "RSA", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e, "endorsements": ["msteams"]})
    }

    /// `claims` signed RS256 with this key, header `kid` = this key's.
    pub fn sign(&self, claims: &Json) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.to_string());
        #[allow(clippy::expect_used)]
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing")
    }
}

/// Which of the process's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// Served from the start.
    Current,
    /// Served after a rotation.
    Rotated,
    /// Never served.
    Attacker,
}

/// The key of `role` (generated on first use).
pub fn key(role: KeyRole) -> &'static SigningKey {
    static CURRENT: OnceLock<SigningKey> = OnceLock::new();
    static ROTATED: OnceLock<SigningKey> = OnceLock::new();
    static ATTACKER: OnceLock<SigningKey> = OnceLock::new();
    match role {
        KeyRole::Current => CURRENT.get_or_init(|| SigningKey::generate("sandbox-key-1")),
        KeyRole::Rotated => ROTATED.get_or_init(|| SigningKey::generate("sandbox-key-2")),
        KeyRole::Attacker => ATTACKER.get_or_init(|| SigningKey::generate("sandbox-key-1")),
    }
}
