//! The approval scene of `ml-connector demo`: a simulated Acumatica with one bill on hold and
//! a simulated Bot Framework; the gateway posts the approval card, the scene taps Approve as
//! the approver (an invoke signed with the sandbox key, [`Tap`]), and prints the bill going
//! from `On Hold` to `Open` (released) and the card updated in place with the outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ml_connector_actors::Store;
use serde_json::Value;
use url::Url;

use super::acumatica::{self, AcumaticaSandboxConfig, AcumaticaSim};
use super::teams_bot::{self, BotSandboxConfig, BotSim, Forgery, Tap};
use super::SpawnedServer;
use crate::seam::SecretRefs;
use crate::secrets::{SecretKey, SecretRef};

/// Conversation the demo's approval cards go to (installed in the simulated bot).
pub const APPROVAL_CONVERSATION: &str = "19:approvals@thread.tacv2";
/// Entra object id of the demo approver (the route's `mlc_approval.approver`).
pub const APPROVER_AAD: &str = "aad-jane-smith";
/// The demo's teams_bot source (the bot endpoint `/inbound/teams_bot/approvals`).
pub const BOT_SOURCE: &str = "approvals";
/// The bill the scene decides on (stored key).
const BILL: &str = "Bill:000001";

/// The two simulators of the scene, on ephemeral ports until dropped.
pub struct ApprovalSandbox {
    /// Acumatica with bill 000001 on hold.
    pub acumatica: AcumaticaSim,
    /// `http://127.0.0.1:PORT/` (instance root).
    pub acumatica_url: Url,
    /// Entra token endpoint for bots, Bot Connector, OpenID metadata.
    pub bot: BotSim,
    /// `http://127.0.0.1:PORT/`.
    pub bot_url: Url,
    _servers: (SpawnedServer, SpawnedServer),
}

/// The text of a card's last `TextBlock`.
fn last_line(card: &Value) -> String {
    card["body"]
        .as_array()
        .and_then(|b| b.iter().rev().find_map(|block| block["text"].as_str()))
        .unwrap_or_default()
        .to_string()
}

impl ApprovalSandbox {
    /// Start both simulators with one bill on hold. Errors: binding a port.
    pub fn start() -> std::io::Result<ApprovalSandbox> {
        let acumatica = AcumaticaSim::new(AcumaticaSandboxConfig::default());
        acumatica.generate_next("Bill");
        acumatica.set_release_polls(2);
        let bot = BotSim::new(BotSandboxConfig::default());
        let (acumatica_url, a) = acumatica::spawn(acumatica.clone(), 0)?;
        let (bot_url, b) = teams_bot::spawn(bot.clone(), 0)?;
        Ok(ApprovalSandbox {
            acumatica,
            acumatica_url,
            bot,
            bot_url,
            _servers: (a, b),
        })
    }

    /// `doc` (a parsed configuration) with the `acumatica` and `bot_framework` credentials,
    /// the `teams_bot` destinations (`service_url`) and sources (`openid_metadata_url`)
    /// pointed at the simulators.
    pub fn point(&self, doc: &mut toml::Table) {
        let bot = self.bot.config();
        let metadata = format!("{}v1/.well-known/openidconfiguration", self.bot_url);
        for (list, kind, values) in [
            (
                "credentials",
                "acumatica",
                vec![("base_url", self.acumatica_url.to_string())],
            ),
            (
                "credentials",
                "bot_framework",
                vec![
                    ("login_base_url", self.bot_url.to_string()),
                    ("app_id", bot.app_id.clone()),
                ],
            ),
            (
                "destinations",
                "teams_bot",
                vec![("service_url", self.bot_url.to_string())],
            ),
            (
                "sources",
                "teams_bot",
                vec![("openid_metadata_url", metadata.clone())],
            ),
        ] {
            let Some(entries) = doc.get_mut(list).and_then(|v| v.as_array_mut()) else {
                continue;
            };
            for entry in entries.iter_mut().filter_map(|v| v.as_table_mut()) {
                if entry.get("kind").and_then(|k| k.as_str()) == Some(kind) {
                    for (key, value) in &values {
                        entry.insert(key.to_string(), toml::Value::String(value.clone()));
                    }
                }
            }
        }
    }

