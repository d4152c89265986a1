//! `ml-connector trace <source> <key> [--entity E] [--json]`: one document's whole story from
//! the store (the service must be stopped; else `GET /admin/trace/{source}/{entity}/{key}`).
//!
//! Table: one line per step, newest last — `#`, time (UTC), step, destination or route,
//! outbox seq, latency of an attempt outcome (ms from the attempt mark), detail.
//! JSON: [`story_json`].

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use ml_connector_actors::store::{attempt_latencies, TraceLine, TraceStep};
use ml_connector_actors::Store;
use serde_json::{json, Value as Json};

use crate::time_text::utc;

/// The story of `document` as JSON:
/// `{"document":"acme/PurchaseOrders/42","lines":[{"at_ms":..,"step":"attempt","destination":"finance","seq":3,"attempt":1},
///   {"at_ms":..,"step":"delivered",..,"remote_id":"1700000000001","latency_ms":412}]}`
/// (`latency_ms` only on outcome lines that follow an attempt mark).
pub fn story_json(document: &str, lines: &[TraceLine]) -> Json {
    let latencies = attempt_latencies(lines);
    let lines: Vec<Json> = lines
        .iter()
        .zip(latencies)
        .map(|(line, latency)| {
            let mut v = serde_json::to_value(line).unwrap_or(Json::Null);
            if let (Some(ms), Some(obj)) = (latency, v.as_object_mut()) {
                obj.insert("latency_ms".into(), json!(ms));
            }
            v
        })
        .collect();
    json!({"document": document, "lines": lines})
}

/// The story of `document` as a readable table (see the module docs).
pub fn story_table(document: &str, lines: &[TraceLine]) -> String {
    let mut out = format!("{document}\n");
    if lines.is_empty() {
        out.push_str("  nothing recorded (unknown document, or its story was pruned)\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>4}  {:<24}  {:<13}  {:<20}  {:>6}  {:>8}  detail",
        "#", "time (UTC)", "step", "destination/route", "seq", "latency"
    );
    for (i, (line, latency)) in lines.iter().zip(attempt_latencies(lines)).enumerate() {
        let (target, detail) = describe(&line.step);
        let _ = writeln!(
            out,
            "{:>4}  {:<24}  {:<13}  {:<20}  {:>6}  {:>8}  {}",
            i + 1,
            utc(line.at_ms),
            line.step.name(),
            target,
            line.step.seq().map_or("-".into(), |s| s.to_string()),
            latency.map_or("-".into(), |ms| format!("{ms} ms")),
            detail
        );
    }
    out
}

/// `(destination or route, detail)` of a step for the table.
fn describe(step: &TraceStep) -> (String, String) {
    match step {
        TraceStep::Seen {
            via,
            event_key,
            watched,
            revision,
        } => (
            String::new(),
            format!(
                "{event_key} via {via}, revision {revision}, watched {}",
                Json::Object(watched.clone())
            ),
        ),
        TraceStep::Routed {
            route, destination, ..
        } => (destination.clone(), format!("route {route} matched")),
        TraceStep::Skipped { route, reason } => (route.clone(), format!("not taken: {reason}")),
        TraceStep::Duplicate {
            route,
            destination,
            dedupe_key,
        } => (
            destination.clone(),
            format!("route {route}: {dedupe_key} already in the ledger"),
        ),
        TraceStep::Attempt {
            destination,
            attempt,
            ..
        } => (destination.clone(), format!("attempt {attempt} started")),
        TraceStep::Withdrawn { destination, .. } => (
            destination.clone(),
            "attempt withdrawn before sending (delivery stopped)".into(),
        ),
        TraceStep::Lookup { destination, .. } => {
            (destination.clone(), "looked up at the destination".into())
        }
        TraceStep::Retry {
            destination,
            reason,
            next_attempt_ms,
            ..
        }
        | TraceStep::Throttled {
            destination,
            reason,
            next_attempt_ms,
            ..
        }
        | TraceStep::Deferred {
            destination,
            reason,
            next_attempt_ms,
            ..
        } => (
            destination.clone(),
            format!("{reason}; next try {}", utc(*next_attempt_ms)),
        ),
        TraceStep::Delivered {
            destination,
            remote_id,
            ..
        } => (destination.clone(), format!("remote id {remote_id}")),
        TraceStep::DeadLettered {
            destination,
            status,
            reason,
            ..
        } => (
            destination.clone(),
            format!(
                "status {}: {reason}",
                status.map_or("none".into(), |s| s.to_string())
            ),
        ),
        TraceStep::Replayed {
            destination,
            dead_letter,
            seq,
        } => (
            destination.clone(),
            match seq {
                Some(seq) => format!("dead letter {dead_letter} replayed as entry {seq}"),
                None => format!("dead letter {dead_letter} not replayed: delivered meanwhile"),
            },
        ),
    }
}

/// The stories of `source`'s documents with record key `key` (of `entity` when given).
/// Errors: the store's, as text.
pub fn stories(
    store: &Store,
    source: &str,
    entity: Option<&str>,
    key: &str,
) -> Result<Vec<(String, Vec<TraceLine>)>, String> {
    let documents = match entity {
        Some(entity) => vec![ml_connector_actors::store::document_id(source, entity, key)],
        None => store
            .trace_documents(source, key)
            .map_err(|e| e.to_string())?,
    };
    documents
        .into_iter()
        .map(|d| {
            let lines = store.trace(&d).map_err(|e| e.to_string())?;
            Ok((d, lines))
        })
        .collect()
}

/// The command: print the table (or JSON with `json`). Exit 1 on a store error or when no
/// document was found.
pub fn run(config: &Path, source: &str, entity: Option<&str>, key: &str, json: bool) -> ExitCode {
    let (_config, store, _) = match super::load_and_open(config) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let found = match stories(&store, source, entity, key) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if found.iter().all(|(_, lines)| lines.is_empty()) {
        eprintln!("no story recorded for key {key} of source {source}");
        return ExitCode::from(1);
    }
    if json {
        let all: Vec<Json> = found.iter().map(|(d, l)| story_json(d, l)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&Json::Array(all)).unwrap_or_default()
        );
    } else {
        for (d, l) in &found {
            print!("{}", story_table(d, l));
        }
    }
    ExitCode::SUCCESS
}
