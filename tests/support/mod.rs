//! Shared test harness: a sandbox world plus a gateway (in-process on its own actix System
//! thread, or the real binary as a child process).

#![allow(dead_code)]

pub mod acumatica;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ml_connector::app::{Gateway, GatewayOptions};
use ml_connector::config::Config;
use ml_connector::sandbox::env::{GatewayToml, SandboxEnv, CHANNEL_ID, TEAM_ID};
use ml_connector::sandbox::sap_b1::SapSandboxConfig;
use ml_connector::sandbox::teams::{StoredMessage, TeamsSandboxConfig};
use ml_connector_actors::{clock, Health};

pub const BIN: &str = env!("CARGO_BIN_EXE_ml-connector");

/// Poll `cond` every 25 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    cond()
}

pub struct World {
    pub env: SandboxEnv,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

impl World {
    pub fn new(sap: SapSandboxConfig, ms: TeamsSandboxConfig, toml: GatewayToml) -> World {
        ml_connector::tls::install_crypto_provider();
        ml_connector::telemetry::init_logging(ml_connector::telemetry::LogFormat::Text, "warn");
        let env = SandboxEnv::start(sap, ms).expect("sandbox starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        ml_connector::commands::bench::seed_refresh_token(
            &state,
            &env.teams.current_refresh_token(),
        )
        .expect("seed secret");
        let text = env.gateway_toml(&state, &toml);
        let config_path = dir.path().join("gateway.toml");
        std::fs::write(&config_path, text).expect("write config");
        for (k, v) in env.child_env() {
            std::env::set_var(k, v);
        }
        World {
            env,
            dir,
            config_path,
        }
    }

    pub fn default_with(toml: GatewayToml) -> World {
        World::new(
            SapSandboxConfig::default(),
            TeamsSandboxConfig {
                channel_rps: None,
                ..Default::default()
            },
            toml,
        )
    }

    pub fn messages(&self) -> Vec<StoredMessage> {
        self.env.teams.channel_messages(TEAM_ID, CHANNEL_ID)
    }

    /// DocEntry values referenced by channel messages whose summary template is
    /// `"doc {{ doc.DocEntry }} {{ event }}"`, in arrival order.
    pub fn delivered_keys(&self) -> Vec<String> {
        self.messages()
            .iter()
            .filter_map(|m| {
                m.content
                    .split("doc ")
                    .nth(1)
                    .map(|s| s.split('<').next().unwrap_or("").trim().to_string())
            })
            .collect()
    }

    pub fn config(&self) -> Config {
        Config::load(&self.config_path, &ml_connector::connectors::REGISTRY).expect("config loads")
    }

    /// Run the gateway in-process until the returned guard is dropped.
    pub fn start_gateway(&self) -> GatewayGuard {
        self.start_gateway_with_health(Health::default())
    }

    /// [`World::start_gateway`] reporting readiness on `health` (what `/health/ready` shows).
    pub fn start_gateway_with_health(&self, health: Health) -> GatewayGuard {
        let config = self.config();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            actix::System::new().block_on(async move {
                let (store, key) = match ml_connector::commands::open_state(&config) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let opts = GatewayOptions {
                    session_tick: Duration::from_millis(100),
                    gauge_every: Duration::from_millis(200),
                    ..Default::default()
                };
                let mut gw = Gateway::new(store, key, clock::system(), health, opts);
                if let Err(e) = gw.start(&config).await {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                while let Err(mpsc::TryRecvError::Empty) = stop_rx.try_recv() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                gw.stop().await;
            });
        });
        ready_rx
            .recv()
            .expect("gateway thread")
            .expect("gateway starts");
        GatewayGuard {
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Start the real binary (`run --config`).
    pub fn spawn_binary(&self, extra_env: &[(&str, &str)]) -> Child {
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--config"])
            .arg(&self.config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("binary starts")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

pub struct GatewayGuard {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GatewayGuard {
    pub fn stop(mut self) {
        self.shutdown();
    }
    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for GatewayGuard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The summary template tests use to identify documents in messages.
pub fn keyed_toml() -> GatewayToml {
    GatewayToml {
        summary_template: Some("doc {{ doc.DocEntry }} {{ event }}".into()),
        format: "html",
        ..Default::default()
    }
}
