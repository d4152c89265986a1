//! Teams against the strict sandbox (issue 6): lookups after an ambiguous send need the read
//! permission the default scope now asks for; without it the lookup is one configuration
//! problem, not twenty retries; `check` probes the message list; Workflows cards above 1.4
//! are refused when the configuration loads.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ml_connector::config::{Config, ConfigError};
use ml_connector::sandbox::env::GatewayToml;
use ml_connector::sandbox::teams::TeamsFault;
use ml_connector_actors::Health;
use support::*;

/// The send-only scope the gateway used to ask for by default.
const SEND_ONLY: &str = "https://graph.microsoft.com/ChannelMessage.Send https://graph.microsoft.com/ChatMessage.Send offline_access";

/// A world whose entra credential asks for `scope_delegated = scope`.
fn world_with_scope(scope: &str) -> World {
    let w = World::default_with(keyed_toml());
    let text = std::fs::read_to_string(&w.config_path).expect("config");
    let patched = text.replacen(
        "kind = \"entra\"\n",
        &format!("kind = \"entra\"\nscope_delegated = \"{scope}\"\n"),
        1,
    );
    assert_ne!(patched, text, "the entra credential was found");
    std::fs::write(&w.config_path, patched).expect("write config");
    w
}

fn insert_po(w: &World, doc_entry: u64) {
    let doc = w.env.sap.generate("PurchaseOrders", doc_entry);
    w.env.sap.insert("PurchaseOrders", doc);
}

fn dead_letters(w: &World) -> Vec<ml_connector_actors::store::DeadLetter> {
    let (store, _) = ml_connector::commands::open_state(&w.config()).expect("store");
    store.dead_letters(100).expect("dead letters")
}

/// Graph stores the message and answers 500: with the default scope the lookup reads the
/// channel, finds it, and the entry is delivered once with no dead letter.
#[test]
fn ambiguous_send_with_the_default_scope_is_found_by_the_lookup() {
    let w = World::default_with(keyed_toml());
    w.env
        .teams
        .inject(TeamsFault::ErrorAfterStore { status: 500 });
    insert_po(&w, 501);
    let gw = w.start_gateway();
    assert!(wait_until(Duration::from_secs(20), || w
        .env
        .teams
        .stats()
        .list_requests
        == 1));
    std::thread::sleep(Duration::from_millis(1500));
    gw.stop();
    let stats = w.env.teams.stats();
    assert_eq!(w.messages().len(), 1, "delivered once");
    assert_eq!((stats.list_requests, stats.list_forbidden), (1, 0));
    assert_eq!(stats.posts_accepted, 1);
    assert_eq!(dead_letters(&w).len(), 0);
}

/// A token without `ChannelMessage.Read.All`: the lookup gets 403 once; the entry is
/// dead-lettered at once with the missing permission, `/health/ready` names it, the metric
/// counts it, and nothing is sent again.
#[test]
fn lookup_without_the_read_permission_is_one_configuration_problem() {
    let w = world_with_scope(SEND_ONLY);
    w.env
        .teams
        .inject(TeamsFault::ErrorAfterStore { status: 500 });
    insert_po(&w, 502);
    let health = Health::default();
    let gw = w.start_gateway_with_health(health.clone());
    let not_ready = || {
        health
            .report()
            .1
            .get("destination:finance:config")
            .is_some_and(|c| !c.ready)
    };
    assert!(wait_until(Duration::from_secs(20), not_ready));
    std::thread::sleep(Duration::from_millis(1500));
    let (ready, components) = health.report();
    gw.stop();
    assert!(!ready);
    let detail = &components["destination:finance:config"].detail;
    assert!(
        detail.contains("the delegated token lacks ChannelMessage.Read.All"),
        "{detail}"
    );
    let stats = w.env.teams.stats();
    assert_eq!(
        (stats.list_forbidden, stats.list_requests),
        (1, 0),
        "no retries"
    );
    assert_eq!(stats.posts_accepted, 1, "not sent again");
    assert_eq!(w.messages().len(), 1);
    let letters = dead_letters(&w);
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0]
            .reason
            .starts_with("lookup refused: Graph 403 Forbidden: Missing scope permissions"),
        "{}",
        letters[0].reason
    );
    assert!(letters[0].reason.contains("ChannelMessage.Read.All"));
    assert_eq!(letters[0].entry.lookups, 1);
    let metrics = ml_connector::telemetry::metrics_handle().render();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("mlc_config_problems_total{"))
        .unwrap_or_default();
    assert!(
        line.contains("destination=\"finance\"")
            && line.contains("problem=\"missing_permission\"")
            && line.ends_with(" 1"),
        "{metrics}"
    );
}

