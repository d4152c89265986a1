//! Verification of the Bot Connector's JWT on inbound activities.
//!
//! Every request to the bot endpoint carries `Authorization: Bearer <JWT>` signed RS256 by a
//! key announced in Bot Framework's OpenID metadata
//! (`https://login.botframework.com/v1/.well-known/openidconfiguration` → `jwks_uri` → JWKS
//! `{"keys":[{"kty":"RSA","kid","n","e",…}]}`). Accepted only when: the `kid` is a known
//! key, the signature verifies, `iss` == the issuer (`https://api.botframework.com`), `aud`
//! == the bot's app id, `exp` (required) and `nbf` hold within the clock skew (5 minutes),
//! and the `serviceUrl` claim equals the activity's `serviceUrl` (checked by the caller with
//! [`BotClaims::service_url`]).
//!
//! Keys are cached. [`BotJwtVerifier::refresh_for`] (async, before the synchronous check)
//! fetches them when none are cached, when they are older than `max_age`, or once when the
//! token's `kid` is unknown (key rotation) — at most once per `refetch_min`, so forged `kid`s
//! cannot make the gateway hammer the metadata endpoint. Library: `jsonwebtoken` (ring
//! backend, already compiled for rustls). Source: `api-notes/microsoft-teams.md`,
//! learn.microsoft.com "Authentication with the Bot Connector API".

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ml_connector_actors::clock::SharedClock;
use serde::Deserialize;
use serde_json::Value as Json;
use url::Url;

/// What the verifier checks against.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtSettings {
    /// OpenID metadata document URL.
    pub metadata_url: Url,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`: the bot's app id.
    pub audience: String,
    /// Leeway on `exp` / `nbf`.
    pub skew: Duration,
    /// Fewest time between two fetches caused by an unknown `kid`.
    pub refetch_min: Duration,
    /// Refetch the keys when older than this.
    pub max_age: Duration,
}

/// The claims of a verified token that the endpoint uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BotClaims {
    /// `serviceUrl`: must equal the activity's `serviceUrl`.
    #[serde(rename = "serviceUrl", default)]
    pub service_url: Option<String>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_ms: Option<i64>,
}

/// Verifies Bot Connector JWTs with cached keys. Shared by one endpoint's requests.
pub struct BotJwtVerifier {
    client: reqwest::Client,
    settings: JwtSettings,
    clock: SharedClock,
    keys: Mutex<KeySet>,
}

impl std::fmt::Debug for BotJwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotJwtVerifier")
            .field("settings", &self.settings)
            .field("keys", &self.lock().keys.len())
            .finish_non_exhaustive()
    }
}

/// The `kid` of a token's header, if it has one (unverified).
fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

impl BotJwtVerifier {
    /// A verifier fetching keys with `client`, timing the cache with `clock`.
    pub fn new(client: reqwest::Client, settings: JwtSettings, clock: SharedClock) -> BotJwtVerifier {
        BotJwtVerifier {
            client,
            settings,
            clock,
            keys: Mutex::new(KeySet::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeySet> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the keys must be fetched before `token` can be checked (see the module docs).
    fn needs_fetch(&self, token: &str) -> bool {
        let now = self.clock.now_ms();
        let set = self.lock();
        let Some(fetched) = set.fetched_ms else {
            return true;
        };
        let age = u128::try_from(now.saturating_sub(fetched)).unwrap_or(0);
        if age >= self.settings.max_age.as_millis() {
            return true;
        }
        let unknown = kid_of(token).is_some_and(|kid| !set.keys.contains_key(&kid));
        unknown && age >= self.settings.refetch_min.as_millis()
    }

    /// Fetch the keys when `token` needs it (see the module docs). A failed fetch keeps the
    /// old keys and is logged; the check then refuses tokens of unknown keys.
    pub async fn refresh_for(&self, token: &str) {
        if !self.needs_fetch(token) {
            return;
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "Bot Framework signing keys fetched");
                let mut set = self.lock();
                set.keys = keys;
                set.fetched_ms = Some(self.clock.now_ms());
            }
            Err(e) => {
                tracing::warn!(error = %e, "Bot Framework signing keys could not be fetched");
                self.lock().fetched_ms.get_or_insert(self.clock.now_ms());
            }
        }
    }

    /// Metadata → `jwks_uri` → the RSA keys by `kid`.
    ///
    /// # Errors
    /// A text naming the step (no secret: the documents are public).
    pub async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let get = |url: Url| async move {
            let answer = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| format!("GET {url}: {}", crate::connectors::kit::outbound::describe(&e)))?;
            let status = answer.status();
            if !status.is_success() {
                return Err(format!("GET {url}: {status}"));
            }
            answer
                .json::<Json>()
                .await
                .map_err(|e| format!("GET {url}: not JSON: {e}"))
        };
        let metadata = get(self.settings.metadata_url.clone()).await?;
        let jwks_uri = metadata["jwks_uri"]
            .as_str()
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| "OpenID metadata without a jwks_uri URL".to_string())?;
        let jwks = get(jwks_uri).await?;
        let mut keys = HashMap::new();
        for key in jwks["keys"].as_array().into_iter().flatten() {
            let (Some(kid), Some(n), Some(e)) = (key["kid"].as_str(), key["n"].as_str(), key["e"].as_str()) else {
                continue;
            };
            if key["kty"].as_str() != Some("RSA") {
                continue;
            }
            if let Ok(decoding) = DecodingKey::from_rsa_components(n, e) {
                keys.insert(kid.to_string(), decoding);
            }
        }
        Ok(keys)
    }

    /// Number of cached keys.
    pub fn cached_keys(&self) -> usize {
        self.lock().keys.len()
    }

    /// The claims of `token` when it is valid (see the module docs), synchronously, with the
    /// cached keys.
    ///
    /// # Errors
    /// A short reason without the token: malformed, not RS256, unknown key, bad signature,
    /// expired, wrong issuer or audience.
    pub fn verify(&self, token: &str) -> Result<BotClaims, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed JWT".to_string())?;
        if header.alg != Algorithm::RS256 {
            return Err(format!("JWT algorithm {:?} is not RS256", header.alg));
        }
        let kid = header.kid.ok_or_else(|| "JWT without kid".to_string())?;
        let key = self
            .lock()
            .keys
            .get(&kid)
            .cloned()
            .ok_or_else(|| format!("JWT signed by unknown key {kid:?}"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = self.settings.skew.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<BotClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature => "JWT signature does not verify".to_string(),
                    ErrorKind::ExpiredSignature => "JWT expired".to_string(),
                    ErrorKind::ImmatureSignature => "JWT not valid yet (nbf)".to_string(),
                    ErrorKind::InvalidIssuer => "JWT issuer is not the Bot Framework".to_string(),
                    ErrorKind::InvalidAudience => "JWT audience is not this bot's app id".to_string(),
                    ErrorKind::MissingRequiredClaim(c) => format!("JWT without {c}"),
                    _ => "JWT refused".to_string(),
                }
            })
    }
}
