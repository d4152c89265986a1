//! Where a Graph sink gets its bearer token from.
//!
//! The runtime's session handle (single-flight login/refresh of an [`super::EntraDelegatedToken`])
//! is wired to this trait by the application; [`StaticToken`] serves tests and fixed tokens.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use secrecy::SecretString;

use super::token::BearerToken;

/// A provider of the current bearer token and its generation.
///
/// The generation is a number that changes whenever a new token is obtained; a sink that gets
/// a 401 calls [`TokenSource::invalidate`] with the generation it used, so that concurrent
/// sinks that saw the same 401 cause one refresh, not many.
pub trait TokenSource: Send + Sync + 'static {
    /// The current token and its generation.
    ///
    /// # Errors
    /// A short text without secrets when no token can be had right now (login failing,
    /// credentials rejected); the sink then asks for a retry.
    fn token(&self) -> impl Future<Output = Result<(BearerToken, u64), String>> + Send;

    /// The token of `generation` was refused (Graph 401): drop it so the next
    /// [`TokenSource::token`] logs in again. Ignored when `generation` is no longer current.
    fn invalidate(&self, generation: u64) -> impl Future<Output = ()> + Send;
}

/// A fixed token (tests, manual runs). Generations start at 1; invalidating the current one
/// bumps the generation but keeps the same token. Records every invalidation.
pub struct StaticToken {
    token: BearerToken,
    generation: AtomicU64,
    invalidated: Mutex<Vec<u64>>,
}

impl StaticToken {
    /// Serve `token` (the bare access token, without `Bearer `).
    pub fn new(token: SecretString) -> Self {
        Self {
            token: BearerToken::new(token),
            generation: AtomicU64::new(1),
            invalidated: Mutex::new(Vec::new()),
        }
    }

    /// Generations passed to [`TokenSource::invalidate`] so far, in call order.
    pub fn invalidated(&self) -> Vec<u64> {
        self.invalidated
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &self.token)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish()
    }
}

impl TokenSource for StaticToken {
    async fn token(&self) -> Result<(BearerToken, u64), String> {
        Ok((self.token.clone(), self.generation.load(Ordering::Acquire)))
    }

    async fn invalidate(&self, generation: u64) {
        if let Ok(mut v) = self.invalidated.lock() {
            v.push(generation);
        }
        let _ = self.generation.compare_exchange(
            generation,
            generation.wrapping_add(1),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}
