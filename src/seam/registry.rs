//! The list of connectors and lookups by kind.

use super::{CredentialKind, DestinationKind, SourceKind};

/// One external system's folder: the kinds it adds. (Its simulator, `src/sandbox/<name>/`,
/// is listed by the same `registry!` line in `crate::connectors`.)
pub struct Connector {
    /// Folder name (`sap_b1`, `teams`).
    pub name: &'static str,
    /// `[[credentials]]` kinds.
    pub credentials: &'static [&'static dyn CredentialKind],
    /// `[[sources]]` kinds.
    pub sources: &'static [&'static dyn SourceKind],
    /// `[[destinations]]` kinds.
    pub destinations: &'static [&'static dyn DestinationKind],
}

/// Every connector the binary knows (`crate::connectors::REGISTRY`).
#[derive(Clone, Copy)]
pub struct Registry(pub &'static [&'static Connector]);

impl Registry {
    /// The connectors in registration order.
    pub fn connectors(&self) -> impl Iterator<Item = &'static Connector> {
        self.0.iter().copied()
    }

    /// The credential kind called `kind`.
    pub fn credential(&self, kind: &str) -> Option<&'static dyn CredentialKind> {
        self.connectors()
            .flat_map(|c| c.credentials.iter().copied())
            .find(|k| k.kind() == kind)
    }

    /// The source kind called `kind`.
    pub fn source(&self, kind: &str) -> Option<&'static dyn SourceKind> {
        self.connectors()
            .flat_map(|c| c.sources.iter().copied())
            .find(|k| k.kind() == kind)
    }

    /// The destination kind called `kind`.
    pub fn destination(&self, kind: &str) -> Option<&'static dyn DestinationKind> {
        self.connectors()
            .flat_map(|c| c.destinations.iter().copied())
            .find(|k| k.kind() == kind)
    }

    /// Known credential kinds, for error messages.
    pub fn credential_kinds(&self) -> Vec<&'static str> {
        self.connectors()
            .flat_map(|c| c.credentials.iter().map(|k| k.kind()))
            .collect()
    }

    /// Known source kinds, for error messages.
    pub fn source_kinds(&self) -> Vec<&'static str> {
        self.connectors()
            .flat_map(|c| c.sources.iter().map(|k| k.kind()))
            .collect()
    }

    /// Known destination kinds, for error messages.
    pub fn destination_kinds(&self) -> Vec<&'static str> {
        self.connectors()
            .flat_map(|c| c.destinations.iter().map(|k| k.kind()))
            .collect()
    }
}
