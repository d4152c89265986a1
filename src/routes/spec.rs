//! Route configuration as written in the TOML configuration file.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

/// One route: which events of which entity go to which destination, and what they carry.
///
/// TOML shape (one `[[routes]]` table):
/// ```toml
/// [[routes]]
/// name = "big-purchase-orders"
/// source = "acme"                      # optional: every source when absent
/// entity = "PurchaseOrders"            # the source's entity name
/// events = ["created", "status_changed"]  # default: both
/// when = ["DocTotal >= 10000", "DocCurrency == 'EUR'"]  # all must hold; default: none
/// destination = "purchasing-chat"      # a destination name from the configuration
/// [routes.template]                    # optional: built-in templates when absent
/// summary = "{{ doc_type }} {{ number }} for {{ total }}"
/// ```
/// A destination that takes records (CRM upserts) needs a `map` instead of templates:
/// ```toml
/// [routes.map]
/// Name = "{{ partner }}"
/// Amount = { value = "{{ doc.DocTotal }}", type = "number" }
/// CloseDate = { value = "{{ doc.DocDueDate }}", type = "date" }
/// Stage = { value = "{{ doc.DocumentStatus }}", type = "lookup", table = { bost_Open = "Prospecting" }, default = "Prospecting" }
/// ```
/// Unknown keys are rejected. Values are checked by
/// [`RouteTable::new`](crate::routes::RouteTable::new) (event names, filter syntax,
/// templates and mappings against the destination's payload shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Unique route name, used in audit records, metrics labels and error messages.
    pub name: String,
    /// Configured source name the route applies to; `None` matches every source.
    #[serde(default)]
    pub source: Option<String>,
    /// The source's entity name, exactly as the source spells it (`PurchaseOrders`).
    pub entity: String,
    /// Event kinds: `created` and/or `status_changed`. Defaults to both.
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    /// Filter expressions over the record's top-level fields; all must hold.
    /// Syntax: see [`Filter`](crate::routes::Filter).
    #[serde(default)]
    pub when: Vec<String>,
    /// Destination name from the configuration.
    pub destination: String,
    /// Custom minijinja templates; every form left out uses the built-in template. Only the
    /// forms of the destination's shape are allowed (see [`TemplateSpec`]).
    #[serde(default)]
    pub template: Option<TemplateSpec>,
    /// Field mapping of a record destination: output field name -> how to fill it. Required
    /// by record destinations, refused by the others.
    #[serde(default)]
    pub map: Option<BTreeMap<String, MapSpec>>,
}

/// Custom templates of a route (minijinja syntax). Each field left out uses the built-in one.
///
/// Context variables are described in [`MessageContext`](crate::routes::MessageContext);
/// extra filters: `money`, `date`, `label`, `spoken_money`, `spoken_date`, `tojson` (see
/// [`Renderer`](crate::routes::Renderer)). Which forms a destination uses:
/// chat html: `summary`, `html`; chat card: `summary`, `card` (a chat route may carry both
/// `html` and `card`, so the destination's format can change); text: `text` (default: the
/// `summary` template, custom or built-in); voice: `voice`; record: none (use `map`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// HTML body of a chat message; values are HTML-escaped automatically.
    #[serde(default)]
    pub html: Option<String>,
    /// Template producing an Adaptive Card (schema 1.4) as JSON text. Inside a JSON string
    /// literal `{{ value }}` is escaped as string content; elsewhere write
    /// `{{ value|tojson }}`. The output must parse as a JSON object with
    /// `"type": "AdaptiveCard"`.
    #[serde(default)]
    pub card: Option<String>,
    /// One plain-text line (no escaping; surrounding whitespace is trimmed).
    #[serde(default)]
    pub summary: Option<String>,
    /// SMS body (no escaping; surrounding whitespace is trimmed).
    #[serde(default)]
    pub text: Option<String>,
    /// Sentence(s) a voice call reads aloud (no escaping; whitespace trimmed). Use
    /// `spoken_money` / `spoken_date` for amounts and dates.
    #[serde(default)]
    pub voice: Option<String>,
}

/// How one output field of a record mapping is filled.
///
/// TOML: either a template string (`Name = "{{ partner }}"`, type string) or a table
/// `{ value = "<template>", type = "string" | "number" | "date" | "lookup", table = { ... },
/// default = ... }` (`table` and `default` only with `type = "lookup"`; unknown keys are
/// rejected). The template is rendered without escaping, then converted by its
/// [`FieldType`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapSpec {
    /// minijinja template of the value (same context as message templates).
    pub value: String,
    /// Conversion of the rendered text.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// `lookup` only: rendered text (trimmed) -> output JSON value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<BTreeMap<String, Json>>,
    /// `lookup` only: output when the rendered text is not in `table`; without it a miss is
    /// a rendering error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Json>,
}

/// Conversion of a mapped field's rendered text into its JSON value.
///
/// - `string` (default): the text as rendered (not trimmed) -> JSON string.
/// - `number`: trimmed text parsed as a decimal number -> JSON integer when it has no
///   fraction or exponent (`"42"` -> `42`), else JSON float (`"12500.0"` -> `12500.0`);
///   empty text -> `null`; anything else is an error.
/// - `date`: trimmed text starting with a calendar date (`2026-12-01`,
///   `2026-12-01T00:00:00Z`) -> JSON string `"2026-12-01"`; empty -> `null`; anything else is
///   an error.
/// - `lookup`: trimmed text looked up in `table` -> the table's value, else `default`, else
///   an error naming the route, field and value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text as rendered.
    #[default]
    String,
    /// JSON number.
    Number,
    /// ISO date `YYYY-MM-DD`.
    Date,
    /// Table lookup.
    Lookup,
}

