//! `conversation = "approver"`: approval cards to the approver's 1:1 chat against the Bot
//! Framework simulator — a stored reference, a chat opened with `POST /v3/conversations`
//! and remembered, the fallback channel with the note when the app is not installed, and a
//! chat whose app was uninstalled unannounced.

use std::time::Duration;

use ml_connector_actors::clock::SharedClock;
use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Outcome, Sink};
use secrecy::SecretString;
use serde_json::{json, Value as Json};

use super::activity::{BotSink, BotTarget};
use super::approver::{ApproverOptions, ApproverSink};
use super::book::CardBook;
use super::chat::ApproverChats;
use super::config::DEFAULT_MAX_CARD_VERSION;
use super::decision::DecisionKey;
use super::people::{People, PeopleSettings};
use super::reference::PersonalRef;
use super::reference_tests::{personal, TENANT};
use super::tests::{Rig, CONVERSATION, DECISION_KEY};
use crate::connectors::kit::conformance::{check_sink, client, outbox_entry, Lookups, SinkFixture};
use crate::connectors::teams::BearerToken;
use crate::sandbox::teams_bot::install::InstallEvent;
use crate::sandbox::teams_bot::Forgery;

const JANE: &str = "aad-jane";
const JANE_CHAT: &str = "a:1aad-jane";

/// The bot rig and a destination with `conversation = "approver"` falling back to
/// [`CONVERSATION`].
pub(super) struct ChatRig {
    pub rig: Rig,
    pub sink: ApproverSink,
}

impl ChatRig {
    pub fn start() -> ChatRig {
        let rig = Rig::start();
        let app_id = rig.sim.config().app_id;
        let clock: SharedClock = rig.clock.clone();
        let target = BotTarget {
            service_url: rig.served.root.clone(),
            conversation_id: CONVERSATION.into(),
            decision_ttl: Duration::from_secs(3600),
            max_card_version: DEFAULT_MAX_CARD_VERSION,
        };
        let key = DecisionKey::new(SecretString::from(DECISION_KEY)).expect("key");
        let inner = BotSink::new(client(Duration::from_secs(1)), target, key, CardBook::new(rig.temp.store.clone(), &app_id), clock.clone());
        let people = People::new("approvals-card", rig.temp.store.clone(), clock, None, PeopleSettings::default());
        let chats = ApproverChats::new(client(Duration::from_secs(1)), rig.references(), rig.served.root.clone(), TENANT, &app_id);
        let sink = ApproverSink::new(inner, people, ApproverOptions::default()).with_chats(chats);
        ChatRig { rig, sink }
    }

    /// Post the approval card of `document` for Jane (outbox entry `n`).
    pub async fn post(&self, n: u64, document: &str) -> Outcome {
        let payload = json!({"summary": format!("Bill {document}"), "card": {
            "type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "TextBlock", "text": format!("Bill {document} on hold")}],
            "mlc_approval": {"document": document, "version": "v1", "approver": JANE, "approver_name": "Jane Smith"},
        }});
        self.sink.deliver(&outbox_entry("approvals-card", n, payload), &self.rig.token().await).await
    }

    /// Jane installs the app and Teams announces it to the bot endpoint.
    pub async fn jane_installs(&self) {
        let chat = self.rig.sim.install_personal(JANE);
        let status = self.rig.announce(&self.rig.installation(personal(&chat), InstallEvent::InstallationUpdate, true, Forgery::None)).await;
        assert_eq!(status, 200);
    }
}

fn action_types(card: &Json) -> Vec<String> {
    card["actions"].as_array().into_iter().flatten().map(|a| a["type"].as_str().unwrap_or_default().to_string()).collect()
}

