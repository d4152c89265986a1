//! The registry, the sandbox file and what `ml-connector sandbox` prints, over real HTTP on
//! 127.0.0.1 ephemeral ports.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::connectors::SIMULATORS as ALL;

/// A sandbox file in a fresh temporary directory: `(dir guard, path)`.
fn sandbox_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sandbox.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write sandbox file");
    (dir, path)
}

/// The printed blocks as `kind → (label → value)`.
fn parse_printed(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut blocks: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('[') {
            current = rest.split(']').next().unwrap_or_default().to_string();
            blocks.entry(current.clone()).or_default();
        } else {
            let (label, value) = line.trim().split_once(' ').expect("label  value");
            blocks
                .get_mut(&current)
                .expect("row inside a block")
                .insert(label.to_string(), value.trim().to_string());
        }
    }
    blocks
}

fn start_error(text: &str) -> (PathBuf, String) {
    let (_dir, path) = sandbox_file(text);
    let message = match start_registered(ALL, Some(&path)) {
        Ok(_) => panic!("{text:?} was accepted"),
        Err(e) => e.to_string(),
    };
    (path, message)
}

#[test]
fn registry_lists_each_kind_once_in_order() {
    let kinds: Vec<&str> = ALL.iter().map(|k| k.kind).collect();
    assert_eq!(
        kinds,
        ["sap_b1", "teams", "teams_bot", "twilio", "acumatica"]
    );
}

#[tokio::test]
async fn printed_urls_and_credentials_work() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (_dir, path) = sandbox_file(
        "[sap_b1]\nport = 0\npassword = \"pw-1\"\nsession_timeout_seconds = 600\nseed_documents = 3\n\n\
         [teams]\nclient_secret = \"s-1\"\ntoken_lifetime_seconds = 60\n",
    );
    let simulators = start_registered(ALL, Some(&path)).expect("start");
    let kinds: Vec<&str> = simulators.iter().map(|s| s.kind()).collect();
    assert_eq!(
        kinds,
        ["sap_b1", "teams", "teams_bot", "twilio", "acumatica"]
    );
    let printed = parse_printed(&render(&simulators));
    let (sap, teams) = (&printed["sap_b1"], &printed["teams"]);
    assert_eq!(sap["base_url"], simulators[0].base_url().as_str());
    assert_eq!(teams["login_base_url"], simulators[1].base_url().as_str());
    assert_eq!(
        sap["entity_sets"],
        "PurchaseOrders (3), PurchaseInvoices (3), Orders (3), Invoices (3), \
         IncomingPayments (3), VendorPayments (3)"
    );
    let http = reqwest::Client::new();

    let login = http
        .post(format!("{}Login", sap["base_url"]))
        .json(&serde_json::json!({
            "CompanyDB": sap["company_db"],
            "UserName": sap["username"],
            "Password": sap["password"],
        }))
        .send()
        .await
        .expect("POST Login");
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.expect("login JSON");
    assert_eq!(body["SessionTimeout"], 10);

    // Both grants with the printed app credentials: `(grant-specific fields, expected scope)`.
    let grants = [
        (
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
            None,
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", teams["refresh_token"].as_str()),
                ("scope", "https://graph.microsoft.com/.default offline_access"),
            ],
            // `.default`: every consented permission, sorted.
            Some("https://graph.microsoft.com/ChannelMessage.Read.All https://graph.microsoft.com/ChannelMessage.Send https://graph.microsoft.com/Chat.Read https://graph.microsoft.com/ChatMessage.Send https://graph.microsoft.com/User.Read".to_string()),
        ),
    ];
    for (grant, scope) in grants {
        let mut form = vec![
            ("client_id", teams["client_id"].as_str()),
            ("client_secret", teams["client_secret"].as_str()),
        ];
        form.extend(grant);
        let token = http
            .post(&teams["token_url"])
            .form(&form)
            .send()
            .await
            .expect("POST token");
        assert_eq!(token.status(), 200, "{form:?}");
        let body: Value = token.json().await.expect("token JSON");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 60);
        assert_eq!(body["scope"].as_str(), scope.as_deref(), "{form:?}");
        assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    }

    let flow = http
        .post(&teams["workflow_url"])
        .json(&serde_json::json!({"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {"type": "AdaptiveCard", "version": "1.4", "body": []},
        }]}))
        .send()
        .await
        .expect("POST workflow");
    assert_eq!(flow.status(), 202);
}

#[test]
fn without_a_file_every_kind_runs_on_defaults() {
    let simulators = start_registered(ALL, None).expect("start");
    let printed = parse_printed(&render(&simulators));
    assert_eq!(printed["sap_b1"]["company_db"], "SBODEMOUS");
    assert_eq!(printed["sap_b1"]["session_timeout_seconds"], "1800");
    assert_eq!(printed["teams"]["tenant_id"], "contoso-tenant");
    assert_eq!(printed["teams"]["token_lifetime_seconds"], "3599");
    assert_eq!(
        printed["teams"]["graph_rate_limit"],
        "4/s per channel or chat"
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let (path, message) = start_error("[sap_b1]\nport = 0\nprot = 50000\n");
    assert_eq!(
        message,
        format!(
            "{}:3: key sap_b1.prot: unknown field `prot`, expected one of `port`, `company_db`, \
             `username`, `password`, `session_timeout_seconds`, `page_size`, `seed_documents`, `time_zone`",
            path.display()
        )
    );
}

#[test]
fn unknown_table_names_the_registered_kinds() {
    let (path, message) = start_error("[teams]\nport = 0\n\n[microsoft]\nport = 0\n");
    assert_eq!(
        message,
        format!(
            "{}:4: key microsoft: unknown sandbox kind; expected one of: sap_b1, teams, teams_bot, twilio, acumatica",
            path.display()
        )
    );
}

#[test]
fn wrong_type_names_file_line_and_key() {
    let (path, message) = start_error("[teams]\ntoken_lifetime_seconds = \"1h\"\n");
    assert_eq!(
        message,
        format!(
            "{}:2: key teams.token_lifetime_seconds: invalid type: string \"1h\", expected u64",
            path.display()
        )
    );
}

#[test]
fn syntax_error_names_the_line() {
    let (path, message) = start_error("[sap_b1]\nport = = 1\n");
    assert!(
        message.starts_with(&format!("{}:2: ", path.display())),
        "{message}"
    );
}

#[test]
fn missing_file_is_a_read_error() {
    let err = start_registered(ALL, Some(Path::new("/nonexistent/sandbox.toml")))
        .err()
        .expect("refused");
    assert!(matches!(err, SandboxError::Read { .. }), "{err}");
}

#[test]
fn taken_port_is_a_start_error_of_that_kind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (_path, message) = start_error(&format!("[teams]\nport = {port}\n"));
    assert!(
        message.starts_with("cannot start the teams sandbox: "),
        "{message}"
    );
}

struct Fake;

impl Simulator for Fake {
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn title(&self) -> &'static str {
        "A fake"
    }
    fn base_url(&self) -> Url {
        Url::parse("http://127.0.0.1:1/").expect("url")
    }
    fn describe(&self) -> Vec<(String, String)> {
        vec![row("a", 1), row("longer", "x y")]
    }
}

#[test]
fn render_pads_labels_per_block_and_separates_blocks() {
    let sims: Vec<Box<dyn Simulator>> = vec![Box::new(Fake), Box::new(Fake)];
    assert_eq!(
        render(&sims),
        "[fake]  A fake\n  a       1\n  longer  x y\n\n[fake]  A fake\n  a       1\n  longer  x y\n"
    );
}
