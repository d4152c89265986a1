//! The compiled route table: the runtime's [`Router`].

use std::collections::BTreeSet;

use ml_connector_actors::{Event, EventKind, Intent, Router};
use serde_json::json;

use super::filter::{Filter, FilterError};
use super::spec::RouteSpec;
use super::template::{Renderer, RouteTemplates};

/// A route configuration that cannot be used; every variant names the route.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// `name`, `entity` or `destination` is empty.
    #[error("route `{route}`: `{field}` must not be empty")]
    Empty {
        /// Route name (may be empty itself).
        route: String,
        /// The empty key.
        field: &'static str,
    },
    /// Two routes share a name.
    #[error("route `{route}`: duplicate route name")]
    DuplicateName {
        /// Route name.
        route: String,
    },
    /// `events` holds something other than `created` / `status_changed`, or is empty.
    #[error("route `{route}`: unknown event `{event}` (expected `created` or `status_changed`)")]
    UnknownEvent {
        /// Route name.
        route: String,
        /// The event name as written (empty when the list is empty).
        event: String,
    },
    /// A `when` expression does not parse.
    #[error("route `{route}`: {source}")]
    Filter {
        /// Route name.
        route: String,
        /// Parse error quoting the expression and position.
        #[source]
        source: FilterError,
    },
    /// A template does not compile or fails on a sample record.
    #[error("route `{route}`: {reason}")]
    Template {
        /// Route name.
        route: String,
        /// `"<form> template: <reason>"`.
        reason: String,
    },
}

/// One validated route.
#[derive(Debug)]
struct CompiledRoute {
    name: String,
    tenant: Option<String>,
    entity: String,
    created: bool,
    status_changed: bool,
    filters: Vec<Filter>,
    destination: String,
    templates: RouteTemplates,
}

impl CompiledRoute {
    fn matches(&self, event: &Event) -> bool {
        let kind = match event.kind {
            EventKind::Created => self.created,
            EventKind::StatusChanged => self.status_changed,
        };
        kind && self.entity == event.entity
            && self.tenant.as_ref().is_none_or(|t| *t == event.tenant)
            && self.filters.iter().all(|f| f.matches(&event.fields))
    }
}

/// All routes of the configuration, validated and with their templates compiled once.
///
/// Implements [`Router`]: for an [`Event`], every route whose tenant (when set), entity,
/// event kind and `when` filters all match yields one [`Intent`] (in configuration order)
/// with `destination`, `route` = route name and `payload` = a serialised
/// [`TeamsMessage`](crate::connectors::teams::message::TeamsMessage)
/// `{"summary","html","card"}`.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<CompiledRoute>,
    renderer: Renderer,
}

