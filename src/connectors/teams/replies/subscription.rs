//! What the gateway knows of its subscription: id, expiry and `clientState`, kept in the
//! store's connector state (namespace [`NAMESPACE`], key the source name) so notifications are
//! still recognised after a restart. The keeper and the inbound endpoint each hold a
//! [`SubscriptionBook`] of the source; the store is the truth between them: the endpoint
//! re-reads it when a notification names a subscription it does not know yet, and lifecycle
//! events travel from the endpoint to the keeper through it (namespace [`LIFECYCLE_NAMESPACE`]),
//! so a `subscriptionRemoved` survives a restart.
//!
//! The `clientState` is a secret (whoever knows it can forge notifications): 32 random bytes,
//! URL-safe base64 (43 characters, below Graph's 128), stored sealed with the gateway's secret
//! key ([`SecretKey::seal`], associated data `teams_replies:<source>`), compared in constant
//! time, never logged.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use ml_connector_actors::store::StoreError;
use ml_connector_actors::{blocking, Store};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::secrets::SecretKey;

/// Connector-state namespace of the subscriptions.
pub const NAMESPACE: &str = "teams_replies_subscription";
/// Connector-state namespace of the lifecycle events waiting for the keeper.
pub const LIFECYCLE_NAMESPACE: &str = "teams_replies_lifecycle";

/// A lifecycle event waiting for the keeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// `reauthorizationRequired`: renew (Graph's reauthorization is a renewal).
    Reauthorize,
    /// `subscriptionRemoved`: create a new one.
    Removed,
}

impl Lifecycle {
    /// The event of Graph's `lifecycleEvent` value; `None` for others (`missed` is not sent
    /// for Teams resources).
    pub fn parse(event: &str) -> Option<Lifecycle> {
        match event {
            "reauthorizationRequired" => Some(Lifecycle::Reauthorize),
            "subscriptionRemoved" => Some(Lifecycle::Removed),
            _ => None,
        }
    }

    fn stored(self) -> &'static [u8] {
        match self {
            Lifecycle::Reauthorize => b"reauthorizationRequired",
            Lifecycle::Removed => b"subscriptionRemoved",
        }
    }
}

/// A subscription Graph confirmed.
#[derive(Clone)]
pub struct Active {
    /// Graph's subscription id.
    pub id: String,
    /// `expirationDateTime`, UTC epoch milliseconds.
    pub expires_ms: i64,
    /// The `clientState` sent at creation.
    pub client_state: SecretString,
}

impl fmt::Debug for Active {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Active")
            .field("id", &self.id)
            .field("expires_ms", &self.expires_ms)
            .field("client_state", &"[REDACTED]")
            .finish()
    }
}

/// The stored form: the `clientState` sealed, URL-safe base64.
#[derive(Serialize, Deserialize)]
struct Persisted {
    id: String,
    expires_ms: i64,
    client_state_sealed: String,
}

#[derive(Default)]
struct Shared {
    current: Option<Active>,
    /// The one replaced last: its notifications still in flight are accepted.
    previous: Option<Active>,
    /// The last renewal failed: recreate at the next check.
    failed: bool,
}

/// The subscription of one `teams_replies` source. Cheap to clone.
#[derive(Clone)]
pub struct SubscriptionBook {
    name: String,
    store: Store,
    key: SecretKey,
    shared: Arc<Mutex<Shared>>,
}

impl fmt::Debug for SubscriptionBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionBook")
            .field("source", &self.name)
            .field("current", &self.lock().current)
            .finish_non_exhaustive()
    }
}

