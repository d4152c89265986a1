//! Twilio REST API (2010-04-01) simulator: Messages and Calls.
//!
//! | Route | Simulates |
//! |---|---|
//! | `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` | create a message (form-encoded) → 201 |
//! | `GET  /2010-04-01/Accounts/{AccountSid}/Messages.json` | list, newest first: `To`, `From`, `DateSent`, `DateSent<`, `DateSent>`, `PageSize`, `Page`, `PageToken` |
//! | `GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json` | fetch one |
//! | `POST`/`GET …/Calls.json`, `GET …/Calls/{Sid}.json` | the same for calls (`Twiml` checked as XML; list filters `To`, `From`, `Status`, `StartTime`, `StartTime<`, `StartTime>`) |
//! | the same under `/ie1/` | the EU host (`api.dublin.ie1.twilio.com`): its own auth token, its own data |
//!
//! Faithful to `shared/specs/twilio_api_v2010.json` and `api-notes/twilio.md`: HTTP Basic with
//! `AccountSid:AuthToken` or `ApiKeySid:ApiKeySecret` (401 / code 20003 otherwise, also for
//! another account in the path); required fields with Twilio's codes (21604 no `To`, 21211
//! `To` not E.164, 21614 `To` a landline, 21603 no sender, 21606 `From` not of the account,
//! 21602 no `Body`, 21617 `Body` over 1600 characters, 21201/21213/21205 for calls, 12100
//! `Twiml` not well-formed XML with a `<Response>` root); SIDs `SM…`/`CA…` of 34 characters;
//! status progression with [`TwilioSim::advance`] / [`TwilioSim::step`] (or every
//! `auto_advance`): `queued` → `sent` → `delivered` / `undelivered` (error code), `queued` →
//! `failed` (error code) for `failing` numbers, calls `queued` → `ringing` →
//! `in-progress` → `completed` / `no-answer`; signed status callbacks
//! (`X-Twilio-Signature`, `I-Twilio-Idempotency-Token`) to the `StatusCallback` URL as given,
//! on 127.0.0.1 only, `callback_copies` times (duplicates, or dropped).
//! Where the docs are silent the sandbox takes the strict choice and makes it configurable:
//! `date_filter_includes_unsent = false` (a `DateSent` filter drops messages whose
//! `date_sent` is still `null`). Faults: [`TwilioFault`].

mod handlers;
mod standalone;
mod state;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::web;

pub use super::server::SpawnedServer;
pub use standalone::{TwilioSettings, SANDBOX};
pub use state::{twilio_signature, Callback, Region, StoredCall, StoredMessage};

use state::State;

/// Settings of the simulated account.
#[derive(Debug, Clone, PartialEq)]
pub struct TwilioSandboxConfig {
    /// `AC` + 32 hex digits.
    pub account_sid: String,
    /// Auth token of region `us1`.
    pub auth_token: String,
    /// Auth token of region `ie1` (EU credentials are region-specific).
    pub eu_auth_token: String,
    /// A Standard API key of the account (`SK…`), valid in `us1`.
    pub api_key_sid: String,
    /// Its secret.
    pub api_key_secret: String,
    /// Numbers of the account (allowed as `From`).
    pub numbers: Vec<String>,
    /// The account's Messaging Service (`MG…`); sends from its first number.
    pub messaging_service_sid: String,
    /// Numbers that are landlines: an SMS to them is refused with 21614 (Twilio's test
    /// number `+15005550009`).
    pub landlines: Vec<String>,
    /// E.164 numbers Twilio does not know as phone numbers: refused with 21211 (Twilio's
    /// test number `+15005550001`).
    pub invalid: Vec<String>,
    /// Numbers whose messages end `undelivered` with this error code (30003: unreachable).
    pub undeliverable: Vec<(String, u32)>,
    /// Numbers whose messages go `queued` → `failed` with this error code (30008: unknown
    /// error), never `sent`.
    pub failing: Vec<(String, u32)>,
    /// Numbers that do not answer calls (`no-answer`).
    pub no_answer: Vec<String>,
    /// Whether a `DateSent` filter also returns messages not sent yet (docs silent; default
    /// false, the stricter answer).
    pub date_filter_includes_unsent: bool,
    /// POST signed status callbacks when statuses change (they are recorded either way).
    pub send_callbacks: bool,
    /// Copies of each status callback POSTed, all with the same idempotency token: 1 as
    /// Twilio normally, 2 a duplicate delivery, 0 callbacks dropped (still recorded).
    pub callback_copies: u32,
    /// Advance every status by one step this often (checked on each request); `None`: only
    /// [`TwilioSim::advance`].
    pub auto_advance: Option<Duration>,
}

