//! `[[credentials]]`, `[[sources]]`, `[[destinations]]`: the frame reads `name`, `kind` and
//! `credential`, the kind's connector reads the rest.

use std::collections::HashMap;
use std::sync::Arc;

use super::delivery::{self, DeliverySettings};
use crate::seam::{CredentialConfig, DestinationConfig, Problem, Registry, SourceConfig};

/// One `[[credentials]]` entry.
#[derive(Debug, Clone)]
pub struct Credential {
    /// `name`: unique among credentials; a session's name in metrics and `/health/ready`.
    pub name: String,
    /// `kind` (`sap_b1`, `entra`).
    pub kind: &'static str,
    /// The kind's checked table.
    pub config: Arc<dyn CredentialConfig>,
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone)]
pub struct Source {
    /// `name`: unique among sources; the `source` label of metrics, dedupe keys and routes.
    pub name: String,
    /// `kind` (`sap_b1`).
    pub kind: &'static str,
    /// `credential`: the `[[credentials]]` entry it reads with.
    pub credential: Option<String>,
    /// The kind's checked table.
    pub config: Arc<dyn SourceConfig>,
}

/// One `[[destinations]]` entry.
#[derive(Debug, Clone)]
pub struct Destination {
    /// `name`: unique among destinations; routes name it.
    pub name: String,
    /// `kind` (`teams_channel`, `teams_chat`, `teams_workflows`).
    pub kind: &'static str,
    /// `credential`: the `[[credentials]]` entry it sends with.
    pub credential: Option<String>,
    /// `rate_per_second`, `burst`, `concurrency`, `on_unverifiable`.
    pub delivery: DeliverySettings,
    /// The kind's checked table.
    pub config: Arc<dyn DestinationConfig>,
}

/// `name` and `kind` of an entry, taken out of its table.
struct Head {
    at: String,
    name: String,
    kind: String,
}

fn quoted(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let names: Vec<String> = names
        .into_iter()
        .map(|n| format!("\"{}\"", n.as_ref()))
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Removes a string key; `Ok(None)` when absent.
fn take_string(table: &mut toml::Table, at: &str, key: &str) -> Result<Option<String>, Problem> {
    match table.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(toml::Value::String(_)) => {
            Err(Problem::new(format!("{at}.{key}"), "must not be empty"))
        }
        Some(other) => Err(Problem::new(
            format!("{at}.{key}"),
            format!("expected a string, found {}", other.type_str()),
        )),
    }
}

/// Takes `name` and `kind` out of every table of `list`, checking that names are unique.
fn heads(list: &str, tables: Vec<toml::Table>) -> Result<Vec<(Head, toml::Table)>, Problem> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(tables.len());
    for (i, mut table) in tables.into_iter().enumerate() {
        let at = format!("{list}[{i}]");
        let name = take_string(&mut table, &at, "name")?
            .ok_or_else(|| Problem::new(format!("{at}.name"), "missing: every entry has a name"))?;
        if let Some(first) = seen.insert(name.clone(), i) {
            return Err(Problem::new(
                format!("{at}.name"),
                format!("duplicate name \"{name}\" (already used by {list}[{first}])"),
            ));
        }
        let kind = take_string(&mut table, &at, "kind")?
            .ok_or_else(|| Problem::new(format!("{at}.kind"), "missing: every entry has a kind"))?;
        out.push((Head { at, name, kind }, table));
    }
    Ok(out)
}

fn unknown_kind(head: &Head, known: Vec<&'static str>) -> Problem {
    Problem::new(
        format!("{}.kind", head.at),
        format!(
            "unknown kind \"{}\" (known kinds: {})",
            head.kind,
            quoted(known)
        ),
    )
}

/// The `credential = "..."` of a source or destination: required and of an accepted kind when
/// the kind takes credentials, refused otherwise.
fn credential_ref(
    head: &Head,
    table: &mut toml::Table,
    accepted: &[&str],
    credentials: &[Credential],
) -> Result<Option<String>, Problem> {
    let at = format!("{}.credential", head.at);
    let name = take_string(table, &head.at, "credential")?;
    match (name, accepted.is_empty()) {
        (None, true) => Ok(None),
        (Some(_), true) => Err(Problem::new(
            at,
            format!("not used with kind = \"{}\"", head.kind),
        )),
        (None, false) => Err(Problem::new(
            at,
            format!(
                "missing: kind = \"{}\" needs credential = \"<name of a [[credentials]] entry of kind {}>\"",
                head.kind,
                quoted(accepted)
            ),
        )),
        (Some(name), false) => {
            let Some(c) = credentials.iter().find(|c| c.name == name) else {
                return Err(Problem::new(
                    at,
                    format!(
                        "unknown credential \"{name}\" (configured: {})",
                        quoted(credentials.iter().map(|c| c.name.as_str()))
                    ),
                ));
            };
            if !accepted.contains(&c.kind) {
                return Err(Problem::new(
                    at,
                    format!(
                        "credential \"{name}\" is of kind \"{}\"; kind = \"{}\" needs one of kind {}",
                        c.kind,
                        head.kind,
                        quoted(accepted)
                    ),
                ));
            }
            Ok(Some(name))
        }
    }
}

/// `[[credentials]]`.
pub(super) fn credentials(
    tables: Vec<toml::Table>,
    registry: &Registry,
) -> Result<Vec<Credential>, Problem> {
    heads("credentials", tables)?
        .into_iter()
        .map(|(head, table)| {
            let kind = registry
                .credential(&head.kind)
                .ok_or_else(|| unknown_kind(&head, registry.credential_kinds()))?;
            let config = kind.parse(table).map_err(|p| p.within(&head.at))?;
            Ok(Credential {
                name: head.name,
                kind: kind.kind(),
                config,
            })
        })
        .collect()
}

/// `[[sources]]`.
pub(super) fn sources(
    tables: Vec<toml::Table>,
    registry: &Registry,
    credentials: &[Credential],
) -> Result<Vec<Source>, Problem> {
    heads("sources", tables)?
        .into_iter()
        .map(|(head, mut table)| {
            let kind = registry
                .source(&head.kind)
                .ok_or_else(|| unknown_kind(&head, registry.source_kinds()))?;
            let credential =
                credential_ref(&head, &mut table, kind.credential_kinds(), credentials)?;
            let config = kind.parse(table).map_err(|p| p.within(&head.at))?;
            Ok(Source {
                name: head.name,
                kind: kind.kind(),
                credential,
                config,
            })
        })
        .collect()
}

/// `[[destinations]]`.
pub(super) fn destinations(
    tables: Vec<toml::Table>,
    registry: &Registry,
    credentials: &[Credential],
) -> Result<Vec<Destination>, Problem> {
    heads("destinations", tables)?
        .into_iter()
        .map(|(head, mut table)| {
            let kind = registry
                .destination(&head.kind)
                .ok_or_else(|| unknown_kind(&head, registry.destination_kinds()))?;
            let credential =
                credential_ref(&head, &mut table, kind.credential_kinds(), credentials)?;
            let delivery = delivery::take(&mut table, kind.delivery_defaults())
                .map_err(|p| p.within(&head.at))?;
            let config = kind.parse(table).map_err(|p| p.within(&head.at))?;
            Ok(Destination {
                name: head.name,
                kind: kind.kind(),
                credential,
                delivery,
                config,
            })
        })
        .collect()
}
