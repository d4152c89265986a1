//! Secrets at rest: XChaCha20-Poly1305 sealing with a key kept outside the database.
//!
//! - The 32-byte key comes from systemd's `LoadCredential=secrets-key:/etc/ml-connector/credentials/secrets-key`
//!   (`$CREDENTIALS_DIRECTORY/secrets-key`) or, without systemd, from `<state_dir>/secrets.key`,
//!   created on first use with mode 0600. A key file readable by group or others is refused.
//! - A sealed value is `nonce (24 random bytes) || ciphertext || Poly1305 tag (16 bytes)`, with
//!   the secret's name as associated data: a sealed value copied to another name fails to open.
//! - Sealed values live in the store (`Store::put_secret` / `get_secret`); the configuration only
//!   names them (`{ secret = "NAME" }`, see [`SecretRef`]).
//!
//! Errors name the secret or variable, never the value.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};

mod secret_ref;

pub use secret_ref::{SecretRef, PLAIN_SECRET_REFUSED};

use crate::private_file::{
    create_private_dir, ensure_private_file, write_private_file, PrivacyError,
};

/// File name of the key inside `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=secrets-key:...`).
pub const CREDENTIAL_NAME: &str = "secrets-key";
/// File name of the key inside the state directory when systemd credentials are not used.
pub const KEY_FILE: &str = "secrets.key";
/// Length of the key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the random nonce stored in front of every sealed value.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag at the end of every sealed value.
pub const TAG_LEN: usize = 16;
/// Longest accepted secret name.
pub const MAX_NAME_LEN: usize = 128;

/// What went wrong with a key or a secret. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file could not be read, created or has the wrong length.
    #[error("secrets key {}: {message}", path.display())]
    Key {
        /// The key file concerned.
        path: PathBuf,
        /// What is wrong (never the key).
        message: String,
    },
    /// The key file is readable by group or others.
    #[error(
        "secrets key {}: mode {mode:04o} lets group or others read it; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyPermissions {
        /// The key file concerned.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `{ env = "VAR" }` names a variable that is not set (or not UTF-8).
    #[error("environment variable {var} is not set (referenced as {{ env = \"{var}\" }})")]
    EnvMissing {
        /// The variable name.
        var: String,
    },
    /// `{ secret = "NAME" }` names a secret that is not in the store.
    #[error("secret \"{name}\" is not in the store: run `ml-connector secret set {name}`")]
    SecretMissing {
        /// The secret name.
        name: String,
    },
    /// The sealed value does not open with this key under this name.
    #[error(
        "secret \"{name}\" cannot be decrypted: it was sealed with another key or for another name"
    )]
    Open {
        /// The secret name.
        name: String,
    },
    /// The secret name is not usable.
    #[error("invalid secret name \"{name}\": {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Encryption failed (only possible for values above the AEAD limit of ~256 GiB).
    #[error("secret \"{name}\" cannot be sealed")]
    Seal {
        /// The secret name.
        name: String,
    },
    /// The store failed to read or write.
    #[error("secret store: {0}")]
    Store(String),
}

/// Where sealed secrets are kept: implemented by the runtime store (`ml_connector_actors::Store`)
/// and by test doubles.
pub trait SecretStore {
    /// The store's error type (only its `Display` text is kept).
    type Error: fmt::Display;
    /// Writes (or replaces) the sealed value of `name`.
    fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), Self::Error>;
    /// Reads the sealed value of `name`, `None` when absent.
    fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Names of all stored secrets, for `ml-connector secret list`.
    fn secret_names(&self) -> Result<Vec<String>, Self::Error>;
}

impl SecretStore for ml_connector_actors::Store {
    type Error = ml_connector_actors::store::StoreError;

    fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), Self::Error> {
        ml_connector_actors::Store::put_secret(self, name, sealed)
    }

    fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, Self::Error> {
        ml_connector_actors::Store::get_secret(self, name)
    }

    fn secret_names(&self) -> Result<Vec<String>, Self::Error> {
        ml_connector_actors::Store::secret_names(self)
    }
}

