//! The Service Layer session kept across restarts, sealed in the store.
//!
//! After a crash (`kill -9`, power loss) the session the gateway held stays open on the server
//! until its inactivity timeout and holds a licence; logging in again at each restart leaks one
//! session per crash and, with quick restarts, draws "concurrent login" answers. So the
//! `B1SESSION`/`ROUTEID` cookies and the `SessionTimeout` of every login are sealed with the
//! secrets key (XChaCha20-Poly1305, [`crate::secrets::SecretKey::seal`]) and stored under the
//! secret name `session.sap_b1.<credential>`; the next start tries that session first
//! ([`super::SapAuthenticator`]). A clean logout overwrites it with a tombstone. A crash loop
//! therefore leaks at most one session.

use ml_connector_actors::{blocking, Store};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::auth::SapSession;
use crate::secrets::SecretKey;

/// A session as stored (sealed; never logged).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSession {
    /// `B1SESSION` cookie value.
    pub b1session: String,
    /// `ROUTEID` cookie value.
    pub route_id: Option<String>,
    /// `SessionTimeout` of the login, minutes.
    pub timeout_minutes: u64,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("b1session", &"[REDACTED]")
            .field("route_id", &self.route_id)
            .field("timeout_minutes", &self.timeout_minutes)
            .finish()
    }
}

impl StoredSession {
    /// The session's cookies.
    pub fn session(&self) -> SapSession {
        SapSession {
            b1session: SecretString::from(self.b1session.clone()),
            route_id: self.route_id.clone(),
        }
    }
}

/// Where one credential's session is kept.
#[derive(Clone)]
pub struct SessionVault {
    store: Store,
    key: SecretKey,
    name: String,
}

impl std::fmt::Debug for SessionVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionVault")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Stored in place of a session after a clean logout.
const TOMBSTONE: &str = "{}";

impl SessionVault {
    /// The vault of credential `credential` (its configuration name; characters outside
    /// `A-Z a-z 0-9 . _ -` become `_` in the secret name).
    pub fn new(store: Store, key: SecretKey, credential: &str) -> Self {
        let clean: String = credential
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        Self {
            store,
            key,
            name: format!("session.sap_b1.{clean}"),
        }
    }

    /// The secret name it uses (`session.sap_b1.<credential>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stored session, if any (none after a logout; an unreadable entry counts as none and
    /// is logged without its content).
    pub async fn load(&self) -> Option<StoredSession> {
        let store = self.store.clone();
        let name = self.name.clone();
        let sealed = match blocking(move || store.get_secret(&name)).await {
            Ok(v) => v?,
            Err(e) => {
                tracing::warn!(system = "sap_b1", vault = %self.name, error = %e, "stored SAP session unreadable");
                return None;
            }
        };
        let text = match self.key.open(&self.name, &sealed) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(system = "sap_b1", vault = %self.name, error = %e, "stored SAP session cannot be opened");
                return None;
            }
        };
        serde_json::from_str::<StoredSession>(text.expose_secret())
            .ok()
            .filter(|s| !s.b1session.is_empty())
    }

    /// Keep `session` (best effort: a failure is logged; the gateway works without it).
    pub async fn save(&self, session: &SapSession, timeout_minutes: u64) {
        let stored = StoredSession {
            b1session: session.b1session.expose_secret().to_string(),
            route_id: session.route_id.clone(),
            timeout_minutes,
        };
        let text = serde_json::to_string(&stored).unwrap_or_else(|_| TOMBSTONE.to_string());
        self.put(text.as_bytes()).await;
    }

    /// Forget the session (after a logout, or when the server said it is gone).
    pub async fn clear(&self) {
        self.put(TOMBSTONE.as_bytes()).await;
    }

    async fn put(&self, plaintext: &[u8]) {
        let sealed = match self.key.seal(&self.name, plaintext) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(system = "sap_b1", vault = %self.name, error = %e, "SAP session not kept");
                return;
            }
        };
        let store = self.store.clone();
        let name = self.name.clone();
        if let Err(e) = blocking(move || store.put_secret(&name, &sealed)).await {
            tracing::warn!(system = "sap_b1", vault = %self.name, error = %e, "SAP session not kept");
        }
    }
}
