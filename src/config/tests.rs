use std::path::{Path, PathBuf};

use super::*;
use crate::tls::SapTrust;

fn manifest_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

#[test]
fn example_toml_parses() {
    let path = manifest_file("config/example.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.tenants.len(), 1);
    let tenant = &config.tenants[0];
    assert_eq!(
        tenant.sap.base_url.as_str(),
        "https://sap.contoso.local:50000/b1s/v2/"
    );
    assert!(matches!(tenant.sap.tls, SapTrust::Pin(_)));
    assert_eq!(tenant.entities.len(), 2);
    assert_eq!(
        tenant.sap.password,
        SecretRef::Secret("sap-contoso-us-password".into())
    );
    assert_eq!(config.destinations.len(), 3);
    let kinds: Vec<_> = config.destinations.iter().map(|d| d.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            DestinationKind::GraphChannel,
            DestinationKind::GraphChat,
            DestinationKind::Workflows
        ]
    );
    assert_eq!(config.routes.len(), 3);
    assert!(config
        .routes
        .iter()
        .any(|r| r.when == vec!["DocTotal >= 10000".to_string()]));
    assert!(config
        .routes
        .iter()
        .any(|r| r.when.iter().any(|w| w.starts_with("CardCode in ["))));
    assert_eq!(
        config.microsoft[0].refresh_token_secret(),
        Some("graph-contoso-refresh-token")
    );
    assert_eq!(config.secret_refs().len(), 6);
    // The routes also pass the router's own checks (events, filter syntax, templates).
    crate::routes::RouteTable::new(config.routes.clone(), &crate::app::route_env(&config))
        .unwrap_or_else(|e| panic!("{}: {e}", e.key()));
}

#[test]
fn demo_toml_parses_with_defaults() {
    let path = manifest_file("config/demo.toml");
    let text = std::fs::read_to_string(&path).expect("read demo.toml");
    let config = Config::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.service.state_dir, PathBuf::from("./demo-state"));
    let tenant = &config.tenants[0];
    let entities: Vec<_> = tenant
        .entities
        .iter()
        .map(|e| (e.name, e.interval_seconds))
        .collect();
    assert_eq!(
        entities,
        vec![
            (SapEntity::PurchaseOrders, 2),
            (SapEntity::PurchaseInvoices, 2),
            (SapEntity::VendorPayments, 2)
        ]
    );
    let channel = config
        .destination("finance-channel")
        .expect("finance-channel");
    assert_eq!(
        channel.target,
        DestinationTarget::GraphChannel {
            credential: "contoso".into(),
            team_id: "team-finance".into(),
            channel_id: "19:finance@thread.tacv2".into(),
        }
    );
    assert_eq!(channel.rate_per_second, DEFAULT_RATE_PER_SECOND);
    assert_eq!(channel.burst, 4);
    assert_eq!(channel.concurrency, DEFAULT_CONCURRENCY);
    assert_eq!(channel.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert_eq!(channel.on_unverifiable, OnUnverifiable::DeadLetter);
    let flow = config.destination("ops-flow").expect("ops-flow");
    assert_eq!(
        flow.target,
        DestinationTarget::Workflows {
            url: SecretRef::Env("MLC_DEMO_WORKFLOW_URL".into())
        }
    );
    assert_eq!(flow.format, MessageFormat::Card);
    assert_eq!(
        config.destination("cfo-chat").map(|d| d.format),
        Some(MessageFormat::Card)
    );
    assert_eq!(config.routes.len(), 4);
    let ms = &config.microsoft[0];
    assert_eq!(ms.scope_app, DEFAULT_SCOPE_APP);
    assert_eq!(ms.login_base_url.as_str(), "http://127.0.0.1:0/");
    crate::routes::RouteTable::new(config.routes.clone(), &crate::app::route_env(&config))
        .unwrap_or_else(|e| panic!("{}: {e}", e.key()));
}