/// The 32-byte XChaCha20-Poly1305 key that seals every secret. Cheap to clone (shared, zeroed
/// on drop of the last clone); `Debug` shows only where it came from.
#[derive(Clone)]
pub struct SecretKey {
    key: Arc<SecretBox<[u8; KEY_LEN]>>,
    source: PathBuf,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Loads the key from `$CREDENTIALS_DIRECTORY/secrets-key` when systemd set
    /// `CREDENTIALS_DIRECTORY`, else from `<state_dir>/secrets.key`, creating that file (mode 0600,
    /// 32 random bytes) on first use.
    ///
    /// Errors: [`SecretError::Key`] (unreadable, wrong length, credential missing),
    /// [`SecretError::KeyPermissions`] (state-dir key readable by group/others).
    pub fn load_or_create(state_dir: &Path) -> Result<SecretKey, SecretError> {
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        Self::load_or_create_from(credentials.as_deref(), state_dir)
    }

    /// [`SecretKey::load_or_create`] with the credentials directory given explicitly.
    pub fn load_or_create_from(
        credentials_dir: Option<&Path>,
        state_dir: &Path,
    ) -> Result<SecretKey, SecretError> {
        if let Some(dir) = credentials_dir {
            // systemd owns this file (read-only, private to the unit): read, never create.
            return Self::read(&dir.join(CREDENTIAL_NAME));
        }
        let path = state_dir.join(KEY_FILE);
        if path.exists() {
            ensure_private_file(&path).map_err(|e| match e {
                PrivacyError::Readable { mode } => SecretError::KeyPermissions {
                    path: path.clone(),
                    mode,
                },
                PrivacyError::Io(e) => SecretError::Key {
                    path: path.clone(),
                    message: e.to_string(),
                },
            })?;
            return Self::read(&path);
        }
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        let key_error = |e: std::io::Error| SecretError::Key {
            path: path.clone(),
            message: format!("cannot create: {e}"),
        };
        create_private_dir(state_dir).map_err(key_error)?;
        write_private_file(&path, &key).map_err(key_error)?;
        Ok(SecretKey {
            key: Arc::new(SecretBox::new(Box::new(key))),
            source: path,
        })
    }

    /// A key from raw bytes (tests, key rotation tools).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        SecretKey {
            key: Arc::new(SecretBox::new(Box::new(bytes))),
            source: PathBuf::from("<memory>"),
        }
    }

    /// The file the key was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Reads a key file: 32 raw bytes, or 64 hex digits (a trailing newline is allowed).
    fn read(path: &Path) -> Result<SecretKey, SecretError> {
        let bytes = std::fs::read(path).map_err(|e| SecretError::Key {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        let mut key = [0u8; KEY_LEN];
        if bytes.len() == KEY_LEN {
            key.copy_from_slice(&bytes);
        } else {
            let text = std::str::from_utf8(&bytes).unwrap_or("").trim();
            if text.len() != 2 * KEY_LEN || hex::decode_to_slice(text, &mut key).is_err() {
                return Err(SecretError::Key {
                    path: path.to_path_buf(),
                    message: format!(
                        "expected {KEY_LEN} raw bytes or {} hex digits, found {} bytes \
                         (create one with `head -c {KEY_LEN} /dev/urandom > FILE`)",
                        2 * KEY_LEN,
                        bytes.len()
                    ),
                });
            }
        }
        Ok(SecretKey {
            key: Arc::new(SecretBox::new(Box::new(key))),
            source: path.to_path_buf(),
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.expose_secret().into())
    }

    /// Seals `plaintext` for the secret `name`: `nonce(24) || ciphertext || tag(16)`, with `name`
    /// as associated data.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let nonce_ref = XNonce::from(nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                &nonce_ref,
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal {
                name: name.to_string(),
            })?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens a value sealed by [`SecretKey::seal`] for the same `name`.
    ///
    /// Errors: [`SecretError::Open`] when the value is truncated, was sealed with another key or
    /// for another name, or is not UTF-8.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<SecretString, SecretError> {
        let open_error = || SecretError::Open {
            name: name.to_string(),
        };
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(open_error());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);
        let plaintext = self
            .cipher()
            .decrypt(
                &XNonce::from(nonce_bytes),
                Payload {
                    msg: ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| open_error())?;
        let text = String::from_utf8(plaintext).map_err(|_| open_error())?;
        Ok(SecretString::from(text))
    }
}

