//! `ml-connector check`: validate the configuration, then ping every configured system and
//! print a table of what works and, for what does not, why and how to fix it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;

use ml_connector_actors::boxed::ManagedSession;
use ml_connector_actors::{clock, Health};

use crate::config::Config;
use crate::seam::{BuildEnv, CheckRow};
use crate::secrets::SecretKey;

type Row = CheckRow;

/// Exit 0 when every check passed, 1 when one failed, 2 when the configuration is invalid.
pub fn run(path: &Path) -> ExitCode {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    println!("configuration {}: valid", path.display());
    let (store, key) = match super::open_state_or_exit(&config) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let rows = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(check_all(&config, &store, &key)),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let w_sys = rows
        .iter()
        .map(|r| r.system.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let w_tgt = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<w_sys$}  {:<w_tgt$}  {:<4}  DETAIL",
        "SYSTEM", "TARGET", "OK"
    );
    for r in &rows {
        println!(
            "{:<w_sys$}  {:<w_tgt$}  {:<4}  {}",
            r.system,
            r.target,
            if r.ok { "yes" } else { "NO" },
            r.detail
        );
    }
    if rows.iter().all(|r| r.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Every probe of every entry: credentials log in, sources read one record per entity,
/// destinations probe what delivery and lookups use. Secret references are resolved first so
/// a missing one is named by its key. Sessions are logged out at the end.
async fn check_all(
    config: &Config,
    store: &ml_connector_actors::Store,
    key: &SecretKey,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let env = match crate::tls::default_client(Duration::from_secs(30)) {
        Ok(cloud) => BuildEnv {
            store: store.clone(),
            key: key.clone(),
            clock: clock::system(),
            health: Health::default(),
            cloud,
            // Probes read one record as the Service Layer sends it.
            record_fields: Default::default(),
        },
        Err(e) => {
            rows.push(CheckRow::new("service", "tls", Err(e.to_string())));
            return rows;
        }
    };
    rows.push(free_space_row(config, store));
    for (at, reference) in config.secret_refs() {
        if let Err(e) = env.secret(&reference) {
            rows.push(CheckRow::new("config", at, Err(e.to_string())));
        }
    }
    let mut sessions: HashMap<&str, Arc<dyn ManagedSession>> = HashMap::new();
    for c in &config.credentials {
        let system = format!("{}:{}", c.kind, c.name);
        match c.config.session(&c.name, &env) {
            Ok(session) => {
                rows.extend(c.config.check(&c.name, session.as_ref(), &env).await);
                sessions.insert(c.name.as_str(), session);
            }
            Err(e) => rows.push(CheckRow::new(&system, "session", Err(e.to_string()))),
        }
    }
    let session_of = |credential: &Option<String>| {
        credential
            .as_deref()
            .and_then(|n| sessions.get(n))
            .map(|s| s.as_ref())
    };
    for s in &config.sources {
        rows.extend(
            s.config
                .check(&s.name, session_of(&s.credential), &env)
                .await,
        );
    }
    for d in &config.destinations {
        rows.extend(
            d.config
                .check(&d.name, session_of(&d.credential), &env)
                .await,
        );
        let routes = config
            .routes
            .iter()
            .filter(|r| r.destination == d.name)
            .collect();
        rows.extend(
            d.config
                .check_routes(&d.name, session_of(&d.credential), &env, routes)
                .await,
        );
    }
    for session in sessions.values() {
        session.logout().await;
    }
    rows
}

/// The `service`/`free space` row: bytes available on the store's file system against
/// `[service] min_free_bytes`, with the store file's size (see [`free_space_verdict`]).
pub fn free_space_row(config: &Config, store: &ml_connector_actors::Store) -> Row {
    let result = free_space_verdict(
        store.free_space(),
        store.file_size().unwrap_or(0),
        config.service.min_free_bytes,
        &config.state_dir(),
    );
    CheckRow::new("service", "free space", result)
}

/// How many times `min_free_bytes` of free space still earns a warning: the disk is filling
/// and the operator should act before the gateway starts refusing writes.
pub const FREE_SPACE_WARNING_FACTOR: u64 = 3;

/// The verdict on `free` bytes (None: unreadable) on the file system of `dir`, with the store
/// file at `size` bytes and the threshold `min` (`[service] min_free_bytes`): `Err` below
/// `min`; `Ok` starting with `WARNING:` below [`FREE_SPACE_WARNING_FACTOR`] × `min`; plain `Ok`
/// otherwise.
pub fn free_space_verdict(
    free: Option<u64>,
    size: u64,
    min: u64,
    dir: &Path,
) -> Result<String, String> {
    match free {
        None => Err(format!("cannot read the free space of {}", dir.display())),
        Some(free) if free < min => Err(format!(
            "only {} free on the file system of {} (store file {}; [service] min_free_bytes {}): free disk space before the store runs out",
            mib(free),
            dir.display(),
            mib(size),
            mib(min)
        )),
        Some(free) if free < min.saturating_mul(FREE_SPACE_WARNING_FACTOR) => Ok(format!(
            "WARNING: {} free on the file system of {}, approaching [service] min_free_bytes {} (store file {}): free disk space or shorten the retention ([service] retention_days, audit_retention_days)",
            mib(free),
            dir.display(),
            mib(min),
            mib(size)
        )),
        Some(free) => Ok(format!(
            "{} free (store file {}; warning below {}, failing below {})",
            mib(free),
            mib(size),
            mib(min.saturating_mul(FREE_SPACE_WARNING_FACTOR)),
            mib(min)
        )),
    }
}

/// Bytes as MiB with one decimal, e.g. `"3.0 MiB"`.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn free_space_fails_below_the_threshold_and_warns_before_it() {
        let dir = Path::new("/var/lib/ml-connector");
        let verdict = |free| free_space_verdict(free, 3 * MIB, 100 * MIB, dir);
        assert_eq!(
            verdict(Some(1_000 * MIB)),
            Ok("1000.0 MiB free (store file 3.0 MiB; warning below 300.0 MiB, failing below 100.0 MiB)".into())
        );
        assert_eq!(
            verdict(Some(299 * MIB)),
            Ok("WARNING: 299.0 MiB free on the file system of /var/lib/ml-connector, approaching [service] min_free_bytes 100.0 MiB (store file 3.0 MiB): free disk space or shorten the retention ([service] retention_days, audit_retention_days)".into())
        );
        assert_eq!(
            verdict(Some(99 * MIB)),
            Err("only 99.0 MiB free on the file system of /var/lib/ml-connector (store file 3.0 MiB; [service] min_free_bytes 100.0 MiB): free disk space before the store runs out".into())
        );
        assert_eq!(
            verdict(None),
            Err("cannot read the free space of /var/lib/ml-connector".into())
        );
    }
}