impl RouteTable {
    /// Validates and compiles the routes.
    ///
    /// Checks: non-empty `name`, `entity`, `destination`; unique names; event names
    /// (`created`, `status_changed`, non-empty list); filter syntax; template syntax; and a
    /// trial render of each subscribed event kind on a sample document (catches unknown
    /// filters and card templates that do not produce an Adaptive Card).
    /// Destinations are not checked here: see [`RouteTable::destinations`].
    pub fn new(routes: Vec<RouteSpec>) -> Result<RouteTable, RouteError> {
        let mut renderer = Renderer::new().map_err(|reason| RouteError::Template {
            route: "(built-in)".to_owned(),
            reason,
        })?;
        let mut names = BTreeSet::new();
        let mut compiled = Vec::with_capacity(routes.len());
        for spec in routes {
            let route = spec.name.clone();
            for (field, value) in [
                ("name", &spec.name),
                ("entity", &spec.entity),
                ("destination", &spec.destination),
            ] {
                if value.trim().is_empty() {
                    return Err(RouteError::Empty { route, field });
                }
            }
            if !names.insert(route.clone()) {
                return Err(RouteError::DuplicateName { route });
            }
            if spec.events.is_empty() {
                return Err(RouteError::UnknownEvent {
                    route,
                    event: String::new(),
                });
            }
            let (mut created, mut status_changed) = (false, false);
            for event in &spec.events {
                match event.as_str() {
                    "created" => created = true,
                    "status_changed" => status_changed = true,
                    other => {
                        return Err(RouteError::UnknownEvent {
                            route,
                            event: other.to_owned(),
                        });
                    }
                }
            }
            let filters = spec
                .when
                .iter()
                .map(|expr| Filter::parse(expr))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| RouteError::Filter {
                    route: route.clone(),
                    source,
                })?;
            let templates =
                renderer
                    .add_route(&route, spec.template.as_ref())
                    .map_err(|reason| RouteError::Template {
                        route: route.clone(),
                        reason,
                    })?;
            for (subscribed, kind) in [
                (created, EventKind::Created),
                (status_changed, EventKind::StatusChanged),
            ] {
                if subscribed {
                    let sample = sample_event(&spec.entity, kind);
                    renderer
                        .render(&templates, &Renderer::context(&sample))
                        .map_err(|reason| RouteError::Template {
                            route: route.clone(),
                            reason: format!(
                                "{reason} (trial render of a sample {} event)",
                                kind.as_str()
                            ),
                        })?;
                }
            }
            compiled.push(CompiledRoute {
                name: spec.name,
                tenant: spec.tenant,
                entity: spec.entity,
                created,
                status_changed,
                filters,
                destination: spec.destination,
                templates,
            });
        }
        Ok(RouteTable {
            routes: compiled,
            renderer,
        })
    }

    /// Destination names referenced by the routes, sorted and deduplicated (configuration
    /// validation checks that each one is defined).
    pub fn destinations(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.routes.iter().map(|r| r.destination.as_str()).collect();
        set.into_iter().collect()
    }

    /// Route names in configuration order.
    pub fn route_names(&self) -> Vec<&str> {
        self.routes.iter().map(|r| r.name.as_str()).collect()
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl Router for RouteTable {
    /// Intents of every matching route, in configuration order. The template context is
    /// computed once per event, and routes sharing the same templates share one rendering.
    ///
    /// Errors: ``route `NAME`: FORM template: REASON`` when a rendering fails.
    fn route(&self, event: &Event) -> Result<Vec<Intent>, String> {
        let mut intents = Vec::new();
        let mut context = None;
        let mut rendered: Vec<(&RouteTemplates, serde_json::Value)> = Vec::new();
        for route in self.routes.iter().filter(|r| r.matches(event)) {
            let payload = match rendered.iter().find(|(t, _)| *t == &route.templates) {
                Some((_, payload)) => payload.clone(),
                None => {
                    let context = context.get_or_insert_with(|| Renderer::context(event));
                    let message = self
                        .renderer
                        .render(&route.templates, context)
                        .map_err(|e| format!("route `{}`: {e}", route.name))?;
                    let payload = serde_json::to_value(&message)
                        .map_err(|e| format!("route `{}`: {e}", route.name))?;
                    rendered.push((&route.templates, payload.clone()));
                    payload
                }
            };
            intents.push(Intent {
                destination: route.destination.clone(),
                route: route.name.clone(),
                payload,
            });
        }
        Ok(intents)
    }
}

/// A typical document of the entity, for trial renders at construction.
fn sample_event(entity: &str, kind: EventKind) -> Event {
    let changes = match kind {
        EventKind::Created => Vec::new(),
        EventKind::StatusChanged => vec![(
            "DocumentStatus".to_owned(),
            json!("bost_Open"),
            json!("bost_Close"),
        )],
    };
    Event {
        tenant: "sample".to_owned(),
        entity: entity.to_owned(),
        key: "1".to_owned(),
        kind,
        changes,
        fields: json!({
            "DocEntry": 1, "DocNum": 1, "CardCode": "V00001", "CardName": "Sample Supplier",
            "DocDate": "2026-01-01T00:00:00Z", "DocDueDate": "2026-01-31T00:00:00Z",
            "DocTotal": 100.0, "DocCurrency": "EUR", "DocumentStatus": "bost_Open",
            "Cancelled": "tNO", "Comments": null, "DocumentLines": [],
        }),
        event_key: format!("sample/{entity}/1/{}", kind.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::teams::message::TeamsMessage;
    use crate::routes::spec::TemplateSpec;

    fn spec(name: &str, destination: &str) -> RouteSpec {
        RouteSpec {
            name: name.into(),
            tenant: None,
            entity: "PurchaseOrders".into(),
            events: vec!["created".into(), "status_changed".into()],
            when: vec![],
            destination: destination.into(),
            template: None,
        }
    }

    fn event(tenant: &str, entity: &str, kind: EventKind, total: f64) -> Event {
        Event {
            tenant: tenant.into(),
            entity: entity.into(),
            key: "77".into(),
            kind,
            changes: vec![],
            fields: json!({"DocEntry": 77, "DocNum": 1042, "CardCode": "V10000",
                "CardName": "Acme Supplies", "DocTotal": total, "DocCurrency": "EUR",
                "DocumentStatus": "bost_Open", "DocDueDate": "2026-12-01T00:00:00Z"}),
            event_key: format!("{tenant}/{entity}/77/{}", kind.as_str()),
        }
    }

    fn destinations(table: &RouteTable, event: &Event) -> Vec<String> {
        table
            .route(event)
            .expect("routes")
            .into_iter()
            .map(|i| format!("{}:{}", i.route, i.destination))
            .collect()
    }

    #[test]
    fn matches_by_event_entity_tenant_and_filters() {
        let mut only_created = spec("created", "d1");
        only_created.events = vec!["created".into()];
        let mut only_changed = spec("changed", "d2");
        only_changed.events = vec!["status_changed".into()];
        let mut tenant = spec("tenant", "d3");
        tenant.tenant = Some("acme".into());
        let mut invoices = spec("invoices", "d4");
        invoices.entity = "Invoices".into();
        let mut big = spec("big", "d5");
        big.when = vec!["DocTotal >= 10000".into(), "DocCurrency == 'EUR'".into()];
        let mut big_usd = spec("big-usd", "d6");
        big_usd.when = vec!["DocTotal >= 10000".into(), "DocCurrency == 'USD'".into()];
        let table = RouteTable::new(vec![
            only_created,
            only_changed,
            tenant,
            invoices,
            big,
            big_usd,
        ])
        .expect("valid");

        assert_eq!(
            destinations(
                &table,
                &event("acme", "PurchaseOrders", EventKind::Created, 12500.0)
            ),
            vec!["created:d1", "tenant:d3", "big:d5"]
        );
        assert_eq!(
            destinations(
                &table,
                &event("other", "PurchaseOrders", EventKind::Created, 500.0)
            ),
            vec!["created:d1"]
        );
        assert_eq!(
            destinations(
                &table,
                &event("acme", "PurchaseOrders", EventKind::StatusChanged, 500.0)
            ),
            vec!["changed:d2", "tenant:d3"]
        );
        assert_eq!(
            destinations(&table, &event("acme", "Invoices", EventKind::Created, 1.0)),
            vec!["invoices:d4"]
        );
        assert!(destinations(&table, &event("acme", "Orders", EventKind::Created, 1.0)).is_empty());
        assert_eq!(
            table.destinations(),
            vec!["d1", "d2", "d3", "d4", "d5", "d6"]
        );
        assert_eq!(table.len(), 6);
        assert_eq!(table.route_names()[0], "created");
    }

    #[test]
    fn two_routes_two_destinations_two_intents() {
        let mut custom = spec("summary-only", "webhook");
        custom.template = Some(TemplateSpec {
            summary: Some("PO {{ number }} ({{ total }})".into()),
            ..TemplateSpec::default()
        });
        let table = RouteTable::new(vec![spec("chat", "purchasing-chat"), custom]).expect("valid");
        let intents = table
            .route(&event(
                "acme",
                "PurchaseOrders",
                EventKind::Created,
                12500.0,
            ))
            .expect("routes");
        assert_eq!(intents.len(), 2);
        assert_eq!(intents[0].destination, "purchasing-chat");
        assert_eq!(intents[0].route, "chat");
        assert_eq!(intents[1].destination, "webhook");
        let first: TeamsMessage =
            serde_json::from_value(intents[0].payload.clone()).expect("TeamsMessage");
        let second: TeamsMessage =
            serde_json::from_value(intents[1].payload.clone()).expect("TeamsMessage");
        assert_eq!(
            first.summary,
            "Purchase order 1042 · Acme Supplies (V10000) · 12,500.00 EUR · Open · due 2026-12-01"
        );
        assert_eq!(second.summary, "PO 1042 (12,500.00 EUR)");
        assert_eq!(second.html, first.html);
        assert_eq!(second.card["body"][1]["type"], "FactSet");
        assert_eq!(table.destinations(), vec!["purchasing-chat", "webhook"]);
    }

    #[test]
    fn filters_read_the_local_doc_total_and_messages_show_the_document_currency() {
        // SAP: DocTotal in the local currency (USD), DocTotalFc in DocCurrency (EUR).
        let mut big = spec("big", "finance");
        big.when = vec!["DocTotal >= 10000".into()];
        let table = RouteTable::new(vec![big]).expect("valid");
        let mut over = event("acme", "PurchaseOrders", EventKind::Created, 10900.0);
        over.fields["DocTotalFc"] = json!(9500.0);
        let intents = table.route(&over).expect("routes");
        assert_eq!(
            intents.len(),
            1,
            "10,900.00 USD local total passes the filter"
        );
        let msg: TeamsMessage =
            serde_json::from_value(intents[0].payload.clone()).expect("TeamsMessage");
        assert_eq!(
            msg.summary,
            "Purchase order 1042 · Acme Supplies (V10000) · 9,500.00 EUR · Open · due 2026-12-01"
        );
        let mut under = event("acme", "PurchaseOrders", EventKind::Created, 9800.0);
        under.fields["DocTotalFc"] = json!(10500.0);
        assert!(
            table.route(&under).expect("routes").is_empty(),
            "the filter does not read DocTotalFc"
        );
    }

    #[test]
    fn shared_templates_render_once_and_agree() {
        let table = RouteTable::new(vec![spec("a", "x"), spec("b", "y")]).expect("valid");
        let intents = table
            .route(&event("acme", "PurchaseOrders", EventKind::Created, 1.0))
            .expect("routes");
        assert_eq!(intents.len(), 2);
        assert_eq!(intents[0].payload, intents[1].payload);
    }

    #[test]
    fn validation_errors_name_the_route() {
        let mut bad_event = spec("r1", "d");
        bad_event.events = vec!["created".into(), "deleted".into()];
        let err = RouteTable::new(vec![bad_event]).expect_err("bad event");
        assert_eq!(
            err.to_string(),
            "route `r1`: unknown event `deleted` (expected `created` or `status_changed`)"
        );

        let mut no_events = spec("r0", "d");
        no_events.events = vec![];
        assert!(matches!(
            RouteTable::new(vec![no_events]),
            Err(RouteError::UnknownEvent { .. })
        ));

        let mut bad_filter = spec("r2", "d");
        bad_filter.when = vec!["DocTotal >= 1".into(), "DocCurrency = 'EUR'".into()];
        let err = RouteTable::new(vec![bad_filter]).expect_err("bad filter");
        assert_eq!(
            err.to_string(),
            "route `r2`: filter `DocCurrency = 'EUR'`: use `==` to test equality at position 13"
        );

        let mut bad_template = spec("r3", "d");
        bad_template.template = Some(TemplateSpec {
            summary: Some("{{ number ".into()),
            ..TemplateSpec::default()
        });
        let err = RouteTable::new(vec![bad_template]).expect_err("bad template");
        assert!(
            err.to_string().starts_with("route `r3`: summary template:"),
            "{err}"
        );

        let mut bad_card = spec("r4", "d");
        bad_card.template = Some(TemplateSpec {
            card: Some(r#"{"text": "{{ doc.CardName }}"}"#.into()),
            ..TemplateSpec::default()
        });
        let err = RouteTable::new(vec![bad_card]).expect_err("not a card");
        assert!(
            err.to_string().starts_with("route `r4`: card template:"),
            "{err}"
        );

        let mut unknown_filter = spec("r5", "d");
        unknown_filter.template = Some(TemplateSpec {
            html: Some("{{ doc.CardName|shout }}".into()),
            ..TemplateSpec::default()
        });
        let err = RouteTable::new(vec![unknown_filter]).expect_err("unknown filter");
        assert!(
            err.to_string().starts_with("route `r5`: html template:"),
            "{err}"
        );

        let err = RouteTable::new(vec![spec("dup", "d"), spec("dup", "e")]).expect_err("dup");
        assert_eq!(err.to_string(), "route `dup`: duplicate route name");

        let err = RouteTable::new(vec![spec("r6", " ")]).expect_err("empty destination");
        assert_eq!(
            err.to_string(),
            "route `r6`: `destination` must not be empty"
        );
    }

    #[test]
    fn runtime_render_failure_is_an_error() {
        let mut r = spec("money", "d");
        r.template = Some(TemplateSpec {
            summary: Some("{{ doc.Comments|money }}".into()),
            ..TemplateSpec::default()
        });
        let table = RouteTable::new(vec![r]).expect("sample has null Comments");
        let mut e = event("acme", "PurchaseOrders", EventKind::Created, 1.0);
        e.fields["Comments"] = json!("urgent");
        let err = table.route(&e).expect_err("money of text");
        assert!(err.starts_with("route `money`: summary template:"), "{err}");
    }

    #[test]
    fn empty_table_routes_nothing() {
        let table = RouteTable::new(vec![]).expect("valid");
        assert!(table.is_empty());
        assert!(table.destinations().is_empty());
        assert!(table
            .route(&event("acme", "PurchaseOrders", EventKind::Created, 1.0))
            .expect("routes")
            .is_empty());
    }
}
