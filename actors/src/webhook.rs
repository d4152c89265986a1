//! Webhook actor: verified inbound events become nudges for the pollers that own them (the
//! event names only a key; the poller reads the record through the normal commit path, so a
//! webhook can never bypass the outbox). Refused requests leave an audit line and nothing else.

use actix::prelude::*;

use crate::metrics_names as m;
use crate::store::Store;
use crate::supervisor::Nudges;

/// A verified event: "something changed in `entity` of `tenant`".
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Changed {
    /// Inbound source label (`sap_b1`). Bounded.
    pub source: &'static str,
    pub tenant: String,
    pub entity: String,
}

/// A refused request (bad signature, unknown tenant, malformed body).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Refused {
    /// Inbound source label (`sap_b1`).
    pub source: &'static str,
    /// Why (never the body, never the secret).
    pub reason: String,
}

/// The webhook actor.
pub struct WebhookActor {
    store: Store,
    nudges: Nudges,
}

impl WebhookActor {
    pub fn new(store: Store, nudges: Nudges) -> Self {
        Self { store, nudges }
    }
}

impl Actor for WebhookActor {
    type Context = Context<Self>;
}

impl Supervised for WebhookActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        metrics::counter!(m::ACTOR_RESTARTS, "actor" => "webhook").increment(1);
    }
}

impl Handler<Changed> for WebhookActor {
    type Result = ();
    fn handle(&mut self, msg: Changed, _ctx: &mut Context<Self>) {
        metrics::counter!(m::WEBHOOKS, "source" => msg.source, "outcome" => "accepted")
            .increment(1);
        self.nudges.nudge(&Nudges::poller(&msg.tenant, &msg.entity));
    }
}

impl Handler<Refused> for WebhookActor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, msg: Refused, _ctx: &mut Context<Self>) -> Self::Result {
        metrics::counter!(m::WEBHOOKS, "source" => msg.source, "outcome" => "refused").increment(1);
        tracing::warn!(source = msg.source, reason = %msg.reason, "webhook refused");
        let store = self.store.clone();
        Box::pin(async move {
            let detail = format!("{} webhook refused: {}", msg.source, msg.reason);
            let _ =
                crate::supervisor::blocking(move || store.audit("webhook_refused", &detail)).await;
        })
    }
}
