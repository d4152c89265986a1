//! The `entra` credential's session as the replies source uses it: app-only
//! ([`EntraAppToken`], application permission `ChannelMessage.Read.All`) or delegated
//! ([`EntraDelegatedToken`], which then also asks for the delegated `ChannelMessage.Read.All`).

use std::sync::Arc;

use ml_connector_actors::boxed::{bind_source, ManagedSession, PollSource};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use ml_connector_actors::{Source, SessionHandle};
use url::Url;

use crate::connectors::teams::{BearerToken, EntraAppToken, EntraDelegatedToken};
use crate::seam::BuildError;

/// A JSON request to Graph with `token`: `Authorization: Bearer …`, `Accept: application/json`.
///
/// Errors: a token that cannot be a header value.
pub fn graph_request(client: &reqwest::Client, method: reqwest::Method, url: Url, token: &BearerToken) -> Result<reqwest::RequestBuilder, String> {
    let auth = token.header_value().map_err(|e| e.to_string())?;
    Ok(client.request(method, url).header(AUTHORIZATION, auth).header(ACCEPT, "application/json"))
}

/// Delegated permission reading channel messages and their replies.
pub const READ_PERMISSION: &str = "ChannelMessage.Read.All";

/// One of the two Entra sessions.
#[derive(Clone)]
pub enum GraphSession {
    /// Client credentials.
    App(SessionHandle<EntraAppToken>),
    /// Refresh-token grant of a service account.
    Delegated(SessionHandle<EntraDelegatedToken>),
}

impl GraphSession {
    /// The session behind `session`; a delegated one is told to ask for [`READ_PERMISSION`].
    ///
    /// Errors: no session, or one of another kind than `entra`.
    pub fn from_managed(session: Option<&dyn ManagedSession>, entry: &str) -> Result<GraphSession, BuildError> {
        let any = session.map(ManagedSession::as_any);
        if let Some(app) = any.and_then(|a| a.downcast_ref::<SessionHandle<EntraAppToken>>()) {
            return Ok(GraphSession::App(app.clone()));
        }
        if let Some(delegated) = any.and_then(|a| a.downcast_ref::<SessionHandle<EntraDelegatedToken>>()) {
            delegated.authenticator().require_scopes(&[READ_PERMISSION]);
            return Ok(GraphSession::Delegated(delegated.clone()));
        }
        Err(BuildError(format!("{entry}: its credential is not an entra credential")))
    }

    /// The Graph root of the credential.
    pub fn graph_base(&self) -> &Url {
        match self {
            GraphSession::App(h) => h.authenticator().graph_base(),
            GraphSession::Delegated(h) => h.authenticator().graph_base(),
        }
    }

    /// A bearer token (logging in when needed).
    ///
    /// Errors: the login's error text (never a secret).
    pub async fn token(&self) -> Result<BearerToken, String> {
        let got = match self {
            GraphSession::App(h) => h.get().await,
            GraphSession::Delegated(h) => h.get().await,
        };
        got.map(|(token, _)| token).map_err(|e| e.to_string())
    }

    /// `source` bound to this session (one re-login when Graph answers 401).
    pub fn bind<S: Source<Credentials = BearerToken>>(&self, source: S) -> Arc<dyn PollSource> {
        match self {
            GraphSession::App(h) => bind_source(source, h.clone()),
            GraphSession::Delegated(h) => bind_source(source, h.clone()),
        }
    }
}
