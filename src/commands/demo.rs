//! `ml-connector demo`: the sandbox (simulated SAP Business One, Microsoft Teams and Twilio)
//! and the gateway in one process with `config/demo.toml`. Documents keep being created in the
//! simulated SAP; each Teams message, SMS and call is printed as it lands, and each delivery
//! receipt written back into SAP as an Activity. An approval scene runs alongside: a bill on
//! hold in a simulated Acumatica gets a Teams approval card, a simulated tap approves it, the
//! bill is released and the card updated in place. `/metrics` is live.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use ml_connector_actors::{clock, Store};

use crate::app::Gateway;
use crate::config::Config;
use crate::connectors::REGISTRY;
use crate::http::{self, HttpState};
use crate::sandbox::approvals::ApprovalSandbox;
use crate::sandbox::demo::{produce, seed_overdue_invoices, WORKFLOW_ENV};
use crate::sandbox::env::SandboxEnv;
use crate::sandbox::sap_b1::{SapSandboxConfig, SapSim};
use crate::sandbox::teams::TeamsSandboxConfig;
use crate::sandbox::twilio::TwilioSim;
use crate::secrets::SecretKey;

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
    let env = SandboxEnv::start(SapSandboxConfig::default(), TeamsSandboxConfig::default())
        .map_err(|e| e.to_string())?;
    std::env::set_var(WORKFLOW_ENV, env.workflow_url());
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let approvals = Arc::new(ApprovalSandbox::start().map_err(|e| e.to_string())?);
    let mut doc: toml::Table =
        toml::from_str(&env.point_config(&text)?).map_err(|e| e.to_string())?;
    approvals.point(&mut doc);
    let pointed = toml::to_string(&doc).map_err(|e| e.to_string())?;
    // Env references are resolved when the gateway starts, not at load: one load is enough.
    let mut config = Config::parse(&pointed, config_path, &REGISTRY).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    config.service.state_dir = dir.path().to_path_buf();
    config.http.listen = listen
        .parse()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    let store = Store::open(&dir.path().join(super::STORE_FILE), clock::system())
        .map_err(|e| e.to_string())?;
    let key = SecretKey::load_or_create(dir.path()).map_err(|e| e.to_string())?;
    let secret_refs = || {
        config
            .credentials
            .iter()
            .map(|c| (c.kind, c.config.secret_refs()))
    };
    env.seed_secrets(secret_refs(), &store, &key)?;
    approvals.seed_secrets(secret_refs(), &store, &key)?;

    println!("ml-connector demo");
    println!(
        "  simulated SAP Business One Service Layer  {}",
        env.sap_url
    );
    println!(
        "  simulated Microsoft Entra / Graph / Workflows  {}",
        env.teams_url
    );
    println!("  simulated Twilio  {}", env.twilio_url);
    println!(
        "  simulated Acumatica  {}   simulated Bot Framework  {}",
        approvals.acumatica_url, approvals.bot_url
    );
    println!("  gateway metrics   http://{listen}/metrics   health  http://{listen}/health/ready");
    println!("  creating about {rate} document(s) per second in SAP; Ctrl-C to stop\n");

    seed_overdue_invoices(&env.sap, 2, 10);
    let stop = Arc::new(AtomicBool::new(false));
    let deliveries = env.teams.subscribe();
    let names = destination_names(&config);
    let printer = {
        let stop = stop.clone();
        let (twilio, sap) = (env.twilio.clone(), env.sap.clone());
        std::thread::spawn(move || {
            let mut n = 0usize;
            let mut other = OtherArrivals::default();
            while !stop.load(Ordering::SeqCst) {
                if let Ok(d) = deliveries.recv_timeout(Duration::from_millis(200)) {
                    n += 1;
                    let name = names
                        .get(&d.target)
                        .map_or(d.target.as_str(), String::as_str);
                    println!("  Teams  ◂ {name:<16} {}", d.summary);
                }
                n += other.print_new(&twilio, &sap);
            }
            n
        })
    };
    let producer = {
        let stop = stop.clone();
        let sap = env.sap.clone();
        std::thread::spawn(move || produce(&sap, rate, &stop))
    };
    let scene = {
        let stop = stop.clone();
        let approvals = approvals.clone();
        let listen = listen.to_string();
        std::thread::spawn(move || approvals.play(&listen, &stop))
    };
    let result = actix::System::new().block_on(async {
        let mut gateway = Gateway::launch(store.clone(), key.clone(), &config).await?;
        let state = HttpState {
            store: store.clone(),
            health: gateway.health.clone(),
            admin_token: None,
            inbound: gateway.inbound.clone(),
            nudges: gateway.nudges.clone(),
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
    if !scene.join().unwrap_or(false) {
        println!("\napproval scene: the card's outcome did not arrive before the demo ended");
    }
    println!("\n{}", approvals.summary());
    println!("\ndemo finished: {created} document change(s) made in SAP, {shown} message(s), call(s) and SAP activities delivered");
    result
}

/// Delivery address (`team/channel`, chat id) → destination name, for the printed lines.
fn destination_names(config: &Config) -> HashMap<String, String> {
    config
        .destinations
        .iter()
        .filter_map(|d| Some((d.config.address()?, d.name.clone())))
        .collect()
}

/// SMS, calls (the Twilio simulator) and Activities (the SAP simulator) printed once each.
#[derive(Default)]
struct OtherArrivals {
    sms: usize,
    calls: usize,
    activities: usize,
}

impl OtherArrivals {
    /// Print what arrived since the last call; returns how many.
    fn print_new(&mut self, twilio: &TwilioSim, sap: &SapSim) -> usize {
        let messages = twilio.messages();
        for m in messages.iter().skip(self.sms) {
            println!("  Twilio ◂ SMS to {}  {}", m.to, m.body);
        }
        let calls = twilio.calls();
        for c in calls.iter().skip(self.calls) {
            println!("  Twilio ◂ call to {}  {}", c.to, spoken(&c.twiml));
        }
        let activities = sap.activities();
        for a in activities.iter().skip(self.activities) {
            println!(
                "  SAP    ◂ Activity {} · {}",
                a.get("ActivityCode")
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                a.get("Notes").and_then(|v| v.as_str()).unwrap_or_default()
            );
        }
        let new = messages.len().saturating_sub(self.sms)
            + calls.len().saturating_sub(self.calls)
            + activities.len().saturating_sub(self.activities);
        (self.sms, self.calls, self.activities) = (messages.len(), calls.len(), activities.len());
        new
    }
}

/// The text inside a call's `<Say>` (the TwiML without its tags).
fn spoken(twiml: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in twiml.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}
