//! Reading one kind's TOML table into its typed form, with key paths in errors.

use serde::de::DeserializeOwned;

/// A problem in one configuration entry: the key path inside the entry (`tls.sha256`,
/// `entities[1].interval_seconds`; empty for the entry itself) and what is wrong. The frame
/// prefixes the entry's path (`sources[0].`) and finds the file line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path relative to the entry.
    pub key: String,
    /// What is wrong and how to fix it; never a secret value.
    pub message: String,
}

impl Problem {
    /// A problem at `key` (relative to the entry).
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same problem one level down: `prefix.key` (`tls` + `sha256` → `tls.sha256`).
    pub fn within(self, prefix: &str) -> Self {
        let key = if self.key.is_empty() {
            prefix.to_string()
        } else if self.key.starts_with('[') {
            format!("{prefix}{}", self.key)
        } else {
            format!("{prefix}.{}", self.key)
        };
        Problem { key, ..self }
    }
}

/// Deserialises a kind's table into `T` (which should use `deny_unknown_fields`, so another
/// kind's keys are refused by name).
///
/// Errors: a [`Problem`] at the failing key: unknown field (with the expected ones), wrong
/// type, missing field, or a value its `deserialize_with` refused.
pub fn parse_table<T: DeserializeOwned>(table: toml::Table) -> Result<T, Problem> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = match e.path().to_string() {
            root if root == "." => String::new(),
            key => key,
        };
        Problem::new(key, e.inner().message().to_string())
    })
}
