//! One file per CLI command.

pub mod bench;
pub mod bench_reference;
pub mod bench_twilio;
pub mod check;
pub mod dead_letters;
pub mod demo;
pub mod dry_run;
pub mod run;
pub mod sandbox;
pub mod secret;
pub mod torture;
pub mod trace;

use std::path::Path;

use ml_connector_actors::{clock, Store};

use crate::config::Config;
use crate::secrets::SecretKey;

/// Load the configuration or print its error (file, line, key) and return exit code 2.
pub fn load_config(path: &Path) -> Result<Config, std::process::ExitCode> {
    Config::load(path, &crate::connectors::REGISTRY).map_err(|e| {
        eprintln!("error: {e}");
        std::process::ExitCode::from(2)
    })
}

/// [`open_state`] for a command's exit: the error is printed, exit code 1.
pub fn open_state_or_exit(config: &Config) -> Result<(Store, SecretKey), std::process::ExitCode> {
    open_state(config).map_err(|e| {
        eprintln!("error: {e}");
        std::process::ExitCode::from(1)
    })
}

/// [`load_config`] then [`open_state_or_exit`]: what commands that work on a stopped service's
/// state need. Errors (printed): exit 2 for the configuration, 1 for the store.
pub fn load_and_open(path: &Path) -> Result<(Config, Store, SecretKey), std::process::ExitCode> {
    let config = load_config(path)?;
    let (store, key) = open_state_or_exit(&config)?;
    Ok((config, store, key))
}

/// Open the store file and the secrets key of a configuration's state directory.
/// Errors name the path and say what to do (e.g. the service holds the lock).
pub fn open_state(config: &Config) -> Result<(Store, SecretKey), String> {
    open_state_file(config, STORE_FILE)
}

/// [`open_state`] for the store file `file` of the state directory (the dry-run store).
pub fn open_state_file(config: &Config, file: &str) -> Result<(Store, SecretKey), String> {
    let dir = config.state_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create state directory {}: {e}", dir.display()))?;
    let path = dir.join(file);
    let store = Store::open(&path, clock::system()).map_err(|e| {
        format!("{e}\nhint: if the service is running it holds the store; stop it (systemctl stop ml-connector) or use the admin API")
    })?;
    // The store holds only sealed secrets, but payloads and audit lines are the company's data.
    restrict(&dir, 0o700);
    restrict(&path, 0o600);
    let key = SecretKey::load_or_create(&dir).map_err(|e| e.to_string())?;
    Ok((store, key))
}

/// Best effort: tighten permissions of a path we created (systemd's `UMask=0077` already does
/// this for the service; the CLI may run under a looser umask).
fn restrict(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!(path = %path.display(), error = %e, "could not restrict permissions");
    }
}

/// Name of the redb file inside the state directory.
pub const STORE_FILE: &str = "ml-connector.redb";
