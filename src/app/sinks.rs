//! The Teams sinks as one `Sink` type, and the session handle as the Graph sink's token source.

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Authenticator, Lookup, Outcome, SessionHandle, Sink};

use crate::connectors::teams::{BearerToken, GraphSink, TokenSource, WorkflowsSink};

/// A Graph sink's tokens come from a runtime session handle (single-flight refresh).
pub struct SessionTokens<A: Authenticator<Credentials = BearerToken>>(pub SessionHandle<A>);

impl<A: Authenticator<Credentials = BearerToken>> TokenSource for SessionTokens<A> {
    async fn token(&self) -> Result<(BearerToken, u64), String> {
        self.0.get().await.map_err(|e| e.to_string())
    }

    async fn invalidate(&self, generation: u64) {
        self.0.invalidate(generation).await
    }
}

/// Every Teams destination kind behind one `Sink`.
pub enum TeamsSink<A: Authenticator<Credentials = BearerToken>> {
    /// Graph channel or chat message with a delegated token.
    Graph(GraphSink<SessionTokens<A>>),
    /// Workflows webhook (send-only).
    Workflows(WorkflowsSink),
}

impl<A: Authenticator<Credentials = BearerToken>> Sink for TeamsSink<A> {
    async fn deliver(&self, entry: &OutboxEntry) -> Outcome {
        match self {
            TeamsSink::Graph(s) => s.deliver(entry).await,
            TeamsSink::Workflows(s) => s.deliver(entry).await,
        }
    }

    async fn find_existing(&self, entry: &OutboxEntry) -> Lookup {
        match self {
            TeamsSink::Graph(s) => s.find_existing(entry).await,
            TeamsSink::Workflows(s) => s.find_existing(entry).await,
        }
    }
}
