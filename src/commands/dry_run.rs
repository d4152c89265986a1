//! Shadow mode: `ml-connector run --dry-run` (or `[service] dry_run = true`) and
//! `ml-connector dry-run report [--json]` / `ml-connector dry-run adopt-cursors`.
//!
//! A dry run uses its own store file, [`DRY_RUN_STORE_FILE`] next to the real one, so its
//! cursors, snapshots and dedupe ledger never leak into a later real run. Secrets are read
//! from and written to the real store (the sessions log in as usual, and a refresh token
//! rotated during the dry run is the one the real run finds). Nothing is sent: no
//! delivery actor runs, so every rendered message stays in the dry-run store's outbox, which
//! the report lists (durable: it survives restarts and a `kill -9`). `adopt-cursors` copies the
//! dry run's cursors and snapshots into the real store when the user wants the real run to
//! start where the dry run stopped (documents the dry run saw are then never sent).

use std::path::Path;
use std::process::ExitCode;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::Store;
use serde_json::{json, Value as Json};

use crate::config::Config;
use crate::secrets::SecretKey;

/// Store file of dry runs inside the state directory.
pub const DRY_RUN_STORE_FILE: &str = "ml-connector.dry-run.redb";

/// Characters of a payload kept in the report's summary.
const SUMMARY_CHARS: usize = 120;

/// Open the dry-run store with its secrets delegated to the real store, which stays open
/// for the dry run's lifetime (a refresh token rotated during the dry run is kept where the
/// real run finds it). Errors: either store cannot be opened (the service holds the real
/// one: stop it first).
pub fn open_store(config: &Config) -> Result<(Store, SecretKey), String> {
    let (real, _) = super::open_state(config)?;
    let (store, key) = super::open_state_file(config, DRY_RUN_STORE_FILE)?;
    store.delegate_secrets(real);
    Ok((store, key))
}

/// One message a dry run would have sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WouldSend {
    /// Outbox sequence number in the dry-run store.
    pub seq: u64,
    pub destination: String,
    pub route: String,
    /// `source/entity/key/created` or `.../status_changed/N`.
    pub event_key: String,
    /// When it was rendered, UTC milliseconds.
    pub created_ms: i64,
    /// The first [`SUMMARY_CHARS`] characters of the payload's text (`summary`, `text`,
    /// `html`, `voice` field, else its JSON).
    pub summary: String,
}

/// Everything the dry run would have sent, by destination then sequence.
pub fn would_send(store: &Store) -> Result<Vec<WouldSend>, String> {
    let destinations = store.outbox_stats().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for destination in destinations.keys() {
        let entries = store
            .due_entries(destination, i64::MAX, usize::MAX)
            .map_err(|e| e.to_string())?
            .due;
        out.extend(entries.into_iter().map(summarize));
    }
    Ok(out)
}

fn summarize(e: OutboxEntry) -> WouldSend {
    let text = ["summary", "text", "html", "voice"]
        .iter()
        .find_map(|k| e.payload.get(*k).and_then(Json::as_str).map(str::to_string))
        .unwrap_or_else(|| e.payload.to_string());
    WouldSend {
        seq: e.seq,
        destination: e.destination,
        route: e.route,
        event_key: e.event_key,
        created_ms: e.created_ms,
        summary: text.chars().take(SUMMARY_CHARS).collect(),
    }
}

/// `dry-run report`: a table (or JSON `{"messages":[WouldSend...],"count":N}` with `json`).
pub fn report(config_path: &Path, json_out: bool) -> ExitCode {
    let config = match super::load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match super::open_state_file(&config, DRY_RUN_STORE_FILE) {
        Ok((s, _)) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let messages = match would_send(&store) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if json_out {
        let body = json!({"count": messages.len(), "messages": messages});
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "{} message(s) a real run would send (nothing was sent):",
        messages.len()
    );
    for m in &messages {
        println!(
            "{:>6}  {}  {:<16} {:<24} {:<44} {}",
            m.seq,
            crate::time_text::utc(m.created_ms),
            m.destination,
            m.route,
            m.event_key,
            m.summary.replace('\n', " ")
        );
    }
    ExitCode::SUCCESS
}

/// `dry-run adopt-cursors`: copy the dry run's cursors and snapshots into the real store
/// (the service must be stopped), so the next real run starts where the dry run stopped.
pub fn adopt_cursors(config_path: &Path) -> ExitCode {
    let config = match super::load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = (|| {
        let (dry, _) = super::open_state_file(&config, DRY_RUN_STORE_FILE)?;
        let positions = dry.positions().map_err(|e| e.to_string())?;
        dry.close(std::time::Duration::from_secs(5));
        let (real, _) = super::open_state(&config)?;
        real.adopt_positions(&positions)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(positions)
    })();
    match result {
        Ok(p) => {
            println!(
                "adopted {} cursor(s) and {} snapshot(s) from the dry run",
                p.cursors.len(),
                p.snapshots.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
