//! `ml-connector sandbox` as a process: prints the blocks, stops after `--seconds`, refuses a
//! bad sandbox file with exit code 2 and `FILE:LINE: key K: message`.

use std::process::Command;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ml-connector"))
}

#[test]
fn serves_prints_and_stops_after_seconds() {
    let out = binary()
        .args(["sandbox", "--seconds", "1"])
        .output()
        .expect("run ml-connector sandbox");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "ml-connector sandbox: 5 simulator(s) on 127.0.0.1; stopping after 1 s"
    );
    let headers: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with('['))
        .copied()
        .collect();
    assert_eq!(
        headers,
        [
            "[sap_b1]  SAP Business One Service Layer v2",
            "[teams]  Microsoft Teams: Entra ID tokens, Graph chatMessage, Workflows webhook",
            "[teams_bot]  Bot Framework: bot token, Bot Connector conversations (activities POST/PUT), OpenID metadata and JWKS",
            "[twilio]  Twilio REST API 2010-04-01: Messages and Calls (us1 and the EU host)",
            "[acumatica]  Acumatica contract-based REST API (Default endpoint): PurchaseOrder, Bill, Check",
        ]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  base_url") && l.ends_with("/b1s/v2/")),
        "{stdout}"
    );
}

#[test]
fn bad_sandbox_file_exits_2_with_file_line_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sandbox.toml");
    std::fs::write(&path, "[teams]\nport = 0\ncolour = \"blue\"\n").expect("write");
    let out = binary()
        .args(["sandbox", "--seconds", "1", "--config"])
        .arg(&path)
        .output()
        .expect("run ml-connector sandbox");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        stderr.starts_with(&format!(
            "error: {}:3: key teams.colour: unknown field `colour`",
            path.display()
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
