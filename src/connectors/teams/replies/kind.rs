//! `[[sources]] kind = "teams_replies"` on the connector seam: the `Reply` poller when `poll`,
//! the subscription keeper (poller of entity `Subscription`) and the notification endpoint when
//! `public_base_url` is set, `check` rows.

use std::sync::Arc;

use ml_connector_actors::boxed::{BoxFuture, ManagedSession};
use ml_connector_actors::inbound::Inbound;
use ml_connector_actors::{Cadence, PollerConfig};

use super::bearer::GraphSession;
use super::config::{self, TeamsRepliesConfig};
use super::inbound::TeamsRepliesInbound;
use super::keeper::{KeeperSettings, SubscriptionKeeper};
use super::poll::RepliesSource;
use super::present::RepliesPresenter;
use super::subscription::SubscriptionBook;
use super::{ENTITY, KEEPER_ENTITY};
use crate::connectors::kit::table_kind::TableSourceKind;
use crate::routes::Presenter;
use crate::seam::{BuildEnv, BuildError, CheckRow, Pollers, SecretRefs, SourceConfig};

/// `[[sources]] kind = "teams_replies"`.
pub const TEAMS_REPLIES_KIND: TableSourceKind<TeamsRepliesConfig> =
    TableSourceKind::new("teams_replies", &["entra"], config::parse);

impl TeamsRepliesConfig {
    fn book(&self, name: &str, env: &BuildEnv) -> Result<SubscriptionBook, BuildError> {
        SubscriptionBook::open(name, env.store.clone(), env.key.clone()).map_err(|e| BuildError(format!("source {name}: reading its subscription: {e}")))
    }
}

impl SourceConfig for TeamsRepliesConfig {
    fn entities(&self) -> Vec<String> {
        vec![ENTITY.to_string()]
    }

    fn known_entities(&self) -> &'static [&'static str] {
        &[ENTITY]
    }

    fn secret_refs(&self) -> SecretRefs {
        Vec::new()
    }

    fn presenter(&self) -> Arc<dyn Presenter> {
        Arc::new(RepliesPresenter)
    }

    /// `Reply` every `poll_interval` when `poll`; the keeper every `check_interval` when
    /// `public_base_url` is set (its health component starts not ready until the first check).
    fn pollers(&self, name: &str, session: Option<&dyn ManagedSession>, env: &BuildEnv) -> Result<Pollers, BuildError> {
        let graph = GraphSession::from_managed(session, &format!("source {name}"))?;
        let mut pollers: Pollers = Vec::new();
        if self.poll {
            let source = RepliesSource::new(env.cloud.clone(), graph.graph_base().clone(), &self.team_id, &self.channel_id);
            let config = PollerConfig { source: name.to_string(), cadence: Cadence::Every(self.poll_interval) };
            pollers.push((config, graph.bind(source)));
        }
        if let Some(notification_url) = self.notification_url(name) {
            let settings = KeeperSettings {
                graph_base: graph.graph_base().clone(),
                resource: self.resource(),
                notification_url,
                expiry: self.expiry,
                renew_before: self.renew_before,
            };
            let component = SubscriptionKeeper::component(name);
            env.health.not_ready(&component, format!("not checked yet ({KEEPER_ENTITY} poller of source {name})"));
            let keeper = SubscriptionKeeper::new(settings, env.cloud.clone(), env.clock.clone(), env.health.clone(), self.book(name, env)?);
            let config = PollerConfig { source: name.to_string(), cadence: Cadence::Every(self.check_interval) };
            pollers.push((config, graph.bind(keeper)));
        }
        Ok(pollers)
    }

    /// The notification endpoint when `public_base_url` is set.
    fn inbound(&self, name: &str, session: Option<&dyn ManagedSession>, env: &BuildEnv) -> Result<Option<Arc<dyn Inbound>>, BuildError> {
        if self.public_base_url.is_none() {
            return Ok(None);
        }
        let graph = GraphSession::from_managed(session, &format!("source {name}"))?;
        let book = self.book(name, env)?;
        Ok(Some(Arc::new(TeamsRepliesInbound::new(name, &self.team_id, &self.channel_id, book, graph, env.cloud.clone()))))
    }

    fn check<'a>(&'a self, name: &'a str, session: Option<&'a dyn ManagedSession>, env: &'a BuildEnv) -> BoxFuture<'a, Vec<CheckRow>> {
        Box::pin(async move {
            let system = format!("teams_replies:{name}");
            let graph = GraphSession::from_managed(session, &format!("source {name}"));
            let read = match &graph {
                Ok(g) => {
                    let source = RepliesSource::new(env.cloud.clone(), g.graph_base().clone(), &self.team_id, &self.channel_id);
                    match g.token().await {
                        Ok(token) => ml_connector_actors::Source::fetch(&source, &token, &ml_connector_actors::Source::first_page(&source, None))
                            .await
                            .map(|page| format!("channel readable; {} replies on the first page", page.records.len()))
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let mut rows = vec![CheckRow::new(&system, "read replies", read)];
            rows.push(match self.notification_url(name) {
                Some(url) => CheckRow::new(
                    &system,
                    "subscription",
                    Ok(format!(
                        "Graph notifications and lifecycle events go to {url} (must reach this gateway); {} s subscriptions renewed {} s before expiry",
                        self.expiry.as_secs(),
                        self.renew_before.as_secs()
                    )),
                ),
                None => CheckRow::new(&system, "subscription", Ok("no public_base_url: no subscription, replies come from polling only".into())),
            });
            let polling = if self.poll {
                format!("on: every {} s, GET …/messages?$top=50&$expand=replies", self.poll_interval.as_secs())
            } else {
                "off: replies come from notifications only".to_string()
            };
            rows.push(CheckRow::new(&system, "polling", Ok(polling)));
            rows
        })
    }
}
