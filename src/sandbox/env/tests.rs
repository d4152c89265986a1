//! The generated gateway configuration, parsed back with `toml` and compared as whole tables.

use super::*;
use toml::{Table, Value};

fn env() -> SandboxEnv {
    SandboxEnv::start(SapSandboxConfig::default(), TeamsSandboxConfig::default())
        .expect("bind 127.0.0.1")
}

fn every_knob() -> GatewayToml {
    GatewayToml {
        entities: vec![("PurchaseOrders", 1), ("PurchaseInvoices", 2)],
        page_size: 50,
        session_timeout_seconds: Some(5),
        rate_per_second: 2.5,
        concurrency: 3,
        when: vec!["DocTotal >= 10000".into()],
        format: "card",
        listen: "127.0.0.1:9999".into(),
        admin_token_env: Some("ADMIN_VAR"),
        webhook_secret_env: Some("HOOK_VAR"),
        log_level: "debug".into(),
        summary_template: Some("PO {{ doc.DocNum }}".into()),
    }
}

/// What [`every_knob`] must produce, in the frame of `spec/frame.toml`.
fn expected_every_knob(env: &SandboxEnv) -> Table {
    let (sap, teams) = (&env.sap_url, &env.teams_url);
    format!(
        r#"
[service]
state_dir = "/var/state"
log_format = "text"
log_level = "debug"

[http]
listen = "127.0.0.1:9999"
tls = "off"
admin_token = {{ env = "ADMIN_VAR" }}

[[credentials]]
name = "acme-sap"
kind = "sap_b1"
base_url = "{sap}"
company_db = "SBODEMOUS"
username = "manager"
password = {{ env = "MLC_SANDBOX_SAP_PASSWORD" }}
tls = {{ mode = "system" }}
request_timeout_seconds = 10
session_timeout_seconds = 5

[[credentials]]
name = "contoso"
kind = "entra"
tenant_id = "contoso-tenant"
client_id = "sandbox-client"
client_secret = {{ env = "MLC_SANDBOX_CLIENT_SECRET" }}
refresh_token = {{ secret = "sandbox-refresh-token" }}
login_base_url = "{teams}"
graph_base_url = "{teams}"

[[sources]]
name = "acme"
kind = "sap_b1"
credential = "acme-sap"
page_size = 50
overlap_seconds = 60
start_from = "beginning"
entities = [
  {{ name = "PurchaseOrders", interval_seconds = 1 }},
  {{ name = "PurchaseInvoices", interval_seconds = 2 }},
]
webhook = {{ secret = {{ env = "HOOK_VAR" }} }}

[[destinations]]
name = "finance"
kind = "teams_channel"
credential = "contoso"
team_id = "team-finance"
channel_id = "19:finance@thread.tacv2"
format = "card"
rate_per_second = 2.5
concurrency = 3

[[routes]]
name = "PurchaseOrders-to-finance"
source = "acme"
entity = "PurchaseOrders"
destination = "finance"
when = ["DocTotal >= 10000"]
template = {{ summary = "PO {{{{ doc.DocNum }}}}", html = "<p>PO {{{{ doc.DocNum }}}}</p>" }}

[[routes]]
name = "PurchaseInvoices-to-finance"
source = "acme"
entity = "PurchaseInvoices"
destination = "finance"
"#
    )
    .parse()
    .expect("expected text is TOML")
}

fn generated(env: &SandboxEnv, o: &GatewayToml) -> Table {
    let text = env.gateway_toml(Path::new("/var/state"), o);
    text.parse()
        .unwrap_or_else(|e| panic!("generated TOML does not parse: {e}\n{text}"))
}

/// The `index`th table of the array at `key`.
fn entry<'t>(t: &'t mut Table, key: &str, index: usize) -> &'t mut Table {
    t[key].as_array_mut().expect("array")[index]
        .as_table_mut()
        .expect("table")
}

#[test]
fn every_knob_lands_in_the_frame() {
    let env = env();
    assert_eq!(generated(&env, &every_knob()), expected_every_knob(&env));
}

#[test]
fn defaults_leave_optional_keys_out() {
    let env = env();
    let mut want = expected_every_knob(&env);
    want["service"]["log_level"] = Value::from("info");
    let http = want["http"].as_table_mut().expect("http");
    http.insert("listen".into(), Value::from("127.0.0.1:0"));
    http.remove("admin_token");
    entry(&mut want, "credentials", 0).remove("session_timeout_seconds");
    let source = entry(&mut want, "sources", 0);
    source.remove("webhook");
    source.insert("page_size".into(), Value::from(100));
    source.insert(
        "entities".into(),
        toml::toml! { e = [{ name = "PurchaseOrders", interval_seconds = 1 }] }["e"].clone(),
    );
    let destination = entry(&mut want, "destinations", 0);
    destination.insert("format".into(), Value::from("html"));
    destination.insert("rate_per_second".into(), Value::from(0.0));
    destination.insert("concurrency".into(), Value::from(4));
    want["routes"].as_array_mut().expect("routes").truncate(1);
    let orders = entry(&mut want, "routes", 0);
    orders.remove("when");
    orders.remove("template");

    assert_eq!(generated(&env, &GatewayToml::default()), want);
}

#[test]
fn child_env_names_the_secrets_the_configuration_reads() {
    let env = env();
    assert_eq!(
        env.child_env(),
        vec![
            (SAP_PASSWORD_ENV, "sandbox-password".to_string()),
            (CLIENT_SECRET_ENV, "sandbox-secret".to_string()),
            (TWILIO_AUTH_TOKEN_ENV, "sandbox-auth-token".to_string()),
        ]
    );
    assert_eq!(
        env.workflow_url(),
        format!("{}workflows/ops-flow", env.teams_url)
    );
}
