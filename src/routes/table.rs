//! The compiled route table: the runtime's [`Router`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ml_connector_actors::{Event, EventKind, Intent, Router};
use serde_json::Value as Json;

use super::event::{make_event, source_of};
use super::filter::{Filter, FilterError};
use super::present::{GenericPresenter, Presenter};
use super::shape::PayloadShape;
use super::spec::{RouteSpec, TemplateSpec};
use super::template::{FormError, Renderer, RouteForm};

/// What the route table needs to know about the rest of the configuration.
///
/// - `shapes`: destination name -> the [`PayloadShape`] its kind accepts (a Graph HTML
///   destination `Chat(Html)`, a Workflows webhook `Chat(Card)`, an SMS sender `Text`, ...).
///   Every route's destination must be here.
/// - `presenters`: configured source name -> the [`Presenter`] of that source's kind.
///   Events (and trial renders) of a source missing here use [`GenericPresenter`].
#[derive(Debug, Clone, Default)]
pub struct RouteEnv {
    /// Destination name -> payload shape.
    pub shapes: HashMap<String, PayloadShape>,
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
    problem: RouteProblem,
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
            problem,
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
            problem: RouteProblem::Builtin(reason),
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
                        Renderer::context(event, source, self.presenters.get(source))
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
    if let Some((key, expected)) = unused_key(shape, spec.template.as_ref(), spec.map.is_some())
    {
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
            let context = Renderer::context(&sample, source, &presenter);
            renderer.render(&form, &context).map_err(|e| {
                err(
                    e.path,
                    RouteProblem::Render(format!(
                        "{} (trial render of a sample {} event)",
                        e.message,
                        kind.as_str()
                    )),
                )
            })?;
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
    fn trial<'s>(
        &'s self,
        source: Option<&'s str>,
    ) -> Vec<(&'s str, Arc<dyn Presenter>)> {
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
        PayloadShape::Chat(_) => (&["summary", "html", "card"], "templates summary, html, card"),
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
fn sample_event(source: &str, entity: &str, kind: EventKind, presenter: &dyn Presenter) -> Event {
    let changes = match kind {
        EventKind::Created => Vec::new(),
        EventKind::StatusChanged => presenter.sample_changes(entity),
    };
    make_event(source, entity, "1", kind, changes, presenter.sample(entity))
}

