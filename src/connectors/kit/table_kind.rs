//! Connector kinds whose entry is one TOML table read by a `parse` function: the
//! `[[credentials]]` and `[[sources]]` kinds of `sap_b1`, `acumatica`, `teams` (`entra`) and
//! `twilio`, declared as constants instead of one unit struct and trait impl each.

use std::sync::Arc;

use crate::seam::{CredentialConfig, CredentialKind, Problem, SourceConfig, SourceKind};

/// The `[[credentials]] kind = "<kind>"` entries read by `parse` into a `C`.
pub struct TableCredentialKind<C> {
    kind: &'static str,
    parse: fn(toml::Table) -> Result<C, Problem>,
}

impl<C> TableCredentialKind<C> {
    /// The kind named `kind` (`"sap_b1"`), reading its table (without `name`/`kind`) with
    /// `parse`, whose [`Problem`] keys are relative to the entry.
    pub const fn new(kind: &'static str, parse: fn(toml::Table) -> Result<C, Problem>) -> Self {
        TableCredentialKind { kind, parse }
    }
}

impl<C: CredentialConfig + 'static> CredentialKind for TableCredentialKind<C> {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn parse(&self, table: toml::Table) -> Result<Arc<dyn CredentialConfig>, Problem> {
        Ok(Arc::new((self.parse)(table)?))
    }
}

/// The `[[sources]] kind = "<kind>"` entries read by `parse` into a `C`, naming a credential
/// of one of `credential_kinds`.
pub struct TableSourceKind<C> {
    kind: &'static str,
    credential_kinds: &'static [&'static str],
    parse: fn(toml::Table) -> Result<C, Problem>,
}

impl<C> TableSourceKind<C> {
    /// The kind named `kind`, taking a credential of one of `credential_kinds` (empty: none),
    /// reading its table (without `name`/`kind`/`credential`) with `parse`.
    pub const fn new(
        kind: &'static str,
        credential_kinds: &'static [&'static str],
        parse: fn(toml::Table) -> Result<C, Problem>,
    ) -> Self {
        TableSourceKind {
            kind,
            credential_kinds,
            parse,
        }
    }
}

impl<C: SourceConfig + 'static> SourceKind for TableSourceKind<C> {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn credential_kinds(&self) -> &'static [&'static str] {
        self.credential_kinds
    }

    fn parse(&self, table: toml::Table) -> Result<Arc<dyn SourceConfig>, Problem> {
        Ok(Arc::new((self.parse)(table)?))
    }
}