#[test]
fn minimal_config_uses_defaults_and_state_directory_overrides() {
    let mut config = Config::parse(
        "[[tenants]]\nname = \"t\"\n[tenants.sap]\nbase_url = \"https://sap:50000/b1s/v2/\"\n\
         company_db = \"SBODEMOUS\"\nusername = \"manager\"\npassword = { env = \"SAP_PW\" }\n\
         [[tenants.entities]]\nname = \"Orders\"\n",
        Path::new("min.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.service.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
    assert_eq!(config.http.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.http.tls, ListenerTls::Off);
    let sap = &config.tenants[0].sap;
    assert_eq!(sap.tls, SapTrust::System);
    assert_eq!(sap.page_size, DEFAULT_PAGE_SIZE);
    assert_eq!(sap.overlap_seconds, DEFAULT_OVERLAP_SECONDS);
    assert_eq!(sap.request_timeout_seconds, DEFAULT_REQUEST_TIMEOUT_SECONDS);
    assert_eq!(sap.start_from, StartFrom::Now);
    assert_eq!(
        config.tenants[0].entities[0].interval_seconds,
        DEFAULT_INTERVAL_SECONDS
    );

    config.apply_state_directory(Some(std::ffi::OsStr::new("/var/lib/ml-connector:/other")));
    assert_eq!(
        config.service.state_dir,
        PathBuf::from("/var/lib/ml-connector")
    );
}

/// A valid base document; bad cases replace one line of it.
const BASE: &str = r#"[service]
state_dir = "/tmp/x"

[[tenants]]
name = "acme"

[tenants.sap]
base_url = "https://sap:50000/b1s/v2/"
company_db = "SBODEMOUS"
username = "manager"
password = { secret = "sap" }
tls = { mode = "system" }
start_from = "2026-01-01T00:00:00Z"

[[tenants.entities]]
name = "PurchaseOrders"

[[microsoft]]
name = "contoso"
tenant_id = "t"
client_id = "c"
refresh_token = { secret = "rt" }

[[destinations]]
name = "chan"
kind = "graph_channel"
credential = "contoso"
team_id = "team"
channel_id = "19:a@thread.tacv2"

[[destinations]]
name = "flow"
kind = "workflows"
url = { env = "FLOW_URL" }

[[routes]]
name = "r"
entity = "PurchaseOrders"
destination = "chan"
"#;

fn replace_line(line: usize, with: &str) -> String {
    BASE.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { with } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn base_document_is_valid() {
    let config = Config::parse(BASE, Path::new("base.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(config.tenants[0].sap.start_from, StartFrom::At(_)));
}

#[test]
fn bad_configs_name_file_line_and_key() {
    let pin_error = "invalid SHA-256 pin: expected 64 hex digits (colons optional), found 6";
    let cases: Vec<(String, &str)> = vec![
        // Missing field: reported at the [[destinations]] header of the second entry.
        (
            replace_line(33, "# kind removed"),
            "bad.toml:31: key destinations[1]: missing field `kind`",
        ),
        // Wrong type.
        (
            replace_line(8, "base_url = 50000"),
            "bad.toml:8: key tenants[0].sap.base_url: invalid type: integer `50000`, expected a string",
        ),
        // Relative URL.
        (
            replace_line(8, "base_url = \"sap/b1s/v2/\""),
            "bad.toml:8: key tenants[0].sap.base_url: invalid URL: relative URL without a base",
        ),
        // Plain-text password.
        (
            replace_line(11, "password = \"hunter2\""),
            "bad.toml:11: key tenants[0].sap.password: secrets are never written in the config \
             file: run `ml-connector secret set NAME` and write { secret = \"NAME\" }",
        ),
        // App auth on a posting destination.
        (
            replace_line(27, "credential = \"contoso\"\nauth = \"app\""),
            "bad.toml:28: key destinations[0].auth: auth = \"app\" cannot post messages",
        ),
        // Unknown destination in a route.
        (
            replace_line(39, "destination = \"nowhere\""),
            "bad.toml:39: key routes[0].destination: unknown destination \"nowhere\" \
             (configured: \"chan\", \"flow\")",
        ),
        // Bad pin.
        (
            replace_line(12, "tls = { mode = \"pin\", sha256 = \"AB:CD:EF\" }"),
            "bad.toml:12: key tenants[0].sap.tls.sha256: ",
        ),
        // Unknown key.
        (
            replace_line(10, "user = \"manager\""),
            "bad.toml:10: key tenants[0].sap.user: unknown field `user`, expected one of `base_url`",
        ),
        // Route to an entity nobody polls.
        (
            replace_line(38, "entity = \"VendorPayments\""),
            "bad.toml:38: key routes[0].entity: entity \"VendorPayments\" is not polled by any tenant",
        ),
        // Destination with an unknown credential.
        (
            replace_line(27, "credential = \"fabrikam\""),
            "bad.toml:27: key destinations[0].credential: unknown credential \"fabrikam\"",
        ),
        // Refresh token from the environment.
        (
            replace_line(22, "refresh_token = { env = \"RT\" }"),
            "bad.toml:22: key microsoft[0].refresh_token: must be { secret = \"NAME\" }",
        ),
        // Duplicate destination name.
        (
            replace_line(32, "name = \"chan\""),
            "bad.toml:32: key destinations[1].name: duplicate name \"chan\" (already used by \
             destinations[0])",
        ),
        // Page size out of range.
        (
            replace_line(13, "page_size = 5000"),
            "bad.toml:13: key tenants[0].sap.page_size: must be between 1 and 1000, found 5000",
        ),
        // Unknown entity name.
        (
            replace_line(16, "name = \"Items\""),
            "bad.toml:16: key tenants[0].entities[0].name: unknown variant `Items`",
        ),
        // TOML syntax error: no key path.
        (replace_line(3, "[[tenants"), "bad.toml:3: "),
    ];
    for (text, expected) in cases {
        let err = Config::parse(&text, Path::new("bad.toml")).expect_err(expected);
        let message = err.to_string();
        assert!(
            message.starts_with(expected),
            "expected `{expected}`\n     got `{message}`"
        );
        if expected.contains("sha256") {
            assert!(message.ends_with(pin_error), "{message}");
        }
        if expected.contains("auth = \"app\"") {
            assert!(message.contains(
                "403 \"Message POST is allowed in application-only context only for import purposes\""
            ));
            assert!(message.contains("auth = \"delegated\"") && message.contains("workflows"));
        }
        assert!(!message.contains("hunter2"), "secret leaked: {message}");
    }
}

#[test]
fn tls_modes_are_checked() {
    let with_tls = |tls: &str| replace_line(12, tls);
    let ok = Config::parse(
        &with_tls("tls = { mode = \"ca_file\", path = \"/etc/ml-connector/sap-ca.pem\" }"),
        Path::new("t.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ok.tenants[0].sap.tls,
        SapTrust::CaFile("/etc/ml-connector/sap-ca.pem".into())
    );

    let pin = "ab".repeat(32);
    let ok = Config::parse(
        &with_tls(&format!("tls = {{ mode = \"pin\", sha256 = \"{pin}\" }}")),
        Path::new("t.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.tenants[0].sap.tls, SapTrust::Pin([0xab; 32]));

    let err = Config::parse(
        &with_tls("tls = { mode = \"ca_file\" }"),
        Path::new("t.toml"),
    )
    .expect_err("ca_file without path");
    assert!(
        err.to_string()
            .starts_with("t.toml:12: key tenants[0].sap.tls.path: "),
        "{err}"
    );
    let err = Config::parse(
        &with_tls("tls = { mode = \"system\", sha256 = \"x\" }"),
        Path::new("t.toml"),
    )
    .expect_err("sha256 with system");
    assert!(
        err.to_string().contains("not used with mode = \"system\""),
        "{err}"
    );
}

#[test]
fn workflows_must_be_cards() {
    let text = replace_line(34, "url = { env = \"FLOW_URL\" }\nformat = \"html\"");
    let err = Config::parse(&text, Path::new("w.toml")).expect_err("html workflow");
    assert!(
        err.to_string()
            .starts_with("w.toml:35: key destinations[1].format: a Workflows webhook"),
        "{err}"
    );
}

#[test]
fn load_names_an_unreadable_file() {
    let err = Config::load(Path::new("/nonexistent/ml-connector.toml")).expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/ml-connector.toml: cannot read"),
        "{err}"
    );
}
