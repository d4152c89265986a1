//! A vendor's own OpenAPI description as a strict mock server: Stoplight Prism
//! (`prism mock <spec>`), which answers each request with an example from the spec when the
//! request is valid, and **422** with the violations (missing required parameter, wrong type,
//! pattern or enum) when the spec refuses it. Connector tests send the gateway's real requests
//! to it, so a request the vendor's spec refuses fails the test.
//!
//! Finding Prism: `MLC_PRISM` (path of the `prism` executable), else
//! `.ci/node/node_modules/.bin/prism` in the repository (where `.ci/run` installs
//! `@stoplight/prism-cli`). When neither exists the test is skipped with a message, unless
//! `MLC_REQUIRE_PRISM=1` (set by `.ci/run`), which turns a missing Prism into a failure.
//!
//! Source: <https://docs.stoplight.io/docs/prism/> (request validation, 422 "UNPROCESSABLE_ENTITY").

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use url::Url;

/// How long Prism may take to load a large spec (Twilio's is 1.9 MB) on a busy 2-core machine.
const STARTUP: Duration = Duration::from_secs(180);

/// A running `prism mock` on `127.0.0.1`, killed on drop.
pub struct PrismMock {
    child: Child,
    /// `http://127.0.0.1:PORT/`.
    pub root: Url,
    /// Prism's output lines after startup (its request log), read on demand.
    lines: mpsc::Receiver<String>,
}

/// The `prism` executable, or `None` (the caller skips) when it is not installed and not
/// required. Panics when `MLC_REQUIRE_PRISM=1` and it is missing.
pub fn prism_executable() -> Option<PathBuf> {
    let path = std::env::var_os("MLC_PRISM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/.ci/node/node_modules/.bin/prism"
            ))
        });
    if path.exists() {
        return Some(path);
    }
    if std::env::var("MLC_REQUIRE_PRISM").as_deref() == Ok("1") {
        panic!("MLC_REQUIRE_PRISM=1 but no Prism at {}", path.display());
    }
    eprintln!(
        "SKIPPED: no Prism at {} (set MLC_PRISM, or run `bash .ci/run`, which installs it)",
        path.display()
    );
    None
}

impl PrismMock {
    /// Start `prism mock` on `spec` (a path in the repository) on a free port and wait until
    /// it listens. Panics when it exits or is not listening within [`STARTUP`].
    pub fn start(prism: &std::path::Path, spec: &str) -> PrismMock {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(spec);
        let mut child = Command::new(prism)
            .args(["mock", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(&spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", prism.display()));
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let deadline = std::time::Instant::now() + STARTUP;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains("Prism is listening") => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = child.kill();
                    panic!(
                        "Prism did not start on {} within {STARTUP:?}: {e}",
                        spec.display()
                    );
                }
            }
        }
        let root = Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
        PrismMock { child, root, lines }
    }

    /// Wait (at most 30 s) until Prism has logged `requests` more received requests, and
    /// return its verdicts on them: `(passed, refused)` counts of "The request passed the
    /// validation rules" and "Request did not pass the validation rules", plus the refusal
    /// reasons it printed (`[VALIDATOR] ✖ error` lines). A request that passed but has no
    /// answer in the spec also ends "terminated" and is waited for the same way.
    pub fn verdicts(&self, requests: usize) -> (usize, usize, Vec<String>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let (mut received, mut passed, mut refused, mut ended) = (0, 0, 0, 0);
        let mut reasons = Vec::new();
        // A refused request's reasons come after its verdict, before "Request terminated".
        while received < requests || passed + ended < received {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            if line.contains("Request received") {
                received += 1;
            } else if line.contains("The request passed the validation rules") {
                passed += 1;
            } else if line.contains("Request did not pass the validation rules") {
                refused += 1;
            } else if line.contains("Request terminated with error") {
                ended += 1;
            } else if line.contains("[VALIDATOR]")
                && line.contains("error")
                && !line.contains("Violation: response.")
            {
                // Findings on the spec's own example answers ("Violation: response.…", e.g.
                // Twilio's relative `uri` fields) say nothing about the request.
                reasons.push(line);
            }
        }
        (passed, refused, reasons)
    }
}

impl Drop for PrismMock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
