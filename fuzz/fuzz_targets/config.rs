//! The configuration loader: `Config::parse(text, path, &REGISTRY)` on arbitrary UTF-8 (TOML
//! syntax, the frame, every registered kind's tables, routes with filters and templates).
//! Invariant: an error names the file and a line inside the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ml_connector::config::{Config, ConfigError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(
        text,
        Path::new("fuzz.toml"),
        &ml_connector::connectors::REGISTRY,
    ) {
        Ok(config) => {
            let _ = config.state_dir();
        }
        Err(ConfigError::Invalid { path, line, .. }) => {
            assert_eq!(path, Path::new("fuzz.toml"));
            assert!(
                line >= 1 && line <= text.matches('\n').count() + 1,
                "line {line}"
            );
        }
        Err(_) => {}
    }
});