    /// The value a stored secret of credential kind `kind`, field `field` gets, if the
    /// scene provides it (the Acumatica password, the bot's app password, a fresh decision
    /// key).
    fn secret_value(&self, kind: &str, field: &str) -> Option<String> {
        match (kind, field) {
            ("acumatica", "password") => Some(self.acumatica.config().password),
            ("bot_framework", "app_password") => Some(self.bot.config().app_password),
            ("bot_framework", "decision_key") => {
                use rand::Rng;
                let mut rng = rand::rng();
                Some(
                    (0..64)
                        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
                        .collect(),
                )
            }
            _ => None,
        }
    }

    /// Store the scene's secrets under the names the credentials refer to (`{ secret =
    /// "NAME" }` only). Errors: the store or the key failed.
    pub fn seed_secrets<'a>(
        &self,
        credentials: impl IntoIterator<Item = (&'a str, SecretRefs)>,
        store: &Store,
        key: &SecretKey,
    ) -> Result<(), String> {
        for (kind, refs) in credentials {
            for (field, reference) in refs {
                if let (Some(value), SecretRef::Secret(name)) =
                    (self.secret_value(kind, &field), reference)
                {
                    crate::secrets::set(&name, &value, key, store).map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }

    fn bill_line(&self) -> String {
        let bill = self.acumatica.record("Bill", BILL).unwrap_or_default();
        let text = |name: &str| {
            bill.get(name)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .unwrap_or_default()
        };
        format!(
            "bill {} · {} · {} {} · Status {} · Hold {}",
            text("ReferenceNbr"),
            text("Vendor"),
            text("Amount"),
            text("CurrencyID"),
            text("Status"),
            text("Hold")
        )
    }

    /// Wait up to `limit` (or until `stop`) for `ready`.
    fn wait(stop: &AtomicBool, limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while !stop.load(Ordering::SeqCst) && start.elapsed() < limit {
            if ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The scene, printed line by line: the bill on hold, the approval card, the tap on
    /// Approve (sent to the gateway at `listen`), the card updated with the outcome and the
    /// bill released. Returns whether the outcome arrived.
    pub fn play(&self, listen: &str, stop: &AtomicBool) -> bool {
        println!("  Acumatica ▸ {}", self.bill_line());
        if !Self::wait(stop, Duration::from_secs(60), || {
            !self.bot.activities().is_empty()
        }) {
            return false;
        }
        let card = self.bot.activities()[0].card.clone();
        println!(
            "  Teams  ◂ approval card  \"{}\"  [Approve] [Reject]",
            last_line(&card)
        );
        std::thread::sleep(Duration::from_secs(2));
        let tap = Tap {
            endpoint: match Url::parse(&format!("http://{listen}/inbound/teams_bot/{BOT_SOURCE}")) {
                Ok(u) => u,
                Err(_) => return false,
            },
            app_id: self.bot.config().app_id,
            service_url: self.bot_url.to_string(),
            conversation_id: APPROVAL_CONVERSATION.into(),
            activity_id: "demo-tap-1".into(),
            verb: "approve".into(),
            data: card["actions"][0]["data"].clone(),
            from_aad: APPROVER_AAD.into(),
            from_name: "Jane Smith".into(),
            forgery: Forgery::None,
        };
        let answer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(tap.send(&reqwest::Client::new())));
        match answer {
            Ok((status, body)) => println!(
                "  Teams  ▸ Jane Smith taps Approve → HTTP {status}, \"{}\"",
                last_line(&body["value"])
            ),
            Err(e) => {
                println!("  Teams  ▸ the tap did not reach the gateway: {e}");
                return false;
            }
        }
        let done = Self::wait(stop, Duration::from_secs(60), || {
            self.bot
                .card_updates()
                .iter()
                .any(|(_, card)| last_line(card).contains("in Acumatica"))
        });
        if done {
            let outcome = self.bot.activities()[0].card.clone();
            println!(
                "  Teams  ◂ card updated in place  \"{}\"",
                last_line(&outcome)
            );
            println!(
                "  Acumatica ▸ {} · ReleaseBill calls: {}",
                self.bill_line(),
                self.acumatica.release_calls(BILL)
            );
        }
        done
    }
}
