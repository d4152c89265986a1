//! The `ml-connector` binary: see `ml-connector --help`.

use std::process::ExitCode;

use clap::Parser;
use std::path::PathBuf;

use ml_connector::cli::{Cli, Command, DryRunAction, DEFAULT_CONFIG, DEMO_CONFIG};
use ml_connector::commands;
use ml_connector::commands::bench_twilio::Flow;

fn main() -> ExitCode {
    limit_malloc_arenas();
    ml_connector::tls::install_crypto_provider();
    let cli = Cli::parse();
    let config = |default: &str| cli.config.clone().unwrap_or_else(|| PathBuf::from(default));
    match cli.command {
        Command::Run { dry_run } => commands::run::run(&config(DEFAULT_CONFIG), dry_run),
        Command::DryRun {
            action: DryRunAction::Report { json },
        } => commands::dry_run::report(&config(DEFAULT_CONFIG), json),
        Command::DryRun {
            action: DryRunAction::AdoptCursors,
        } => commands::dry_run::adopt_cursors(&config(DEFAULT_CONFIG)),
        Command::Check => commands::check::run(&config(DEFAULT_CONFIG)),
        Command::Secret { action } => commands::secret::run(&config(DEFAULT_CONFIG), action),
        Command::DeadLetters { action } => {
            commands::dead_letters::run(&config(DEFAULT_CONFIG), action)
        }
        Command::Trace {
            source,
            key,
            entity,
            json,
        } => commands::trace::run(
            &config(DEFAULT_CONFIG),
            &source,
            entity.as_deref(),
            &key,
            json,
        ),
        Command::Demo {
            seconds,
            rate,
            listen,
        } => commands::demo::run(&config(DEMO_CONFIG), seconds, rate, &listen),
        Command::Sandbox { seconds } => commands::sandbox::run(cli.config.as_deref(), seconds),
        Command::Bench {
            docs,
            reference: Some(reference),
            rounds,
            ..
        } => commands::bench_reference::run(docs, &reference, rounds),
        Command::Bench {
            docs,
            flow: flow @ (Flow::Twilio | Flow::Both),
            faults: None,
            ..
        } => commands::bench_twilio::run(docs, flow),
        Command::Bench {
            docs,
            baseline,
            faults: None,
            ..
        } => commands::bench::run(docs, baseline),
        Command::Bench {
            docs,
            faults: Some(spec),
            ..
        } => commands::bench::run_faults(&spec, docs),
        Command::Torture(options) => commands::torture::run(options),
    }
}

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core) and keeps
/// freed memory in each; on a small appliance that multiplies peak memory for no gain (the
/// gateway runs on one actix arbiter plus a few blocking threads for redb, so one arena costs no
/// measurable throughput). With one arena the peak RSS of a 10,000-document burst stays under
/// 30 MB instead of ~37 MB (`ml-connector bench`).
/// An explicit `MALLOC_ARENA_MAX` in the environment wins.
///
/// Blocks of 64 KiB and more (SAP page bodies of 100 documents are ~250 KiB) are mapped
/// on their own and unmapped when freed: glibc's default raises that threshold after the
/// first such block is freed, so later bodies come from the heap and keep it grown.
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…` in the environment wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
        if std::env::var_os("GLIBC_TUNABLES").is_none() {
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
            }
        }
    }
}
