//! People mapping: the `mlc_approval.approver` of a card, an Entra object id or an e-mail /
//! UPN, turned into the Entra user the buttons are bound to.
//!
//! - An approver without `@` is an Entra object id and is used as is (no lookup).
//! - An approver with `@` (an Acumatica Employee's `ContactInfo.Email`, a SAP B1 user's
//!   e-mail) is looked up in Microsoft Graph ([`super::directory`]: as a UPN, then as a
//!   `mail` address) and the answer cached in
//!   the store's `connector_state`, namespace `teams_bot/people/<destination>`, key = the
//!   e-mail in lower case (UPNs are case-insensitive), value = the JSON of [`CachedPerson`].
//!   A found user is kept for `people_cache_seconds` (default 24 h), a "not found" for
//!   `people_not_found_cache_seconds` (default 1 h: a new employee's account appears soon).
//!
//! Errors become delivery outcomes: the card is not posted without its approver. A setup
//! problem (403 without `User.Read.All`, no `[credentials.directory]`) is `Permanent` (dead
//! letter, replayed after the fix); throttling, outages and expired tokens are `Retry`.
//!
//! Metric: `mlc_people_lookups_total{destination, outcome}`, outcome `resolved`, `not_found`
//! or `error`, one per Graph lookup (cache hits are not counted).

use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use super::PEOPLE_LOOKUPS;
use ml_connector_actors::store::{blocking, Store};
use ml_connector_actors::Outcome;
use serde::{Deserialize, Serialize};

use super::directory::{DirectoryAnswer, GraphDirectory, Person};

/// Default `people_cache_seconds`: a found user is looked up again after 24 h.
pub const DEFAULT_PEOPLE_CACHE: Duration = Duration::from_secs(24 * 3600);
/// Default `people_not_found_cache_seconds`: a missing user is looked up again after 1 h.
pub const DEFAULT_NOT_FOUND_CACHE: Duration = Duration::from_secs(3600);
/// Rows read per page when listing the cache.
const SCAN_PAGE: usize = 256;

/// How long lookups are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeopleSettings {
    /// A found user (`people_cache_seconds`).
    pub found_ttl: Duration,
    /// A "not found" (`people_not_found_cache_seconds`).
    pub not_found_ttl: Duration,
}

impl Default for PeopleSettings {
    fn default() -> Self {
        PeopleSettings {
            found_ttl: DEFAULT_PEOPLE_CACHE,
            not_found_ttl: DEFAULT_NOT_FOUND_CACHE,
        }
    }
}

/// One cached lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedPerson {
    /// The user; `None`: Graph answered 404.
    pub person: Option<Person>,
    /// When Graph answered, Unix ms.
    pub checked_ms: i64,
    /// When the answer is looked up again, Unix ms.
    pub expires_ms: i64,
}

/// Who a card's approver is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approver {
    /// An Entra object id from the route, used as is.
    ObjectId(String),
    /// An e-mail / UPN found in the directory.
    Found(Person),
    /// An e-mail / UPN no directory user has (Graph 404).
    NotFound(String),
}

/// Is `approver` an e-mail / UPN (to be looked up) rather than an Entra object id?
pub fn is_email(approver: &str) -> bool {
    approver.contains('@')
}

/// The approvers of one `teams_bot` destination: lookups, cache and metrics. Cheap to clone.
#[derive(Clone)]
pub struct People {
    destination: String,
    namespace: String,
    store: Store,
    clock: SharedClock,
    directory: Option<GraphDirectory>,
    settings: PeopleSettings,
}

