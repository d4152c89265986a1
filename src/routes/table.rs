//! The compiled route table: the runtime's [`Router`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ml_connector_actors::{Event, EventKind, Intent, Router};
use serde_json::Value as Json;

use super::event::{make_event, source_of};
use super::filter::{Filter, FilterError};
use super::present::{GenericPresenter, Presenter};
use super::shape::{PayloadCheck, PayloadShape};
use super::spec::{RouteSpec, TemplateSpec};
use super::template::{FormError, Renderer, RouteForm};

/// What the route table needs to know about the rest of the configuration.
///
/// - `shapes`: destination name -> the [`PayloadShape`] its kind accepts (a Graph HTML
///   destination `Chat(Html)`, a Workflows webhook `Chat(Card)`, an SMS sender `Text`, ...).
///   Every route's destination must be here.
/// - `presenters`: configured source name -> the [`Presenter`] of that source's kind.
///   Events (and trial renders) of a source missing here use [`GenericPresenter`].
/// - `checks`: destination name -> its kind's extra [`PayloadCheck`] (optional), applied to
///   every trial render.
#[derive(Debug, Clone, Default)]
pub struct RouteEnv {
    /// Destination name -> payload shape.
    pub shapes: HashMap<String, PayloadShape>,
    /// Destination name -> extra rule on its payloads.
    pub checks: HashMap<String, Arc<dyn PayloadCheck>>,
    /// Source name -> presenter.
    pub presenters: HashMap<String, Arc<dyn Presenter>>,
}

/// A route configuration that cannot be used.
///
/// Carries the route's index in `[[routes]]` and the key path inside it, so the
/// configuration loader can point at `file:line:key` ([`RouteError::key`]). Display:
/// ``route `NAME`: <problem>``.
#[derive(Debug, thiserror::Error)]
#[error("route `{route}`: {problem}")]
pub struct RouteError {
    index: Option<usize>,
    route: String,
    path: String,
    problem: Box<RouteProblem>,
}

/// What is wrong with a route.
#[derive(Debug, thiserror::Error)]
pub enum RouteProblem {
    /// `name`, `entity` or `destination` is empty (path: that key).
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// Two routes share a name (path `name`, on the second one).
    #[error("duplicate route name")]
    DuplicateName,
    /// `events` is empty (path `events`, event `""`) or holds something other than
    /// `created` / `status_changed` (path `events[N]`).
    #[error("unknown event `{0}` (expected `created` or `status_changed`)")]
    UnknownEvent(String),
    /// A `when` expression does not parse (path `when[N]`).
    #[error("{0}")]
    Filter(FilterError),
    /// The destination is not in [`RouteEnv::shapes`] (path `destination`).
    #[error("unknown destination `{destination}` (known: {known})")]
    UnknownDestination {
        /// The name as written.
        destination: String,
        /// Known destination names, sorted, comma-separated.
        known: String,
    },
    /// A template form or `map` the destination's shape does not use (path
    /// `template.FORM` or `map`).
    #[error("`{key}` is not used by destination `{destination}`, which takes {shape} payloads ({expected})")]
    NotForShape {
        /// `template.html`, `map`, ...
        key: String,
        /// Destination name.
        destination: String,
        /// [`PayloadShape::as_str`].
        shape: &'static str,
        /// What the shape uses instead.
        expected: &'static str,
    },
    /// A template does not compile, fails on the sample record, or a mapped value does not
    /// convert; or a record destination has no `map` (path `template.FORM`, `map.FIELD`,
    /// `map`).
    #[error("{0}")]
    Render(String),
    /// A built-in template does not compile (path: none; a bug, covered by tests).
    #[error("{0}")]
    Builtin(String),
}

impl RouteError {
    fn new(index: usize, route: &str, path: impl Into<String>, problem: RouteProblem) -> Self {
        RouteError {
            index: Some(index),
            route: route.to_owned(),
            path: path.into(),
            problem: Box::new(problem),
        }
    }

    /// Key path of the problem in the configuration: `routes[2].when[0]`,
    /// `routes[1].template.card`, `routes[0].map.Amount`, `routes[3].destination`
    /// (`routes` for a built-in template failure).
    pub fn key(&self) -> String {
        match (self.index, self.path.is_empty()) {
            (None, _) => "routes".to_owned(),
            (Some(i), true) => format!("routes[{i}]"),
            (Some(i), false) => format!("routes[{i}].{}", self.path),
        }
    }

    /// Index of the route in `[[routes]]` (`None` for a built-in template failure).
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// Name of the route, as written.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// What is wrong.
    pub fn problem(&self) -> &RouteProblem {
        &self.problem
    }
}

