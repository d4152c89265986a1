//! Entra ID, Microsoft Graph and Workflows webhook simulators.
//!
//! One [`TeamsSim`] holds the state; [`TeamsSim::configure`] mounts all three on an actix-web `App`:
//!
//! | Route | Simulates |
//! |---|---|
//! | `POST /{tenant}/oauth2/v2.0/token` | Entra ID token endpoint (`client_credentials`, `refresh_token` with rotation; unconsented scopes refused) |
//! | `POST /v1.0/teams/{team}/channels/{channel}/messages` | Graph: send a channel chatMessage (delegated token with `ChannelMessage.Send`) |
//! | `GET  /v1.0/teams/{team}/channels/{channel}/messages?$top=N` | Graph: list (`ChannelMessage.Read.All`), in the configured order, absolute `@odata.nextLink` |
//! | `GET  /v1.0/teams/{team}/channels/{channel}` | Graph: the channel (`Channel.ReadBasic.All`) |
//! | `POST /v1.0/chats/{chat}/messages`, `GET` same | Graph: send (`ChatMessage.Send`) / list (`Chat.Read`; last modified first, `$orderby=createdDateTime desc`) |
//! | `GET  /v1.0/chats/{chat}` | Graph: the chat (`Chat.ReadBasic`) |
//! | `GET  /v1.0/users/{id or userPrincipalName}?$select=…` | Graph: one user (app role `User.Read.All`; 404 `Request_ResourceNotFound`, 403 `Authorization_RequestDenied`) |
//! | `GET  /v1.0/users?$filter=mail eq '…'&$select=…` | Graph: users by `mail` or `userPrincipalName` (other filters 400 `Request_UnsupportedQuery`) |
//! | `POST /v1.0/subscriptions`, `PATCH`/`DELETE /v1.0/subscriptions/{id}` | Graph change-notification subscriptions: URLs validated with `validationToken`, lifecycle URL required beyond 1 h, `clientState` ≤ 128, expiry on the sandbox clock |
//! | `GET  /v1.0/teams/{team}/channels/{channel}/messages/{message}/replies[/{reply}]` | Graph: replies ([`TeamsSim::post_reply`] stores one and notifies the subscriptions; `$expand=replies` on the channel list) |
//! | `POST /workflows/{flow_id}` (and `/workflows/{flow_id}/triggers/manual/paths/invoke`) | Teams Workflows webhook, 202; a card above 1.4 fails inside the run |
//!
//! Shapes follow `shared/api-notes/microsoft-teams.md` (learn.microsoft.com sources). Faults are
//! queued with [`TeamsSim::inject`]. Use [`spawn`] to serve it on `127.0.0.1` with an ephemeral port:
//!
//! ```no_run
//! use ml_connector::sandbox::teams::{spawn, TeamsSandboxConfig, TeamsSim};
//! let sim = TeamsSim::new(TeamsSandboxConfig { channel_rps: None, ..Default::default() });
//! sim.add_team_channel("team-1", "19:abc@thread.tacv2");
//! let (base, _server) = spawn(sim.clone(), 0).expect("bind");
//! // token URL: base.join("contoso-tenant/oauth2/v2.0/token"), Graph: base.join("v1.0/")
//! ```

mod chat_message;
mod config;
mod entra;
mod fault;
mod graph;
mod records;
mod replies;
mod standalone;
mod state;
mod subscriptions;
mod summary;
mod users;
mod wire;
mod workflows;

#[cfg(test)]
mod subscription_tests;
#[cfg(test)]
mod tests;

use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;

pub use super::server::SpawnedServer;
pub use config::{ListOrder, PostFaultMix, TeamsSandboxConfig};
pub use fault::TeamsFault;
pub use records::{Delivered, FlowRun, StoredMessage, TeamsStats};
pub use users::DirectoryUser;
pub use subscriptions::{NotificationAttempt, Subscription, MAX_CLIENT_STATE};
pub use standalone::{TeamsSettings, CHANNEL_ID, CHAT_ID, FLOW_ID, SANDBOX, TEAM_ID};

use state::{State, Target};

