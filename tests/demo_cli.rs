//! `ml-connector demo` as a process: the approval scene's printed steps and final states
//! (bill 000001 from `On Hold` to `Open`, `Hold` false, one `ReleaseBill`, one approval card,
//! one card update saying the bill was released).

use std::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Lines the approval scene prints (the other scenes' lines interleave).
fn scene_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| {
            l.starts_with("  Acumatica ▸")
                || l.starts_with("  Teams  ◂ approval card")
                || l.starts_with("  Teams  ▸ Jane Smith")
                || l.starts_with("  Teams  ◂ card updated")
                || l.starts_with("approval scene:")
        })
        .collect()
}

#[test]
fn the_approval_scene_releases_the_bill_once_and_updates_its_card_once() {
    let listen = format!("127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .args([
            "demo",
            "--seconds",
            "30",
            "--rate",
            "0.2",
            "--listen",
            &listen,
        ])
        .output()
        .expect("run ml-connector demo");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines: Vec<String> = scene_lines(&stdout).into_iter().map(String::from).collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    // The tap's answer names the decision time: RFC 3339, whole seconds, UTC.
    let (tap, at) = lines[2].split_once(" at ").expect("a decision time");
    let at = at.strip_suffix('"').expect("quoted");
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .expect("an RFC 3339 time");
    assert_eq!(at.len(), "2026-12-01T18:12:18Z".len());
    lines[2] = format!("{tap} at <time>\"");
    assert_eq!(
        lines,
        [
            "  Acumatica ▸ bill 000001 · V000001 · 100.0 USD · Status On Hold · Hold true",
            "  Teams  ◂ approval card  \"Approver: <at>Jane Smith</at>\"  [Approve] [Reject]",
            "  Teams  ▸ Jane Smith taps Approve → HTTP 200, \"Approved by Jane Smith at <time>\"",
            "  Teams  ◂ card updated in place  \"Approved by Jane Smith — bill 000001 released in Acumatica.\"",
            "  Acumatica ▸ bill 000001 · V000001 · 100.0 USD · Status Open · Hold false · ReleaseBill calls: 1",
            "approval scene: bill 000001 · V000001 · 100.0 USD · Status Open · Hold false · ReleaseBill calls 1 · cards posted 1 · card updates 2 (1 with the outcome)",
        ],
        "{stdout}"
    );
}
