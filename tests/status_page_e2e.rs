//! The status page in a real headless Chromium (Debian `chromium` + `chromium-driver`): it
//! renders, shows a dead letter made by the test, and a replay through its form (driven over
//! WebDriver) delivers the message exactly once. Also takes a screenshot (`docs/status-page.png` with
//! `MLC_UPDATE_SCREENSHOTS=1`, else under the target dir).
//! Skipped with a printed reason when `chromium` or `chromedriver` is not installed
//! (`.ci/run` installs both).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ml_connector::sandbox::env::GatewayToml;
use ml_connector::sandbox::teams::TeamsFault;
use serde_json::{json, Value as Json};
use support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ADMIN_ENV: &str = "MLC_STATUS_TEST_ADMIN_TOKEN";
const ADMIN_TOKEN: &str = "status-admin-token-8b31";
/// WebDriver's key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The flags every Chromium run uses (headless, no network of its own, a fresh profile).
fn chromium_flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// `chromium --dump-dom URL` (and a screenshot when `screenshot` is given): the DOM as text.
fn chromium_dump(url: &str, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args(chromium_flags(profile.path()));
    match screenshot {
        Some(path) => cmd.arg(format!("--screenshot={}", path.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium exit {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A child process (chromedriver, the gateway), killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session over plain HTTP (W3C WebDriver JSON protocol).
struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    async fn call(&self, method: reqwest::Method, path: &str, body: Json) -> Json {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("webdriver answers");
        let status = resp.status();
        let v: Json = resp.json().await.expect("webdriver JSON");
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v["value"].clone()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT].as_str().expect("element id").to_string()
    }
}

/// Start chromedriver and open a session on headless Chromium.
async fn webdriver(profile: &Path) -> (Driver, Session) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let root = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if http.get(format!("{root}/status")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "chromedriver listens");
    let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": chromium_flags(profile)}}}});
    let created: Json = http
        .post(format!("{root}/session"))
        .json(&caps)
        .send()
        .await
        .expect("new session")
        .json()
        .await
        .expect("JSON");
    let id = created["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("session id: {created}"))
        .to_string();
    let session = Session {
        http,
        base: format!("{root}/session/{id}"),
    };
    (driver, session)
}

#[test]
fn the_page_shows_a_dead_letter_and_its_replay_button_delivers_it_once() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(tool).exists() {
            eprintln!(
                "SKIPPED: {tool} is not installed (apt-get install chromium chromium-driver)"
            );
            return;
        }
    }
    let port = free_port();
    let w = World::default_with(GatewayToml {
        listen: format!("127.0.0.1:{port}"),
        admin_token_env: Some(ADMIN_ENV),
        ..keyed_toml()
    });
    // The first post is refused for good: the document becomes a dead letter.
    w.env.teams.inject(TeamsFault::Status {
        status: 403,
        code: "Forbidden".into(),
        message: "Missing scope permissions on the request.".into(),
    });
    let doc = w.env.sap.generate("PurchaseOrders", 5150);
    let entry = w.env.sap.insert("PurchaseOrders", doc);
    let _gateway = Driver(w.spawn_binary(&[(ADMIN_ENV, ADMIN_TOKEN)]));
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::new();
    let page = |http: &reqwest::Client| {
        let http = http.clone();
        let url = format!("{base}/status");
        rt.block_on(async move { http.get(url).send().await.ok()?.text().await.ok() })
    };
    assert!(
        wait_until(Duration::from_secs(30), || page(&http)
            .is_some_and(|p| p.contains("id=\"dead-"))),
        "the dead letter appears"
    );
    assert_eq!(w.messages().len(), 0);

    // 1. Chromium renders it.
    let dom = chromium_dump(&format!("{base}/status"), None);
    let event_key = format!("acme/PurchaseOrders/{entry}/created");
    assert!(dom.contains("<h1>ml-connector status</h1>"), "{dom}");
    assert!(dom.contains(&event_key), "{dom}");
    assert_eq!(
        dom.matches("<button type=\"submit\" name=\"replay\"")
            .count(),
        1,
        "{dom}"
    );
    let id = dom
        .split("<tr id=\"dead-")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse::<u64>().ok())
        .expect("dead-letter row id");
    assert!(
        dom.contains("ChannelMessage.Send"),
        "the reason names the fix: {dom}"
    );
    assert!(dom.contains("acme/PurchaseOrders"), "the poller row: {dom}");
    assert!(dom.contains("dead_letter"), "the audit line: {dom}");
    // The README's picture is refreshed with MLC_UPDATE_SCREENSHOTS=1; otherwise the shot
    // goes under target/ so a test run leaves the tracked file alone.
    let shot = if std::env::var("MLC_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png")
    };
    std::fs::create_dir_all(shot.parent().expect("docs dir")).expect("docs dir");
    chromium_dump(&format!("{base}/status"), Some(&shot));
    assert!(std::fs::metadata(&shot).expect("screenshot written").len() > 0);

    // 2. A wrong token replays nothing.
    let wrong = rt.block_on(async {
        http.post(format!("{base}/status/dead-letters/{id}/replay"))
            .form(&[("token", "not-the-token")])
            .send()
            .await
            .expect("post")
    });
    assert_eq!(wrong.status().as_u16(), 401);

    // 3. Replay through the page: type the token into the row's form and click Replay.
    let profile = tempfile::tempdir().expect("profile dir");
    let after = rt.block_on(async {
        let (_driver, s) = webdriver(profile.path()).await;
        s.call(
            reqwest::Method::POST,
            "/url",
            json!({"url": format!("{base}/status")}),
        )
        .await;
        let input = s.find(&format!("#dead-{id} input[name=token]")).await;
        s.call(
            reqwest::Method::POST,
            &format!("/element/{input}/value"),
            json!({"text": ADMIN_TOKEN}),
        )
        .await;
        let button = s.find(&format!("#dead-{id} button")).await;
        s.call(
            reqwest::Method::POST,
            &format!("/element/{button}/click"),
            json!({}),
        )
        .await;
        let mut source = String::new();
        for _ in 0..100 {
            source = s
                .call(reqwest::Method::GET, "/source", Json::Null)
                .await
                .as_str()
                .unwrap_or_default()
                .to_string();
            if source.contains("id=\"notice\"") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        s.call(reqwest::Method::DELETE, "", Json::Null).await;
        source
    });
    assert!(
        after.contains(&format!("Dead letter {id} replayed as outbox entry")),
        "{after}"
    );
    assert!(!after.contains(ADMIN_TOKEN), "the token is not echoed");

    // 4. Delivered exactly once (waiting long enough for a late duplicate).
    assert!(wait_until(Duration::from_secs(20), || w.messages().len() == 1));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(w.delivered_keys(), [format!("{entry} created")]);
    let dom = chromium_dump(&format!("{base}/status"), None);
    assert!(dom.contains("no dead letters"), "{dom}");
}

