//! Frame tests. Bad documents are made from a valid base through [`Doc`] (set or remove one
//! key by its path), never by line number; the expected line is the one holding the key.

use std::path::{Path, PathBuf};

use super::*;
use crate::connectors::REGISTRY;
use crate::routes::{ChatFormat, PayloadShape};

fn manifest_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("t.toml"), &REGISTRY)
}

/// A configuration document edited by key path (`credentials[0].tls`).
struct Doc(toml::Table);

fn value(toml_value: &str) -> toml::Value {
    let table: toml::Table = toml::from_str(&format!("v = {toml_value}")).expect("test value");
    table["v"].clone()
}

impl Doc {
    /// One SAP credential and source, one Entra credential, a channel and a workflow, a route.
    fn base() -> Doc {
        Doc(toml::from_str(
            r#"
[service]
state_dir = "/tmp/x"

[[credentials]]
name = "acme-sap"
kind = "sap_b1"
base_url = "https://sap:50000/b1s/v2/"
company_db = "SBODEMOUS"
username = "manager"
password = { secret = "sap" }
tls = { mode = "system" }

[[credentials]]
name = "contoso"
kind = "entra"
tenant_id = "t"
client_id = "c"
refresh_token = { secret = "rt" }

[[sources]]
name = "acme"
kind = "sap_b1"
credential = "acme-sap"
start_from = "2026-01-01T00:00:00Z"
entities = [{ name = "PurchaseOrders" }]

[[destinations]]
name = "chan"
kind = "teams_channel"
credential = "contoso"
team_id = "team"
channel_id = "19:a@thread.tacv2"

[[destinations]]
name = "flow"
kind = "teams_workflows"
url = { env = "FLOW_URL" }

[[routes]]
name = "r"
entity = "PurchaseOrders"
destination = "chan"
"#,
        )
        .expect("base document"))
    }

    /// The table holding the last segment of `path`, and that segment.
    fn parent(&mut self, path: &str) -> (&mut toml::Table, String) {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().expect("non-empty path").to_string();
        let mut table = &mut self.0;
        for part in parts {
            let (name, index) = match part.split_once('[') {
                Some((n, i)) => (
                    n,
                    Some(i.trim_end_matches(']').parse::<usize>().expect("index")),
                ),
                None => (part, None),
            };
            let entry = table.get_mut(name).expect("path exists");
            table = match index {
                Some(i) => entry.as_array_mut().expect("array")[i]
                    .as_table_mut()
                    .expect("table"),
                None => entry.as_table_mut().expect("table"),
            };
        }
        (table, last)
    }

    fn set(mut self, path: &str, toml_value: &str) -> Doc {
        let (table, key) = self.parent(path);
        table.insert(key, value(toml_value));
        self
    }

    fn remove(mut self, path: &str) -> Doc {
        let (table, key) = self.parent(path);
        table.remove(&key);
        self
    }

    fn text(&self) -> String {
        toml::to_string(&self.0).expect("serialise")
    }

    /// The value at `path` (`sources[0].entities[0].name`), if the document has one.
    fn lookup(&self, path: &str) -> Option<toml::Value> {
        let root = toml::Value::Table(self.0.clone());
        let mut value = Some(&root);
        for part in path.split('.') {
            let (name, indices) = part.split_once('[').unwrap_or((part, ""));
            value = value.and_then(|v| v.get(name));
            for index in indices.split('[').filter(|i| !i.is_empty()) {
                let i: usize = index.trim_end_matches(']').parse().expect("index");
                value = value.and_then(|v| v.get(i));
            }
        }
        value.cloned()
    }
}

