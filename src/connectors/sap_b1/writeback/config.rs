//! The TOML table of `[[destinations]] kind = "sap_b1_record"`: which Service Layer entity
//! set the audit records are written to, and where the lookup marker goes.
//!
//! ```toml
//! [[destinations]]
//! name = "sap-audit"
//! kind = "sap_b1_record"
//! credential = "acme-sap"          # a [[credentials]] kind = "sap_b1"
//! entity = "Activities"            # or a user-defined table: "U_MLC_AUDIT"
//! marker_field = "Details"         # Activities only: "Details" (default), "Notes" or a UDF "U_…"
//! ```
//!
//! Source: `api-notes/sap-business-one.md` ("Writes": `POST /Activities`, user-defined tables
//! at `/U_<TABLE>`); the Service Layer exposes a user-defined table `@MLC_AUDIT` of type
//! "no object" as the entity set `U_MLC_AUDIT` with key `Code` (SAP Business One SDK help,
//! "UserTables"; Service Layer guide §3.5 "User-defined tables").

use serde::Deserialize;

use crate::seam::{parse_table, Problem};

/// The Activities entity set (`SAPB1.Activity`, key `ActivityCode`).
pub const ACTIVITIES: &str = "Activities";
/// Default `marker_field` of an Activities destination.
pub const DEFAULT_MARKER_FIELD: &str = "Details";
/// Prefix of a user-defined table's entity set (`@MLC_AUDIT` → `U_MLC_AUDIT`) and of a
/// user-defined field (`U_Status`).
pub const USER_PREFIX: &str = "U_";
/// Longest user-defined table name SAP accepts (without `@`), characters.
pub const MAX_TABLE_NAME: usize = 19;

/// Where records are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordTarget {
    /// `POST Activities`; the marker is appended to the string field `marker_field`
    /// (`Details`, `Notes` or a UDF `U_…`) and searched with `contains`.
    Activities {
        /// Field holding ` [ref mlc-…]`.
        marker_field: String,
    },
    /// `POST U_<TABLE>`; `Code` (the key) is the marker itself, so a second create is refused
    /// by SAP as a duplicate key.
    UserTable {
        /// Entity set name, `U_MLC_AUDIT`.
        entity: String,
    },
}

impl RecordTarget {
    /// The entity set name (`Activities`, `U_MLC_AUDIT`).
    pub fn entity(&self) -> &str {
        match self {
            RecordTarget::Activities { .. } => ACTIVITIES,
            RecordTarget::UserTable { entity } => entity,
        }
    }

    /// The key property, whose value is the remote id (`ActivityCode`, `Code`).
    pub fn key(&self) -> &'static str {
        match self {
            RecordTarget::Activities { .. } => "ActivityCode",
            RecordTarget::UserTable { .. } => "Code",
        }
    }
}

/// `[[destinations]] kind = "sap_b1_record"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SapRecordConfig {
    /// `entity` and `marker_field`.
    pub target: RecordTarget,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    entity: String,
    #[serde(default)]
    marker_field: Option<String>,
}

/// Is `name` a user-defined name after `U_`: letters, digits and `_`, starting with a letter?
fn is_user_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads `[[destinations]] kind = "sap_b1_record"`.
///
/// Errors (key relative to the entry): `entity` missing, or neither `Activities` nor
/// `U_<TABLE>` (table name 1 to 19 letters, digits or `_`); `marker_field` with a user-defined
/// table (there `Code` is the marker), or not `Details`, `Notes` or `U_<FIELD>`; unknown keys.
pub fn parse_record(table: toml::Table) -> Result<SapRecordConfig, Problem> {
    let raw: Raw = parse_table(table)?;
    let target = if raw.entity == ACTIVITIES {
        let marker_field = raw
            .marker_field
            .unwrap_or_else(|| DEFAULT_MARKER_FIELD.to_string());
        let udf = marker_field
            .strip_prefix(USER_PREFIX)
            .is_some_and(is_user_name);
        if !(udf || marker_field == "Details" || marker_field == "Notes") {
            return Err(Problem::new(
                "marker_field",
                format!(
                    "\"{marker_field}\" cannot hold the lookup marker: use \"Details\", \"Notes\" \
                     or a user-defined text field of Activities (\"U_MLC_REF\")"
                ),
            ));
        }
        RecordTarget::Activities { marker_field }
    } else if let Some(name) = raw.entity.strip_prefix(USER_PREFIX) {
        if !is_user_name(name) || name.len() > MAX_TABLE_NAME {
            return Err(Problem::new(
                "entity",
                format!(
                    "\"{}\" is not a user-defined table's entity set: write U_ and the table name \
                     without @ (1 to {MAX_TABLE_NAME} letters, digits or _), e.g. \"U_MLC_AUDIT\"",
                    raw.entity
                ),
            ));
        }
        if raw.marker_field.is_some() {
            return Err(Problem::new(
                "marker_field",
                "not used with a user-defined table: the row's Code is the marker; remove it",
            ));
        }
        RecordTarget::UserTable { entity: raw.entity }
    } else {
        return Err(Problem::new(
            "entity",
            format!(
                "\"{}\" cannot be written: use \"Activities\" or a user-defined table \
                 \"U_<TABLE>\" (e.g. \"U_MLC_AUDIT\")",
                raw.entity
            ),
        ));
    };
    Ok(SapRecordConfig { target })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SapRecordConfig, Problem> {
        parse_record(toml::from_str(text).expect("toml"))
    }

    #[test]
    fn activities_default_to_the_details_marker() {
        assert_eq!(
            parse("entity = \"Activities\"").expect("valid"),
            SapRecordConfig {
                target: RecordTarget::Activities {
                    marker_field: "Details".into()
                }
            }
        );
        assert_eq!(
            parse("entity = \"Activities\"\nmarker_field = \"U_MLC_REF\"")
                .expect("valid")
                .target,
            RecordTarget::Activities {
                marker_field: "U_MLC_REF".into()
            }
        );
    }

    #[test]
    fn user_tables_take_no_marker_field() {
        assert_eq!(
            parse("entity = \"U_MLC_AUDIT\"").expect("valid").target,
            RecordTarget::UserTable {
                entity: "U_MLC_AUDIT".into()
            }
        );
        let e = parse("entity = \"U_MLC_AUDIT\"\nmarker_field = \"Details\"").unwrap_err();
        assert_eq!(e.key, "marker_field");
    }

    #[test]
    fn refused_values_name_their_key() {
        assert_eq!(parse("marker_field = \"Details\"").unwrap_err().key, "");
        assert_eq!(parse("entity = \"Orders\"").unwrap_err().key, "entity");
        assert_eq!(parse("entity = \"U_\"").unwrap_err().key, "entity");
        assert_eq!(parse("entity = \"U_MLC-AUDIT\"").unwrap_err().key, "entity");
        assert_eq!(
            parse("entity = \"U_ABCDEFGHIJKLMNOPQRST\"").unwrap_err().key,
            "entity"
        );
        assert_eq!(
            parse("entity = \"Activities\"\nmarker_field = \"CardCode\"")
                .unwrap_err()
                .key,
            "marker_field"
        );
        assert_eq!(
            parse("entity = \"Activities\"\ntable = 1").unwrap_err().key,
            "table"
        );
    }
}