/// Checks a secret name: 1..=128 characters of `A-Z a-z 0-9 . _ -`.
pub fn validate_name(name: &str) -> Result<(), SecretError> {
    let invalid = |reason| SecretError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("longer than 128 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid("use only letters, digits, '.', '_' and '-'"));
    }
    Ok(())
}

/// The value a [`SecretRef`] points at: the environment variable, or the secret opened from the
/// store with `key`.
///
/// Errors: [`SecretError::EnvMissing`], [`SecretError::SecretMissing`], [`SecretError::Open`],
/// [`SecretError::Store`]; each names the reference, never the value.
pub fn resolve<S: SecretStore + ?Sized>(
    r: &SecretRef,
    key: &SecretKey,
    store: &S,
) -> Result<SecretString, SecretError> {
    match r {
        SecretRef::Env(var) => match std::env::var(var) {
            Ok(value) => Ok(SecretString::from(value)),
            Err(_) => Err(SecretError::EnvMissing { var: var.clone() }),
        },
        SecretRef::Secret(name) => {
            let sealed = store
                .get_secret(name)
                .map_err(|e| SecretError::Store(e.to_string()))?
                .ok_or_else(|| SecretError::SecretMissing { name: name.clone() })?;
            key.open(name, &sealed)
        }
    }
}

