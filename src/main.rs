//! The `ml-connector` binary: see `ml-connector --help`.

use std::process::ExitCode;

use clap::Parser;
use ml_connector::cli::{Cli, Command};
use ml_connector::commands;

fn main() -> ExitCode {
    ml_connector::tls::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => commands::run::run(&config),
        Command::Check { config } => commands::check::run(&config),
        Command::Secret { action, config } => commands::secret::run(&config, action),
        Command::DeadLetters { action, config } => commands::dead_letters::run(&config, action),
        Command::Demo {
            config,
            seconds,
            rate,
            listen,
        } => commands::demo::run(&config, seconds, rate, &listen),
        Command::Bench { docs } => commands::bench::run(docs),
    }
}
