//! `ml-connector dead-letters list|show ID|replay ID` (the service must be stopped).

use std::path::Path;
use std::process::ExitCode;

use crate::cli::DeadLetterAction;

pub fn run(config: &Path, action: DeadLetterAction) -> ExitCode {
    let (_config, store, _) = match super::load_and_open(config) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let result = match action {
        DeadLetterAction::List => store.dead_letters(10_000).map(|letters| {
            if letters.is_empty() {
                println!("no dead letters");
            }
            for d in letters {
                println!(
                    "{:>6}  {}  {:<20} status={:<4} {}  — {}",
                    d.entry.seq,
                    time::OffsetDateTime::from_unix_timestamp(d.at_ms / 1000)
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    d.entry.destination,
                    d.status.map_or("-".to_string(), |s| s.to_string()),
                    d.entry.event_key,
                    d.reason
                );
            }
        }),
        DeadLetterAction::Show { id } => store.dead_letter(id).map(|d| match d {
            Some(d) => println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default()),
            None => println!("dead letter {id} not found"),
        }),
        DeadLetterAction::Replay { id } => store.replay_dead_letter(id).map(|r| match r {
            Some(seq) => println!(
                "dead letter {id} replayed as outbox entry {seq}; it is sent when the service runs"
            ),
            None => println!(
                "dead letter {id} not replayed: the ledger says it was delivered meanwhile"
            ),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
