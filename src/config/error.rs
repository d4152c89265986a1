//! Configuration errors that point at the file, the 1-based line and the key path.
//!
//! Every problem found while reading the TOML file (syntax, types, missing fields, unknown keys)
//! or while cross-checking it afterwards (unknown destination in a route, bad pin, ...) becomes a
//! [`ConfigError`] whose `Display` reads
//! `config/bad.toml:14: key credentials[0].base_url: invalid URL: relative URL without a base`.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, permissions, not UTF-8).
    #[error("{}: cannot read the configuration file: {source}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is wrong.
    #[error("{}", render_invalid(path, *line, key, message))]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// 1-based line the problem is on (the key, the value or the enclosing table header).
        line: usize,
        /// Key path such as `credentials[0].base_url`; empty for document-level problems.
        key: String,
        /// What is wrong, without any secret value.
        message: String,
    },
}

impl ConfigError {
    /// The 1-based line of an [`ConfigError::Invalid`] error.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => Some(*line),
            ConfigError::Read { .. } => None,
        }
    }

    /// The key path of an [`ConfigError::Invalid`] error (`""` for the document itself).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Read { .. } => None,
        }
    }
}

fn render_invalid(path: &Path, line: usize, key: &str, message: &str) -> String {
    if key.is_empty() {
        format!("{}:{line}: {message}", path.display())
    } else {
        format!("{}:{line}: key {key}: {message}", path.display())
    }
}

/// 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// One step of a key path.
#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `sources[0].webhook.secret` into `sources`, `0`, `webhook`, `secret`.
fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(close) = stripped.find(']') else {
                break;
            };
            if let Ok(index) = stripped[..close].parse::<usize>() {
                out.push(Segment::Index(index));
            }
            rest = &stripped[close + 1..];
        }
    }
    out
}

/// Byte offset of the deepest existing part of `path` in `text`: the key itself when present,
/// else the closest enclosing key, array element or table header. Works for inline tables,
/// dotted keys, `[table]` headers and `[[array.of.tables]]`.
pub(crate) fn locate(text: &str, path: &str) -> usize {
    let Ok(root) = DeTable::parse(text) else {
        return 0;
    };
    let mut best = 0;
    let root_span = root.span();
    let mut current: Spanned<DeValue<'_>> =
        Spanned::new(root_span, DeValue::Table(root.into_inner()));
    for segment in segments(path) {
        let next = match (&segment, current.get_ref()) {
            (Segment::Key(name), DeValue::Table(table)) => table
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == *name)
                .map(|(k, v)| (k.span(), v.clone())),
            (Segment::Index(i), DeValue::Array(array)) => {
                array.get(*i).map(|v| (v.span(), v.clone()))
            }
            _ => None,
        };
        let Some((span, value)) = next else {
            break;
        };
        best = span.start;
        current = value;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
[service]
log_level = \"info\"

[[sources]]
name = \"a\"

[[sources]]
name = \"b\"
[sources.server]
base_url = \"x\"
tls = { mode = \"pin\", sha256 = \"zz\" }
";

    #[test]
    fn splits_key_paths() {
        assert_eq!(
            segments("sources[0].server.base_url"),
            vec![
                Segment::Key("sources"),
                Segment::Index(0),
                Segment::Key("server"),
                Segment::Key("base_url")
            ]
        );
        assert_eq!(
            segments("a[1][2]"),
            vec![Segment::Key("a"), Segment::Index(1), Segment::Index(2)]
        );
    }

    #[test]
    fn locates_keys_in_arrays_of_tables() {
        let line = |p: &str| line_of(DOC, locate(DOC, p));
        assert_eq!(line("service.log_level"), 2);
        assert_eq!(line("sources[0].name"), 5);
        assert_eq!(line("sources[1].name"), 8);
        assert_eq!(line("sources[1].server.base_url"), 10);
        assert_eq!(line("sources[1].server.tls.sha256"), 11);
        // Missing key: falls back to the closest enclosing part.
        assert_eq!(line("sources[1].server.password"), 9);
        assert_eq!(line("sources[0]"), 4);
    }

    #[test]
    fn renders_file_line_and_key() {
        let err = ConfigError::Invalid {
            path: PathBuf::from("config/bad.toml"),
            line: 14,
            key: "sources[0].server.base_url".into(),
            message: "invalid URL: relative URL without a base".into(),
        };
        assert_eq!(
            err.to_string(),
            "config/bad.toml:14: key sources[0].server.base_url: invalid URL: relative URL without a base"
        );
    }
}
