//! `ml-connector sandbox [--config FILE] [--seconds N]`: serve every registered simulator
//! ([`crate::sandbox::ALL`]) standalone on 127.0.0.1, print one block per simulator with its
//! URLs and credentials, and keep serving until Ctrl-C / SIGTERM (or `N` seconds).
//!
//! `FILE` is the optional sandbox file (one `[<kind>]` table per simulator, see
//! [`crate::sandbox::settings`]); without it every simulator uses its defaults and an
//! ephemeral port.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::sandbox::{self, SandboxError};

/// Run the command. Exit codes: 0 after a stop signal or `seconds`, 2 for an unreadable or
/// invalid sandbox file (`FILE:LINE: key K: message` on stderr), 1 when a simulator cannot
/// be served (port taken) or the signal handlers cannot be installed.
pub fn run(file: Option<&Path>, seconds: Option<u64>) -> ExitCode {
    let simulators = match sandbox::start_registered(crate::connectors::SIMULATORS, file) {
        Ok(simulators) => simulators,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                SandboxError::Read { .. } | SandboxError::Invalid { .. } => 2,
                SandboxError::Start { .. } => 1,
            });
        }
    };
    let until = seconds.map_or_else(
        || "Ctrl-C to stop".to_string(),
        |s| format!("stopping after {s} s"),
    );
    println!(
        "ml-connector sandbox: {} simulator(s) on 127.0.0.1; {until}\n",
        simulators.len()
    );
    print!("{}", sandbox::render(&simulators));
    let waited = wait(seconds);
    drop(simulators);
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Block until SIGINT, SIGTERM or `seconds` (when given) elapse.
/// Errors: the runtime or the signal handlers cannot be set up.
fn wait(seconds: Option<u64>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let timer = async {
            match seconds {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            () = timer => {}
        }
        Ok(())
    })
}
