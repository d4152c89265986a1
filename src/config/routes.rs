//! `[[routes]]`: references to sources and destinations, then compilation of every route
//! (filters, templates, mappings) against its destination's payload shape — so `check` and
//! `run` refuse the same routes with the same file:line:key.

use std::collections::HashMap;

use super::entries::{Destination, Source};
use crate::routes::{RouteEnv, RouteSpec, RouteTable};
use crate::seam::Problem;

fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("\"{n}\"")).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// A route names a configured destination, an existing source (when it names one) and an
/// entity that source (or, without `source`, at least one source) polls.
fn check_references(
    i: usize,
    route: &RouteSpec,
    sources: &[Source],
    destinations: &[Destination],
) -> Result<(), Problem> {
    let at = format!("routes[{i}]");
    if !destinations.iter().any(|d| d.name == route.destination) {
        return Err(Problem::new(
            format!("{at}.destination"),
            format!(
                "unknown destination \"{}\" (configured: {})",
                route.destination,
                quoted(destinations.iter().map(|d| d.name.as_str()))
            ),
        ));
    }
    let candidates: Vec<&Source> = match &route.source {
        Some(name) => match sources.iter().find(|s| &s.name == name) {
            Some(s) => vec![s],
            None => {
                return Err(Problem::new(
                    format!("{at}.source"),
                    format!(
                        "unknown source \"{name}\" (configured: {})",
                        quoted(sources.iter().map(|s| s.name.as_str()))
                    ),
                ))
            }
        },
        None => sources.iter().collect(),
    };
    let polled = candidates
        .iter()
        .any(|s| s.config.entities().contains(&route.entity));
    if polled {
        return Ok(());
    }
    let known = candidates
        .iter()
        .any(|s| s.config.known_entities().contains(&route.entity.as_str()));
    let message = match (&route.source, known) {
        (Some(s), true) => format!(
            "entity \"{}\" is not polled by source \"{s}\": add it to that source's entities",
            route.entity
        ),
        (None, true) => format!(
            "entity \"{}\" is not polled by any source: add it to a source's entities",
            route.entity
        ),
        (_, false) => {
            let mut all: Vec<&str> = candidates
                .iter()
                .flat_map(|s| s.config.known_entities().iter().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            format!(
                "unknown entity \"{}\" (one of {})",
                route.entity,
                quoted(all.into_iter())
            )
        }
    };
    Err(Problem::new(format!("{at}.entity"), message))
}

/// Checks the references of every route, then compiles them all.
///
/// Errors: the first broken reference, or the route table's own error at its key
/// (`routes[2].when[0]`, `routes[0].template.card`, `routes[1].map.Amount`).
pub(super) fn compile(
    routes: &[RouteSpec],
    sources: &[Source],
    destinations: &[Destination],
) -> Result<RouteTable, Problem> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, route) in routes.iter().enumerate() {
        if let Some(first) = names.insert(route.name.as_str(), i) {
            return Err(Problem::new(
                format!("routes[{i}].name"),
                format!(
                    "duplicate name \"{}\" (already used by routes[{first}])",
                    route.name
                ),
            ));
        }
        check_references(i, route, sources, destinations)?;
    }
    let env = RouteEnv {
        shapes: destinations
            .iter()
            .map(|d| (d.name.clone(), d.config.shape()))
            .collect(),
        presenters: sources
            .iter()
            .map(|s| (s.name.clone(), s.config.presenter()))
            .collect(),
        checks: destinations
            .iter()
            .filter_map(|d| Some((d.name.clone(), d.config.payload_check()?)))
            .collect(),
    };
    RouteTable::new(routes.to_vec(), &env).map_err(|e| Problem::new(e.key(), e.to_string()))
}
