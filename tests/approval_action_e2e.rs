//! An approval tap becomes the Acumatica action exactly once, and the card shows the outcome
//! (issue 9), with the real binary against the Acumatica and Bot Framework simulators: a bill
//! on hold is polled, its approval card posted; a simulated tap commits a `Decision`; the
//! `acumatica_action` destination releases the bill; the `ActionOutcome` record updates the
//! posted card in place. Also across a `kill -9` between the tap and the action, for a
//! release that Acumatica refuses (in the operation, or at the POST with 422 or 500: the
//! sandbox's `release_refusal`), and for an `acumatica` source listing only `ActionOutcome`
//! (it reads the store: its polls never sign in; no seat held once the startup session idles out).

mod support;

use std::process::{Child, Command};
use std::time::Duration;

use ml_connector::sandbox::acumatica::{
    self, AcumaticaSandboxConfig, AcumaticaSim, ReleaseRefusal,
};
use ml_connector::sandbox::teams_bot::{self, BotSandboxConfig, BotSim, Forgery, Tap};
use ml_connector::sandbox::SpawnedServer;
use serde_json::Value;
use support::*;

const ACU_PASSWORD_ENV: &str = "MLC_E2E_ACU_PASSWORD";
const BOT_PASSWORD_ENV: &str = "MLC_E2E_BOT_PASSWORD";
const DECISION_KEY_ENV: &str = "MLC_E2E_DECISION_KEY";
const DECISION_KEY: &str = "e2e-decision-key-0123456789abcdef0123456789";
const CONVERSATION: &str = "19:approvals@thread.tacv2";
/// Stored key of the bill the tests decide on.
const BILL: &str = "Bill:000001";

/// The gateway configuration (placeholders `@…@` filled by [`Rig::start`]).
const CONFIG: &str = r#"
[service]
state_dir = "@STATE@"

[http]
listen = "127.0.0.1:@PORT@"

[[credentials]]
name = "acme-acu"
kind = "acumatica"
base_url = "@ACU_URL@"
username = "admin"
password = { env = "MLC_E2E_ACU_PASSWORD" }
tenant = "MyStore"

[[credentials]]
name = "approvals-bot"
kind = "bot_framework"
app_id = "@APP_ID@"
app_password = { env = "MLC_E2E_BOT_PASSWORD" }
login_base_url = "@BOT_URL@"
decision_key = { env = "MLC_E2E_DECISION_KEY" }

[[sources]]
name = "acme-acu"
kind = "acumatica"
credential = "acme-acu"
start_from = "beginning"
entities = [{ name = "Bill", interval_seconds = 1 }, { name = "ActionOutcome", interval_seconds = 1 }]

[[sources]]
name = "approvals"
kind = "teams_bot"
credential = "approvals-bot"
openid_metadata_url = "@BOT_URL@v1/.well-known/openidconfiguration"

[[destinations]]
name = "ap-approvals"
kind = "teams_bot"
credential = "approvals-bot"
service_url = "@BOT_URL@"
conversation_id = "19:approvals@thread.tacv2"

[[destinations]]
name = "bill-actions"
kind = "acumatica_action"
credential = "acme-acu"
action_poll_seconds = 0.1
action_timeout_seconds = 10

[[routes]]
name = "bills-for-approval"
source = "acme-acu"
entity = "Bill"
events = ["created"]
when = ["Status in ['On Hold']"]
destination = "ap-approvals"
template.summary = "Bill {{ doc.ReferenceNbr }} is on hold"
template.card = '''{"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": {{ ("Bill " ~ doc.ReferenceNbr ~ " is on hold")|tojson }}}], "mlc_approval": {"document": {{ doc.ReferenceNbr|tojson }}, "version": {{ doc.LastModifiedDateTime|tojson }}, "approver": "aad-jane", "approver_name": "Jane Smith"}}'''

[[routes]]
name = "decisions-to-acumatica"
source = "approvals"
entity = "Decision"
destination = "bill-actions"
[routes.map]
verb = "{{ doc.verb }}"
document = "{{ doc.document }}"
version = "{{ doc.version }}"
approver_name = "{{ doc.approver_name }}"
service_url = "{{ doc.service_url }}"
conversation_id = "{{ doc.conversation_id }}"
activity_id = "{{ doc.activity_id }}"

[[routes]]
name = "outcomes-to-the-card"
source = "acme-acu"
entity = "ActionOutcome"
destination = "ap-approvals"
template.summary = "{{ doc.message }}"
template.card = '''{"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": {{ doc.message|tojson }}, "wrap": true}], "mlc_update": {"activity_id": {{ doc.activity_id|tojson }}, "conversation_id": {{ doc.conversation_id|tojson }}}}'''
"#;

