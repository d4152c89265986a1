//! The sandbox's shared state (behind `Arc<std::sync::Mutex<_>>` in [`TeamsSim`](super::TeamsSim)):
//! the clock, issued tokens, teams/channels/chats with their messages, workflows, queued faults,
//! counters and subscribers. Never held across an `.await`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::config::TeamsSandboxConfig;
use super::fault::TeamsFault;
use super::records::{Delivered, FlowRun, StoredMessage, TeamsStats};
use super::replies::StoredReply;
use super::subscriptions::{NotificationAttempt, Subscription};

/// Which grant produced an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// `client_credentials`: application permissions only.
    App,
    /// `refresh_token` of the service-account user: delegated permissions.
    Delegated,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub kind: TokenKind,
    pub expires_at_ms: i64,
    /// Delegated Graph permissions it carries (short names, e.g. `ChannelMessage.Send`);
    /// for app tokens the application permissions (`roles`, e.g. `User.Read.All`), checked
    /// only by the user lookups.
    pub scopes: BTreeSet<String>,
}

impl AccessToken {
    /// Does this delegated token carry one of `any_of`? App tokens always pass (reads with
    /// application permissions; posting is refused separately).
    pub(crate) fn allows(&self, any_of: &[&str]) -> bool {
        self.kind == TokenKind::App
            || any_of
                .iter()
                .any(|p| self.scopes.iter().any(|s| s.eq_ignore_ascii_case(p)))
    }
}

/// A channel or a chat: its messages in arrival order and its rate window.
#[derive(Debug)]
pub(crate) struct Conversation {
    pub created_ms: i64,
    pub messages: Vec<StoredMessage>,
    /// Arrival instants of accepted posts within the last second.
    pub window: VecDeque<Instant>,
}

impl Conversation {
    fn new(created_ms: i64) -> Conversation {
        Conversation {
            created_ms,
            messages: Vec::new(),
            window: VecDeque::new(),
        }
    }

    /// Would one more post exceed `rps` in the 1 s sliding window ending at `now`?
    /// Forgets entries older than one second.
    pub(crate) fn over_rate(&mut self, rps: Option<u32>, now: Instant) -> bool {
        over_window(&mut self.window, rps, now)
    }

    /// With `cap` messages per rolling day: `Some(seconds)` until the oldest message of the day
    /// ending at `now_ms` (sandbox time) leaves it, when one more would exceed the cap.
    pub(crate) fn over_daily_cap(&self, cap: Option<u32>, now_ms: i64) -> Option<u64> {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let cap = cap? as usize;
        let first = self
            .messages
            .partition_point(|m| m.received_ms <= now_ms - DAY_MS);
        let in_day = &self.messages[first..];
        (in_day.len() >= cap).then(|| {
            let frees_at = in_day[in_day.len() - cap].received_ms + DAY_MS;
            ((frees_at - now_ms).max(1) as u64).div_ceil(1000)
        })
    }
}

/// Would one more post exceed `rps` in the 1 s sliding window `window` ending at `now`?
/// Forgets entries older than one second. `None`: no limit.
pub(crate) fn over_window(window: &mut VecDeque<Instant>, rps: Option<u32>, now: Instant) -> bool {
    let Some(rps) = rps else { return false };
    while let Some(front) = window.front() {
        if now.duration_since(*front) >= Duration::from_secs(1) {
            window.pop_front();
        } else {
            break;
        }
    }
    window.len() >= rps as usize
}

/// A team with its channels.
#[derive(Debug)]
pub(crate) struct Team {
    pub channels: HashMap<String, Conversation>,
}

/// Where a Graph message request points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Channel { team_id: String, channel_id: String },
    Chat { chat_id: String },
}

impl Target {
    /// The `Delivered::target` label.
    pub(crate) fn label(&self) -> String {
        match self {
            Target::Channel {
                team_id,
                channel_id,
            } => format!("{team_id}/{channel_id}"),
            Target::Chat { chat_id } => chat_id.clone(),
        }
    }
}

