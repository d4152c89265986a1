//! Object-safe components: a typed [`Source`] or [`Sink`] bound to its credential's
//! [`SessionHandle`], so a topology holds `Arc<dyn PollSource>` / `Arc<dyn DeliverySink>` /
//! `Arc<dyn ManagedSession>` built from a registry, whatever the vendor pair.
//!
//! The binding owns the session rule shared by reading and delivering: take the session's
//! credentials, call; on "session gone" invalidate that session generation, log in again
//! (single flight) and call once more; a second "session gone" right after a fresh login is not a
//! session problem, so the fresh session is kept (invalidating it would cost a login per call
//! while the error lasts).

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{AuthError, Authenticator};
use crate::poller::CycleError;
use crate::session::{SessionActor, SessionHandle};
use crate::sink::{Lookup, Outcome, Sink};
use crate::source::{Page, Source, SourceError};
use crate::store::OutboxEntry;

/// A boxed, sendable future borrowing from `'a`.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One polled entity with its session inside (object-safe form of [`Source`]).
pub trait PollSource: Send + Sync + 'static {
    /// Entity name for metrics, logs and event keys ([`Source::entity`]).
    fn entity(&self) -> &str;
    /// Fields whose change makes a `status_changed` event ([`Source::watched_fields`]).
    fn watched_fields(&self) -> &[String];
    /// Reference of the first page after `cursor` ([`Source::first_page`]).
    fn first_page(&self, cursor: Option<&str>) -> String;
    /// Fetch one page. Errors: [`CycleError::Auth`] when no session could be had (nothing was
    /// read), [`CycleError::Source`] with the source's error, `Refused` when the session was
    /// reported gone again right after a fresh login.
    fn fetch<'a>(&'a self, page: &'a str) -> BoxFuture<'a, Result<Page, CycleError>>;
}

/// One destination with its session inside (object-safe form of [`Sink`]).
pub trait DeliverySink: Send + Sync + 'static {
    /// Send one entry. [`Outcome::SessionGone`] here means no usable session (the login fails
    /// or backs off, or the destination refused a fresh session too): the delivery actor
    /// postpones the entry without counting an attempt and pauses the destination.
    fn deliver<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Outcome>;
    /// Look for an earlier attempt's message; [`Lookup::SessionGone`] as for `deliver`.
    fn find_existing<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Lookup>;
}

/// One credential's shared session, whatever its [`Authenticator`] (object-safe form of
/// [`SessionHandle`]).
pub trait ManagedSession: Send + Sync + 'static {
    /// The credential's name (health component `session:<name>`).
    fn name(&self) -> &str;
    /// The authenticator's short system name (metrics label `system`).
    fn system(&self) -> &'static str;
    /// Log out (shutdown, best effort); the keepalive timer stops logging in afterwards.
    fn logout(&self) -> BoxFuture<'_, ()>;
    /// Start the supervised [`SessionActor`] that refreshes the session every `tick`; returns
    /// its `actix::Addr<SessionActor<A>>`, boxed. Must be called inside a running actix
    /// `System`.
    fn spawn_keepalive(&self, tick: Duration) -> Box<dyn Any>;
    /// The `SessionHandle<A>` itself, so a builder can `downcast_ref::<SessionHandle<A>>()` to
    /// bind typed sources and sinks to it.
    fn as_any(&self) -> &dyn Any;
}

impl<A: Authenticator> ManagedSession for SessionHandle<A> {
    fn name(&self) -> &str {
        SessionHandle::name(self)
    }