/// Parses `doc`, expects an error at `key` whose message starts with `message`, on the line
/// that assigns `key`'s last segment when the document has that key, else on the header of
/// the table that should hold it.
fn expect_error(doc: &Doc, key: &str, message: &str) -> String {
    let text = doc.text();
    let err = parse(&text).expect_err(key);
    assert_eq!(err.key(), Some(key), "{err}");
    let ConfigError::Invalid {
        line, message: m, ..
    } = &err
    else {
        panic!("not an Invalid error: {err}");
    };
    assert!(
        m.starts_with(message),
        "expected `{message}`\n     got `{m}`"
    );
    let line_text = text.lines().nth(line - 1).unwrap_or_default();
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let leaf = leaf.split('[').next().unwrap_or(leaf);
    let expected = match doc.lookup(key) {
        // A table value is written as its own `[...leaf]` header.
        Some(toml::Value::Table(_)) => line_text.ends_with(&format!(".{leaf}]")),
        Some(_) => line_text.trim_start().starts_with(&format!("{leaf} =")),
        // A missing key: the header of the table that should hold it.
        None => line_text.starts_with('['),
    };
    assert!(
        expected,
        "line {line} `{line_text}` is not where `{key}` is ({err})"
    );
    assert!(err
        .to_string()
        .starts_with(&format!("t.toml:{line}: key {key}: ")));
    err.to_string()
}

#[test]
fn example_toml_parses() {
    let config = Config::load(&manifest_file("config/example.toml"), &REGISTRY)
        .unwrap_or_else(|e| panic!("{e}"));
    let kinds = |list: Vec<&'static str>| list;
    assert_eq!(
        kinds(config.credentials.iter().map(|c| c.kind).collect()),
        vec!["sap_b1", "entra"]
    );
    assert_eq!(
        kinds(config.sources.iter().map(|s| s.kind).collect()),
        vec!["sap_b1"]
    );
    assert_eq!(
        config.sources[0].config.entities(),
        vec![
            "PurchaseOrders".to_string(),
            "PurchaseInvoices".to_string(),
            "OverdueInvoices".to_string(),
            "ItemStock".to_string()
        ]
    );
    assert_eq!(
        kinds(config.destinations.iter().map(|d| d.kind).collect()),
        vec!["teams_channel", "teams_chat", "teams_workflows"]
    );
    assert_eq!(config.routes.len(), 5);
    let refs: Vec<String> = config.secret_refs().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        refs,
        vec![
            "http.admin_token",
            "credentials[0].password",
            "credentials[1].client_secret",
            "credentials[1].refresh_token",
            "sources[0].webhook.secret",
            "destinations[2].url",
        ]
    );
    let flow = config.destination("ops-flow").expect("ops-flow");
    assert_eq!(flow.delivery.rate_per_second, 1.0);
    assert_eq!(flow.config.shape(), PayloadShape::Chat(ChatFormat::Card));
}

#[test]
fn demo_toml_parses() {
    let path = manifest_file("config/demo.toml");
    let text = std::fs::read_to_string(&path).expect("read demo.toml");
    let config = Config::parse(&text, &path, &REGISTRY).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.service.state_dir, PathBuf::from("./demo-state"));
    assert_eq!(
        config.sources[0].config.entities(),
        vec![
            "PurchaseOrders".to_string(),
            "PurchaseInvoices".to_string(),
            "VendorPayments".to_string(),
            "OverdueInvoices".to_string()
        ]
    );
    assert_eq!(config.sources[1].kind, "twilio_status");
    let kinds: Vec<(&str, &str)> = config
        .destinations
        .iter()
        .map(|d| (d.name.as_str(), d.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("finance-channel", "teams_channel"),
            ("cfo-chat", "teams_chat"),
            ("ap-sms", "twilio_sms"),
            ("collections-call", "twilio_voice"),
            ("sap-audit", "sap_b1_record"),
            ("ops-flow", "teams_workflows"),
            ("ap-approvals", "teams_bot"),
            ("bill-actions", "acumatica_action"),
        ]
    );
    let channel = config.destination("finance-channel").expect("channel");
    assert_eq!(channel.kind, "teams_channel");
    assert_eq!(channel.credential.as_deref(), Some("contoso"));
    assert_eq!(
        channel.delivery,
        DeliverySettings {
            rate_per_second: 4.0,
            burst: 1,
            concurrency: 4,
            on_unverifiable: OnUnverifiable::DeadLetter,
            request_timeout: std::time::Duration::from_secs(30),
            connect_timeout: std::time::Duration::from_secs(10),
            tenant_rate_per_second: 50.0,
            daily_cap: 3000,
            quiet_hours: None,
        }
    );
    assert_eq!(config.routes.len(), 11);
}