/// The table form of [`MapSpec`] as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapTable {
    value: String,
    #[serde(rename = "type", default)]
    kind: FieldType,
    #[serde(default)]
    table: Option<BTreeMap<String, Json>>,
    #[serde(default)]
    default: Option<Json>,
}

impl<'de> Deserialize<'de> for MapSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapSpecVisitor;
        impl<'de> Visitor<'de> for MapSpecVisitor {
            type Value = MapSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a template string or a table { value, type, table, default }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MapSpec, E> {
                Ok(MapSpec {
                    value: v.to_owned(),
                    kind: FieldType::String,
                    table: None,
                    default: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MapSpec, A::Error> {
                let t = MapTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if t.kind != FieldType::Lookup && (t.table.is_some() || t.default.is_some()) {
                    return Err(de::Error::custom(
                        "`table` and `default` go with `type = \"lookup\"`",
                    ));
                }
                if t.kind == FieldType::Lookup && t.table.is_none() {
                    return Err(de::Error::custom("`type = \"lookup\"` needs a `table`"));
                }
                Ok(MapSpec {
                    value: t.value,
                    kind: t.kind,
                    table: t.table,
                    default: t.default,
                })
            }
        }
        deserializer.deserialize_any(MapSpecVisitor)
    }
}

/// The default for [`RouteSpec::events`]: both kinds.
fn default_events() -> Vec<String> {
    vec!["created".to_owned(), "status_changed".to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let spec: RouteSpec = toml::from_str(
            r#"
            name = "po"
            entity = "PurchaseOrders"
            destination = "chat"
            "#,
        )
        .expect("minimal route parses");
        assert_eq!(spec.events, vec!["created", "status_changed"]);
        assert!(spec.when.is_empty());
        assert_eq!(spec.source, None);
        assert_eq!(spec.template, None);
        assert_eq!(spec.map, None);

        let err = toml::from_str::<RouteSpec>(
            r#"
            name = "po"
            entity = "PurchaseOrders"
            destination = "chat"
            filter = "x"
            "#,
        )
        .expect_err("unknown key rejected");
        assert!(err.to_string().contains("filter"), "{err}");

        let err = toml::from_str::<RouteSpec>(
            r#"
            name = "po"
            entity = "PurchaseOrders"
            destination = "chat"
            [template]
            sms = "x"
            "#,
        )
        .expect_err("unknown template key rejected");
        assert!(err.to_string().contains("sms"), "{err}");
    }

    #[test]
    fn full_route() {
        let spec: RouteSpec = toml::from_str(
            r#"
            name = "po"
            source = "acme"
            entity = "PurchaseOrders"
            events = ["created"]
            when = ["DocTotal >= 10000"]
            destination = "chat"
            [template]
            summary = "{{ number }}"
            "#,
        )
        .expect("route parses");
        assert_eq!(spec.source.as_deref(), Some("acme"));
        assert_eq!(spec.events, vec!["created"]);
        assert_eq!(spec.when, vec!["DocTotal >= 10000"]);
        let template = spec.template.expect("template");
        assert_eq!(template.summary.as_deref(), Some("{{ number }}"));
        assert_eq!(template.html, None);
    }

    #[test]
    fn mappings() {
        let spec: RouteSpec = toml::from_str(
            r#"
            name = "crm"
            entity = "PurchaseOrders"
            destination = "crm"
            [map]
            Name = "{{ partner }}"
            Amount = { value = "{{ doc.DocTotal }}", type = "number" }
            Stage = { value = "{{ doc.DocumentStatus }}", type = "lookup", table = { bost_Open = "Prospecting", bost_Close = 7 }, default = "Prospecting" }
            "#,
        )
        .expect("mapping parses");
        let map = spec.map.expect("map");
        assert_eq!(
            map["Name"],
            MapSpec {
                value: "{{ partner }}".into(),
                kind: FieldType::String,
                table: None,
                default: None
            }
        );
        assert_eq!(map["Amount"].kind, FieldType::Number);
        let stage = &map["Stage"];
        assert_eq!(stage.kind, FieldType::Lookup);
        let table = stage.table.as_ref().expect("table");
        assert_eq!(table["bost_Open"], serde_json::json!("Prospecting"));
        assert_eq!(table["bost_Close"], serde_json::json!(7));
        assert_eq!(stage.default, Some(serde_json::json!("Prospecting")));

        for (bad, expected) in [
            (r#"X = { value = "a", typo = 1 }"#, "typo"),
            (r#"X = { value = "a", type = "money" }"#, "money"),
            (
                r#"X = { value = "a", table = { a = "b" } }"#,
                "go with `type = \"lookup\"`",
            ),
            (r#"X = { value = "a", type = "lookup" }"#, "needs a `table`"),
            (r#"X = 3"#, "a template string or a table"),
        ] {
            let err = toml::from_str::<RouteSpec>(&format!(
                "name = \"r\"\nentity = \"E\"\ndestination = \"d\"\n[map]\n{bad}\n"
            ))
            .expect_err(bad);
            assert!(err.to_string().contains(expected), "{bad}: {err}");
        }
    }
}