/// Request body limit of the sandbox routes (well above `max_message_bytes`, so the sandbox can
/// answer its own Graph-shaped 413).
const PAYLOAD_LIMIT: usize = 4 * 1024 * 1024;

/// The Teams-side sandbox (Entra ID, Graph, Workflows): cheap to clone, all clones share one state (`Arc<Mutex<_>>`).
#[derive(Clone, Debug)]
pub struct TeamsSim {
    state: Arc<Mutex<State>>,
}

impl TeamsSim {
    /// A sandbox with no teams, chats or workflows yet.
    pub fn new(config: TeamsSandboxConfig) -> TeamsSim {
        TeamsSim {
            state: Arc::new(Mutex::new(State::new(config))),
        }
    }

    /// Lock the state (a poisoned lock is recovered: the state stays usable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mount Entra at `/{tenant}/oauth2/v2.0/token`, Graph at `/v1.0/...` and Workflows at
    /// `/workflows/{flow_id}` on the App being configured.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let payload = || web::PayloadConfig::new(PAYLOAD_LIMIT);

        let s = self.clone();
        cfg.service(
            web::resource("/{tenant}/oauth2/v2.0/token")
                .app_data(payload())
                .route(web::post().to(move |path: web::Path<String>, body: Bytes| {
                    let s = s.clone();
                    async move { entra::token(&s, &path, &body) }
                })),
        );

        let (sp, sl) = (self.clone(), self.clone());
        cfg.service(
            web::resource("/v1.0/teams/{team}/channels/{channel}/messages")
                .app_data(payload())
                .route(web::post().to(
                    move |req: HttpRequest, path: web::Path<(String, String)>, body: Bytes| {
                        let (team_id, channel_id) = path.into_inner();
                        graph::post_message(
                            sp.clone(),
                            req,
                            body,
                            Target::Channel {
                                team_id,
                                channel_id,
                            },
                        )
                    },
                ))
                .route(web::get().to(
                    move |req: HttpRequest, path: web::Path<(String, String)>| {
                        let s = sl.clone();
                        async move {
                            let (team_id, channel_id) = path.into_inner();
                            graph::list_messages(
                                &s,
                                &req,
                                Target::Channel {
                                    team_id,
                                    channel_id,
                                },
                            )
                        }
                    },
                )),
        );

        let s = self.clone();
        cfg.service(
            web::resource("/v1.0/teams/{team}/channels/{channel}").route(web::get().to(
                move |req: HttpRequest, path: web::Path<(String, String)>| {
                    let s = s.clone();
                    async move {
                        let (team_id, channel_id) = path.into_inner();
                        graph::get_conversation(
                            &s,
                            &req,
                            Target::Channel {
                                team_id,
                                channel_id,
                            },
                        )
                    }
                },
            )),
        );

        let (sp, sl) = (self.clone(), self.clone());
        cfg.service(
            web::resource("/v1.0/chats/{chat}/messages")
                .app_data(payload())
                .route(web::post().to(
                    move |req: HttpRequest, path: web::Path<String>, body: Bytes| {
                        let chat_id = path.into_inner();
                        graph::post_message(sp.clone(), req, body, Target::Chat { chat_id })
                    },
                ))
                .route(
                    web::get().to(move |req: HttpRequest, path: web::Path<String>| {
                        let s = sl.clone();
                        async move {
                            let chat_id = path.into_inner();
                            graph::list_messages(&s, &req, Target::Chat { chat_id })
                        }
                    }),
                ),
        );

        let s = self.clone();
        cfg.service(web::resource("/v1.0/chats/{chat}").route(web::get().to(
            move |req: HttpRequest, path: web::Path<String>| {
                let s = s.clone();
                async move {
                    let chat_id = path.into_inner();
                    graph::get_conversation(&s, &req, Target::Chat { chat_id })
                }
            },
        )));

        let s = self.clone();
        cfg.service(web::resource("/v1.0/users").route(web::get().to(
            move |req: HttpRequest| {
                let s = s.clone();
                async move { users::list_users(&s, &req) }
            },
        )));
        let s = self.clone();
        cfg.service(web::resource("/v1.0/users/{key}").route(web::get().to(
            move |req: HttpRequest, path: web::Path<String>| {
                let s = s.clone();
                async move { users::get_user(&s, &req, &path) }
            },
        )));
        self.configure_subscriptions(cfg);

