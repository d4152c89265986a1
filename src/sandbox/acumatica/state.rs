//! The simulator's state: signed-in sessions (licence seats), records with their stamps,
//! counters and queued faults.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::actions::ActionState;
use super::generate::key_fields;
use super::{AcumaticaFault, AcumaticaSandboxConfig, AcumaticaStats};

/// One signed-in session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Value of the `.ASPXAUTH` cookie that must come with `ASP.NET_SessionId`.
    pub auth: String,
    /// Last request with it (idle timeout).
    pub last_used: Instant,
}

/// Everything behind the simulator's lock.
#[derive(Debug)]
pub(crate) struct State {
    pub config: AcumaticaSandboxConfig,
    /// `ASP.NET_SessionId` → session.
    pub sessions: HashMap<String, Session>,
    /// Entity → key → plain record (with `LastModifiedDateTime`).
    pub records: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    pub stats: AcumaticaStats,
    pub faults: VecDeque<AcumaticaFault>,
    /// Last stamp given, so stamps strictly increase.
    pub last_stamp: OffsetDateTime,
    /// Counter of notification ids and `TimeStamp`s.
    pub notifications: u64,
    /// Session ids and auth cookies issued so far (for secret checks in tests).
    pub issued: Vec<String>,
    /// Long-running actions and their knobs.
    pub actions: ActionState,
}

impl State {
    pub fn new(config: AcumaticaSandboxConfig) -> State {
        State {
            config,
            sessions: HashMap::new(),
            records: BTreeMap::new(),
            stats: AcumaticaStats::default(),
            faults: VecDeque::new(),
            last_stamp: OffsetDateTime::UNIX_EPOCH,
            notifications: 0,
            issued: Vec::new(),
            actions: ActionState::default(),
        }
    }

    /// A stamp after every earlier one: now, or 1 ms after the last.
    pub fn stamp(&mut self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        let next = if now > self.last_stamp {
            now
        } else {
            self.last_stamp + time::Duration::milliseconds(1)
        };
        let next = next.replace_nanosecond(next.millisecond() as u32 * 1_000_000).unwrap_or(next);
        self.last_stamp = next;
        next
    }

    /// The stored key of a plain record of `entity`; `None` when a key field is missing.
    pub fn key_of(entity: &str, fields: &Map<String, Value>) -> Option<String> {
        let parts: Option<Vec<String>> = key_fields(entity)?
            .iter()
            .map(|f| fields.get(*f).and_then(Value::as_str).map(str::to_string))
            .collect();
        parts.map(|p| p.join(":"))
    }

    /// Drop sessions idle for longer than the configured timeout (counted as expired).
    pub fn expire_idle(&mut self) {
        let Some(timeout) = self.config.idle_timeout else {
            return;
        };
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.last_used.elapsed() < timeout);
        self.stats.sessions_expired += (before - self.sessions.len()) as u64;
    }

    /// Take the first queued fault that `pick` matches.
    pub fn take_fault(&mut self, pick: impl Fn(&AcumaticaFault) -> bool) -> Option<AcumaticaFault> {
        let at = self.faults.iter().position(pick)?;
        self.faults.remove(at)
    }
}