/// A channel message as the demo's default template renders it, shown by Chromium in a plain
/// Teams-like frame: the browser shows the document number, the partner and the total (the
/// HTML is what Graph stores as the `chatMessage` body). Also the README's second picture
/// (`docs/teams-message.png` with `MLC_UPDATE_SCREENSHOTS=1`).
#[test]
fn a_demo_channel_message_renders_with_its_facts_in_chromium() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("SKIPPED: {CHROMIUM} is not installed (apt-get install chromium)");
        return;
    }
    let w = World::default_with(GatewayToml::default());
    let doc = w.env.sap.generate("PurchaseOrders", 4711);
    let entry = w.env.sap.insert("PurchaseOrders", doc);
    let stored = w.env.sap.document("PurchaseOrders", entry).expect("stored");
    let gateway = w.start_gateway();
    assert!(wait_until(Duration::from_secs(30), || w.messages().len() == 1));
    gateway.stop();
    let message = &w.messages()[0];
    assert_eq!(message.body_content_type, "html");
    let page = w.dir.path().join("teams-message.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><style>\
             body{{font-family:'Segoe UI',sans-serif;background:#f5f5f5;margin:24px}}\
             .post{{background:#fff;border-radius:6px;padding:12px 16px;max-width:640px;\
             box-shadow:0 1px 3px #0003}}.who{{font-size:12px;color:#616161;margin-bottom:6px}}\
             </style></head><body><div class=\"post\"><div class=\"who\">ml-connector · \
             finance channel</div>{}</div></body></html>",
            message.content
        ),
    )
    .expect("write page");
    let url = format!("file://{}", page.display());
    let dom = chromium_dump(&url, None);
    let text = |field: &str| match &stored[field] {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    for expected in [
        format!("Purchase order {}", text("DocNum")),
        text("CardName"),
        text("CardCode"),
    ] {
        assert!(dom.contains(&expected), "{expected:?} shown: {dom}");
    }
    let shot = if std::env::var("MLC_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/teams-message.png")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("teams-message.png")
    };
    chromium_dump(&url, Some(&shot));
    assert!(std::fs::metadata(&shot).expect("screenshot written").len() > 0);
}
