//! The optional sandbox file of `ml-connector sandbox --config FILE`: one table per registered
//! kind, each parsed by its kind (`deny_unknown_fields`), errors as `FILE:LINE: key K: message`.
//!
//! ```toml
//! [sap_b1]
//! port = 50000                    # 0 or absent: an ephemeral port
//! session_timeout_seconds = 1800
//! seed_documents = 100
//!
//! [teams]
//! port = 8443
//! token_lifetime_seconds = 3600
//! ```
//! A kind without a table runs with its defaults; a table naming no registered kind is refused.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::SandboxKind;

/// Why the sandbox cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The sandbox file could not be read.
    #[error("{}: cannot read the sandbox file: {source}", path.display())]
    Read {
        /// The file given with `--config`.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The sandbox file is not valid: TOML syntax, an unknown table or key, a wrong type.
    #[error("{}:{line}: {}{message}", path.display(), key_prefix(key))]
    Invalid {
        /// The sandbox file (`<defaults>` when none was given).
        path: PathBuf,
        /// 1-based line of the problem (the key, the value or the table header).
        line: usize,
        /// Key path such as `sap_b1.port`; empty for document-level problems.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A simulator could not be served (e.g. its port is taken).
    #[error("cannot start the {kind} sandbox: {source}")]
    Start {
        /// The kind (`sap_b1`, `teams`).
        kind: &'static str,
        /// Usually a bind error such as `AddrInUse`.
        #[source]
        source: std::io::Error,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("key {key}: ")
    }
}

/// The sandbox file, parsed once; [`SandboxFile::settings`] hands each kind its own table.
#[derive(Debug)]
pub struct SandboxFile<'t> {
    path: PathBuf,
    text: &'t str,
    root: Spanned<DeTable<'t>>,
}

impl<'t> SandboxFile<'t> {
    /// Parse `text` (read from `path`, used only in messages) and check that every top-level
    /// key names a kind of `kinds`.
    ///
    /// Errors: [`SandboxError::Invalid`] for TOML syntax errors and unknown top-level keys
    /// (`FILE:LINE: key foo: unknown sandbox kind; expected one of: sap_b1, teams`).
    pub fn parse(
        text: &'t str,
        path: &Path,
        kinds: &[&SandboxKind],
    ) -> Result<SandboxFile<'t>, SandboxError> {
        let root = DeTable::parse(text).map_err(|e| SandboxError::Invalid {
            path: path.to_path_buf(),
            line: line_of(text, e.span().map_or(0, |s| s.start)),
            key: String::new(),
            message: e.message().to_string(),
        })?;
        let file = SandboxFile {
            path: path.to_path_buf(),
            text,
            root,
        };
        for (key, _) in file.root.get_ref().iter() {
            let name: &str = key.get_ref();
            if !kinds.iter().any(|k| k.kind == name) {
                let known: Vec<&str> = kinds.iter().map(|k| k.kind).collect();
                return Err(file.invalid(
                    key.span().start,
                    name.to_string(),
                    format!(
                        "unknown sandbox kind; expected one of: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(file)
    }

    /// An empty file: every kind runs with its defaults.
    pub fn empty() -> SandboxFile<'static> {
        SandboxFile {
            path: PathBuf::from("<defaults>"),
            text: "",
            root: Spanned::new(0..0, DeTable::default()),
        }
    }

    /// The settings of `kind`: its table, or nothing (defaults) when the file has none.
    pub fn settings(&self, kind: &'static str) -> SandboxSettings<'_> {
        let table = self
            .root
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == kind)
            .map(|(_, v)| v);
        SandboxSettings {
            kind,
            file: self,
            table,
        }
    }

    fn invalid(&self, offset: usize, key: String, message: String) -> SandboxError {
        SandboxError::Invalid {
            path: self.path.clone(),
            line: line_of(self.text, offset),
            key,
            message,
        }
    }
}

/// What one kind's starter receives: its table of the sandbox file (or none).
#[derive(Debug, Clone, Copy)]
pub struct SandboxSettings<'f> {
    kind: &'static str,
    file: &'f SandboxFile<'f>,
    table: Option<&'f Spanned<DeValue<'f>>>,
}

impl SandboxSettings<'_> {
    /// The kind these settings belong to (`sap_b1`, `teams`).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Deserialize the kind's table into `T` (use `#[serde(deny_unknown_fields, default)]`);
    /// `T::default()` when the file has no such table.
    ///
    /// Errors: [`SandboxError::Invalid`] with the line and the key path prefixed by the kind
    /// (`sandbox.toml:3: key sap_b1.prot: unknown field `prot`, expected one of ...`).
    pub fn parse<T: DeserializeOwned + Default>(&self) -> Result<T, SandboxError> {
        let Some(table) = self.table else {
            return Ok(T::default());
        };
        let deserializer = ValueDeserializer::from(table.clone());
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = match e.path().to_string() {
                root if root == "." => self.kind.to_string(),
                path => format!("{}.{path}", self.kind),
            };
            let offset = e.inner().span().map_or(table.span().start, |s| s.start);
            self.file
                .invalid(offset, key, e.inner().message().to_string())
        })
    }

    /// Wrap a start failure (binding the port) of this kind.
    pub fn start_error(&self, source: std::io::Error) -> SandboxError {
        SandboxError::Start {
            kind: self.kind,
            source,
        }
    }
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