#[test]
fn minimal_config_uses_defaults_and_state_directory_overrides() {
    let mut config = parse(
        "[[credentials]]\nname = \"s\"\nkind = \"sap_b1\"\nbase_url = \"https://sap:50000/b1s/v2/\"\n\
         company_db = \"SBODEMOUS\"\nusername = \"manager\"\npassword = { env = \"SAP_PW\" }\n\
         [[sources]]\nname = \"t\"\nkind = \"sap_b1\"\ncredential = \"s\"\nentities = [{ name = \"Orders\" }]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.service.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
    assert_eq!(config.http.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.http.tls, ListenerTls::Off);
    let debug = format!("{:?}", config.sources[0].config);
    assert!(debug.contains("page_size: 100"), "{debug}");
    assert!(debug.contains("overlap_seconds: 60"), "{debug}");
    assert!(debug.contains("start_from: Now"), "{debug}");
    assert!(debug.contains("interval_seconds: 30"), "{debug}");
    config.apply_state_directory(Some(std::ffi::OsStr::new("/var/lib/ml-connector:/other")));
    assert_eq!(
        config.service.state_dir,
        PathBuf::from("/var/lib/ml-connector")
    );
}

#[test]
fn base_document_is_valid() {
    let config = parse(&Doc::base().text()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.credentials.len(), 2);
    assert_eq!(config.destinations[1].credential, None);
}

#[test]
fn bad_frames_name_file_line_and_key() {
    expect_error(
        &Doc::base().remove("destinations[1].kind"),
        "destinations[1].kind",
        "missing: every entry has a kind",
    );
    expect_error(
        &Doc::base().set("destinations[1].kind", "\"sms\""),
        "destinations[1].kind",
        "unknown kind \"sms\" (known kinds: \"sap_b1_record\", \"teams_channel\", \"teams_chat\", \"teams_workflows\", \"teams_bot\", \"twilio_sms\", \"twilio_voice\", \"acumatica_action\")",
    );
    expect_error(
        &Doc::base().set("credentials[1].kind", "\"salesforce\""),
        "credentials[1].kind",
        "unknown kind \"salesforce\" (known kinds: \"sap_b1\", \"entra\", \"bot_framework\", \"twilio\", \"acumatica\")",
    );
    expect_error(
        &Doc::base().set("destinations[1].name", "\"chan\""),
        "destinations[1].name",
        "duplicate name \"chan\" (already used by destinations[0])",
    );
    expect_error(
        &Doc::base().set("destinations[0].credential", "\"fabrikam\""),
        "destinations[0].credential",
        "unknown credential \"fabrikam\" (configured: \"acme-sap\", \"contoso\")",
    );
    expect_error(
        &Doc::base().set("destinations[0].credential", "\"acme-sap\""),
        "destinations[0].credential",
        "credential \"acme-sap\" is of kind \"sap_b1\"; kind = \"teams_channel\" needs one of kind \"entra\"",
    );
    expect_error(
        &Doc::base().set("destinations[1].credential", "\"contoso\""),
        "destinations[1].credential",
        "not used with kind = \"teams_workflows\"",
    );
    expect_error(
        &Doc::base().remove("sources[0].credential"),
        "sources[0].credential",
        "missing: kind = \"sap_b1\" needs credential",
    );
    expect_error(
        &Doc::base().set("destinations[0].concurrency", "0"),
        "destinations[0].concurrency",
        "must be at least 1",
    );
    expect_error(
        &Doc::base().set("destinations[0].rate_per_second", "-1.0"),
        "destinations[0].rate_per_second",
        "must be a number >= 0",
    );
}

#[test]
fn a_kind_refuses_another_kinds_keys() {
    let message = expect_error(
        &Doc::base().set("destinations[0].chat_id", "\"19:x@thread.v2\""),
        "destinations[0].chat_id",
        "unknown field `chat_id`, expected one of `team_id`",
    );
    assert!(message.contains("channel_id"), "{message}");
    expect_error(
        &Doc::base().set("destinations[1].team_id", "\"t\""),
        "destinations[1].team_id",
        "unknown field `team_id`",
    );
}

#[test]
fn kind_tables_name_file_line_and_key() {
    expect_error(
        &Doc::base().set("credentials[0].base_url", "50000"),
        "credentials[0].base_url",
        "invalid type: integer `50000`, expected a string",
    );
    expect_error(
        &Doc::base().set("credentials[0].base_url", "\"sap/b1s/v2/\""),
        "credentials[0].base_url",
        "invalid URL: relative URL without a base",
    );
    let leaked = expect_error(
        &Doc::base().set("credentials[0].password", "\"hunter2\""),
        "credentials[0].password",
        "secrets are never written in the config file: run `ml-connector secret set NAME`",
    );
    assert!(!leaked.contains("hunter2"), "secret leaked: {leaked}");
    let app = expect_error(
        &Doc::base().set("destinations[0].auth", "\"app\""),
        "destinations[0].auth",
        "auth = \"app\" cannot post messages",
    );
    assert!(app.contains(
        "403 \"Message POST is allowed in application-only context only for import purposes\""
    ));
    expect_error(
        &Doc::base().set(
            "credentials[0].tls",
            "{ mode = \"pin\", sha256 = \"AB:CD:EF\" }",
        ),
        "credentials[0].tls.sha256",
        "invalid SHA-256 pin: expected 64 hex digits (colons optional), found 6",
    );
    expect_error(
        &Doc::base().set("credentials[0].tls", "{ mode = \"ca_file\" }"),
        "credentials[0].tls.path",
        "mode = \"ca_file\" needs path",
    );
    expect_error(
        &Doc::base().set(
            "credentials[0].tls",
            "{ mode = \"system\", sha256 = \"x\" }",
        ),
        "credentials[0].tls.sha256",
        "not used with mode = \"system\"",
    );
    expect_error(
        &Doc::base().set("credentials[1].refresh_token", "{ env = \"RT\" }"),
        "credentials[1].refresh_token",
        "must be { secret = \"NAME\" }",
    );
    expect_error(
        &Doc::base().set("sources[0].page_size", "5000"),
        "sources[0].page_size",
        "must be between 1 and 1000, found 5000",
    );
    expect_error(
        &Doc::base().set("sources[0].entities", "[{ name = \"Items\" }]"),
        "sources[0].entities[0].name",
        "unknown entity \"Items\" (one of PurchaseOrders,",
    );
    expect_error(
        &Doc::base().set(
            "sources[0].entities",
            "[{ name = \"Invoices\", schedule = \"0 25 * * *\" }]",
        ),
        "sources[0].entities[0].schedule",
        "invalid cron expression \"0 25 * * *\"",
    );
    expect_error(
        &Doc::base().set(
            "sources[0].entities",
            "[{ name = \"Invoices\", schedule = \"0 8 * * *\", time_zone = \"Mars/Base\" }]",
        ),
        "sources[0].entities[0].time_zone",
        "unknown time zone \"Mars/Base\"",
    );
    expect_error(
        &Doc::base().set(
            "sources[0].webhook",
            "{ secret = { env = \"W\" }, algorithm = \"md5\" }",
        ),
        "sources[0].webhook.algorithm",
        "unknown algorithm \"md5\"",
    );
    expect_error(
        &Doc::base().set("destinations[1].format", "\"html\""),
        "destinations[1].format",
        "a Workflows webhook accepts Adaptive Cards only",
    );
}

#[test]
fn routes_are_checked_and_compiled_with_their_keys() {
    expect_error(
        &Doc::base().set("routes[0].destination", "\"nowhere\""),
        "routes[0].destination",
        "unknown destination \"nowhere\" (configured: \"chan\", \"flow\")",
    );
    expect_error(
        &Doc::base().set("routes[0].entity", "\"VendorPayments\""),
        "routes[0].entity",
        "entity \"VendorPayments\" is not polled by any source",
    );
    expect_error(
        &Doc::base().set("routes[0].source", "\"nobody\""),
        "routes[0].source",
        "unknown source \"nobody\" (configured: \"acme\")",
    );
    expect_error(
        &Doc::base().set("routes[0].when", "[\"DocTotal >>= 10000\"]"),
        "routes[0].when[0]",
        "route `r`",
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let err = Config::parse(
        "[service]\n[[credentials\n",
        Path::new("bad.toml"),
        &REGISTRY,
    )
    .expect_err("syntax");
    assert!(err.to_string().starts_with("bad.toml:2: "), "{err}");
}

#[test]
fn load_names_an_unreadable_file() {
    let err =
        Config::load(Path::new("/nonexistent/ml-connector.toml"), &REGISTRY).expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/ml-connector.toml: cannot read"),
        "{err}"
    );
}
