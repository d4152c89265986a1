//! The delegated refresh token lives encrypted in the store and is rewritten on every refresh.

use ml_connector_actors::Store;
use secrecy::SecretString;

use super::RefreshTokenVault;
use crate::secrets::SecretKey;

/// [`RefreshTokenVault`] over a named secret in the store.
pub struct StoreVault {
    pub store: Store,
    pub key: SecretKey,
    /// Secret name (`[[microsoft]] refresh_token = { secret = "..." }`).
    pub name: String,
}

impl RefreshTokenVault for StoreVault {
    fn load(&self) -> Result<SecretString, String> {
        let sealed = self
            .store
            .get_secret(&self.name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "secret '{}' is not in the store: run `ml-connector secret set {}`",
                    self.name, self.name
                )
            })?;
        self.key
            .open(&self.name, &sealed)
            .map_err(|e| e.to_string())
    }

    fn store(&self, new_token: &SecretString) -> Result<(), String> {
        use secrecy::ExposeSecret;
        let sealed = self
            .key
            .seal(&self.name, new_token.expose_secret().as_bytes())
            .map_err(|e| e.to_string())?;
        self.store
            .put_secret(&self.name, &sealed)
            .map_err(|e| e.to_string())
    }
}
