//! Logs (tracing: text or JSON) and metrics (Prometheus recorder, rendered by `/metrics`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines with key=value fields.
    Text,
    /// One JSON object per line (journald / log shippers).
    Json,
}

/// Install the global tracing subscriber writing to stderr. `level` is an `EnvFilter`
/// directive (`info`, `ml_connector=debug`); `RUST_LOG` wins when set. Text lines carry ANSI
/// colours only when [`use_ansi`] says so (a terminal, `NO_COLOR` unset), so a log file or the
/// journal gets plain text. Safe to call twice (the second call is ignored).
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = use_ansi(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Whether log lines may carry ANSI colour codes: only on a terminal, and only when `NO_COLOR`
/// is unset or empty (<https://no-color.org>: "when present and not an empty string").
/// systemd connects stderr to the journal (a socket), so the service never colours.
pub fn use_ansi(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The process-wide Prometheus handle; installs the recorder on first call. Latency
/// histograms use buckets from 5 ms to 5 min (seconds).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ])
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            ml_connector_actors::metrics_names::describe();
        }
        handle
    })
}

#[cfg(test)]
mod tests {
    use super::use_ansi;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(use_ansi(true, None));
        assert!(use_ansi(true, Some(OsStr::new(""))));
        assert!(!use_ansi(true, Some(OsStr::new("1"))));
        assert!(!use_ansi(false, None));
        assert!(!use_ansi(false, Some(OsStr::new("1"))));
    }
}
