//! Route configuration as written in the TOML configuration file.

use serde::{Deserialize, Serialize};

/// One route: which events of which entity go to which destination, and how they look.
///
/// TOML shape (one `[[routes]]` table):
/// ```toml
/// [[routes]]
/// name = "big-purchase-orders"
/// tenant = "acme"                      # optional: every tenant when absent
/// entity = "PurchaseOrders"            # SAP Business One Service Layer entity set
/// events = ["created", "status_changed"]  # default: both
/// when = ["DocTotal >= 10000", "DocCurrency == 'EUR'"]  # all must hold; default: none
/// destination = "purchasing-chat"      # a destination name from the configuration
/// [routes.template]                    # optional: built-in templates when absent
/// summary = "{{ doc_type }} {{ number }} for {{ total }}"
/// ```
/// Unknown keys are rejected. Values are checked by
/// [`RouteTable::new`](crate::routes::RouteTable::new) (event names, filter syntax, templates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Unique route name, used in audit records, metrics labels and error messages.
    pub name: String,
    /// Tenant name the route applies to; `None` matches every tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Service Layer entity set, exactly as in the URL (`PurchaseOrders`, `Invoices`,
    /// `IncomingPayments`, `BusinessPartners`, ...).
    pub entity: String,
    /// Event kinds: `created` and/or `status_changed`. Defaults to both.
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    /// Filter expressions over the record's top-level fields; all must hold.
    /// Syntax: see [`Filter`](crate::routes::Filter).
    #[serde(default)]
    pub when: Vec<String>,
    /// Destination name (a Teams chat, channel or webhook defined in the configuration).
    pub destination: String,
    /// Custom minijinja templates; every form left out uses the built-in template.
    #[serde(default)]
    pub template: Option<TemplateSpec>,
}

/// Custom templates of a route (minijinja syntax). Each field left out uses the built-in one.
///
/// Context variables are described in [`MessageContext`](crate::routes::MessageContext);
/// extra filters: `money`, `date`, `label`, `tojson` (see [`Renderer`](crate::routes::Renderer)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// HTML body for Graph `chatMessage.body` (`contentType: "html"`); values are
    /// HTML-escaped automatically.
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
        assert_eq!(spec.tenant, None);
        assert_eq!(spec.template, None);

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
            text = "x"
            "#,
        )
        .expect_err("unknown template key rejected");
        assert!(err.to_string().contains("text"), "{err}");
    }

    #[test]
    fn full_route() {
        let spec: RouteSpec = toml::from_str(
            r#"
            name = "po"
            tenant = "acme"
            entity = "PurchaseOrders"
            events = ["created"]
            when = ["DocTotal >= 10000"]
            destination = "chat"
            [template]
            summary = "{{ number }}"
            "#,
        )
        .expect("route parses");
        assert_eq!(spec.tenant.as_deref(), Some("acme"));
        assert_eq!(spec.events, vec!["created"]);
        assert_eq!(spec.when, vec!["DocTotal >= 10000"]);
        let template = spec.template.expect("template");
        assert_eq!(template.summary.as_deref(), Some("{{ number }}"));
        assert_eq!(template.html, None);
    }
}