impl Default for TwilioSandboxConfig {
    fn default() -> Self {
        TwilioSandboxConfig {
            account_sid: format!("AC{}", "5a".repeat(16)),
            auth_token: "sandbox-auth-token".into(),
            eu_auth_token: "sandbox-eu-auth-token".into(),
            api_key_sid: format!("SK{}", "7c".repeat(16)),
            api_key_secret: "sandbox-api-key-secret".into(),
            numbers: vec!["+15005550006".into()],
            messaging_service_sid: format!("MG{}", "3e".repeat(16)),
            landlines: vec!["+15005550009".into()],
            invalid: vec!["+15005550001".into()],
            undeliverable: vec![("+15005550010".into(), 30003)],
            failing: vec![("+15005550012".into(), 30008)],
            no_answer: vec!["+15005550011".into()],
            date_filter_includes_unsent: false,
            send_callbacks: false,
            callback_copies: 1,
            auto_advance: None,
        }
    }
}

/// A queued fault, consumed by the next matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum TwilioFault {
    /// The next request (any) is answered `status` with Twilio error `code` (and
    /// `Retry-After` when given); nothing is stored. `429` + `20429` is "too many requests".
    Status {
        status: u16,
        code: u32,
        retry_after_secs: Option<u64>,
    },
    /// The next create is stored, then answered `status` (a 5xx) instead of 201.
    ErrorAfterStore { status: u16 },
    /// The next create is stored, then its 201 is held back for `delay`.
    DelayAfterStore { delay: Duration },
}

/// The Twilio simulator; clones share one state.
#[derive(Clone, Debug)]
pub struct TwilioSim {
    state: Arc<Mutex<State>>,
}

impl TwilioSim {
    /// An account with no messages or calls.
    pub fn new(config: TwilioSandboxConfig) -> TwilioSim {
        TwilioSim {
            state: Arc::new(Mutex::new(State::new(config))),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration.
    pub fn config(&self) -> TwilioSandboxConfig {
        self.lock().config.clone()
    }

    /// Queue a fault.
    pub fn inject(&self, fault: TwilioFault) {
        self.lock().faults.push_back(fault);
    }

    /// Messages stored, in creation order.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.lock().messages.clone()
    }

    /// How many messages are stored (without copying them).
    pub fn message_count(&self) -> usize {
        self.lock().messages.len()
    }

    /// Calls stored, in creation order.
    pub fn calls(&self) -> Vec<StoredCall> {
        self.lock().calls.clone()
    }

    /// Status callbacks made so far, in order.
    pub fn callbacks(&self) -> Vec<Callback> {
        self.lock().callbacks.clone()
    }

    /// Move every message and call one status further (see the module docs); returns the
    /// status callbacks this made (also POSTed when `send_callbacks`).
    pub fn advance(&self) -> Vec<Callback> {
        let (made, send, copies) = self.advance_state();
        if send && !made.is_empty() {
            let to_send = made.clone();
            actix_web::rt::spawn(async move { handlers::post_callbacks(to_send, copies).await });
        }
        made
    }

    /// Like [`TwilioSim::advance`], but the callbacks (when `send_callbacks`) are POSTed
    /// before this returns: the step a test drives, with no sleeping.
    pub async fn step(&self) -> Vec<Callback> {
        let (made, send, copies) = self.advance_state();
        if send {
            handlers::post_callbacks(made.clone(), copies).await;
        }
        made
    }

    fn advance_state(&self) -> (Vec<Callback>, bool, u32) {
        let mut state = self.lock();
        (state.advance(), state.config.send_callbacks, state.config.callback_copies)
    }

    /// Mount the API at `/` (`us1`) and `/ie1/` (the EU host).
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        handlers::mount(self, cfg, "", Region::Us1);
        handlers::mount(self, cfg, "/ie1", Region::Ie1);
    }
}

/// Serve `sim` on `127.0.0.1:port` (0 = ephemeral); returns `http://127.0.0.1:PORT/` (the
/// `us1` root; the EU root is `…/ie1/`).
pub fn spawn(sim: TwilioSim, port: u16) -> std::io::Result<(url::Url, SpawnedServer)> {
    let (addr, server) = super::spawn_app(port, move |cfg| sim.configure(cfg))?;
    let url = url::Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
    Ok((url, server))
}
