//! `ml-connector run`: the service. Ready notification and watchdog for systemd
//! (`Type=notify`), SIGHUP reloads the configuration, SIGTERM/SIGINT stop cleanly.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use secrecy::SecretString;
use tokio::signal::unix::{signal, SignalKind};

use crate::app::Gateway;
use crate::config::{Config, ListenerTls};
use crate::http::{self, HttpState};

/// Run until SIGTERM/SIGINT. Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration.
/// `dry_run` (or `[service] dry_run`): shadow mode over the dry-run store
/// ([`super::dry_run`]).
pub fn run(config_path: &Path, dry_run: bool) -> ExitCode {
    let mut config = match super::load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    config.service.dry_run |= dry_run;
    crate::telemetry::init_logging(config.log_format(), &config.service.log_level);
    // Before the store opens, so a repair on open is counted in `mlc_store_repairs_total`.
    crate::telemetry::metrics_handle();
    let opened = if config.service.dry_run {
        tracing::warn!(
            file = super::dry_run::DRY_RUN_STORE_FILE,
            "dry run: nothing is sent; see `ml-connector dry-run report`"
        );
        super::dry_run::open_store(&config)
    } else {
        super::open_state(&config)
    };
    let (store, key) = match opened {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let result = actix::System::new().block_on(serve(config_path, config, store, key));
    match result {
        Ok(()) => {
            tracing::info!("stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "stopped on an error");
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn serve(
    config_path: &Path,
    config: Config,
    store: ml_connector_actors::Store,
    key: crate::secrets::SecretKey,
) -> Result<(), String> {
    let mut config = config;
    let mut gateway = Gateway::launch(store.clone(), key.clone(), &config).await?;
    let health = gateway.health.clone();
    let admin_token: Option<SecretString> = match &config.http.admin_token {
        Some(r) => Some(crate::secrets::resolve(r, &key, &store).map_err(|e| e.to_string())?),
        None => None,
    };
    let tls = match config.http.tls {
        ListenerTls::Off => None,
        ListenerTls::SelfSigned => {
            Some(crate::tls::listener_config(&config.state_dir()).map_err(|e| e.to_string())?)
        }
    };
    let state = HttpState {
        store: store.clone(),
        health: health.clone(),
        admin_token,
        inbound: gateway.inbound.clone(),
        nudges: gateway.nudges.clone(),
    };
    let listen = config.http.listen.to_string();
    let (server, addr) =
        http::serve(state, &listen, tls).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let server_handle = server.handle();
    actix::spawn(server);
    tracing::info!(%addr, "HTTP listening (/metrics, /health/live, /health/ready, /inbound/...)");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let retention = actix::spawn(crate::app::retention::run(
        store.clone(),
        config.service.clone(),
    ));
    let upkeep = actix::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            crate::telemetry::metrics_handle().run_upkeep();
        }
    });
    let mut watchdog_usec = 0u64;
    let watchdog = if sd_notify::watchdog_enabled(false, &mut watchdog_usec) {
        Duration::from_micros(watchdog_usec / 2)
    } else {
        Duration::from_secs(3600)
    };
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                match Config::load(config_path, &crate::connectors::REGISTRY) {
                    Ok(new) => {
                        match gateway.start(&new).await {
                            Ok(()) => {
                                config = new;
                                let _ = store.audit("config_reload", &format!("reloaded {}", config_path.display()));
                                tracing::info!(path = %config_path.display(), "configuration reloaded");
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "new configuration could not start; restarting the previous one");
                                gateway.start(&config).await.map_err(|e| e.to_string())?;
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "configuration not reloaded; the running one stays"),
                }
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            }
            _ = tokio::time::sleep(watchdog) => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
    }
    tracing::info!(
        stop_timeout_seconds = config.service.stop_timeout_seconds,
        "stopping: polling stops, in-flight deliveries finish, sessions log out"
    );
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    upkeep.abort();
    retention.abort();
    // Stop accepting inbound requests first, then the actors; the store closes last.
    server_handle.stop(true).await;
    if !gateway.close().await {
        tracing::warn!("the store was not closed cleanly; the next start repairs it");
    }
    drop(store);
    Ok(())
}
