//! `ml-connector secret set NAME` / `secret list`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use crate::cli::SecretAction;

/// Read the value from stdin (a trailing newline is removed) and store it encrypted.
pub fn run(config: &Path, action: SecretAction) -> ExitCode {
    let (_config, store, key) = match super::load_and_open(config) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    match action {
        SecretAction::Set { name } => {
            let mut value = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut value) {
                eprintln!("error: cannot read the secret from standard input: {e}");
                return ExitCode::from(1);
            }
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            if value.is_empty() {
                eprintln!("error: empty secret: pipe the value on standard input");
                return ExitCode::from(1);
            }
            match crate::secrets::set(&name, value, &key, &store) {
                Ok(()) => {
                    let _ = store.audit("secret_set", &format!("secret '{name}' set"));
                    println!("secret '{name}' stored (encrypted)");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        SecretAction::List => match store.secret_names() {
            Ok(names) => {
                for n in names {
                    println!("{n}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
    }
}