impl std::fmt::Debug for People {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("People")
            .field("destination", &self.destination)
            .field("directory", &self.directory)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl People {
    /// The approvers of `destination`, cached in `store`, looked up in `directory` (`None`:
    /// the credential has no `[credentials.directory]`, so e-mail approvers are refused).
    pub fn new(
        destination: &str,
        store: Store,
        clock: SharedClock,
        directory: Option<GraphDirectory>,
        settings: PeopleSettings,
    ) -> People {
        People {
            destination: destination.to_string(),
            namespace: format!("teams_bot/people/{destination}"),
            store,
            clock,
            directory,
            settings,
        }
    }

    /// Who `approver` is: an object id as is, an e-mail from the cache while it is fresh,
    /// else from Graph (and cached).
    ///
    /// # Errors
    /// The delivery outcome when it cannot be told now: `Permanent` for a setup problem
    /// (naming `User.Read.All` on a 403, or the missing `[credentials.directory]`), `Retry`
    /// for throttling, outages and a cache that cannot be written.
    pub async fn resolve(&self, approver: &str) -> Result<Approver, Outcome> {
        if !is_email(approver) {
            return Ok(Approver::ObjectId(approver.to_string()));
        }
        let key = approver.trim().to_lowercase();
        let now = self.clock.now_ms();
        if let Some(cached) = self.cached(&key) {
            if now < cached.expires_ms {
                return Ok(approver_of(cached.person, approver));
            }
        }
        let answer = self.lookup_now(approver).await?;
        let ttl = if answer.is_some() {
            self.settings.found_ttl
        } else {
            self.settings.not_found_ttl
        };
        let row = CachedPerson {
            person: answer.clone(),
            checked_ms: now,
            expires_ms: now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
        };
        if let Err(e) = self.put(&key, &row).await {
            tracing::warn!(destination = %self.destination, error = %e, "approver lookup not cached");
        }
        Ok(approver_of(answer, approver))
    }

    /// Look `upn` up in Graph now, bypassing the cache (also `ml-connector check`): the user,
    /// or `None` for a 404. Counts the lookup.
    ///
    /// # Errors
    /// As [`People::resolve`].
    pub async fn lookup_now(&self, upn: &str) -> Result<Option<Person>, Outcome> {
        let Some(directory) = &self.directory else {
            return Err(Outcome::Permanent {
                status: None,
                reason: format!("approver {upn} is an e-mail, but the bot_framework credential has no [credentials.directory] to look it up in Microsoft Entra ID (or give the approver's Entra object id)"),
            });
        };
        let (outcome, result) = match directory.lookup(upn).await {
            DirectoryAnswer::Found(p) => ("resolved", Ok(Some(p))),
            DirectoryAnswer::NotFound => ("not_found", Ok(None)),
            DirectoryAnswer::Refused(reason) => (
                "error",
                Err(Outcome::Permanent {
                    status: None,
                    reason: format!("approver {upn} not looked up: {reason}"),
                }),
            ),
            DirectoryAnswer::Later {
                after,
                reason,
                throttled,
            } => (
                "error",
                Err(Outcome::Retry {
                    after,
                    reason: format!("approver {upn} not looked up yet: {reason}"),
                    throttled,
                }),
            ),
        };
        metrics::counter!(PEOPLE_LOOKUPS, "destination" => self.destination.clone(), "outcome" => outcome)
            .increment(1);
        result
    }

    /// The cached approvers Graph did not find, `(e-mail, row)` in e-mail order.
    ///
    /// # Errors
    /// The store error as text.
    pub fn unresolved(&self) -> Result<Vec<(String, CachedPerson)>, String> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .scan_state(&self.namespace, after.as_deref(), SCAN_PAGE)
                .map_err(|e| e.to_string())?;
            let full = page.len() == SCAN_PAGE;
            for (key, bytes) in page {
                if let Ok(row) = serde_json::from_slice::<CachedPerson>(&bytes) {
                    if row.person.is_none() {
                        out.push((key.clone(), row));
                    }
                }
                after = Some(key);
            }
            if !full {
                return Ok(out);
            }
        }
    }

    /// Is there a directory to look e-mails up in?
    pub fn has_directory(&self) -> bool {
        self.directory.is_some()
    }

    fn cached(&self, key: &str) -> Option<CachedPerson> {
        let bytes = self.store.get_state(&self.namespace, key).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    async fn put(&self, key: &str, row: &CachedPerson) -> Result<(), String> {
        let bytes = serde_json::to_vec(row).map_err(|e| e.to_string())?;
        let (store, ns, key) = (self.store.clone(), self.namespace.clone(), key.to_string());
        blocking(move || store.put_state(&ns, &key, &bytes))
            .await
            .map_err(|e| e.to_string())
    }
}

fn approver_of(person: Option<Person>, approver: &str) -> Approver {
    match person {
        Some(p) => Approver::Found(p),
        None => Approver::NotFound(approver.trim().to_string()),
    }
}
