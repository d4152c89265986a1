//! Files only the service user may read: the secrets key, the listener key, the state
//! directory. Shared by [`crate::secrets`] and [`crate::tls`] so neither imports the other.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Why a private file is not private.
#[derive(Debug)]
pub(crate) enum PrivacyError {
    /// Group or others may read it; the permission bits.
    Readable { mode: u32 },
    /// Its metadata could not be read.
    Io(std::io::Error),
}

impl fmt::Display for PrivacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivacyError::Readable { mode } => write!(
                f,
                "mode {mode:04o} lets group or others read it; run `chmod 600` on it"
            ),
            PrivacyError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Refuses a file whose mode gives group or others any access.
pub(crate) fn ensure_private_file(path: &Path) -> Result<(), PrivacyError> {
    let mode = std::fs::metadata(path)
        .map_err(PrivacyError::Io)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(PrivacyError::Readable {
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Creates `dir` (and parents) with mode 0700 when it does not exist.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to `path` with mode 0600: to a temporary sibling first (created exclusively),
/// flushed to disk, then renamed over `path`, so a crash never leaves half a file.
pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
