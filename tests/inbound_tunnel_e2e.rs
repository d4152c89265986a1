//! Inbound through a tunnel (issue 9, outbound-only sites; `docs/inbound-tunnel.md`): a
//! forwarding proxy on 127.0.0.1 — standing in for nginx/Caddy on the DMZ, an Azure Relay
//! Hybrid Connection listener or cloudflared — exposes only `/inbound/{kind}/{name}` and
//! forwards to the real binary's HTTPS listener (`[http] tls = "self-signed"`, the rcgen
//! certificate the proxy trusts explicitly, as a tunnel agent pinned to it would). An
//! Acumatica push sent through it twice is committed exactly once; a push with a forged
//! header gets 401 on all five attempts and stores nothing but one audit line per attempt.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use ml_connector::sandbox::acumatica::AcumaticaSandboxConfig;
use ml_connector::tls::Trust;
use serde_json::Value;
use support::acumatica::{free_port, metric, AcuSandbox, Gateway};
use support::wait_until;

/// Environment variable holding the push header's value for the child.
const PUSH_SECRET_ENV: &str = "MLC_TEST_ACU_PUSH_SECRET";

/// The `acu` source: `Bill` polled hourly from a start in the future (so only pushes bring
/// records), push notifications with the sandbox's header.
fn source(header: &str) -> String {
    format!(
        r#"
[[sources]]
name = "acu"
kind = "acumatica"
credential = "acu"
start_from = "2099-01-01T00:00:00Z"
entities = [{{ name = "Bill", interval_seconds = 3600 }}]
push = {{ header = "{header}", secret = {{ env = "{PUSH_SECRET_ENV}" }} }}
"#
    )
}

/// What the proxy forwards: everything but the hop-by-hop headers, `Host` and the length
/// (reqwest sets its own), plus `X-Forwarded-For` / `X-Forwarded-Proto` as nginx adds them.
fn forwarded(name: &str) -> bool {
    !matches!(
        name,
        "host"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "upgrade"
            | "content-length"
    )
}

/// The proxy's state: where to forward, over which client, and how many requests it passed.
#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    forwarded: Arc<AtomicUsize>,
}