/// The `mlc_acumatica_action_total` lines of a `/metrics` text.
fn action_counts(metrics: &str) -> Vec<&str> {
    metrics
        .lines()
        .filter(|l| l.starts_with("mlc_acumatica_action_total"))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The simulators, the configuration and the gateway's state directory.
struct Rig {
    w: World,
    acu: AcumaticaSim,
    bot: BotSim,
    bot_url: url::Url,
    port: u16,
    _servers: (SpawnedServer, SpawnedServer),
}

impl Rig {
    fn start() -> Rig {
        Rig::start_with(AcumaticaSandboxConfig::default(), CONFIG)
    }

    /// The simulators with `acu_config`, the gateway configuration `config`.
    fn start_with(acu_config: AcumaticaSandboxConfig, config: &str) -> Rig {
        let w = World::default_with(Default::default());
        let acu = AcumaticaSim::new(acu_config);
        acu.generate_next("Bill").expect("bill 000001");
        let bot = BotSim::new(BotSandboxConfig {
            rate_limits: false,
            ..BotSandboxConfig::default()
        });
        let (acu_url, acu_server) = acumatica::spawn(acu.clone(), 0).expect("acumatica sandbox");
        let (bot_url, bot_server) = teams_bot::spawn(bot.clone(), 0).expect("bot sandbox");
        let port = free_port();
        let config = config
            .replace("@STATE@", &w.state_dir().display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@ACU_URL@", acu_url.as_str())
            .replace("@BOT_URL@", bot_url.as_str())
            .replace("@APP_ID@", &bot.config().app_id);
        std::fs::write(&w.config_path, config).expect("write config");
        Rig {
            w,
            acu,
            bot,
            bot_url,
            port,
            _servers: (acu_server, bot_server),
        }
    }

    fn spawn(&self) -> Child {
        let acu = self.acu.config().password;
        let bot = self.bot.config().app_password;
        self.w.spawn_binary(&[
            (ACU_PASSWORD_ENV, &acu),
            (BOT_PASSWORD_ENV, &bot),
            (DECISION_KEY_ENV, DECISION_KEY),
        ])
    }

    /// Wait for the approval card; the `data` of its Approve button.
    fn card_buttons(&self) -> Value {
        assert!(
            wait_until(Duration::from_secs(30), || self.bot.activities().len() == 1),
            "the approval card is posted"
        );
        self.bot.activities()[0].card["actions"][0]["data"].clone()
    }

    /// Press `verb` on the posted card as Jane: the gateway's HTTP status.
    fn tap(&self, verb: &str, data: Value) -> u16 {
        let tap = Tap {
            endpoint: url::Url::parse(&format!(
                "http://127.0.0.1:{}/inbound/teams_bot/approvals",
                self.port
            ))
            .expect("url"),
            app_id: self.bot.config().app_id,
            service_url: self.bot_url.to_string(),
            conversation_id: CONVERSATION.into(),
            activity_id: format!("invoke-{verb}"),
            verb: verb.into(),
            data,
            from_aad: "aad-jane".into(),
            from_name: "Jane Smith".into(),
            forgery: Forgery::None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let client = reqwest::Client::new();
        runtime.block_on(tap.send(&client)).expect("tap sent").0
    }

    /// The gateway's `/metrics` text.
    fn metrics(&self) -> String {
        self.try_metrics().expect("/metrics")
    }

    /// The gateway's `/metrics` text, `None` while it does not answer.
    fn try_metrics(&self) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime
            .block_on(async { reqwest::get(url).await?.text().await })
            .ok()
    }

    /// `mlc_polls_total` of `entity` with outcome `ok` (0 before the first poll).
    fn polls(&self, entity: &str) -> u64 {
        let prefix =
            format!("mlc_polls_total{{source=\"acme-acu\",entity=\"{entity}\",outcome=\"ok\"}} ");
        self.try_metrics()
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Card updates whose text contains `text`.
    fn updates_saying(&self, text: &str) -> usize {
        self.bot
            .card_updates()
            .iter()
            .filter(|(_, card)| card.to_string().contains(text))
            .count()
    }

    fn bill(&self, field: &str) -> Value {
        self.acu.record("Bill", BILL).expect("bill")[field].clone()
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn approve_releases_once_and_updates_the_card_once() {
    let rig = Rig::start();
    let child = rig.spawn();
    let data = rig.card_buttons();
    assert_eq!(rig.tap("approve", data), 200);
    let released = "Approved by Jane Smith — bill 000001 released in Acumatica.";
    let updated = wait_until(Duration::from_secs(30), || {
        rig.updates_saying(released) == 1
    });
    std::thread::sleep(Duration::from_millis(2500));
    let metrics = rig.metrics();
    stop(child);
    assert!(updated, "the card says the bill was released");
    assert_eq!(rig.updates_saying(released), 1, "one outcome update");
    assert_eq!(rig.acu.release_calls(BILL), 1);
    assert_eq!(
        (rig.bill("Status"), rig.bill("Hold")),
        (Value::from("Open"), Value::from(false))
    );
    let activity = &rig.bot.activities()[0];
    assert!(
        activity.card.to_string().contains(released),
        "the final card: {}",
        activity.card
    );
    assert_eq!(rig.bot.activities().len(), 1, "no new card was posted");
    assert_eq!(
        action_counts(&metrics),
        vec![r#"mlc_acumatica_action_total{destination="bill-actions",outcome="released"} 1"#]
    );
    // The audit trail: one line for the decision, one for what it became in Acumatica.
    let (store, _) = ml_connector::commands::open_state(&rig.w.config()).expect("store");
    // Newest first: reversed into the order they were written.
    let lines: Vec<(String, String)> = store
        .audit_lines(100)
        .expect("audit")
        .into_iter()
        .rev()
        .filter(|l| l.kind.starts_with("approval_"))
        .map(|l| (l.kind, l.detail))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, "approval_decision");
    let decision = lines[0].1.as_str();
    let prefix = "approvals: approve of 000001@";
    assert!(decision.starts_with(prefix), "{decision}");
    let (version, rest) = decision[prefix.len()..]
        .split_once(" by Jane Smith (aad-jane) at ")
        .expect("approver and time in the decision line");
    assert!(!version.is_empty() && rest.ends_with('Z'), "{decision}");
    assert_eq!(
        lines[1],
        (
            "approval_action".to_string(),
            format!("bill-actions: approve of Bill 000001@{version} by Jane Smith: released")
        )
    );
}

#[test]
fn kill_dash_nine_between_the_tap_and_the_action_acts_once_after_restart() {
    let rig = Rig::start();
    let child = rig.spawn();
    let data = rig.card_buttons();
    rig.acu.hold_reads(true);
    assert_eq!(rig.tap("approve", data), 200, "the decision is committed");
    assert!(
        wait_until(Duration::from_secs(30), || rig.acu.held_reads() == 1),
        "the action reads the bill"
    );
    let mut child = child;
    child.kill().expect("kill -9");
    let _ = child.wait();
    rig.acu.hold_reads(false);
    assert_eq!(
        (rig.acu.release_calls(BILL), rig.acu.puts()),
        (0, 0),
        "nothing written before the kill"
    );
    let child = rig.spawn();
    let released = "Approved by Jane Smith — bill 000001 released in Acumatica.";
    let updated = wait_until(Duration::from_secs(40), || {
        rig.updates_saying(released) == 1
    });
    std::thread::sleep(Duration::from_millis(2500));
    stop(child);
    assert!(
        updated,
        "after the restart the card says the bill was released"
    );
    assert_eq!(rig.acu.release_calls(BILL), 1);
    assert_eq!(rig.updates_saying(released), 1, "one final card");
    assert_eq!(
        (rig.bill("Status"), rig.bill("Hold")),
        (Value::from("Open"), Value::from(false))
    );
}

/// A release Acumatica refuses (closed period) where `refusal` says: one ReleaseBill POST,
/// the hold back on, the card says why, one dead letter.
fn a_refused_release_leaves_the_bill_on_hold_says_so_and_dead_letters_once(
    refusal: ReleaseRefusal,
) {
    let acu_config = AcumaticaSandboxConfig {
        release_refusal: refusal,
        ..AcumaticaSandboxConfig::default()
    };
    let rig = Rig::start_with(acu_config, CONFIG);
    rig.acu.fail_release(BILL, true);
    let child = rig.spawn();
    let data = rig.card_buttons();
    assert_eq!(rig.tap("approve", data), 200);
    let failed = "Release failed in Acumatica: Error: Document 000001 cannot be released: the financial period 01-2026 is closed in the AP module. The bill stays on hold.";
    let updated = wait_until(Duration::from_secs(30), || rig.updates_saying(failed) == 1);
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = rig.metrics();
    stop(child);
    assert!(updated, "the card says the release failed");
    assert_eq!(rig.updates_saying(failed), 1, "one outcome update");
    assert_eq!(rig.acu.release_calls(BILL), 1, "no second POST");
    assert_eq!(rig.acu.puts(), 2, "hold off, hold back on");
    assert_eq!(
        (rig.bill("Status"), rig.bill("Hold")),
        (Value::from("On Hold"), Value::from(true))
    );
    assert_eq!(
        action_counts(&metrics),
        vec![r#"mlc_acumatica_action_total{destination="bill-actions",outcome="failed"} 1"#]
    );
    let (store, _) = ml_connector::commands::open_state(&rig.w.config()).expect("store");
    let letters = store.dead_letters(100).expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].entry.destination, "bill-actions");
}

#[test]
fn a_release_refused_in_the_operation_leaves_the_bill_on_hold_and_dead_letters_once() {
    a_refused_release_leaves_the_bill_on_hold_says_so_and_dead_letters_once(
        ReleaseRefusal::Operation,
    );
}

#[test]
fn a_release_refused_at_the_post_with_422_leaves_the_bill_on_hold_and_dead_letters_once() {
    a_refused_release_leaves_the_bill_on_hold_says_so_and_dead_letters_once(
        ReleaseRefusal::Request422,
    );
}

#[test]
fn a_release_refused_at_the_post_with_500_leaves_the_bill_on_hold_and_dead_letters_once() {
    a_refused_release_leaves_the_bill_on_hold_says_so_and_dead_letters_once(
        ReleaseRefusal::Request500,
    );
}

/// [`CONFIG`] with the `acumatica` source listing only `ActionOutcome` (and the route of
/// bills to cards removed).
fn outcomes_only_config() -> String {
    let start = CONFIG
        .find("[[routes]]\nname = \"bills-for-approval\"")
        .expect("bills route");
    let end = start
        + CONFIG[start..]
            .find("\n[[routes]]\nname = \"decisions-to-acumatica\"")
            .expect("next route")
        + 1;
    let config = format!("{}{}", &CONFIG[..start], &CONFIG[end..]);
    let listed = r#"entities = [{ name = "Bill", interval_seconds = 1 }, { name = "ActionOutcome", interval_seconds = 1 }]"#;
    assert!(config.contains(listed));
    config.replace(
        listed,
        r#"entities = [{ name = "ActionOutcome", interval_seconds = 1 }]"#,
    )
}

/// The `ActionOutcome` poller reads the store only: its polls never sign in. The one sign-in
/// is the runtime's eager login of the credential at start (the session keepalive, shared
/// with the `acumatica_action` destination); it hands its seat back after
/// `idle_logout_seconds` (1 here) and no poll signs in again.
#[test]
fn a_source_of_action_outcomes_only_never_signs_in_and_holds_no_seat_once_idle() {
    let config = outcomes_only_config().replace(
        "tenant = \"MyStore\"\n",
        "tenant = \"MyStore\"\nidle_logout_seconds = 1\n",
    );
    let rig = Rig::start_with(AcumaticaSandboxConfig::default(), &config);
    let child = rig.spawn();
    let idle = wait_until(Duration::from_secs(30), || {
        rig.polls("ActionOutcome") >= 2 && rig.acu.stats().sessions_closed == 1
    });
    let polls_at_idle = rig.polls("ActionOutcome");
    let polled_on = wait_until(Duration::from_secs(30), || {
        rig.polls("ActionOutcome") >= polls_at_idle + 3
    });
    let polls_of_bills = rig.polls("Bill");
    stop(child);
    assert!(idle, "the startup session was logged out after idling");
    assert!(polled_on, "the ActionOutcome poller ran three more cycles");
    assert_eq!(polls_of_bills, 0);
    let stats = rig.acu.stats();
    assert_eq!(
        (
            stats.login_requests,
            stats.sessions_opened,
            stats.sessions_closed
        ),
        (1, 1, 1),
        "only the startup login, logged out when idle; no poll signed in"
    );
    assert_eq!(rig.acu.open_sessions(), 0);
}

#[test]
fn reject_writes_nothing_and_the_card_says_rejected() {
    let rig = Rig::start();
    let child = rig.spawn();
    let data = rig.card_buttons();
    assert_eq!(rig.tap("reject", data), 200);
    let rejected = "Rejected by Jane Smith — bill 000001 stays on hold.";
    let updated = wait_until(Duration::from_secs(30), || {
        rig.updates_saying(rejected) == 1
    });
    stop(child);
    assert!(updated, "the card says rejected");
    assert_eq!((rig.acu.puts(), rig.acu.release_calls(BILL)), (0, 0));
    assert_eq!(rig.bill("Hold"), Value::from(true));
}

#[test]
fn a_bill_edited_after_the_card_is_not_touched_and_the_card_says_out_of_date() {
    let rig = Rig::start();
    let child = rig.spawn();
    let data = rig.card_buttons();
    rig.acu
        .update(
            "Bill",
            BILL,
            &[("Description", Value::from("amount corrected"))],
        )
        .expect("edit");
    assert_eq!(rig.tap("approve", data), 200);
    let stale = "Approved by Jane Smith, but bill 000001 changed in Acumatica after this card was posted: the card is out of date and nothing was done.";
    let updated = wait_until(Duration::from_secs(30), || rig.updates_saying(stale) == 1);
    stop(child);
    assert!(updated, "the card says out of date");
    assert_eq!((rig.acu.puts(), rig.acu.release_calls(BILL)), (0, 0));
    assert_eq!(rig.bill("Hold"), Value::from(true));
}
