//! Acumatica licence seats across the real binary's lifecycle (issue 9): one credential, two
//! pollers, SIGHUP with the configuration unchanged, SIGHUP with it changed, SIGTERM. Every
//! login is matched by a logout, never two sessions are open at once (the licence allows one
//! API user here, so an overlap would be answered "API Login Limit"), and the exit is clean.

mod support;

use std::time::Duration;

use ml_connector::sandbox::acumatica::AcumaticaSandboxConfig;
use support::acumatica::{free_port, metric, scrape, AcuSandbox, Gateway};
use support::wait_until;

/// The `acu` source polling `Bill` and `PurchaseOrder` every `interval` seconds from the
/// beginning.
fn source(interval: u64) -> String {
    format!(
        r#"
[[sources]]
name = "acu"
kind = "acumatica"
credential = "acu"
start_from = "beginning"
entities = [{{ name = "Bill", interval_seconds = {interval} }}, {{ name = "PurchaseOrder", interval_seconds = {interval} }}]
"#
    )
}

/// Successful polls of `entity` so far.
fn polls(port: u16, entity: &str) -> f64 {
    metric(
        &scrape(port),
        "mlc_polls_total",
        &[("source", "acu"), ("entity", entity), ("outcome", "ok")],
    )
}

/// Wait until both entities were polled successfully after the counts in `since`.
fn both_polled_after(port: u16, since: (f64, f64)) -> bool {
    wait_until(Duration::from_secs(30), || {
        polls(port, "Bill") > since.0 && polls(port, "PurchaseOrder") > since.1
    })
}

#[test]
fn logins_equal_logouts_across_two_reloads_and_stop_with_one_licence_seat() {
    ml_connector::tls::install_crypto_provider();
    let acu = AcuSandbox::start(AcumaticaSandboxConfig {
        api_users: 1,
        idle_timeout: None,
        ..AcumaticaSandboxConfig::default()
    });
    for _ in 0..2 {
        acu.sim.generate_next("Bill");
        acu.sim.generate_next("PurchaseOrder");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let port = free_port();
    let gw = Gateway::spawn(
        dir.path(),
        &acu.gateway_toml(&state, port, "off", &source(1)),
        &acu,
    );
    assert!(
        both_polled_after(port, (0.0, 0.0)),
        "both pollers read: {}",
        gw.log()
    );
    let stats = acu.sim.stats();
    assert_eq!(
        (stats.sessions_opened, stats.sessions_closed, stats.max_open),
        (1, 0, 1)
    );

    // Reload with the configuration unchanged: the old topology logs out, the new one logs in.
    let at = (polls(port, "Bill"), polls(port, "PurchaseOrder"));
    gw.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(30), || gw
            .lines_with("configuration reloaded")
            == 1),
        "{}",
        gw.log()
    );
    assert!(
        both_polled_after(port, at),
        "both pollers read after the first reload: {}",
        gw.log()
    );
    let stats = acu.sim.stats();
    assert_eq!(
        (stats.sessions_opened, stats.sessions_closed, stats.max_open),
        (2, 1, 1)
    );

    // Reload with a changed configuration (another interval).
    std::fs::write(
        &gw.config_path,
        acu.gateway_toml(&state, port, "off", &source(2)),
    )
    .expect("write");
    let at = (polls(port, "Bill"), polls(port, "PurchaseOrder"));
    gw.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(30), || gw
            .lines_with("configuration reloaded")
            == 2),
        "{}",
        gw.log()
    );
    assert!(
        both_polled_after(port, at),
        "both pollers read after the second reload: {}",
        gw.log()
    );
    let stats = acu.sim.stats();
    assert_eq!(
        (stats.sessions_opened, stats.sessions_closed, stats.max_open),
        (3, 2, 1)
    );

    let status = gw.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM stops cleanly");
    let stats = acu.sim.stats();
    assert_eq!(
        (
            stats.login_requests,
            stats.sessions_opened,
            stats.sessions_closed,
            stats.sessions_expired
        ),
        (3, 3, 3, 0),
        "every login matched by a logout"
    );
    assert_eq!(
        (stats.max_open, stats.login_limit_refusals),
        (1, 0),
        "never above the licence's one API user"
    );
    assert_eq!(acu.sim.open_sessions(), 0);
}