/// Seals `value` under `name` and writes it to the store (replacing any previous value), as
/// `ml-connector secret set NAME` does and as a rotating refresh token is persisted.
pub fn set<S: SecretStore + ?Sized>(
    name: &str,
    value: &str,
    key: &SecretKey,
    store: &S,
) -> Result<(), SecretError> {
    validate_name(name)?;
    let sealed = key.seal(name, value.as_bytes())?;
    store
        .put_secret(name, &sealed)
        .map_err(|e| SecretError::Store(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemoryStore(Mutex<BTreeMap<String, Vec<u8>>>);

    impl SecretStore for MemoryStore {
        type Error = String;
        fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), String> {
            self.0
                .lock()
                .map_err(|e| e.to_string())?
                .insert(name.to_string(), sealed.to_vec());
            Ok(())
        }
        fn get_secret(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
            Ok(self.0.lock().map_err(|e| e.to_string())?.get(name).cloned())
        }
        fn secret_names(&self) -> Result<Vec<String>, String> {
            Ok(self
                .0
                .lock()
                .map_err(|e| e.to_string())?
                .keys()
                .cloned()
                .collect())
        }
    }

    fn key() -> SecretKey {
        SecretKey::from_bytes([7u8; KEY_LEN])
    }

    #[test]
    fn seal_then_open_round_trips_and_binds_the_name() {
        let key = key();
        let sealed = key.seal("sap-password", b"manager-pass").expect("seal");
        assert_eq!(sealed.len(), NONCE_LEN + 12 + TAG_LEN);
        assert!(!sealed.windows(12).any(|w| w == b"manager-pass"));
        let opened = key.open("sap-password", &sealed).expect("open");
        assert_eq!(opened.expose_secret(), "manager-pass");
        // Same plaintext twice gives different sealed values (random nonce).
        assert_ne!(
            sealed,
            key.seal("sap-password", b"manager-pass").expect("seal")
        );

        let swapped = key.open("graph-refresh", &sealed).expect_err("other name");
        assert!(matches!(swapped, SecretError::Open { .. }));
        let other_key = SecretKey::from_bytes([8u8; KEY_LEN]);
        assert!(other_key.open("sap-password", &sealed).is_err());
        assert!(key.open("sap-password", &sealed[..10]).is_err());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        let err = key.open("sap-password", &tampered).expect_err("tampered");
        assert!(!err.to_string().contains("manager-pass"));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let first = SecretKey::load_or_create_from(None, &state).expect("create");
        let path = state.join(KEY_FILE);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).expect("read").len(), KEY_LEN);
        let sealed = first.seal("x", b"value").expect("seal");
        let second = SecretKey::load_or_create_from(None, &state).expect("reuse");
        assert_eq!(
            second.open("x", &sealed).expect("open").expose_secret(),
            "value"
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let err = SecretKey::load_or_create_from(None, &state).expect_err("group-readable");
        assert!(
            matches!(err, SecretError::KeyPermissions { mode: 0o640, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn credentials_directory_wins_and_is_never_written() {
        let creds = tempfile::tempdir().expect("tempdir");
        let state = tempfile::tempdir().expect("tempdir");
        let missing = SecretKey::load_or_create_from(Some(creds.path()), state.path())
            .expect_err("no credential");
        assert!(missing.to_string().contains("secrets-key"), "{missing}");
        assert!(!state.path().join(KEY_FILE).exists());

        std::fs::write(
            creds.path().join(CREDENTIAL_NAME),
            format!("{}\n", "ab".repeat(32)),
        )
        .expect("write");
        let key = SecretKey::load_or_create_from(Some(creds.path()), state.path()).expect("hex");
        let same = SecretKey::from_bytes([0xab; KEY_LEN]);
        let sealed = same.seal("n", b"v").expect("seal");
        assert!(key.open("n", &sealed).is_ok());

        std::fs::write(creds.path().join(CREDENTIAL_NAME), b"short").expect("write");
        let err = SecretKey::load_or_create_from(Some(creds.path()), state.path())
            .expect_err("short key");
        assert!(err.to_string().contains("expected 32 raw bytes"), "{err}");
    }

    #[test]
    fn resolve_and_set_through_the_redb_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ml_connector_actors::Store::open(
            &dir.path().join("ml-connector.redb"),
            ml_connector_actors::clock::system(),
        )
        .expect("store");
        let key = SecretKey::load_or_create_from(None, dir.path()).expect("key");
        set("graph-refresh", "rt-1", &key, &store).expect("set");
        set("graph-refresh", "rt-2", &key, &store).expect("rotate");
        let r = SecretRef::Secret("graph-refresh".into());
        assert_eq!(
            resolve(&r, &key, &store).expect("resolve").expose_secret(),
            "rt-2"
        );
        assert_eq!(
            SecretStore::secret_names(&store).expect("names"),
            vec!["graph-refresh".to_string()]
        );
        // What the store holds is sealed, not the token.
        let sealed = store
            .get_secret("graph-refresh")
            .expect("get")
            .expect("present");
        assert!(!sealed.windows(4).any(|w| w == b"rt-2"));
        let missing = resolve(&SecretRef::Secret("sap".into()), &key, &store).expect_err("missing");
        assert!(matches!(missing, SecretError::SecretMissing { .. }));
    }

    #[test]
    fn resolve_and_set_through_a_store() {
        let key = key();
        let store = MemoryStore::default();
        set("sap-prod", "s3cret", &key, &store).expect("set");
        assert_eq!(
            store.secret_names().expect("names"),
            vec!["sap-prod".to_string()]
        );
        let value = resolve(&SecretRef::Secret("sap-prod".into()), &key, &store).expect("resolve");
        assert_eq!(value.expose_secret(), "s3cret");

        let missing =
            resolve(&SecretRef::Secret("nope".into()), &key, &store).expect_err("missing");
        assert_eq!(
            missing.to_string(),
            "secret \"nope\" is not in the store: run `ml-connector secret set nope`"
        );
        let env = resolve(
            &SecretRef::Env("MLC_TEST_SURELY_UNSET_VAR".into()),
            &key,
            &store,
        )
        .expect_err("env");
        assert!(env.to_string().contains("MLC_TEST_SURELY_UNSET_VAR"));
        assert!(matches!(
            set("bad name", "v", &key, &store),
            Err(SecretError::InvalidName { .. })
        ));
    }
}
