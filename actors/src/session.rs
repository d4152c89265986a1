//! One shared session per credential: single-flight login, proactive refresh, re-login on
//! "session gone", long backoff on rejected credentials, logout on shutdown.
//!
//! [`SessionHandle`] is what pollers and sinks call (no mailbox hop per request); its async
//! mutex serialises every login, keepalive and logout of the credential, so two pollers of one
//! credential can never log in at the same time (SAP answers parallel logins with `500/299`).
//! [`SessionActor`] is the supervised actor that drives the keepalive timer and logs out.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::Mutex;

use crate::auth::{AuthError, Authenticator, Expiry, Login};
use crate::clock::{SharedClock, UnixMillis};
use crate::health::Health;
use crate::metrics_names as m;
use crate::retry::BackoffPolicy;

struct Current<C> {
    credentials: C,
    expiry: Expiry,
    login_ms: UnixMillis,
}

struct State<C> {
    current: Option<Current<C>>,
    generation: u64,
    blocked_until_ms: UnixMillis,
    last_error: Option<AuthError>,
    failures: u32,
    /// Logged out on shutdown: the keepalive timer must not log in again.
    closed: bool,
}

struct Inner<A: Authenticator> {
    auth: A,
    name: String,
    clock: SharedClock,
    health: Health,
    state: Mutex<State<A::Credentials>>,
    last_used_ms: AtomicI64,
}

/// Shared session of one credential; cheap to clone.
pub struct SessionHandle<A: Authenticator> {
    inner: Arc<Inner<A>>,
}

impl<A: Authenticator> Clone for SessionHandle<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// Fraction of an inactivity timeout after which an idle session is refreshed.
const IDLE_REFRESH_FRACTION: f64 = 0.5;

impl<A: Authenticator> SessionHandle<A> {
    /// `name` identifies the credential in metrics, logs and `/health/ready`
    /// (component `session:<name>`).
    pub fn new(auth: A, name: &str, clock: SharedClock, health: Health) -> Self {
        health.not_ready(&Self::component(name), "not logged in yet");
        Self {
            inner: Arc::new(Inner {
                auth,
                name: name.to_string(),
                clock,
                health,
                state: Mutex::new(State {
                    current: None,
                    generation: 0,
                    blocked_until_ms: 0,
                    last_error: None,
                    failures: 0,
                    closed: false,
                }),
                last_used_ms: AtomicI64::new(0),
            }),
        }
    }

    fn component(name: &str) -> String {
        session_component(name)
    }

    /// The credential's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The authenticator (its settings and HTTP client, for components that read with this
    /// credential).
    pub fn authenticator(&self) -> &A {
        &self.inner.auth
    }