/// Everything the sandbox knows.
#[derive(Debug)]
pub(crate) struct State {
    pub config: TeamsSandboxConfig,
    pub time_offset: Duration,
    pub access_tokens: HashMap<String, AccessToken>,
    /// The one valid refresh token of the service account.
    pub refresh_token: String,
    /// Sandbox time the refresh token was issued (inactivity expiry counts from here).
    pub refresh_token_issued_ms: i64,
    pub refresh_generation: u64,
    pub teams: HashMap<String, Team>,
    pub chats: HashMap<String, Conversation>,
    pub workflows: HashMap<String, Vec<serde_json::Value>>,
    /// Every run of every flow, in arrival order.
    pub flow_runs: Vec<FlowRun>,
    pub faults: VecDeque<TeamsFault>,
    pub stats: TeamsStats,
    pub last_message_id: i64,
    pub subscribers: Vec<Sender<Delivered>>,
    /// Arrival instants of accepted posts in the whole tenant within the last second.
    pub tenant_window: VecDeque<Instant>,
    /// Posts stored so far (numbering of [`super::config::PostFaultMix`]).
    pub posts_stored: u64,
    /// The directory's users (`GET /users/{id | userPrincipalName}`).
    pub users: Vec<super::users::DirectoryUser>,
    /// User lookups answered (any status).
    pub user_lookups: u64,
    /// Change-notification subscriptions by id.
    pub subscriptions: BTreeMap<String, Subscription>,
    /// Every notification POST made, in order.
    pub notification_log: Vec<NotificationAttempt>,
    /// Replies to channel messages, in arrival order.
    pub replies: Vec<StoredReply>,
}

impl State {
    pub(crate) fn new(config: TeamsSandboxConfig) -> State {
        let mut state = State {
            refresh_token: config.initial_refresh_token.clone(),
            config,
            time_offset: Duration::ZERO,
            access_tokens: HashMap::new(),
            refresh_token_issued_ms: 0,
            refresh_generation: 0,
            teams: HashMap::new(),
            chats: HashMap::new(),
            workflows: HashMap::new(),
            flow_runs: Vec::new(),
            faults: VecDeque::new(),
            stats: TeamsStats::default(),
            last_message_id: 0,
            subscribers: Vec::new(),
            tenant_window: VecDeque::new(),
            posts_stored: 0,
            users: Vec::new(),
            user_lookups: 0,
            subscriptions: BTreeMap::new(),
            notification_log: Vec::new(),
            replies: Vec::new(),
        };
        state.refresh_token_issued_ms = state.now_ms();
        state
    }

    /// Sandbox clock: real Unix time plus the configured offset, in milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .saturating_add(self.time_offset);
        i64::try_from(real.as_millis()).unwrap_or(i64::MAX)
    }

    /// A new unique message id (epoch ms, strictly increasing even under bursts).
    pub(crate) fn next_message_id(&mut self) -> i64 {
        let id = self.now_ms().max(self.last_message_id + 1);
        self.last_message_id = id;
        id
    }

    /// A live access token, or `None` when unknown or expired.
    pub(crate) fn live_token(&self, token: &str) -> Option<AccessToken> {
        let t = self.access_tokens.get(token)?;
        (t.expires_at_ms > self.now_ms()).then(|| t.clone())
    }

    pub(crate) fn conversation_mut(&mut self, target: &Target) -> Option<&mut Conversation> {
        match target {
            Target::Channel {
                team_id,
                channel_id,
            } => self.teams.get_mut(team_id)?.channels.get_mut(channel_id),
            Target::Chat { chat_id } => self.chats.get_mut(chat_id),
        }
    }

    pub(crate) fn conversation(&self, target: &Target) -> Option<&Conversation> {
        match target {
            Target::Channel {
                team_id,
                channel_id,
            } => self.teams.get(team_id)?.channels.get(channel_id),
            Target::Chat { chat_id } => self.chats.get(chat_id),
        }
    }

    pub(crate) fn add_team_channel(&mut self, team_id: &str, channel_id: &str) {
        let now = self.now_ms();
        self.teams
            .entry(team_id.to_string())
            .or_insert_with(|| Team {
                channels: HashMap::new(),
            })
            .channels
            .entry(channel_id.to_string())
            .or_insert_with(|| Conversation::new(now));
    }

    pub(crate) fn add_chat(&mut self, chat_id: &str) {
        let now = self.now_ms();
        self.chats
            .entry(chat_id.to_string())
            .or_insert_with(|| Conversation::new(now));
    }

    /// Remove and return the first queued fault matching `pred`.
    pub(crate) fn take_fault(&mut self, pred: impl Fn(&TeamsFault) -> bool) -> Option<TeamsFault> {
        let idx = self.faults.iter().position(pred)?;
        self.faults.remove(idx)
    }

    /// The first queued fault matching `pred`, left in the queue.
    pub(crate) fn peek_fault(&self, pred: impl Fn(&TeamsFault) -> bool) -> Option<&TeamsFault> {
        self.faults.iter().find(|f| pred(f))
    }

    /// Push to every live subscriber; forget those whose receiver is gone.
    pub(crate) fn notify(&mut self, delivered: Delivered) {
        if self.subscribers.is_empty() {
            return;
        }
        self.subscribers
            .retain(|tx| tx.send(delivered.clone()).is_ok());
    }
}
