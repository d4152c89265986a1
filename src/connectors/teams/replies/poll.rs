//! The polling path of a `teams_replies` source: `GET /v1.0/teams/{t}/channels/{c}/messages
//! ?$top=50&$expand=replies`, following `@odata.nextLink` (only back to the Graph origin), one
//! `Reply` record per reply ([`reply_record`]).
//!
//! Graph offers no filter here: channel message lists accept only `$top` and `$expand`
//! (`$filter`/`$orderby` are 400) and their order is not documented, and the channel `delta`
//! function leaves replies out. So every poll reads the whole channel and ignores its cursor;
//! the snapshot per reply makes only new replies events (a reply also pushed makes one).
//!
//! Answers: 200 → records; 401 → session gone; 429, 5xx, transport errors → transient (with
//! `Retry-After`); other 4xx → refused (403 names the missing `ChannelMessage.Read.All`); an
//! unreadable 200 → malformed.

use ml_connector_actors::{Page, Source, SourceError};
use serde::Deserialize;
use url::Url;

use super::bearer::graph_request;
use super::record::reply_record;
use super::ENTITY;
use crate::connectors::kit::outbound::{describe, retry_after};
use crate::connectors::teams::endpoint::{endpoint, same_origin};
use crate::connectors::teams::graph_error::GraphError;
use crate::connectors::teams::BearerToken;

/// `$top` of a page (Graph's maximum).
pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, Deserialize)]
struct ListPage {
    #[serde(default)]
    value: Vec<serde_json::Value>,
    #[serde(default, rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// The replies of one channel.
#[derive(Debug, Clone)]
pub struct RepliesSource {
    client: reqwest::Client,
    graph_base: Url,
    team_id: String,
    channel_id: String,
    watched: Vec<String>,
}

impl RepliesSource {
    /// Reads the replies of `team_id`/`channel_id` below `graph_base`.
    pub fn new(client: reqwest::Client, graph_base: Url, team_id: &str, channel_id: &str) -> Self {
        RepliesSource { client, graph_base, team_id: team_id.to_string(), channel_id: channel_id.to_string(), watched: Vec::new() }
    }
}

impl Source for RepliesSource {
    type Credentials = BearerToken;

    fn entity(&self) -> &str {
        ENTITY
    }

    fn watched_fields(&self) -> &[String] {
        &self.watched
    }

    /// The first page of the channel with replies expanded (the cursor is not used; see the
    /// module docs).
    fn first_page(&self, _cursor: Option<&str>) -> String {
        match endpoint(&self.graph_base, &["v1.0", "teams", &self.team_id, "channels", &self.channel_id, "messages"], "graph_base") {
            Ok(mut url) => {
                url.set_query(Some(&format!("$top={PAGE_SIZE}&$expand=replies")));
                url.to_string()
            }
            Err(e) => format!("invalid:{e}"),
        }
    }

    async fn fetch(&self, token: &BearerToken, page: &str) -> Result<Page, SourceError> {
        let url = Url::parse(page)
            .ok()
            .filter(|u| same_origin(u, &self.graph_base))
            .ok_or_else(|| SourceError::Refused { reason: "page link is not on the configured Graph origin".into() })?;
        let what = "GET channel messages with replies";
        let response = graph_request(&self.client, reqwest::Method::GET, url, token)
            .map_err(|reason| SourceError::Refused { reason })?
            .send()
            .await
            .map_err(|e| SourceError::Transient { reason: format!("{what}: {}", describe(&e)), retry_after: None })?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| SourceError::Transient { reason: format!("{what}: {}", describe(&e)), retry_after: None })?;
        if status != 200 {
            let reason = format!("{what}: Graph {status} {}", GraphError::parse(&bytes));
            return Err(match status {
                401 => SourceError::SessionGone { reason },
                403 => SourceError::Refused { reason: format!("{reason}: grant ChannelMessage.Read.All to the app registration") },
                408 | 429 | 500..=599 => SourceError::Transient { reason, retry_after: after },
                _ => SourceError::Refused { reason },
            });
        }
        let list: ListPage = serde_json::from_slice(&bytes).map_err(|e| SourceError::Malformed { context: format!("{what}: {e}") })?;
        let records = list
            .value
            .iter()
            .flat_map(|m| m["replies"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| reply_record(&r, &self.team_id, &self.channel_id))
            .collect();
        Ok(Page { records, next: list.next_link })
    }
}
