//! The TOML form of a [`Trust`]: `tls = { mode = "system" }`, `{ mode = "ca_file", path = "…" }`
//! or `{ mode = "pin", sha256 = "AB:CD:…" }`. Used by every connector that talks to an
//! on-premise server with its own certificate (SAP Business One Service Layer, Acumatica).

use std::path::PathBuf;

use serde::Deserialize;

use super::{parse_sha256_pin, Trust};

/// `tls = { ... }` as written (unknown keys refused).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSpec {
    mode: TrustMode,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TrustMode {
    System,
    CaFile,
    Pin,
}

impl TrustSpec {
    /// The checked trust decision.
    ///
    /// Errors: `(key, message)` with `key` relative to the `tls` table (`path`, `sha256`): a key
    /// that the mode does not use, a missing `path`/`sha256`, or a pin that is not 64 hex digits.
    pub fn build(self) -> Result<Trust, (&'static str, String)> {
        let unexpected =
            |key: &'static str, mode: &str| (key, format!("not used with mode = \"{mode}\""));
        match self.mode {
            TrustMode::System => {
                if self.path.is_some() {
                    return Err(unexpected("path", "system"));
                }
                if self.sha256.is_some() {
                    return Err(unexpected("sha256", "system"));
                }
                Ok(Trust::System)
            }
            TrustMode::CaFile => {
                if self.sha256.is_some() {
                    return Err(unexpected("sha256", "ca_file"));
                }
                match self.path {
                    Some(path) if !path.as_os_str().is_empty() => Ok(Trust::CaFile(path)),
                    _ => Err((
                        "path",
                        "mode = \"ca_file\" needs path = \"/etc/ml-connector/server-ca.pem\" (a PEM file)"
                            .to_string(),
                    )),
                }
            }
            TrustMode::Pin => {
                if self.path.is_some() {
                    return Err(unexpected("path", "pin"));
                }
                let Some(text) = self.sha256 else {
                    return Err((
                        "sha256",
                        "mode = \"pin\" needs sha256 = \"AB:CD:...\" (the SHA-256 fingerprint of the \
                         server certificate)"
                            .to_string(),
                    ));
                };
                parse_sha256_pin(&text)
                    .map(Trust::Pin)
                    .map_err(|message| ("sha256", message))
            }
        }
    }
}
