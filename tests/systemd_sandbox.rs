//! The real binary under the hardening of `systemd/ml-connector.service`: `ml-connector run`
//! started by `systemd-run --user` with the unit's `[Service]` properties (sandboxing, seccomp
//! filter, empty capability set, IP allow-list, `Type=notify` with the watchdog, `UMask`)
//! reaches READY, delivers documents from the sandbox SAP to the sandbox Teams (both on
//! 127.0.0.1, allowed as localhost) and stops cleanly on `systemctl stop`.
//!
//! Differences from the installed unit, and why:
//! - `User=nobody` instead of `ml-connector` (the test creates no system user on the machine);
//!   the state directory is a `ReadWritePaths=` test directory instead of `StateDirectory=`;
//!   the secrets key is read from that directory (`secrets.key`) instead of `LoadCredential=`:
//!   a user manager writes credentials as its own user (root here) under
//!   `$XDG_RUNTIME_DIR/credentials/`, which `User=nobody` cannot read (the system manager hands
//!   them to the service user). `ExecStart` / `ExecReload` / `ExecCondition` / `Restart*` are
//!   the test's own.
//! - `ProtectHome`, `ProtectKernelTunables` and `ProtectKernelLogs` are left out when
//!   `MLC_SANDBOX_SKIP_PROPERTIES` names them: in the CI container the manager cannot remount
//!   /home, /proc/sys or /dev/kmsg (status 226/NAMESPACE for any process, even /bin/true), which
//!   says nothing about the gateway. `.ci/run` sets it after probing each property with /bin/true.
//!
//! Needs a systemd user manager (`systemctl --user`); skipped with a printed reason without one.
//! `.ci/run` starts a private one when the machine has none (containers without systemd as PID 1).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// Keys of the unit's `[Service]` section the test replaces (see the module doc).
const REPLACED: [&str; 11] = [
    "ExecStart",
    "ExecReload",
    "ExecCondition",
    "Restart",
    "RestartSec",
    "RestartPreventExitStatus",
    "User",
    "Group",
    "StateDirectory",
    "StateDirectoryMode",
    "LoadCredential",
];

/// `Key=Value` lines of the unit's `[Service]` section, in order, minus `REPLACED` and `skip`.
fn service_properties(unit: &str, skip: &[&str]) -> Vec<String> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in unit.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if !in_service || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split('=').next().unwrap_or_default();
        if !REPLACED.contains(&key) && !skip.contains(&key) {
            out.push(line.to_string());
        }
    }
    out
}

fn user_manager_reachable() -> bool {
    Command::new("systemctl")
        .args(["--user", "show-environment"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn unit_state(unit: &str) -> String {
    let out = Command::new("systemctl")
        .args(["--user", "show", "-p", "ActiveState", "--value", unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn unit_properties_parse() {
    let unit = "[Unit]\nDescription=x\n[Service]\n# c\nType=notify\nUser=a\nPrivateUsers=yes\n\
                ProtectHome=yes\n[Install]\nWantedBy=multi-user.target\n";
    assert_eq!(
        service_properties(unit, &["ProtectHome"]),
        ["Type=notify", "PrivateUsers=yes"]
    );
}

#[test]
fn gateway_runs_under_the_unit_hardening() {
    if !user_manager_reachable() {
        println!("SKIPPED: no systemd user manager (systemctl --user); .ci/run starts one");
        return;
    }
    // PrivateTmp=yes hides the host's /tmp from the service: keep the world under target/.
    std::env::set_var("TMPDIR", env!("CARGO_TARGET_TMPDIR"));
    let w = World::default_with(keyed_toml());
    for i in 0..3 {
        let doc = w.env.sap.generate("PurchaseOrders", 900 + i);
        w.env.sap.insert("PurchaseOrders", doc);
    }
    // The service runs as nobody: it reads the config and owns the state directory.
    let nobody = 65534;
    let state = w.state_dir();
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&w.config_path, std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    for entry in std::fs::read_dir(&state).expect("state dir") {
        std::os::unix::fs::chown(entry.expect("entry").path(), Some(nobody), Some(nobody))
            .expect("chown");
    }
    std::os::unix::fs::chown(&state, Some(nobody), Some(nobody)).expect("chown");

    let unit_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/ml-connector.service"),
    )
    .expect("unit");
    let skip_env = std::env::var("MLC_SANDBOX_SKIP_PROPERTIES").unwrap_or_default();
    let skip: Vec<&str> = skip_env.split_whitespace().collect();
    let unit = format!("mlc-hardening-test-{}", std::process::id());
    let mut cmd = Command::new("systemd-run");
    cmd.args(["--user", "--wait", "--pipe", "--collect", "--quiet"])
        .arg(format!("--unit={unit}"));
    for p in service_properties(&unit_text, &skip) {
        cmd.arg("-p").arg(p);
    }
    cmd.arg("-p").arg("User=nobody");
    cmd.arg("-p")
        .arg(format!("ReadWritePaths={}", state.display()));
    for (k, v) in w.env.child_env() {
        cmd.arg(format!("--setenv={k}={v}"));
    }
    cmd.arg(support::BIN)
        .arg("run")
        .arg("--config")
        .arg(&w.config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("systemd-run starts");

    let delivered = wait_until(Duration::from_secs(60), || w.messages().len() == 3);
    // Type=notify: "active" only after the gateway sent READY=1 over the notify socket.
    let mut state_while_running = String::new();
    wait_until(Duration::from_secs(20), || {
        state_while_running = unit_state(&unit);
        state_while_running == "active"
    });
    let stop = Command::new("systemctl")
        .args(["--user", "stop", &unit])
        .status()
        .expect("systemctl stop");
    let out = child.wait_with_output().expect("systemd-run ends");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        delivered,
        "3 messages delivered under the sandbox; systemd-run said:\n{log}"
    );
    assert_eq!(w.messages().len(), 3);
    assert_eq!(state_while_running, "active");
    assert!(stop.success());
    // systemd-run --wait exits with the service's status: 0 after a clean SIGTERM stop.
    assert_eq!(out.status.code(), Some(0), "{log}");
}