    fn system(&self) -> &'static str {
        SessionHandle::system(self)
    }

    fn logout(&self) -> BoxFuture<'_, ()> {
        Box::pin(SessionHandle::logout(self))
    }

    fn spawn_keepalive(&self, tick: Duration) -> Box<dyn Any> {
        let handle = self.clone();
        Box::new(actix::Supervisor::start(move |_| {
            SessionActor::new(handle, tick)
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// How one call through a session ended.
enum SessionCall<T> {
    /// The system answered (anything but "session gone").
    Answered(T),
    /// No credentials: the login failed or is backing off.
    NoSession(AuthError),
    /// "Session gone" again right after a fresh login (the reason of the second answer).
    GoneTwice(String),
}

/// Call `call` with the session's credentials, with one re-login on "session gone" (`gone`
/// says whether an answer means that, and why).
async fn call_with_session<A, T, F, Fut>(
    session: &SessionHandle<A>,
    what: &str,
    mut call: F,
    gone: impl Fn(&T) -> Option<String>,
) -> SessionCall<T>
where
    A: Authenticator,
    F: FnMut(A::Credentials) -> Fut,
    Fut: Future<Output = T>,
{
    let mut first_try = true;
    loop {
        let (credentials, generation) = match session.get().await {
            Ok(c) => c,
            Err(e) => return SessionCall::NoSession(e),
        };
        let answer = call(credentials).await;
        let Some(reason) = gone(&answer) else {
            session.touch();
            return SessionCall::Answered(answer);
        };
        if !first_try {
            return SessionCall::GoneTwice(reason);
        }
        tracing::info!(credential = %session.name(), what, %reason, "session gone; logging in again");
        session.invalidate(generation).await;
        first_try = false;
    }
}

/// The reason text of a second "session gone" right after a fresh login.
fn refused_again(reason: &str) -> String {
    format!("refused again on a fresh session: {reason}")
}

struct BoundSource<S: Source, A: Authenticator<Credentials = S::Credentials>> {
    source: S,
    session: SessionHandle<A>,
}

impl<S: Source, A: Authenticator<Credentials = S::Credentials>> PollSource for BoundSource<S, A> {
    fn entity(&self) -> &str {
        self.source.entity()
    }

    fn watched_fields(&self) -> &[String] {
        self.source.watched_fields()
    }

    fn first_page(&self, cursor: Option<&str>) -> String {
        self.source.first_page(cursor)
    }

    fn fetch<'a>(&'a self, page: &'a str) -> BoxFuture<'a, Result<Page, CycleError>> {
        Box::pin(async move {
            let called = call_with_session(
                &self.session,
                self.source.entity(),
                |credentials| async move { self.source.fetch(&credentials, page).await },
                |answer| match answer {
                    Err(SourceError::SessionGone { reason }) => Some(reason.clone()),
                    _ => None,
                },
            )
            .await;
            match called {
                SessionCall::Answered(page) => page.map_err(CycleError::from),
                SessionCall::NoSession(e) => Err(CycleError::Auth(e)),
                SessionCall::GoneTwice(reason) => Err(SourceError::Refused {
                    reason: refused_again(&reason),
                }
                .into()),
            }
        })
    }
}

/// Bind a typed source to its credential's session. See the module docs for the
/// "session gone" rule.
pub fn bind_source<S: Source, A: Authenticator<Credentials = S::Credentials>>(
    source: S,
    session: SessionHandle<A>,
) -> Arc<dyn PollSource> {
    Arc::new(BoundSource { source, session })
}

struct BoundSink<K: Sink, A: Authenticator<Credentials = K::Credentials>> {
    sink: K,
    session: SessionHandle<A>,
}

/// Map a session failure to the `SessionGone` answer of a [`DeliverySink`].
fn session_unavailable<T>(called: SessionCall<T>, gone: impl FnOnce(String) -> T) -> T {
    match called {
        SessionCall::Answered(answer) => answer,
        SessionCall::NoSession(e) => gone(format!("no session: {e}")),
        SessionCall::GoneTwice(reason) => gone(refused_again(&reason)),
    }
}

impl<K: Sink, A: Authenticator<Credentials = K::Credentials>> DeliverySink for BoundSink<K, A> {
    fn deliver<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let called = call_with_session(
                &self.session,
                &entry.destination,
                |credentials| async move { self.sink.deliver(entry, &credentials).await },
                |answer| match answer {
                    Outcome::SessionGone { reason } => Some(reason.clone()),
                    _ => None,
                },
            )
            .await;
            session_unavailable(called, |reason| Outcome::SessionGone { reason })
        })
    }

    fn find_existing<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Lookup> {
        Box::pin(async move {
            let called = call_with_session(
                &self.session,
                &entry.destination,
                |credentials| async move { self.sink.find_existing(entry, &credentials).await },
                |answer| match answer {
                    Lookup::SessionGone { reason } => Some(reason.clone()),
                    _ => None,
                },
            )
            .await;
            session_unavailable(called, |reason| Lookup::SessionGone { reason })
        })
    }
}

/// Bind a typed sink to its credential's session: on [`Outcome::SessionGone`] /
/// [`Lookup::SessionGone`] the session is invalidated and the call repeated once with fresh
/// credentials; a second refusal, or no session at all, is answered as `SessionGone` to the
/// delivery actor (postponed, not counted as an attempt).
pub fn bind_sink<K: Sink, A: Authenticator<Credentials = K::Credentials>>(
    sink: K,
    session: SessionHandle<A>,
) -> Arc<dyn DeliverySink> {
    Arc::new(BoundSink { sink, session })
}

struct Unauthenticated<K: Sink<Credentials = ()>>(K);

impl<K: Sink<Credentials = ()>> DeliverySink for Unauthenticated<K> {
    fn deliver<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Outcome> {
        Box::pin(self.0.deliver(entry, &()))
    }

    fn find_existing<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Lookup> {
        Box::pin(self.0.find_existing(entry, &()))
    }
}

/// A sink that needs no credentials (a webhook URL carrying its own signature). Its answers
/// are passed through unchanged.
pub fn unauthenticated_sink<K: Sink<Credentials = ()>>(sink: K) -> Arc<dyn DeliverySink> {
    Arc::new(Unauthenticated(sink))
}
