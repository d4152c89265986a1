//! `SecretRef`: where a secret comes from. Secrets are never written in the configuration file.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// Message given when a plain string sits where a secret reference is expected.
pub const PLAIN_SECRET_REFUSED: &str = "secrets are never written in the config file: \
run `ml-connector secret set NAME` and write { secret = \"NAME\" }";

/// A reference to a secret value.
///
/// TOML shapes:
/// - `{ secret = "sap-prod-password" }`: a value sealed with the secrets key and stored in the
///   state database (`ml-connector secret set sap-prod-password`), see [`crate::secrets`].
/// - `{ env = "SAP_PASSWORD" }`: read from an environment variable when the service starts.
///
/// A plain string is refused with [`PLAIN_SECRET_REFUSED`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// Name of a secret sealed in the store.
    Secret(String),
    /// Name of an environment variable.
    Env(String),
}

impl SecretRef {
    /// Human description naming the reference, never the value: `secret "x"` / `env var X`.
    /// What an operator does to change the value: `run \`ml-connector secret set NAME\`` or
    /// `change environment variable VAR`.
    pub fn how_to_update(&self) -> String {
        match self {
            SecretRef::Secret(name) => format!("run `ml-connector secret set {name}`"),
            SecretRef::Env(var) => format!("change environment variable {var}"),
        }
    }

    /// `secret "NAME"` or `environment variable VAR` (for messages).
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Secret(name) => format!("secret \"{name}\""),
            SecretRef::Env(var) => format!("environment variable {var}"),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretRefVisitor)
    }
}

struct SecretRefVisitor;

impl<'de> Visitor<'de> for SecretRefVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{ secret = \"NAME\" } or { env = \"VAR\" }")
    }

    fn visit_str<E: de::Error>(self, _value: &str) -> Result<SecretRef, E> {
        // The value is a secret written in clear: never echo it.
        Err(E::custom(PLAIN_SECRET_REFUSED))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
        let mut found: Option<SecretRef> = None;
        while let Some(key) = map.next_key::<String>()? {
            let value: String = map.next_value()?;
            if found.is_some() {
                return Err(de::Error::custom(
                    "a secret reference has exactly one key: secret or env",
                ));
            }
            if value.trim().is_empty() {
                return Err(de::Error::custom(format!("`{key}` must not be empty")));
            }
            found = Some(match key.as_str() {
                "secret" => SecretRef::Secret(value),
                "env" => SecretRef::Env(value),
                other => return Err(de::Error::unknown_field(other, &["secret", "env"])),
            });
        }
        found
            .ok_or_else(|| de::Error::custom("expected { secret = \"NAME\" } or { env = \"VAR\" }"))
    }
}