/// One validated route.
#[derive(Debug)]
struct CompiledRoute {
    name: String,
    source: Option<String>,
    entity: String,
    created: bool,
    status_changed: bool,
    filters: Vec<Filter>,
    destination: String,
    form: RouteForm,
}

impl CompiledRoute {
    /// Why this route does not take `event` (`None`: it does). Checks in the order of
    /// [`CompiledRoute::matches`]: entity, source, event kind, then each `when` filter.
    fn mismatch(&self, event: &Event, source: &str) -> Option<String> {
        if self.entity != event.entity {
            return Some(format!("entity is {}, not {}", event.entity, self.entity));
        }
        if let Some(s) = self.source.as_deref().filter(|s| *s != source) {
            return Some(format!("source is {source}, not {s}"));
        }
        let subscribed = match event.kind {
            EventKind::Created => self.created,
            EventKind::StatusChanged => self.status_changed,
        };
        if !subscribed {
            return Some(format!("event {} not subscribed", event.kind.as_str()));
        }
        self.filters
            .iter()
            .find(|f| !f.matches(&event.fields))
            .map(|f| format!("when `{}` is false", f.expression()))
    }

    fn matches(&self, event: &Event, source: &str) -> bool {
        let kind = match event.kind {
            EventKind::Created => self.created,
            EventKind::StatusChanged => self.status_changed,
        };
        kind && self.entity == event.entity
            && self.source.as_deref().is_none_or(|s| s == source)
            && self.filters.iter().all(|f| f.matches(&event.fields))
    }
}

/// All routes of the configuration, validated, with their templates or mappings compiled
/// once for their destination's shape.
///
/// Implements [`Router`]: for an [`Event`], every route whose source (when set), entity,
/// event kind and `when` filters all match yields one [`Intent`] (in configuration order)
/// with `destination`, `route` = route name and `payload` in the destination's shape (JSON
/// per shape: see [`PayloadShape`]).
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<CompiledRoute>,
    renderer: Renderer,
    presenters: Presenters,
}