/// A fresh `clientState`: 32 random bytes, URL-safe base64 without padding.
pub fn new_client_state() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl SubscriptionBook {
    /// The book of source `name`, loaded from `store` (a stored subscription whose
    /// `clientState` cannot be opened with `key` is ignored with a warning: the keeper makes a
    /// new one).
    ///
    /// Errors: the store could not be read.
    pub fn open(name: &str, store: Store, key: SecretKey) -> Result<SubscriptionBook, StoreError> {
        let book = SubscriptionBook {
            name: name.to_string(),
            store,
            key,
            shared: Arc::default(),
        };
        book.lock().current = book.load()?;
        Ok(book)
    }

    /// The stored subscription; `None` when there is none or it cannot be opened (warning).
    fn load(&self) -> Result<Option<Active>, StoreError> {
        let Some(bytes) = self.store.get_state(NAMESPACE, &self.name)? else {
            return Ok(None);
        };
        let loaded = serde_json::from_slice::<Persisted>(&bytes).ok().and_then(|p| {
            let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.client_state_sealed).ok()?;
            let client_state = self.key.open(&self.aad(), &sealed).ok()?;
            Some(Active { id: p.id, expires_ms: p.expires_ms, client_state })
        });
        if loaded.is_none() {
            tracing::warn!(source = %self.name, "stored subscription unreadable; a new one will be created");
        }
        Ok(loaded)
    }

    /// Take the stored subscription as current when it is another one than the current
    /// (which then becomes the previous one).
    fn reload(&self) {
        let loaded = match self.load() {
            Ok(Some(loaded)) => loaded,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(source = %self.name, error = %e, "stored subscription unreadable");
                return;
            }
        };
        let mut shared = self.lock();
        if shared.current.as_ref().is_some_and(|c| c.id == loaded.id) {
            shared.current = Some(loaded);
            return;
        }
        let old = shared.current.replace(loaded);
        if old.is_some() {
            shared.previous = old;
        }
    }

    fn aad(&self) -> String {
        format!("teams_replies:{}", self.name)
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The source name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The subscription in use, if any.
    pub fn current(&self) -> Option<Active> {
        self.lock().current.clone()
    }

    async fn persist(&self, active: &Active) -> Result<(), StoreError> {
        let sealed = self
            .key
            .seal(&self.aad(), active.client_state.expose_secret().as_bytes())
            .map_err(|e| StoreError::Txn(e.to_string()))?;
        let persisted = Persisted {
            id: active.id.clone(),
            expires_ms: active.expires_ms,
            client_state_sealed: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed),
        };
        let bytes = serde_json::to_vec(&persisted).map_err(|e| StoreError::Txn(e.to_string()))?;
        let (store, name) = (self.store.clone(), self.name.clone());
        blocking(move || store.put_state(NAMESPACE, &name, &bytes)).await
    }

    /// Store `active` durably, then use it (the one before stays acceptable for notifications
    /// in flight); clears the failure flag.
    ///
    /// Errors: the store write failed (nothing changed in memory).
    pub async fn install(&self, active: Active) -> Result<(), StoreError> {
        self.persist(&active).await?;
        let mut shared = self.lock();
        let old = shared.current.replace(active);
        if old.is_some() {
            shared.previous = old;
        }
        shared.failed = false;
        Ok(())
    }

    /// Store the renewed expiry durably, then use it; clears the failure flag.
    ///
    /// Errors: the store write failed.
    pub async fn renewed(&self, id: &str, expires_ms: i64) -> Result<(), StoreError> {
        let Some(mut active) = self.current().filter(|a| a.id == id) else {
            return Ok(());
        };
        active.expires_ms = expires_ms;
        self.persist(&active).await?;
        let mut shared = self.lock();
        shared.current = Some(active);
        shared.failed = false;
        Ok(())
    }

    /// Note a failed renewal (the next check recreates).
    pub fn mark_failed(&self) {
        self.lock().failed = true;
    }

    /// Did the last renewal fail?
    pub fn failed(&self) -> bool {
        self.lock().failed
    }

    /// Queue a lifecycle event for the keeper, durably (a queued `Removed` is not replaced
    /// by `Reauthorize`). Synchronous: one small store write.
    ///
    /// Errors: the store write failed.
    pub fn request(&self, event: Lifecycle) -> Result<(), StoreError> {
        let queued = self.store.get_state(LIFECYCLE_NAMESPACE, &self.name)?;
        if event == Lifecycle::Reauthorize && queued.as_deref() == Some(Lifecycle::Removed.stored()) {
            return Ok(());
        }
        self.store.put_state(LIFECYCLE_NAMESPACE, &self.name, event.stored())
    }

    /// The queued lifecycle event, removed from the store.
    ///
    /// Errors: the store could not be read or written.
    pub async fn take_pending(&self) -> Result<Option<Lifecycle>, StoreError> {
        let (store, name) = (self.store.clone(), self.name.clone());
        blocking(move || {
            let Some(bytes) = store.get_state(LIFECYCLE_NAMESPACE, &name)? else {
                return Ok(None);
            };
            store.delete_state(LIFECYCLE_NAMESPACE, &name)?;
            Ok(std::str::from_utf8(&bytes).ok().and_then(Lifecycle::parse))
        })
        .await
    }

    /// Is `subscription_id` the stored (current) subscription? Re-reads the store, so a
    /// lifecycle event of a subscription already replaced is told apart.
    pub fn is_current(&self, subscription_id: &str) -> bool {
        self.reload();
        self.lock().current.as_ref().is_some_and(|c| c.id == subscription_id)
    }

    /// Is `client_state` the `clientState` of subscription `subscription_id` (the current one
    /// or the one before)? Compared in constant time; an unknown id re-reads the store once
    /// (the keeper may have just made it).
    pub fn verify(&self, subscription_id: &str, client_state: &str) -> bool {
        if self.matches(subscription_id, client_state) {
            return true;
        }
        self.reload();
        self.matches(subscription_id, client_state)
    }

    fn matches(&self, subscription_id: &str, client_state: &str) -> bool {
        let shared = self.lock();
        let known = [shared.current.as_ref(), shared.previous.as_ref()]
            .into_iter()
            .flatten()
            .filter(|a| a.id == subscription_id)
            .any(|a| bool::from(a.client_state.expose_secret().as_bytes().ct_eq(client_state.as_bytes())));
        known
    }
}
