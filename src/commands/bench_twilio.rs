//! `ml-connector bench --flow twilio`: the Twilio flow of the benchmark, 10,000 purchase
//! invoices from the sandbox SAP to SMS in the sandbox Twilio (`POST …/Messages.json`), rate
//! limits off, durable commits on, the gateway as a child process. The same harness as the
//! Teams flow ([`super::bench::harness`]): records/s, p50/p99 latency from creation in SAP to
//! creation in Twilio (the sandbox's `date_created`), peak RSS, CPU µs per record of the
//! gateway process alone. `--flow both` runs the Teams flow, then this one, and prints the
//! ratio of the two.
//!
//! The gateway configuration is the Teams flow's (same SAP source settings: page size,
//! interval, overlap) with the Entra credential, the Teams destination and its route replaced
//! by a `twilio` credential on the sandbox, one `twilio_sms` destination (rate limit off,
//! the Teams flow's concurrency, `receipts = false`: no `twilio_status` source reads them)
//! and one route `PurchaseInvoices` → SMS with text `bench {{ doc.DocEntry }}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::bench::{
    harness, measure, spawn_gateway, start_sandboxes, Arrivals, BenchReport, Mover, CONCURRENCY,
    INTERVAL_SECONDS, PAGE_SIZE, SUMMARY_TEMPLATE,
};
use crate::sandbox::env::GatewayToml;
use crate::sandbox::twilio::{self, TwilioSandboxConfig, TwilioSim};

/// The SAP entity of the Twilio flow.
pub const ENTITY: &str = "PurchaseInvoices";
/// Recipient of the SMS (a mobile number the sandbox delivers to).
const TO: &str = "+4915123456789";
/// Environment variable carrying the sandbox auth token to the gateway.
const TOKEN_ENV: &str = "MLC_BENCH_TWILIO_AUTH_TOKEN";

/// Which flow `bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flow {
    /// Purchase orders → the Teams channel (the default).
    Teams,
    /// Purchase invoices → SMS.
    Twilio,
    /// Both, then their ratio.
    Both,
}

/// The sandbox Twilio's messages.
struct Sms<'a>(&'a TwilioSim);

impl Arrivals for Sms<'_> {
    fn count(&self) -> usize {
        self.0.message_count()
    }
    fn all(&self) -> Vec<(String, i64)> {
        let messages = self.0.messages();
        messages
            .into_iter()
            .map(|m| {
                (
                    m.body,
                    (m.date_created.unix_timestamp_nanos() / 1_000_000) as i64,
                )
            })
            .collect()
    }
}

/// The gateway TOML of the Twilio flow: `teams_toml` (the Teams flow's, for `ENTITY`) with its
/// Entra credential, destinations and routes replaced (see the module docs). Errors: TOML
/// that does not parse.
fn twilio_toml(
    teams_toml: &str,
    twilio_root: &url::Url,
    sandbox: &TwilioSandboxConfig,
) -> Result<String, String> {
    let mut doc: toml::Table = toml::from_str(teams_toml).map_err(|e| e.to_string())?;
    let twilio: toml::Table = toml::from_str(&format!(
        r#"
[[credentials]]
name = "twilio"
kind = "twilio"
account_sid = "{account}"
auth_token = {{ env = "{TOKEN_ENV}" }}
base_url = "{twilio_root}"

[[destinations]]
name = "ap-sms"
kind = "twilio_sms"
credential = "twilio"
to = "{TO}"
from = "{from}"
rate_per_second = 0.0
concurrency = {CONCURRENCY}
tenant_rate_per_second = 0.0
daily_cap = 0
receipts = false

[[routes]]
name = "invoices-by-sms"
entity = "{ENTITY}"
events = ["created"]
destination = "ap-sms"
template = {{ text = "{SUMMARY_TEMPLATE}" }}
"#,
        account = sandbox.account_sid,
        from = sandbox.numbers[0],
    ))
    .map_err(|e| e.to_string())?;
    let Some(toml::Value::Array(credentials)) = doc.get_mut("credentials") else {
        return Err("the generated configuration has no credentials".into());
    };
    credentials.retain(|c| c.get("kind").and_then(toml::Value::as_str) == Some("sap_b1"));
    if let Some(toml::Value::Array(extra)) = twilio.get("credentials") {
        credentials.extend(extra.iter().cloned());
    }
    for key in ["destinations", "routes"] {
        doc.insert(key.to_string(), twilio[key].clone());
    }
    toml::to_string(&doc).map_err(|e| e.to_string())
}

/// Run the Twilio flow with the gateway binary at `binary`: `docs` purchase invoices, each one
/// SMS. Errors: a sandbox or the gateway that cannot start.
pub fn measure_twilio(docs: usize, binary: &Path) -> Result<BenchReport, String> {
    let env = start_sandboxes()?;
    let sandbox = TwilioSandboxConfig::default();
    let sim = TwilioSim::new(sandbox.clone());
    let (root, _server) = twilio::spawn(sim.clone(), 0).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let teams_toml = env.gateway_toml(
        &dir.path().join("state"),
        &GatewayToml {
            page_size: PAGE_SIZE,
            concurrency: CONCURRENCY,
            rate_per_second: 0.0,
            log_level: "warn".into(),
            entities: vec![(ENTITY, INTERVAL_SECONDS)],
            ..Default::default()
        },
    );
    let toml = twilio_toml(&teams_toml, &root, &sandbox)?;
    let mut vars = env.child_env();
    vars.push((TOKEN_ENV, sandbox.auth_token.clone()));
    let running = spawn_gateway(binary, dir.path(), &toml, vars)?;
    harness(Mover::Gateway, &env, ENTITY, docs, &Sms(&sim), running)
}

/// The Twilio flow against the Teams flow: records/s and CPU µs per record as percentages.
pub fn comparison(teams: &BenchReport, twilio: &BenchReport) -> String {
    format!(
        "twilio flow vs teams flow: {:.0} % of the records/s ({:.1} vs {:.1}), {:.0} % of the CPU per record ({:.0} vs {:.0} µs)",
        100.0 * twilio.records_per_second / teams.records_per_second.max(f64::MIN_POSITIVE),
        twilio.records_per_second,
        teams.records_per_second,
        100.0 * twilio.cpu_us_per_doc() / teams.cpu_us_per_doc().max(f64::MIN_POSITIVE),
        twilio.cpu_us_per_doc(),
        teams.cpu_us_per_doc(),
    )
}

/// `ml-connector bench --flow twilio|both --docs N`.
pub fn run(docs: usize, flow: Flow) -> ExitCode {
    let binary = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ml-connector"));
    let teams = if flow == Flow::Both {
        println!("bench: {docs} PurchaseOrders, sandbox SAP → gateway (child process) → sandbox Teams channel; rate limits off, durable commits on");
        match measure(docs, &binary) {
            Ok(report) => {
                println!("{report}");
                Some(report)
            }
            Err(e) => {
                eprintln!("bench (teams flow) failed: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    println!("bench: {docs} {ENTITY}, sandbox SAP → gateway (child process) → sandbox Twilio SMS; rate limits off, durable commits on");
    let twilio = match measure_twilio(docs, &binary) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("bench (twilio flow) failed: {e}");
            return ExitCode::from(1);
        }
    };
    // The shared report names the Teams flow's arrival point.
    println!(
        "{}",
        twilio
            .to_string()
            .replace("arrival in Teams", "creation in Twilio")
    );
    if let Some(teams) = teams {
        println!("{}", comparison(&teams, &twilio));
    }
    ExitCode::SUCCESS
}