async fn forward(proxy: web::Data<Proxy>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    proxy.forwarded.fetch_add(1, Ordering::SeqCst);
    let url = format!("{}{}", proxy.upstream, req.uri());
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).expect("method");
    let mut out = proxy.client.request(method, url).body(body.to_vec());
    for (name, value) in req.headers().iter().filter(|(n, _)| forwarded(n.as_str())) {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let peer = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    out = out
        .header("x-forwarded-for", peer)
        .header("x-forwarded-proto", "http");
    match out.send().await {
        Ok(answer) => {
            let status =
                actix_web::http::StatusCode::from_u16(answer.status().as_u16()).expect("status");
            HttpResponse::build(status).body(answer.bytes().await.unwrap_or_default())
        }
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

#[test]
fn a_push_through_a_forwarding_proxy_to_the_tls_listener_is_committed_once_and_a_forged_one_is_refused(
) {
    ml_connector::tls::install_crypto_provider();
    let acu = AcuSandbox::start(AcumaticaSandboxConfig {
        push_copies: 2,
        ..AcumaticaSandboxConfig::default()
    });
    let c = acu.sim.config();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let port = free_port();
    let toml = acu.gateway_toml(&state, port, "self-signed", &source(&c.push_header));
    let gw = Gateway::spawn_with(
        dir.path(),
        &toml,
        &acu,
        &[(PUSH_SECRET_ENV, c.push_secret.as_str())],
    );

    // Trust exactly the listener's self-signed certificate (made by rcgen on first start).
    let cert = state.join("listener.crt");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let upstream = format!("https://127.0.0.1:{port}");
    let https = |client: &reqwest::Client, path: &str| {
        runtime.block_on(async {
            match client.get(format!("{upstream}{path}")).send().await {
                Ok(a) if a.status().is_success() => a.text().await.unwrap_or_default(),
                _ => String::new(),
            }
        })
    };
    let mut trusting = None;
    let up = wait_until(Duration::from_secs(30), || {
        trusting =
            ml_connector::tls::http_client(&Trust::CaFile(cert.clone()), Duration::from_secs(5))
                .ok();
        trusting
            .as_ref()
            .is_some_and(|c| !https(c, "/health/live").is_empty())
    });
    assert!(
        up,
        "the TLS listener answers with the certificate in {}: {}",
        cert.display(),
        gw.log()
    );
    let client = trusting.expect("client");

    let proxy = Proxy {
        upstream: upstream.clone(),
        client: client.clone(),
        forwarded: Arc::new(AtomicUsize::new(0)),
    };
    let data = web::Data::new(proxy.clone());
    let (addr, _server) = ml_connector::sandbox::spawn_app(0, move |cfg| {
        cfg.app_data(data.clone())
            .service(web::resource("/inbound/{kind}/{name}").to(forward));
    })
    .expect("proxy starts");
    let push_url = url::Url::parse(&format!("http://{addr}/inbound/acumatica/acu")).expect("url");
    acu.sim.configure_with(|c| c.push_url = Some(push_url));

    // Acumatica sends the notification twice (a duplicate delivery), through the proxy.
    let key = acu.sim.generate_next("Bill").expect("bill");
    let row = Value::Object(acu.sim.record("Bill", &key).expect("stored"));
    let report = runtime.block_on(acu.sim.push(&acu.sim.notification("Bill", Some(row), None)));
    assert_eq!(report.attempts, vec![200, 200], "{}", gw.log());

    // A forged header: five attempts, each refused.
    acu.sim.configure_with(|c| {
        c.push_secret = "forged-push-secret".into();
        c.push_copies = 1;
    });
    let forged_key = acu.sim.generate_next("Bill").expect("bill");
    let row = Value::Object(acu.sim.record("Bill", &forged_key).expect("stored"));
    let report = runtime.block_on(acu.sim.push(&acu.sim.notification("Bill", Some(row), None)));
    assert_eq!(report.attempts, vec![401; 5]);
    assert_eq!(
        proxy.forwarded.load(Ordering::SeqCst),
        7,
        "every attempt went through the proxy"
    );

    let metrics = https(&client, "/metrics");
    let inbound = |name: &str, outcome: &str| {
        metric(
            &metrics,
            name,
            &[("kind", "acumatica"), ("name", "acu"), ("outcome", outcome)],
        )
    };
    assert_eq!(
        inbound("mlc_inbound_changes_total", "accepted"),
        1.0,
        "{metrics}"
    );
    assert_eq!(inbound("mlc_inbound_changes_total", "duplicate"), 1.0);
    assert_eq!(inbound("mlc_inbound_total", "accepted"), 2.0);
    assert_eq!(inbound("mlc_inbound_total", "refused"), 5.0);
    assert!(!metrics.contains("forged-push-secret") && !metrics.contains(&c.push_secret));

    let status = gw.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM stops cleanly");
    let config = ml_connector::config::Config::load(
        &dir.path().join("gateway.toml"),
        &ml_connector::connectors::REGISTRY,
    )
    .expect("config");
    let (store, _) = ml_connector::commands::open_state(&config).expect("store");
    let pushed = store
        .snapshot("acu", "Bill", &key)
        .expect("read")
        .expect("the pushed bill is stored");
    assert_eq!(pushed.revision, 0);
    assert_eq!(pushed.watched["Status"], "On Hold");
    assert_eq!(
        store.snapshot("acu", "Bill", &forged_key).expect("read"),
        None,
        "nothing of the forged push"
    );
    let refused: Vec<String> = store
        .audit_lines(1000)
        .expect("audit")
        .into_iter()
        .filter(|l| l.kind == "inbound_refused")
        .map(|l| l.detail)
        .collect();
    assert_eq!(refused.len(), 5, "{refused:?}");
    for detail in &refused {
        assert!(
            detail.starts_with("acumatica/acu refused with 401: "),
            "{detail}"
        );
        assert!(
            !detail.contains("forged-push-secret") && !detail.contains("127.0.0.1"),
            "{detail}"
        );
    }
}
