//! Log output of the real binary when stderr is not a terminal (a file, the journal).

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// Issue 6 item 12: `run` with text logs and stderr to a file writes no ANSI escape sequence
/// (before the fix every line started with `ESC[2m`); the lines are the plain text ones.
#[test]
fn text_logs_to_a_file_carry_no_ansi_codes() {
    let w = World::default_with(keyed_toml());
    let doc = w.env.sap.generate("PurchaseOrders", 1);
    let entry = w.env.sap.insert("PurchaseOrders", doc);
    let log_path = w.dir.path().join("gateway.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&w.config_path)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("binary starts");
    let delivered = wait_until(Duration::from_secs(30), || w.messages().len() == 1);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    let text = std::fs::read_to_string(&log_path).expect("read log");
    assert!(delivered, "document {entry} delivered; log:\n{text}");
    assert!(status.success(), "clean stop: {status}");
    assert!(text.contains(" INFO "), "info lines were written: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "no ESC byte in a log written to a file:\n{text:?}"
    );
    assert_eq!(w.delivered_keys(), vec![format!("{entry} created")]);
}