    /// The authenticator's short system name (metrics label `system`).
    pub fn system(&self) -> &'static str {
        self.inner.auth.system()
    }

    /// Valid credentials and their generation (pass it to [`Self::invalidate`]). Logs in when
    /// there is no session or it is about to expire; concurrent callers wait for the one login.
    /// Errors: the login's [`AuthError`]; while a rejected credential is backing off, the last
    /// error is returned at once without contacting the server.
    pub async fn get(&self) -> Result<(A::Credentials, u64), AuthError> {
        let mut state = self.inner.state.lock().await;
        state.closed = false;
        let now = self.inner.clock.now_ms();
        if let Some(cur) = &state.current {
            if !self.expired(cur, now, 1.0) {
                self.touch();
                return Ok((cur.credentials.clone(), state.generation));
            }
        }
        self.retire_expired(&mut state).await;
        self.login_locked(&mut state).await
    }

    /// Record a use of the session (each authenticated call resets SAP's inactivity timer).
    pub fn touch(&self) {
        self.inner
            .last_used_ms
            .store(self.inner.clock.now_ms(), Ordering::SeqCst);
    }

    /// The server said the session of `generation` is gone: drop it so the next [`Self::get`]
    /// logs in again. A stale generation (another caller already re-logged in) is ignored.
    pub async fn invalidate(&self, generation: u64) {
        let mut state = self.inner.state.lock().await;
        if state.generation == generation && state.current.is_some() {
            state.current = None;
            metrics::counter!(m::SESSION_INVALIDATIONS, "credential" => self.inner.name.clone(), "system" => self.inner.auth.system()).increment(1);
            tracing::info!(credential = %self.inner.name, generation, "session reported gone; will log in again");
        }
    }

    /// Proactive maintenance, called by the actor's timer: refresh an inactivity session that
    /// has idled for half its timeout, renew an absolute token in its last 10% (at least 60 s
    /// early); log out a session idle for [`Authenticator::idle_logout`] (counted as refresh
    /// outcome `idle_logout`). Errors are logged, counted and reflected in health. Does
    /// nothing after [`Self::logout`] or an idle logout until the next [`Self::get`].
    pub async fn maintain(&self) {
        let mut state = self.inner.state.lock().await;
        if state.closed {
            return;
        }
        let now = self.inner.clock.now_ms();
        if let (Some(idle), Some(cur)) = (self.inner.auth.idle_logout(), &state.current) {
            let last = self
                .inner
                .last_used_ms
                .load(Ordering::SeqCst)
                .max(cur.login_ms);
            if now - last >= idle.as_millis() as i64 {
                state.closed = true;
                if let Some(old) = state.current.take() {
                    self.inner.auth.logout(&old.credentials).await;
                    self.refreshed("idle_logout");
                    tracing::info!(credential = %self.inner.name, idle_s = idle.as_secs(), "logged out after idling");
                }
                return;
            }
        }
        let Some(cur) = &state.current else {
            if now >= state.blocked_until_ms {
                let _ = self.login_locked(&mut state).await;
            }
            return;
        };
        if !self.expired(cur, now, IDLE_REFRESH_FRACTION) {
            return;
        }
        match cur.expiry {
            Expiry::Inactivity(_) if !self.expired(cur, now, 1.0) => {
                let creds = cur.credentials.clone();
                match self.inner.auth.keepalive(&creds).await {
                    Ok(renewed) => {
                        self.refreshed("ok");
                        if let Some(login) = renewed {
                            self.install(&mut state, login);
                        }
                        self.touch();
                    }
                    Err(AuthError::SessionGone) => {
                        self.refreshed("gone");
                        state.current = None;
                        let _ = self.login_locked(&mut state).await;
                    }
                    Err(e) => {
                        self.refreshed("error");
                        tracing::warn!(credential = %self.inner.name, error = %e, "keepalive failed");
                    }
                }
            }
            _ => {
                self.refreshed("relogin");
                self.retire_expired(&mut state).await;
                let _ = self.login_locked(&mut state).await;
            }
        }
    }

    /// Log out (shutdown). Best effort; the session is dropped either way, and the keepalive
    /// timer stops logging in until the next [`Self::get`].
    pub async fn logout(&self) {
        let mut state = self.inner.state.lock().await;
        state.closed = true;
        if let Some(cur) = state.current.take() {
            self.inner.auth.logout(&cur.credentials).await;
            tracing::info!(credential = %self.inner.name, "logged out");
        }
    }

    /// Does this credential hold valid credentials right now: a session that has not expired by
    /// our clock (inactivity or absolute rule, with the same safety margin [`Self::get`] uses)
    /// and no failed login it is backing off from? `false` before the first login, after
    /// [`Self::invalidate`] or [`Self::logout`], once the session idled out, and while a
    /// rejected or failed login waits for its next attempt.
    pub async fn is_ready(&self) -> bool {
        let state = self.inner.state.lock().await;
        let now = self.inner.clock.now_ms();
        now >= state.blocked_until_ms
            && state
                .current
                .as_ref()
                .is_some_and(|cur| !self.expired(cur, now, 1.0))
    }

    /// Drop an inactivity session that expired by our clock before logging in again, logging
    /// it out first (best effort): if it is still alive at the server (clock drift, our safety
    /// margin), SAP would hold its licence until its own timeout. A session the server
    /// reported gone was already dropped by [`Self::invalidate`] and needs no logout; absolute
    /// tokens are simply replaced.
    async fn retire_expired(&self, state: &mut State<A::Credentials>) {
        let Some(cur) = &state.current else {
            return;
        };
        if !matches!(cur.expiry, Expiry::Inactivity(_)) {
            return;
        }
        if let Some(old) = state.current.take() {
            self.inner.auth.logout(&old.credentials).await;
            tracing::info!(credential = %self.inner.name, generation = state.generation, "logged out of the expired session before logging in again");
        }
    }

    fn expired(&self, cur: &Current<A::Credentials>, now: UnixMillis, fraction: f64) -> bool {
        match cur.expiry {
            Expiry::Never => false,
            Expiry::Absolute(life) => {
                let life_ms = life.as_millis() as i64;
                let margin = (life_ms / 10).max(60_000).min(life_ms / 2);
                let usable = life_ms - margin;
                now - cur.login_ms >= (usable as f64 * fraction.max(0.9)) as i64
            }
            Expiry::Inactivity(idle) => {
                let idle_ms = idle.as_millis() as i64;
                let last = self
                    .inner
                    .last_used_ms
                    .load(Ordering::SeqCst)
                    .max(cur.login_ms);
                let margin = (idle_ms / 10).min(60_000);
                now - last >= ((idle_ms - margin) as f64 * fraction) as i64
            }
        }
    }

    fn refreshed(&self, outcome: &'static str) {
        metrics::counter!(m::SESSION_REFRESHES, "credential" => self.inner.name.clone(), "system" => self.inner.auth.system(), "outcome" => outcome).increment(1);
    }

    fn install(&self, state: &mut State<A::Credentials>, login: Login<A::Credentials>) {
        let now = self.inner.clock.now_ms();
        state.current = Some(Current {
            credentials: login.credentials,
            expiry: login.expiry,
            login_ms: now,
        });
        state.generation += 1;
        self.inner.last_used_ms.store(now, Ordering::SeqCst);
    }

    async fn login_locked(
        &self,
        state: &mut State<A::Credentials>,
    ) -> Result<(A::Credentials, u64), AuthError> {
        let now = self.inner.clock.now_ms();
        if now < state.blocked_until_ms {
            return Err(state.last_error.clone().unwrap_or(AuthError::Transient {
                reason: "backing off".into(),
                retry_after: None,
            }));
        }
        let component = Self::component(&self.inner.name);
        let system = self.inner.auth.system();
        match self.inner.auth.login().await {
            Ok(login) => {
                self.install(state, login);
                state.failures = 0;
                state.last_error = None;
                state.blocked_until_ms = 0;
                metrics::counter!(m::LOGINS, "credential" => self.inner.name.clone(), "system" => system, "outcome" => "ok").increment(1);
                self.inner.health.ready(&component, "logged in");
                tracing::info!(credential = %self.inner.name, system, generation = state.generation, "logged in");
                let cur = state.current.as_ref().map(|c| c.credentials.clone());
                cur.map(|c| (c, state.generation))
                    .ok_or(AuthError::SessionGone)
            }
            Err(e) => {
                state.failures += 1;
                let (outcome, delay) = match &e {
                    AuthError::Rejected { .. } => {
                        ("rejected", BackoffPolicy::REJECTED.delay(state.failures))
                    }
                    AuthError::Transient { retry_after, .. } => (
                        "transient",
                        retry_after.unwrap_or_else(|| BackoffPolicy::LOGIN.delay(state.failures)),
                    ),
                    AuthError::SessionGone => {
                        ("transient", BackoffPolicy::LOGIN.delay(state.failures))
                    }
                };
                state.blocked_until_ms = now + delay.as_millis() as i64;
                state.last_error = Some(e.clone());
                metrics::counter!(m::LOGINS, "credential" => self.inner.name.clone(), "system" => system, "outcome" => outcome).increment(1);
                self.inner.health.not_ready(
                    &component,
                    format!("{e}; next attempt in {}s", delay.as_secs()),
                );
                tracing::warn!(credential = %self.inner.name, system, error = %e, retry_in_s = delay.as_secs(), "login failed");
                Err(e)
            }
        }
    }
}

/// Health component of the session named `name`: `session:<name>`.
pub fn session_component(name: &str) -> String {
    format!("session:{name}")
}

/// Supervised actor that keeps one [`SessionHandle`] alive: a timer calls
/// [`SessionHandle::maintain`] every `tick`. A restart only re-registers the timer; the session
/// itself lives in the handle.
pub struct SessionActor<A: Authenticator> {
    handle: SessionHandle<A>,
    tick: Duration,
}

impl<A: Authenticator> SessionActor<A> {
    /// `tick`: how often to check expiry (e.g. 1 s; must be well below the shortest timeout).
    pub fn new(handle: SessionHandle<A>, tick: Duration) -> Self {
        Self { handle, tick }
    }
}

impl<A: Authenticator> Actor for SessionActor<A> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.tick, |act, ctx| {
            let handle = act.handle.clone();
            ctx.spawn(async move { handle.maintain().await }.into_actor(act));
        });
    }
}

impl<A: Authenticator> Supervised for SessionActor<A> {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        metrics::counter!(m::ACTOR_RESTARTS, "actor" => "session").increment(1);
    }
}