        for pattern in [
            "/workflows/{flow_id}",
            "/workflows/{flow_id}/triggers/manual/paths/invoke",
        ] {
            let s = self.clone();
            cfg.service(
                web::resource(pattern)
                    .app_data(payload())
                    .route(web::post().to(move |path: web::Path<String>, body: Bytes| {
                        workflows::post_then_delay(s.clone(), path.into_inner(), body)
                    })),
            );
        }
    }

    /// Add a user to the directory (`GET /v1.0/users/{id | userPrincipalName}`).
    pub fn add_user(&self, user: DirectoryUser) {
        self.lock().users.push(user);
    }

    /// User lookups answered so far (any status).
    pub fn user_lookups(&self) -> u64 {
        self.lock().user_lookups
    }

    /// Mount `/v1.0/subscriptions[/{id}]` and the replies of channel messages.
    fn configure_subscriptions(&self, cfg: &mut web::ServiceConfig) {
        let s = self.clone();
        cfg.service(
            web::resource("/v1.0/subscriptions")
                .app_data(web::PayloadConfig::new(PAYLOAD_LIMIT))
                .route(web::post().to(move |req: HttpRequest, body: Bytes| subscriptions::create(s.clone(), req, body))),
        );
        let (sp, sd) = (self.clone(), self.clone());
        cfg.service(
            web::resource("/v1.0/subscriptions/{id}")
                .route(web::patch().to(move |req: HttpRequest, id: web::Path<String>, body: Bytes| {
                    let s = sp.clone();
                    async move { subscriptions::renew(&s, &req, &id, &body) }
                }))
                .route(web::delete().to(move |req: HttpRequest, id: web::Path<String>| {
                    let s = sd.clone();
                    async move { subscriptions::delete(&s, &req, &id) }
                })),
        );
        let s = self.clone();
        cfg.service(web::resource("/v1.0/teams/{team}/channels/{channel}/messages/{message}/replies").route(web::get().to(
            move |req: HttpRequest, path: web::Path<(String, String, String)>| {
                let s = s.clone();
                async move {
                    let (team_id, channel_id, parent) = path.into_inner();
                    replies::list(&s, &req, Target::Channel { team_id, channel_id }, &parent)
                }
            },
        )));
        let s = self.clone();
        cfg.service(web::resource("/v1.0/teams/{team}/channels/{channel}/messages/{message}/replies/{reply}").route(web::get().to(
            move |req: HttpRequest, path: web::Path<(String, String, String, String)>| {
                let s = s.clone();
                async move {
                    let (team_id, channel_id, parent, reply) = path.into_inner();
                    replies::get(&s, &req, Target::Channel { team_id, channel_id }, &parent, &reply)
                }
            },
        )));
    }

    /// Create (or keep) team `team_id` with channel `channel_id` (ids like `"19:abc@thread.tacv2"`).
    pub fn add_team_channel(&self, team_id: &str, channel_id: &str) {
        self.lock().add_team_channel(team_id, channel_id);
    }

    /// Create (or keep) chat `chat_id` (`"19:…@thread.v2"` group chat, `"19:…@unq.gbl.spaces"` 1:1).
    pub fn add_chat(&self, chat_id: &str) {
        self.lock().add_chat(chat_id);
    }

    /// Create (or keep) a Workflows flow reachable at `/workflows/{flow_id}`.
    pub fn add_workflow(&self, flow_id: &str) {
        self.lock()
            .workflows
            .entry(flow_id.to_string())
            .or_default();
    }

    /// Messages stored in a channel, in arrival order (empty for an unknown channel).
    pub fn channel_messages(&self, team_id: &str, channel_id: &str) -> Vec<StoredMessage> {
        self.messages(&Target::Channel {
            team_id: team_id.to_string(),
            channel_id: channel_id.to_string(),
        })
    }

    /// Messages stored in a chat, in arrival order (empty for an unknown chat).
    pub fn chat_messages(&self, chat_id: &str) -> Vec<StoredMessage> {
        self.messages(&Target::Chat {
            chat_id: chat_id.to_string(),
        })
    }

    fn messages(&self, target: &Target) -> Vec<StoredMessage> {
        self.lock()
            .conversation(target)
            .map(|c| c.messages.clone())
            .unwrap_or_default()
    }

    /// The envelopes accepted by a flow, in arrival order (empty for an unknown flow).
    pub fn workflow_posts(&self, flow_id: &str) -> Vec<serde_json::Value> {
        self.lock()
            .workflows
            .get(flow_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every run of flow `flow_id`, in arrival order: what Power Automate's run history shows
    /// (a run that failed inside the flow was still answered 202).
    pub fn workflow_runs(&self, flow_id: &str) -> Vec<FlowRun> {
        self.lock()
            .flow_runs
            .iter()
            .filter(|r| r.flow_id == flow_id)
            .cloned()
            .collect()
    }

    /// Someone reacts to message `message_id` (any channel or chat): its
    /// `lastModifiedDateTime` becomes now (so it moves to the top of a last-modified list) and
    /// a `like` joins its `reactions`. Returns `false` when no message has that id.
    pub fn react(&self, message_id: &str) -> bool {
        let mut state = self.lock();
        let now = state.now_ms();
        let user_id = state.config.service_user_id.clone();
        let state = &mut *state;
        let conversations = state
            .teams
            .values_mut()
            .flat_map(|t| t.channels.values_mut())
            .chain(state.chats.values_mut());
        for conversation in conversations {
            if let Some(m) = conversation
                .messages
                .iter_mut()
                .find(|m| m.id == message_id)
            {
                m.last_modified_ms = now.max(m.last_modified_ms + 1);
                m.raw["lastModifiedDateTime"] =
                    serde_json::json!(wire::graph_time(m.last_modified_ms));
                if let Some(reactions) = m.raw["reactions"].as_array_mut() {
                    reactions.push(serde_json::json!({
                        "reactionType": "like",
                        "displayName": "Like",
                        "createdDateTime": wire::graph_time(m.last_modified_ms),
                        "user": {"user": {"id": user_id, "userIdentityType": "aadUser"}},
                    }));
                }
                return true;
            }
        }
        false
    }

    /// Queue a fault; it applies to the next matching request (see [`TeamsFault`]).
    pub fn inject(&self, fault: TeamsFault) {
        self.lock().faults.push_back(fault);
    }

    /// Number of queued faults not yet consumed.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> TeamsStats {
        self.lock().stats.clone()
    }

    /// Set the sandbox clock to real time plus `offset` (not cumulative). Moves token expiry,
    /// refresh-token inactivity and new message timestamps; the rate window uses real time.
    pub fn set_time_offset(&self, offset: Duration) {
        self.lock().time_offset = offset;
    }

    /// Sandbox clock now, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.lock().now_ms()
    }

    /// A receiver of every accepted message (channel, chat, workflow) as it lands. Senders of
    /// dropped receivers are forgotten on the next delivery.
    pub fn subscribe(&self) -> mpsc::Receiver<Delivered> {
        let (tx, rx) = mpsc::channel();
        self.lock().subscribers.push(tx);
        rx
    }

    /// The latest issued (and only valid) refresh token of the service account.
    pub fn current_refresh_token(&self) -> String {
        self.lock().refresh_token.clone()
    }

    /// Every access token issued so far (tests check none of them reaches a log).
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.lock().access_tokens.keys().cloned().collect()
    }

    /// The configuration this sandbox runs with.
    pub fn config(&self) -> TeamsSandboxConfig {
        self.lock().config.clone()
    }
}

/// Serve `sim` (Entra, Graph and Workflows on one App) on `127.0.0.1:port` (`0`: ephemeral) in a
/// new thread with its own actix System. Returns the base URL `http://127.0.0.1:PORT/` and the
/// stop-on-drop server guard.
///
/// Errors: binding the socket or starting the thread failed.
pub fn spawn(sim: TeamsSim, port: u16) -> std::io::Result<(url::Url, SpawnedServer)> {
    let (addr, server) = super::spawn_app(port, move |cfg| sim.configure(cfg))?;
    let url = url::Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
    Ok((url, server))
}
