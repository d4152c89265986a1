//! The real binary against the Acumatica simulator: a gateway configuration with one
//! `acumatica` credential and source, the running child with its stderr lines, and readings of
//! its `/metrics`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use ml_connector::sandbox::acumatica::{
    spawn, AcumaticaSandboxConfig, AcumaticaSim, SpawnedServer,
};
use url::Url;

use super::BIN;

/// Environment variable the child reads the Acumatica password from.
pub const ACU_PASSWORD_ENV: &str = "MLC_TEST_ACU_PASSWORD";

/// A running Acumatica simulator on 127.0.0.1 (ephemeral port).
pub struct AcuSandbox {
    /// The simulator (stats, records, pushes).
    pub sim: AcumaticaSim,
    /// Its root, `http://127.0.0.1:PORT/`.
    pub url: Url,
    _server: SpawnedServer,
}

impl AcuSandbox {
    /// Serve a simulator with `config`.
    pub fn start(config: AcumaticaSandboxConfig) -> AcuSandbox {
        let sim = AcumaticaSim::new(config);
        let (url, server) = spawn(sim.clone(), 0).expect("Acumatica sandbox starts");
        AcuSandbox {
            sim,
            url,
            _server: server,
        }
    }

    /// `[service]`, `[http]` (listen on `port`, `tls` = `"off"` or `"self-signed"`) and the
    /// `acu` credential; `sources` follows verbatim.
    pub fn gateway_toml(&self, state: &Path, port: u16, tls: &str, sources: &str) -> String {
        let c = self.sim.config();
        format!(
            r#"
[service]
state_dir = "{state}"
stop_timeout_seconds = 5

[http]
listen = "127.0.0.1:{port}"
tls = "{tls}"

[[credentials]]
name = "acu"
kind = "acumatica"
base_url = "{url}"
username = "{user}"
password = {{ env = "{ACU_PASSWORD_ENV}" }}
tenant = "{tenant}"
{sources}
"#,
            state = state.display(),
            url = self.url,
            user = c.username,
            tenant = c.tenant,
        )
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ephemeral port")
}

/// The real binary running `run --config <path>`, its stderr collected line by line.
pub struct Gateway {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The configuration file.
    pub config_path: PathBuf,
}

impl Gateway {
    /// Write `toml` to `dir/gateway.toml` and start the binary on it with the password of
    /// `sandbox` in [`ACU_PASSWORD_ENV`].
    pub fn spawn(dir: &Path, toml: &str, sandbox: &AcuSandbox) -> Gateway {
        Gateway::spawn_with(dir, toml, sandbox, &[])
    }

    /// [`Gateway::spawn`] with `extra_env` set for the child too.
    pub fn spawn_with(
        dir: &Path,
        toml: &str,
        sandbox: &AcuSandbox,
        extra_env: &[(&str, &str)],
    ) -> Gateway {
        let config_path = dir.join("gateway.toml");
        std::fs::write(&config_path, toml).expect("write config");
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config_path)
            .env(ACU_PASSWORD_ENV, sandbox.sim.config().password)
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().expect("lines").push(line);
            }
        });
        Gateway {
            child,
            lines,
            config_path,
        }
    }

    /// Stderr lines containing `text`.
    pub fn lines_with(&self, text: &str) -> usize {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    /// Every stderr line so far (for failure messages).
    pub fn log(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// Send `signal` (`"HUP"`, `"TERM"`) to the child.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal}");
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("wait")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the `/metrics` sample named `name` whose labels include every `labels` pair
/// (`key="value"`), summed over the matching samples; 0 when none matches.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `GET http://127.0.0.1:<port>/metrics` over plain HTTP/1.0; empty when nothing answers yet.
pub fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    if tcp
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return String::new();
    }
    let mut text = String::new();
    let _ = tcp.read_to_string(&mut text);
    text
}
