//! `ml-connector demo`: the sandbox (simulated SAP Business One and Microsoft Teams) and the
//! gateway in one process with `config/demo.toml`. Documents keep being created in the
//! simulated SAP; each Teams message is printed as it lands. `/metrics` is live.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::{clock, Store};

use crate::app::Gateway;
use crate::config::{Config, SecretRef};
use crate::connectors::sap_b1::present as humanize;
use crate::http::{self, HttpState};
use crate::sandbox::env::SandboxEnv;
use crate::sandbox::microsoft::MsSandboxConfig;
use crate::sandbox::sap::SapSandboxConfig;
use crate::secrets::SecretKey;

/// Environment variable `config/demo.toml` reads the Workflows URL from.
const WORKFLOW_ENV: &str = "MLC_DEMO_WORKFLOW_URL";

pub fn run(config_path: &Path, seconds: Option<u64>, rate: f64, listen: &str) -> ExitCode {
    crate::telemetry::init_logging(crate::telemetry::LogFormat::Text, "warn");
    match demo(config_path, seconds, rate, listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn demo(config_path: &Path, seconds: Option<u64>, rate: f64, listen: &str) -> Result<(), String> {
    // Env references are resolved when the gateway starts, not at load: one load is enough.
    let mut config = Config::load(config_path).map_err(|e| e.to_string())?;
    let m = config
        .microsoft
        .first()
        .ok_or("config/demo.toml needs a [[microsoft]] entry")?;
    let ms_config = MsSandboxConfig {
        tenant_id: m.tenant_id.clone(),
        client_id: m.client_id.clone(),
        ..Default::default()
    };
    let env = SandboxEnv::start(SapSandboxConfig::default(), ms_config.clone())
        .map_err(|e| e.to_string())?;
    std::env::set_var(WORKFLOW_ENV, env.workflow_url());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    config.service.state_dir = dir.path().to_path_buf();
    config.http.listen = listen
        .parse()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    for t in &mut config.tenants {
        t.sap.base_url = env.sap_url.clone();
    }
    for m in &mut config.microsoft {
        m.login_base_url = env.ms_url.clone();
        m.graph_base_url = env.ms_url.clone();
    }
    let store = Store::open(&dir.path().join(super::STORE_FILE), clock::system())
        .map_err(|e| e.to_string())?;
    let key = SecretKey::load_or_create(dir.path()).map_err(|e| e.to_string())?;
    seed_demo_secrets(&config, &env, &ms_config, &store, &key)?;

    println!("ml-connector demo");
    println!(
        "  simulated SAP Business One Service Layer  {}",
        env.sap_url
    );
    println!(
        "  simulated Microsoft Entra / Graph / Workflows  {}",
        env.ms_url
    );
    println!("  gateway metrics   http://{listen}/metrics   health  http://{listen}/health/ready");
    println!("  creating about {rate} document(s) per second in SAP; Ctrl-C to stop\n");

    let stop = Arc::new(AtomicBool::new(false));
    let deliveries = env.ms.subscribe();
    let names = destination_names(&config);
    let printer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                if let Ok(d) = deliveries.recv_timeout(Duration::from_millis(200)) {
                    n += 1;
                    let name = names
                        .get(&d.target)
                        .map_or(d.target.as_str(), String::as_str);
                    println!("  Teams  ◂ {name:<16} {}", d.summary);
                }
            }
            n
        })
    };
    let producer = {
        let stop = stop.clone();
        let sap = env.sap.clone();
        std::thread::spawn(move || produce(&sap, rate, &stop))
    };
    let result = actix::System::new().block_on(async {
        let (mut gateway, wiring) = Gateway::launch(store.clone(), key.clone(), &config).await?;
        let health = gateway.health.clone();
        let state = HttpState {
            store: store.clone(),
            health,
            admin_token: None,
            webhooks: wiring,
            webhook: gateway.webhook.clone(),
        };
        let (server, _addr) = http::serve(state, listen, None)
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let handle = server.handle();
        actix::spawn(server);
        let wait = async {
            match seconds {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        gateway.stop().await;
        handle.stop(true).await;
        Ok::<(), String>(())
    });
    stop.store(true, Ordering::SeqCst);
    let created = producer.join().unwrap_or(0);
    let shown = printer.join().unwrap_or(0);
    println!("\ndemo finished: {created} document change(s) made in SAP, {shown} Teams message(s) delivered");
    result
}

/// Sandbox delivery target (`team/channel`, chat id, `workflow:<id>`) → destination name.
fn destination_names(config: &Config) -> std::collections::HashMap<String, String> {
    use crate::config::DestinationTarget;
    config
        .destinations
        .iter()
        .map(|d| {
            let target = match &d.target {
                DestinationTarget::GraphChannel {
                    team_id,
                    channel_id,
                    ..
                } => format!("{team_id}/{channel_id}"),
                DestinationTarget::GraphChat { chat_id, .. } => chat_id.clone(),
                DestinationTarget::Workflows { .. } => {
                    format!("workflow:{}", crate::sandbox::env::FLOW_ID)
                }
            };
            (target, d.name.clone())
        })
        .collect()
}

fn seed_demo_secrets(
    config: &Config,
    env: &SandboxEnv,
    ms: &MsSandboxConfig,
    store: &Store,
    key: &SecretKey,
) -> Result<(), String> {
    let sap = SapSandboxConfig::default();
    let put = |r: &SecretRef, value: &str| -> Result<(), String> {
        if let SecretRef::Secret(name) = r {
            crate::secrets::set(name, value, key, store).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    for t in &config.tenants {
        put(&t.sap.password, &sap.password)?;
    }
    for m in &config.microsoft {
        if let Some(r) = &m.client_secret {
            put(r, &ms.client_secret)?;
        }
        if let Some(r) = &m.refresh_token {
            put(r, &env.ms.current_refresh_token())?;
        }
    }
    Ok(())
}

/// Create documents until stopped: mostly purchase orders, some purchase invoices (some large
/// enough for the CFO chat), vendor payments, and now and then an approval or a closing of an
/// earlier purchase order (a `status_changed` event). Returns the number of changes made.
fn produce(sap: &crate::sandbox::sap::SapSim, rate: f64, stop: &AtomicBool) -> usize {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.05));
    let mut n: u64 = 0;
    let mut orders: Vec<i64> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let entity = match n % 10 {
            3 | 7 => "PurchaseInvoices",
            9 => "VendorPayments",
            _ => "PurchaseOrders",
        };
        if n.is_multiple_of(6) && !orders.is_empty() {
            let entry = orders[(n as usize / 6) % orders.len()];
            sap.update(
                "PurchaseOrders",
                entry,
                serde_json::json!({"DocumentStatus": "bost_Close"}),
            );
            let number = sap
                .document("PurchaseOrders", entry)
                .and_then(|d| d.get("DocNum").map(|v| v.to_string()))
                .unwrap_or_default();
            println!("  SAP    ▸ purchase order {number} closed");
        } else {
            let doc = sap.generate(entity, n);
            let entry = sap.insert(entity, doc.clone());
            if entity == "PurchaseOrders" {
                orders.push(entry);
            }
            let stored = sap.document(entity, entry).unwrap_or(doc);
            println!(
                "  SAP    ▸ new {} {} · {} · {}",
                humanize::doc_type_label(entity).to_lowercase(),
                stored
                    .get("DocNum")
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                stored
                    .get("CardName")
                    .and_then(|v| v.as_str())
                    .unwrap_or(""),
                humanize::total(&stored).unwrap_or_default()
            );
        }
        std::thread::sleep(period);
    }
    n as usize
}
