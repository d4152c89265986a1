//! Hold windows ("quiet hours"): times in which a destination starts no send. Entries wait in
//! the outbox unchanged (no attempt counted, never dead-lettered) and leave when the window
//! ends. The calendar logic (local times in an IANA zone, DST) lives with the configuration;
//! the runtime only asks when the current window ends.

use std::fmt::Debug;

use crate::clock::UnixMillis;

/// A recurring window in which a destination sends nothing.
pub trait HoldWindow: Debug + Send + Sync {
    /// `Some(end)` when `now` (UTC ms) is inside a window: its end (UTC ms, `> now`), when
    /// sending may start again. `None` outside every window.
    fn held_until(&self, now: UnixMillis) -> Option<UnixMillis>;
}