#[actix_web::test]
async fn a_stored_reference_gets_the_card_in_the_chat_and_none_in_the_channel() {
    let c = ChatRig::start();
    c.jane_installs().await;
    assert_eq!(c.post(1, "B-1").await, Outcome::Delivered { remote_id: "1:1".into() });
    let in_chat = c.rig.sim.activities_in(JANE_CHAT);
    assert_eq!(in_chat.len(), 1);
    assert_eq!(action_types(&in_chat[0].card), vec!["Action.Execute", "Action.Execute"]);
    assert_eq!(c.rig.sim.activities_in(CONVERSATION).len(), 0);
    assert_eq!(c.rig.sim.conversation_creations(), 0);
    // The press in the chat decides and the card is replaced there.
    let data = in_chat[0].card["actions"][0]["data"].clone();
    let (status, _) = c.rig.press(&c.rig.tap(data, "approve", JANE, Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(c.rig.router.take().len(), 1);
    assert_eq!(c.rig.sim.activities_in(JANE_CHAT)[0].updates, 1);
}

#[actix_web::test]
async fn without_a_reference_the_chat_is_opened_once_stored_and_reused() {
    let c = ChatRig::start();
    c.rig.sim.install_personal(JANE);
    assert_eq!(c.post(1, "B-1").await, Outcome::Delivered { remote_id: "1:1".into() });
    assert_eq!(c.rig.sim.conversation_creations(), 1);
    assert_eq!(
        c.rig.references().personal(JANE).expect("reference"),
        Some(PersonalRef {
            aad_object_id: JANE.into(),
            user_id: None,
            conversation_id: JANE_CHAT.into(),
            service_url: c.rig.served.root.to_string(),
            tenant_id: TENANT.into(),
        })
    );
    assert_eq!(c.post(2, "B-2").await, Outcome::Delivered { remote_id: "1:2".into() });
    assert_eq!(c.rig.sim.conversation_creations(), 1);
    assert_eq!(c.rig.sim.activities_in(JANE_CHAT).len(), 2);
    assert_eq!(c.rig.sim.activities_in(CONVERSATION).len(), 0);
}

#[actix_web::test]
async fn app_not_installed_posts_in_the_fallback_channel_with_the_note_and_no_buttons() {
    let c = ChatRig::start();
    assert_eq!(c.post(1, "B-1").await, Outcome::Delivered { remote_id: "1:1".into() });
    let in_channel = c.rig.sim.activities_in(CONVERSATION);
    assert_eq!(in_channel.len(), 1);
    let card = &in_channel[0].card;
    assert_eq!(action_types(card), Vec::<String>::new());
    let body = card["body"].as_array().expect("body");
    assert_eq!(
        body.last().expect("note")["text"],
        "Approver Jane Smith has not installed the approvals app in Microsoft Teams — approve in the ERP."
    );
    assert_eq!(c.rig.sim.conversation_creations(), 0);
    assert_eq!(c.rig.references().all().expect("references"), Vec::new());
}

#[actix_web::test]
async fn an_unannounced_uninstall_forgets_the_chat_retries_and_then_falls_back() {
    let c = ChatRig::start();
    c.jane_installs().await;
    c.rig.sim.uninstall_personal(JANE);
    assert_eq!(
        c.post(1, "B-1").await,
        Outcome::Retry {
            after: None,
            reason: "Bot Connector 403 BotNotInConversationRoster: the bot may not post in this conversation: install the Teams app in the team or chat (and check the service_url region) (the approver's stored chat is forgotten; the next attempt opens it again or falls back)".into(),
            throttled: false,
        }
    );
    assert_eq!(c.rig.references().personal(JANE).expect("reference"), None);
    assert_eq!(c.rig.sim.activities().len(), 0);
    assert_eq!(c.post(1, "B-1").await, Outcome::Delivered { remote_id: "1:1".into() });
    assert_eq!(c.rig.sim.activities_in(CONVERSATION).len(), 1);
}

/// The approver-chat sink on the sink contract, Jane's chat stored (every card goes there).
impl SinkFixture for ChatRig {
    type Sink = ApproverSink;

    fn sink(&self) -> &ApproverSink {
        &self.sink
    }

    async fn credentials(&self) -> BearerToken {
        SinkFixture::credentials(&self.rig).await
    }

    fn refused_credentials(&self) -> Option<BearerToken> {
        SinkFixture::refused_credentials(&self.rig)
    }

    fn entry(&self, n: u64) -> OutboxEntry {
        self.rig.entry(n)
    }

    fn bad_entry(&self) -> OutboxEntry {
        self.rig.bad_entry()
    }

    /// The activities in Jane's chat.
    fn stored(&self) -> Vec<Option<String>> {
        self.rig.sim.activities_in(JANE_CHAT).into_iter().map(|a| Some(a.id)).collect()
    }

    fn requests(&self) -> usize {
        self.rig.requests()
    }

    fn throttle_next(&self) -> Duration {
        self.rig.throttle_next()
    }

    fn hang_after_store_next(&self) {
        self.rig.hang_after_store_next();
    }

    fn lookups(&self) -> Lookups {
        Lookups::Unsupported
    }

    fn secrets(&self) -> Vec<String> {
        SinkFixture::secrets(&self.rig)
    }
}

#[actix_web::test]
async fn approver_chat_sink_passes_the_sink_contract() {
    let c = ChatRig::start();
    c.jane_installs().await;
    check_sink(&c).await;
    assert_eq!(c.rig.sim.activities_in(CONVERSATION).len(), 0);
    assert_eq!(c.rig.sim.conversation_creations(), 0);
}

#[actix_web::test]
async fn the_simulated_conversation_creation_is_as_strict_as_teams() {
    let c = ChatRig::start();
    let url = c.rig.served.root.join("v3/conversations").expect("url");
    let token = c.rig.token().await;
    let app = format!("28:{}", c.rig.sim.config().app_id);
    let open = |body: Json| {
        let (url, auth) = (url.clone(), token.header_value().expect("header"));
        async move {
            let answer = client(Duration::from_secs(1)).post(url).header("authorization", auth).json(&body).send().await.expect("answer");
            let status = answer.status().as_u16();
            (status, answer.json::<Json>().await.expect("json"))
        }
    };
    let params = |member: &str, tenant: &str| json!({"isGroup": false, "bot": {"id": app}, "members": [{"id": member}], "tenantId": tenant, "channelData": {"tenant": {"id": tenant}}});
    assert_eq!(
        open(params(JANE, TENANT)).await,
        (403, json!({"error": {"code": "BotNotInConversationRoster", "message": "The bot is not part of the conversation roster."}}))
    );
    c.rig.sim.install_personal(JANE);
    assert_eq!(open(params(JANE, "other-tenant")).await.0, 400);
    let mut group = params(JANE, TENANT);
    group["isGroup"] = json!(true);
    assert_eq!(open(group).await.0, 400);
    let mut two = params(JANE, TENANT);
    two["members"] = json!([{"id": JANE}, {"id": "aad-bob"}]);
    assert_eq!(open(two).await.0, 400);
    assert_eq!(c.rig.sim.conversation_creations(), 0);
    assert_eq!(open(params(JANE, TENANT)).await, (201, json!({"id": JANE_CHAT})));
    assert_eq!(open(params("29:aad-jane", TENANT)).await, (201, json!({"id": JANE_CHAT})));
    assert_eq!(c.rig.sim.conversation_creations(), 2);
}

#[actix_web::test]
async fn a_card_replacing_one_in_the_approvers_chat_is_put_in_that_chat() {
    let c = ChatRig::start();
    c.jane_installs().await;
    assert_eq!(c.post(1, "B-1").await, Outcome::Delivered { remote_id: "1:1".into() });
    let payload = json!({"summary": "Bill B-1 released", "card": {
        "type": "AdaptiveCard", "version": "1.4",
        "body": [{"type": "TextBlock", "text": "Bill B-1 released"}],
        "mlc_update": {"activity_id": "1:1", "conversation_id": JANE_CHAT},
    }});
    let outcome = c.sink.deliver(&outbox_entry("approvals-card", 2, payload), &c.rig.token().await).await;
    assert_eq!(outcome, Outcome::Delivered { remote_id: "1:1".into() });
    let in_chat = c.rig.sim.activities_in(JANE_CHAT);
    assert_eq!((in_chat.len(), in_chat[0].updates), (1, 1));
    assert_eq!(in_chat[0].card["body"][0]["text"], "Bill B-1 released");
    assert_eq!(c.rig.sim.activities_in(CONVERSATION).len(), 0);
}
