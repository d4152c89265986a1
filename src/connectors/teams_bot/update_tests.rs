//! A card naming a posted activity (`mlc_update`) replaces it in place instead of posting a
//! new card; a card naming another conversation is refused before any request.

use ml_connector_actors::{Lookup, Outcome, Sink};
use serde_json::json;

use super::activity::take_update;
use super::tests::{Rig, CONVERSATION};
use crate::connectors::kit::conformance::outbox_entry;

fn outcome_card(activity_id: &str, conversation_id: &str) -> serde_json::Value {
    json!({"summary": "Bill 000014 released", "card": {
        "type": "AdaptiveCard", "version": "1.4",
        "body": [{"type": "TextBlock", "text": "Approved by Jane Smith — bill 000014 released in Acumatica."}],
        "mlc_update": {"activity_id": activity_id, "conversation_id": conversation_id},
    }})
}

#[tokio::test]
async fn an_update_card_replaces_the_posted_activity_and_posts_nothing() {
    let rig = Rig::start();
    let Outcome::Delivered { remote_id } = rig.post(1, "000014", "v1").await else { panic!("posted") };
    let entry = outbox_entry("approvals-card", 2, outcome_card(&remote_id, CONVERSATION));
    let token = rig.token().await;
    assert_eq!(rig.sink.deliver(&entry, &token).await, Outcome::Delivered { remote_id: remote_id.clone() });
    assert_eq!(rig.sink.deliver(&entry, &token).await, Outcome::Delivered { remote_id: remote_id.clone() }, "the PUT is idempotent");
    assert_eq!(rig.sink.find_existing(&entry, &token).await, Lookup::NotFound, "sending it again is safe");
    let activities = rig.sim.activities();
    assert_eq!(activities.len(), 1, "no new card");
    assert_eq!(activities[0].updates, 2);
    assert_eq!(
        activities[0].card["body"][0]["text"],
        json!("Approved by Jane Smith — bill 000014 released in Acumatica.")
    );
    assert_eq!(activities[0].card.get("mlc_update"), None, "the binding is not sent");
    assert_eq!(rig.sim.card_updates().len(), 2);
}

#[tokio::test]
async fn an_update_for_another_conversation_is_refused_without_a_request() {
    let rig = Rig::start();
    let entry = outbox_entry("approvals-card", 1, outcome_card("1:1", "19:other@thread.tacv2"));
    let outcome = rig.sink.deliver(&entry, &rig.token().await).await;
    assert_eq!(
        outcome,
        Outcome::Permanent {
            status: None,
            reason: format!("card \"mlc_update\" names conversation 19:other@thread.tacv2, not this destination's {CONVERSATION}"),
        }
    );
    assert_eq!((rig.sim.activities().len(), rig.sim.card_updates().len()), (0, 0));
}

#[test]
fn an_empty_activity_id_posts_a_new_card() {
    let mut card = json!({"mlc_update": {"activity_id": "", "conversation_id": CONVERSATION}});
    assert_eq!(take_update(&mut card, CONVERSATION), Ok(None));
    assert_eq!(card, json!({}));
    let mut bad = json!({"mlc_update": {"conversation_id": CONVERSATION}});
    assert_eq!(take_update(&mut bad, CONVERSATION), Err("card \"mlc_update\" has no string activity_id".to_string()));
}