impl RouteTable {
    /// Validates and compiles the routes against `env`.
    ///
    /// Checks, in order per route: non-empty `name`, `entity`, `destination`; unique names;
    /// event names (`created`, `status_changed`, non-empty list); filter syntax; the
    /// destination is in `env.shapes`; only template forms / `map` the shape uses (chat:
    /// `summary`, `html`, `card`; text: `text`, `summary`; voice: `voice`; record: `map`,
    /// required); template and mapping syntax; then a trial render of each subscribed event
    /// kind on the presenter's sample record, in the destination's shape only (catches unknown
    /// filters, cards that are not Adaptive Cards, mapped values of the wrong type and
    /// lookup tables that miss the sample's value). A route without `source` is trial-rendered
    /// with every distinct presenter of `env` (or the generic one when there is none).
    ///
    /// Errors: the first [`RouteError`], with its key path ([`RouteError::key`]).
    pub fn new(specs: Vec<RouteSpec>, env: &RouteEnv) -> Result<RouteTable, RouteError> {
        let mut renderer = Renderer::new().map_err(|reason| RouteError {
            index: None,
            route: "(built-in)".to_owned(),
            path: String::new(),
            problem: Box::new(RouteProblem::Builtin(reason)),
        })?;
        let presenters = Presenters {
            by_source: env.presenters.clone(),
            fallback: Arc::new(GenericPresenter),
        };
        let mut names = BTreeSet::new();
        let routes = specs
            .into_iter()
            .enumerate()
            .map(|(index, spec)| {
                compile_route(index, spec, env, &mut names, &mut renderer, &presenters)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RouteTable {
            routes,
            renderer,
            presenters,
        })
    }

    /// Destination names referenced by the routes, sorted and deduplicated.
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

    /// The top-level fields of `entity` records from source `source` that routing reads: the
    /// fields of the `when` filters of the routes that may take them, the `doc.FIELD`s of every
    /// compiled template ([`Renderer::doc_fields`]) and the fields the source's presenter reads
    /// ([`Presenter::fields`]). The source may leave every other field out of these records.
    /// `None` when that is not known: a template reads `doc` as a whole, or the presenter
    /// reads fields it does not list.
    pub fn record_fields(&self, source: &str, entity: &str) -> Option<BTreeSet<String>> {
        let mut fields = self.renderer.doc_fields()?.clone();
        fields.extend(
            self.presenters
                .get(source)
                .fields(entity)?
                .iter()
                .map(|f| f.to_string()),
        );
        for route in &self.routes {
            if route.entity == entity && route.source.as_deref().is_none_or(|s| s == source) {
                fields.extend(route.filters.iter().map(|f| f.field().to_owned()));
            }
        }
        Some(fields)
    }
}

impl Router for RouteTable {
    /// Intents of every matching route, in configuration order. The template context is
    /// computed once per event (with the presenter of the event's source), only the
    /// destination's shape is rendered, and routes with equal forms share one rendering.
    ///
    /// Errors: ``route `NAME`: <form> template: REASON`` or
    /// ``route `NAME`: map field `FIELD`: REASON`` when a rendering fails.
    fn route(&self, event: &Event) -> Result<Vec<Intent>, String> {
        let source = source_of(event);
        let mut intents = Vec::new();
        let mut context = None;
        let mut rendered: Vec<(&RouteForm, Json)> = Vec::new();
        for route in self.routes.iter().filter(|r| r.matches(event, source)) {
            let payload = match rendered.iter().find(|(f, _)| *f == &route.form) {
                Some((_, payload)) => payload.clone(),
                None => {
                    let context = context.get_or_insert_with(|| {
                        self.renderer
                            .context_for(event, source, self.presenters.get(source))
                    });
                    let payload = self
                        .renderer
                        .render(&route.form, context)
                        .map_err(|e| format!("route `{}`: {e}", route.name))?;
                    rendered.push((&route.form, payload.clone()));
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

    /// Routes of the event's entity that do not take it, in configuration order, with the
    /// first reason ([`CompiledRoute::mismatch`]): `source is X, not Y`, `event created not
    /// subscribed`, ``when `EXPR` is false``.
    fn skipped(&self, event: &Event) -> Vec<(String, String)> {
        let source = source_of(event);
        self.routes
            .iter()
            .filter(|r| r.entity == event.entity)
            .filter_map(|r| r.mismatch(event, source).map(|why| (r.name.clone(), why)))
            .collect()
    }
}

/// Validates and compiles one route (see [`RouteTable::new`]).
fn compile_route(
    index: usize,
    spec: RouteSpec,
    env: &RouteEnv,
    names: &mut BTreeSet<String>,
    renderer: &mut Renderer,
    presenters: &Presenters,
) -> Result<CompiledRoute, RouteError> {
    let name = spec.name.as_str();
    let err = |path: String, problem| RouteError::new(index, name, path, problem);
    for (key, value) in [
        ("name", &spec.name),
        ("entity", &spec.entity),
        ("destination", &spec.destination),
    ] {
        if value.trim().is_empty() {
            return Err(err(key.to_owned(), RouteProblem::Empty(key)));
        }
    }
    if !names.insert(spec.name.clone()) {
        return Err(err("name".to_owned(), RouteProblem::DuplicateName));
    }
    if spec.events.is_empty() {
        return Err(err(
            "events".to_owned(),
            RouteProblem::UnknownEvent(String::new()),
        ));
    }
    let (mut created, mut status_changed) = (false, false);
    for (i, event) in spec.events.iter().enumerate() {
        match event.as_str() {
            "created" => created = true,
            "status_changed" => status_changed = true,
            other => {
                return Err(err(
                    format!("events[{i}]"),
                    RouteProblem::UnknownEvent(other.to_owned()),
                ))
            }
        }
    }
    let filters = spec
        .when
        .iter()
        .enumerate()
        .map(|(i, expr)| {
            Filter::parse(expr).map_err(|e| err(format!("when[{i}]"), RouteProblem::Filter(e)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shape = *env.shapes.get(&spec.destination).ok_or_else(|| {
        let known: BTreeSet<&str> = env.shapes.keys().map(String::as_str).collect();
        err(
            "destination".to_owned(),
            RouteProblem::UnknownDestination {
                destination: spec.destination.clone(),
                known: known.into_iter().collect::<Vec<_>>().join(", "),
            },
        )
    })?;
    if let Some((key, expected)) = unused_key(shape, spec.template.as_ref(), spec.map.is_some()) {
        return Err(err(
            key.clone(),
            RouteProblem::NotForShape {
                key,
                destination: spec.destination.clone(),
                shape: shape.as_str(),
                expected,
            },
        ));
    }
    let render_err = |e: FormError| err(e.path, RouteProblem::Render(e.message));
    let form = renderer
        .compile(name, shape, spec.template.as_ref(), spec.map.as_ref())
        .map_err(render_err)?;
    for (subscribed, kind) in [
        (created, EventKind::Created),
        (status_changed, EventKind::StatusChanged),
    ] {
        if !subscribed {
            continue;
        }
        for (source, presenter) in presenters.trial(spec.source.as_deref()) {
            let sample = sample_event(source, &spec.entity, kind, &*presenter);
            let context = renderer.context_for(&sample, source, &presenter);
            let trial = |path: String, message: String| {
                let why = format!(
                    "{message} (trial render of a sample {} event)",
                    kind.as_str()
                );
                err(path, RouteProblem::Render(why))
            };
            let payload = renderer
                .render(&form, &context)
                .map_err(|e| trial(e.path, e.message))?;
            if let Some(check) = env.checks.get(&spec.destination) {
                check
                    .check(&payload)
                    .map_err(|i| trial(format!("template.{}", i.form), i.reason))?;
            }
        }
    }
    Ok(CompiledRoute {
        name: spec.name,
        source: spec.source,
        entity: spec.entity,
        created,
        status_changed,
        filters,
        destination: spec.destination,
        form,
    })
}

/// Presenters by source name, and the generic fallback.
#[derive(Debug)]
struct Presenters {
    by_source: HashMap<String, Arc<dyn Presenter>>,
    fallback: Arc<dyn Presenter>,
}

impl Presenters {
    /// The presenter of a source name (the generic one when it has none).
    fn get(&self, source: &str) -> &Arc<dyn Presenter> {
        self.by_source.get(source).unwrap_or(&self.fallback)
    }

    /// `(source name, presenter)` pairs a route is trial-rendered with: its own source's, or
    /// for a route of every source each distinct presenter once (by source name order), or
    /// the generic one when no source has a presenter.
    fn trial<'s>(&'s self, source: Option<&'s str>) -> Vec<(&'s str, Arc<dyn Presenter>)> {
        if let Some(source) = source {
            return vec![(source, Arc::clone(self.get(source)))];
        }
        let mut sources: Vec<&String> = self.by_source.keys().collect();
        sources.sort();
        let mut distinct: Vec<(&str, Arc<dyn Presenter>)> = Vec::new();
        for source in sources {
            let presenter = &self.by_source[source];
            if !distinct.iter().any(|(_, p)| Arc::ptr_eq(p, presenter)) {
                distinct.push((source, Arc::clone(presenter)));
            }
        }
        if distinct.is_empty() {
            distinct.push(("sample", Arc::clone(&self.fallback)));
        }
        distinct
    }
}

/// The first template key or `map` the shape does not use, with what it uses instead.
fn unused_key(
    shape: PayloadShape,
    template: Option<&TemplateSpec>,
    has_map: bool,
) -> Option<(String, &'static str)> {
    let (allowed, expected): (&[&str], _) = match shape {
        PayloadShape::Chat(_) => (
            &["summary", "html", "card"],
            "templates summary, html, card",
        ),
        PayloadShape::Text => (&["summary", "text"], "templates text, summary"),
        PayloadShape::Voice => (&["voice"], "template voice"),
        PayloadShape::Record => (&[], "a map of fields"),
    };
    if let Some(t) = template {
        for (form, given) in [
            ("summary", t.summary.is_some()),
            ("html", t.html.is_some()),
            ("card", t.card.is_some()),
            ("text", t.text.is_some()),
            ("voice", t.voice.is_some()),
        ] {
            if given && !allowed.contains(&form) {
                return Some((format!("template.{form}"), expected));
            }
        }
    }
    (has_map && shape != PayloadShape::Record).then(|| ("map".to_owned(), expected))
}

/// A typical event of the entity from the presenter's sample, for trial renders.
fn sample_event(
    source: &str,
    entity: &str,
    kind: EventKind,
    presenter: &dyn Presenter,
) -> Event<'static> {
    let changes = match kind {
        EventKind::Created => Vec::new(),
        EventKind::StatusChanged => presenter.sample_changes(entity),
    };
    make_event(source, entity, "1", kind, changes, presenter.sample(entity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::sap_b1::present::SapPresenter;
    use crate::routes::event::make_event;
    use crate::routes::shape::ChatFormat;
    use serde_json::json;

    const HTML: PayloadShape = PayloadShape::Chat(ChatFormat::Html);
    const CARD: PayloadShape = PayloadShape::Chat(ChatFormat::Card);

    fn spec(name: &str, destination: &str) -> RouteSpec {
        RouteSpec {
            name: name.into(),
            source: None,
            entity: "PurchaseOrders".into(),
            events: vec!["created".into(), "status_changed".into()],
            when: vec![],
            destination: destination.into(),
            template: None,
            map: None,
        }
    }

    /// Sources `acme` and `other` (both SAP); destinations with their shapes.
    fn env(shapes: &[(&str, PayloadShape)]) -> RouteEnv {
        let sap: Arc<dyn Presenter> = Arc::new(SapPresenter);
        RouteEnv {
            shapes: shapes.iter().map(|(d, s)| ((*d).to_owned(), *s)).collect(),
            presenters: ["acme", "other"]
                .into_iter()
                .map(|s| (s.to_owned(), Arc::clone(&sap)))
                .collect(),
            checks: HashMap::new(),
        }
    }

    /// Every destination `d*`, `x`, `y` etc. as an HTML chat.
    fn html_env(destinations: &[&str]) -> RouteEnv {
        env(&destinations.iter().map(|d| (*d, HTML)).collect::<Vec<_>>())
    }

    fn event(source: &str, entity: &str, kind: EventKind, total: f64) -> Event<'static> {
        let fields = json!({"DocEntry": 77, "DocNum": 1042, "CardCode": "V10000",
            "CardName": "Acme Supplies", "DocTotal": total, "DocCurrency": "EUR",
            "DocumentStatus": "bost_Open", "DocDueDate": "2026-12-01T00:00:00Z"});
        make_event(source, entity, "77", kind, vec![], fields)
    }

    fn po(total: f64) -> Event<'static> {
        event("acme", "PurchaseOrders", EventKind::Created, total)
    }

    fn destinations(table: &RouteTable, event: &Event) -> Vec<String> {
        table
            .route(event)
            .expect("routes")
            .into_iter()
            .map(|i| format!("{}:{}", i.route, i.destination))
            .collect()
    }

    fn error(specs: Vec<RouteSpec>, env: &RouteEnv) -> (String, String) {
        let err = RouteTable::new(specs, env).expect_err("invalid");
        (err.key(), err.to_string())
    }

    /// The fields routing reads of a source's entity: the presenter's, the `when` fields of
    /// the routes that may take it, every template's `doc.FIELD`; unknown (`None`) once a
    /// template reads `doc` whole or the source has no presenter listing its fields.
    #[test]
    fn record_fields_are_the_filters_templates_and_presenter_fields() {
        let presented: BTreeSet<String> = crate::connectors::sap_b1::present::PRESENTED_FIELDS
            .iter()
            .map(|f| f.to_string())
            .collect();
        let with = |extra: &[&str]| -> BTreeSet<String> {
            let mut set = presented.clone();
            set.extend(extra.iter().map(|f| f.to_string()));
            set
        };
        let mut big = spec("big", "d1");
        big.when = vec!["DocTotal >= 10000".into(), "U_Region == 'EU'".into()];
        let mut other_source = spec("other", "d2");
        other_source.source = Some("other".into());
        other_source.when = vec!["Comments contains 'rush'".into()];
        let mut invoices = spec("invoices", "d3");
        invoices.entity = "Invoices".into();
        invoices.when = vec!["PaidToDate > 0".into()];
        let table = RouteTable::new(
            vec![big.clone(), other_source.clone(), invoices.clone()],
            &html_env(&["d1", "d2", "d3"]),
        )
        .unwrap();
        assert_eq!(
            table.record_fields("acme", "PurchaseOrders"),
            Some(with(&["U_Region"]))
        );
        assert_eq!(
            table.record_fields("other", "PurchaseOrders"),
            Some(with(&["U_Region", "Comments"]))
        );
        assert_eq!(
            table.record_fields("acme", "Invoices"),
            Some(with(&["PaidToDate"]))
        );
        assert_eq!(
            table.record_fields("unknown-source", "PurchaseOrders"),
            None,
            "the generic presenter may read any field"
        );

        let mut templated = spec("templated", "d4");
        templated.template = Some(TemplateSpec {
            html: Some("<p>{{ doc.NumAtCard }} {{ doc.DocumentLines | length }}</p>".into()),
            ..TemplateSpec::default()
        });
        let table =
            RouteTable::new(vec![big.clone(), templated], &html_env(&["d1", "d4"])).unwrap();
        assert_eq!(
            table.record_fields("acme", "Invoices"),
            Some(with(&["NumAtCard", "DocumentLines"]))
        );

        let mut whole = spec("whole", "d5");
        whole.template = Some(TemplateSpec {
            html: Some("<pre>{{ doc | tojson }}</pre>".into()),
            ..TemplateSpec::default()
        });
        let table = RouteTable::new(vec![big, whole], &html_env(&["d1", "d5"])).unwrap();
        assert_eq!(table.record_fields("acme", "PurchaseOrders"), None);
    }

    #[test]
    fn matches_by_event_entity_source_and_filters() {
        let mut only_created = spec("created", "d1");
        only_created.events = vec!["created".into()];
        let mut only_changed = spec("changed", "d2");
        only_changed.events = vec!["status_changed".into()];
        let mut source = spec("source", "d3");
        source.source = Some("acme".into());
        let mut invoices = spec("invoices", "d4");
        invoices.entity = "Invoices".into();
        let mut big = spec("big", "d5");
        big.when = vec!["DocTotal >= 10000".into(), "DocCurrency == 'EUR'".into()];
        let mut big_usd = spec("big-usd", "d6");
        big_usd.when = vec!["DocTotal >= 10000".into(), "DocCurrency == 'USD'".into()];
        let table = RouteTable::new(
            vec![only_created, only_changed, source, invoices, big, big_usd],
            &html_env(&["d1", "d2", "d3", "d4", "d5", "d6"]),
        )
        .expect("valid");

        assert_eq!(
            destinations(&table, &po(12500.0)),
            vec!["created:d1", "source:d3", "big:d5"]
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
            vec!["changed:d2", "source:d3"]
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
    fn skipped_names_each_other_route_of_the_entity_with_its_first_reason() {
        let mut only_changed = spec("changed", "d1");
        only_changed.events = vec!["status_changed".into()];
        let mut other_source = spec("other-source", "d2");
        other_source.source = Some("other".into());
        let mut big = spec("big", "d3");
        big.when = vec!["DocCurrency == 'EUR'".into(), "DocTotal >= 10000".into()];
        let mut invoices = spec("invoices", "d4");
        invoices.entity = "Invoices".into();
        let table = RouteTable::new(
            vec![only_changed, other_source, big, invoices, spec("all", "d5")],
            &html_env(&["d1", "d2", "d3", "d4", "d5"]),
        )
        .expect("valid");
        let skipped = table.skipped(&po(500.0));
        assert_eq!(
            skipped,
            vec![
                (
                    "changed".to_owned(),
                    "event created not subscribed".to_owned()
                ),
                (
                    "other-source".to_owned(),
                    "source is acme, not other".to_owned()
                ),
                (
                    "big".to_owned(),
                    "when `DocTotal >= 10000` is false".to_owned()
                ),
            ]
        );
        assert_eq!(destinations(&table, &po(500.0)), vec!["all:d5"]);
    }

    #[test]
    fn each_route_renders_only_its_destination_shape() {
        let mut crm = spec("crm", "crm");
        crm.map = Some(
            toml::from_str(
                r#"
                Name = "{{ partner }}"
                Amount = { value = "{{ doc.DocTotal }}", type = "number" }
                CloseDate = { value = "{{ doc.DocDueDate }}", type = "date" }
                Stage = { value = "{{ doc.DocumentStatus }}", type = "lookup", table = { bost_Open = "Prospecting", bost_Close = "Closed Won" }, default = "Prospecting" }
                "#,
            )
            .expect("map"),
        );
        let table = RouteTable::new(
            vec![
                spec("html", "chat"),
                spec("card", "flow"),
                spec("sms", "sms"),
                spec("call", "call"),
                crm,
            ],
            &env(&[
                ("chat", HTML),
                ("flow", CARD),
                ("sms", PayloadShape::Text),
                ("call", PayloadShape::Voice),
                ("crm", PayloadShape::Record),
            ]),
        )
        .expect("valid");
        let intents = table.route(&po(12500.0)).expect("routes");
        let payloads: Vec<(&str, &Json)> = intents
            .iter()
            .map(|i| (i.destination.as_str(), &i.payload))
            .collect();
        let summary =
            "Purchase order 1042 · Acme Supplies (V10000) · 12,500.00 EUR · Open · due 2026-12-01";
        assert_eq!(payloads[0].0, "chat");
        assert_eq!(payloads[0].1["summary"], summary);
        assert!(payloads[0].1["html"].is_string());
        assert!(payloads[0].1.get("card").is_none());
        assert_eq!(payloads[1].0, "flow");
        assert_eq!(payloads[1].1["summary"], summary);
        assert_eq!(payloads[1].1["card"]["type"], "AdaptiveCard");
        assert!(
            payloads[1].1.get("html").is_none(),
            "a card destination renders no html"
        );
        assert_eq!(payloads[2], ("sms", &json!({"text": summary})));
        assert_eq!(
            payloads[3],
            (
                "call",
                &json!({"say": "Purchase order 1042 from Acme Supplies (V10000) was created, \
                    for 12,500 euros, due December 1, 2026. Status: Open."})
            )
        );
        assert_eq!(
            payloads[4],
            (
                "crm",
                &json!({"record": {
                    "Amount": 12500.0,
                    "CloseDate": "2026-12-01",
                    "Name": "Acme Supplies (V10000)",
                    "Stage": "Prospecting",
                }})
            )
        );
    }

    #[test]
    fn lookup_miss_without_default_names_route_field_and_value() {
        let mut crm = spec("crm", "crm");
        crm.map = Some(
            toml::from_str(
                r#"Stage = { value = "{{ doc.DocumentStatus }}", type = "lookup", table = { bost_Open = "Prospecting" } }"#,
            )
            .expect("map"),
        );
        let table = RouteTable::new(vec![crm], &env(&[("crm", PayloadShape::Record)]))
            .expect("the sample is open");
        let mut paid = po(1.0);
        paid.fields.to_mut()["DocumentStatus"] = json!("bost_Paid");
        assert_eq!(
            table.route(&paid).expect_err("miss"),
            "route `crm`: map field `Stage`: value `bost_Paid` is not in the lookup table \
             and there is no default"
        );
    }

    #[test]
    fn filters_read_the_local_doc_total_and_messages_show_the_document_currency() {
        // SAP: DocTotal in the local currency (USD), DocTotalFc in DocCurrency (EUR).
        let mut big = spec("big", "finance");
        big.when = vec!["DocTotal >= 10000".into()];
        let table = RouteTable::new(vec![big], &html_env(&["finance"])).expect("valid");
        let mut over = po(10900.0);
        over.fields.to_mut()["DocTotalFc"] = json!(9500.0);
        let intents = table.route(&over).expect("routes");
        assert_eq!(
            intents.len(),
            1,
            "10,900.00 USD local total passes the filter"
        );
        assert_eq!(
            intents[0].payload["summary"],
            "Purchase order 1042 · Acme Supplies (V10000) · 9,500.00 EUR · Open · due 2026-12-01"
        );
        let mut under = po(9800.0);
        under.fields.to_mut()["DocTotalFc"] = json!(10500.0);
        assert!(
            table.route(&under).expect("routes").is_empty(),
            "the filter does not read DocTotalFc"
        );
    }

    #[test]
    fn shared_forms_render_once_and_agree() {
        let mut custom = spec("c", "z");
        custom.template = Some(TemplateSpec {
            summary: Some("PO {{ number }} ({{ total }})".into()),
            ..TemplateSpec::default()
        });
        let table = RouteTable::new(
            vec![spec("a", "x"), spec("b", "y"), custom],
            &html_env(&["x", "y", "z"]),
        )
        .expect("valid");
        assert_eq!(table.routes[0].form, table.routes[1].form);
        assert_ne!(table.routes[0].form, table.routes[2].form);
        let intents = table.route(&po(1.0)).expect("routes");
        assert_eq!(intents.len(), 3);
        assert_eq!(intents[0].payload, intents[1].payload);
        assert_eq!(intents[2].payload["summary"], "PO 1042 (1.00 EUR)");
        assert_eq!(intents[2].payload["html"], intents[0].payload["html"]);
    }

    #[test]
    fn unknown_sources_use_the_generic_presenter() {
        let table = RouteTable::new(
            vec![spec("all", "sms")],
            &env(&[("sms", PayloadShape::Text)]),
        )
        .expect("valid");
        let intents = table
            .route(&event("crm", "PurchaseOrders", EventKind::Created, 1.0))
            .expect("routes");
        assert_eq!(intents[0].payload, json!({"text": "PurchaseOrders 77"}));
        // No presenters at all: the trial render uses the generic presenter's `{}`.
        let bare = RouteEnv {
            presenters: HashMap::new(),
            ..env(&[("sms", PayloadShape::Text)])
        };
        assert!(RouteTable::new(vec![spec("all", "sms")], &bare).is_ok());
    }

    #[test]
    fn errors_carry_the_key_path() {
        let chat = html_env(&["d"]);
        let mut bad_filter = spec("r0", "d");
        bad_filter.when = vec!["DocTotal >>= 10000".into()];
        assert_eq!(
            error(vec![bad_filter], &chat),
            (
                "routes[0].when[0]".into(),
                "route `r0`: filter `DocTotal >>= 10000`: expected a number or a quoted \
                 string, found `>` at position 11"
                    .into()
            )
        );

        let mut second_filter = spec("r2", "d");
        second_filter.when = vec!["DocTotal >= 1".into(), "DocCurrency = 'EUR'".into()];
        assert_eq!(
            error(vec![spec("r1", "d"), second_filter], &chat),
            (
                "routes[1].when[1]".into(),
                "route `r2`: filter `DocCurrency = 'EUR'`: use `==` to test equality at position 13"
                    .into()
            )
        );

        let mut bad_event = spec("r1", "d");
        bad_event.events = vec!["created".into(), "deleted".into()];
        assert_eq!(
            error(vec![bad_event], &chat),
            (
                "routes[0].events[1]".into(),
                "route `r1`: unknown event `deleted` (expected `created` or `status_changed`)"
                    .into()
            )
        );
        let mut no_events = spec("r0", "d");
        no_events.events = vec![];
        assert_eq!(error(vec![no_events], &chat).0, "routes[0].events");

        let mut bad_template = spec("r3", "d");
        bad_template.template = Some(TemplateSpec {
            summary: Some("{{ number ".into()),
            ..TemplateSpec::default()
        });
        let (key, message) = error(vec![bad_template], &chat);
        assert_eq!(key, "routes[0].template.summary");
        assert!(
            message.starts_with("route `r3`: summary template:"),
            "{message}"
        );

        let mut bad_card = spec("r4", "d");
        bad_card.template = Some(TemplateSpec {
            card: Some(r#"{"text": "{{ doc.CardName }}"}"#.into()),
            ..TemplateSpec::default()
        });
        assert_eq!(
            error(vec![spec("ok", "d"), bad_card], &env(&[("d", CARD)])),
            (
                "routes[1].template.card".into(),
                "route `r4`: card template: output is not an object with \"type\": \
                 \"AdaptiveCard\" (trial render of a sample created event)"
                    .into()
            )
        );

        let mut unknown_filter = spec("r5", "d");
        unknown_filter.template = Some(TemplateSpec {
            html: Some("{{ doc.CardName|shout }}".into()),
            ..TemplateSpec::default()
        });
        let (key, message) = error(vec![unknown_filter], &chat);
        assert_eq!(key, "routes[0].template.html");
        assert!(
            message.starts_with("route `r5`: html template:"),
            "{message}"
        );

        let mut bad_amount = spec("r6", "crm");
        bad_amount.map = Some(
            toml::from_str(r#"Amount = { value = "{{ doc.CardName }}", type = "number" }"#)
                .expect("map"),
        );
        assert_eq!(
            error(vec![bad_amount], &env(&[("crm", PayloadShape::Record)])),
            (
                "routes[0].map.Amount".into(),
                "route `r6`: map field `Amount`: `Sample Supplier` is not a number \
                 (trial render of a sample created event)"
                    .into()
            )
        );

        assert_eq!(
            error(
                vec![spec("r7", "crm")],
                &env(&[("crm", PayloadShape::Record)])
            ),
            (
                "routes[0].map".into(),
                "route `r7`: a record destination needs a `map` of its fields".into()
            )
        );

        let mut html_to_sms = spec("r8", "sms");
        html_to_sms.template = Some(TemplateSpec {
            html: Some("<p>hi</p>".into()),
            ..TemplateSpec::default()
        });
        assert_eq!(
            error(vec![html_to_sms], &env(&[("sms", PayloadShape::Text)])),
            (
                "routes[0].template.html".into(),
                "route `r8`: `template.html` is not used by destination `sms`, which takes \
                 text payloads (templates text, summary)"
                    .into()
            )
        );
        let mut map_to_chat = spec("r9", "d");
        map_to_chat.map = Some(std::collections::BTreeMap::new());
        assert_eq!(error(vec![map_to_chat], &chat).0, "routes[0].map");

        assert_eq!(
            error(vec![spec("r10", "nowhere")], &html_env(&["b", "a"])),
            (
                "routes[0].destination".into(),
                "route `r10`: unknown destination `nowhere` (known: a, b)".into()
            )
        );
        assert_eq!(
            error(vec![spec("dup", "d"), spec("dup", "d")], &chat),
            (
                "routes[1].name".into(),
                "route `dup`: duplicate route name".into()
            )
        );
        assert_eq!(
            error(vec![spec("r11", " ")], &chat),
            (
                "routes[0].destination".into(),
                "route `r11`: `destination` must not be empty".into()
            )
        );
    }

    #[test]
    fn runtime_render_failure_is_an_error() {
        let mut r = spec("money", "d");
        r.template = Some(TemplateSpec {
            summary: Some("{{ doc.Comments|money }}".into()),
            ..TemplateSpec::default()
        });
        let table = RouteTable::new(vec![r], &html_env(&["d"])).expect("sample has null Comments");
        let mut e = po(1.0);
        e.fields.to_mut()["Comments"] = json!("urgent");
        let err = table.route(&e).expect_err("money of text");
        assert!(err.starts_with("route `money`: summary template:"), "{err}");
    }

    #[test]
    fn empty_table_routes_nothing() {
        let table = RouteTable::new(vec![], &RouteEnv::default()).expect("valid");
        assert!(table.is_empty());
        assert!(table.destinations().is_empty());
        assert!(table.route(&po(1.0)).expect("routes").is_empty());
    }
}