fn check(w: &World) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&w.config_path)
        .envs(w.env.child_env())
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `check` reads `…/messages?$top=1`: it passes with the default scope and fails, naming
/// the permission, with the send-only one.
#[test]
fn check_probes_the_message_list() {
    let probe = format!(
        "GET /v1.0/teams/{}/channels/{}/messages?$top=1",
        ml_connector::sandbox::env::TEAM_ID,
        ml_connector::sandbox::env::CHANNEL_ID
    );
    let w = World::default_with(GatewayToml::default());
    let (code, stdout) = check(&w);
    assert_eq!(code, Some(0), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.contains(&probe))
        .unwrap_or_default();
    assert!(row.contains("lookups work"), "{stdout}");

    let w = world_with_scope(SEND_ONLY);
    let (code, stdout) = check(&w);
    assert_eq!(code, Some(1), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.contains(&probe))
        .unwrap_or_default();
    assert!(
        row.contains("the delegated token lacks ChannelMessage.Read.All"),
        "{stdout}"
    );
}

const WORKFLOWS_CONFIG: &str = r#"
[service]
state_dir = "/tmp/x"

[[credentials]]
name = "acme-sap"
kind = "sap_b1"
base_url = "https://sap:50000/b1s/v2/"
company_db = "SBODEMOUS"
username = "manager"
password = { secret = "sap" }

[[sources]]
name = "acme"
kind = "sap_b1"
credential = "acme-sap"
entities = [{ name = "PurchaseOrders" }]

[[destinations]]
name = "ops-flow"
kind = "teams_workflows"
url = { env = "FLOW_URL" }

[[routes]]
name = "cards"
entity = "PurchaseOrders"
destination = "ops-flow"
template.card = '''{"type": "AdaptiveCard", "version": "VERSION", "body": [{"type": "TextBlock", "text": {{ summary_text|tojson }}}]}'''
"#;

/// A route rendering a 1.5 card for a Workflows webhook is refused at load, at its line.
#[test]
fn a_workflows_card_above_1_4_is_refused_at_load() {
    let parse = |version: &str| {
        Config::parse(
            &WORKFLOWS_CONFIG.replace("VERSION", version),
            Path::new("flow.toml"),
            &ml_connector::connectors::REGISTRY,
        )
    };
    if let Err(e) = parse("1.4") {
        panic!("1.4 accepted: {e}");
    }
    let err = parse("1.5").expect_err("1.5 refused");
    let ConfigError::Invalid {
        line, key, message, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(key, "routes[0].template.card");
    let card_line = WORKFLOWS_CONFIG
        .lines()
        .position(|l| l.starts_with("template.card"))
        .expect("the card line")
        + 1;
    assert_eq!(*line, card_line, "{err}");
    assert!(
        message.contains(
            "Adaptive Card version 1.5 is above 1.4, the highest a Teams Workflows webhook renders"
        ),
        "{message}"
    );
    let prefix = format!("flow.toml:{card_line}: key routes[0].template.card: ");
    assert!(err.to_string().starts_with(&prefix), "{err}");
}
