//! Trace lines: a document's story across dead-lettering and replay, the per-document bound,
//! and finding a document by source and key.

mod support;

use ml_connector_actors::store::{document_id, Resolution, TraceStep};
use support::*;

const DEST: &str = "finance-channel";

fn steps(store: &ml_connector_actors::Store, doc: &str) -> Vec<&'static str> {
    store
        .trace(doc)
        .unwrap()
        .iter()
        .map(|l| l.step.name())
        .collect()
}

#[test]
fn dead_letter_and_replay_are_filed_under_the_document_and_survive_reopening() {
    let env = Env::new();
    let doc = document_id(SOURCE, ENTITY, "1");
    {
        let store = env.open();
        let router = FakeRouter::to(&[DEST]);
        commit(&store, &records(1), &router, None).unwrap();
        store.begin_attempts(DEST, &[1]).unwrap();
        env.clock.advance(std::time::Duration::from_millis(250));
        let dead = Resolution::Dead {
            status: Some(403),
            reason: "Forbidden".into(),
        };
        store.resolve(DEST, &[(1, dead)]).unwrap();
        assert_eq!(store.replay_dead_letter(1).unwrap(), Some(2));
        store.begin_attempts(DEST, &[2]).unwrap();
        let delivered = Resolution::Delivered {
            remote_id: "m-77".into(),
        };
        store.resolve(DEST, &[(2, delivered)]).unwrap();
        // Re-offering the record writes nothing new.
        commit(&store, &records(1), &router, None).unwrap();
        store.close(std::time::Duration::from_secs(1));
    }
    let store = env.open();
    assert_eq!(
        steps(&store, &doc),
        [
            "seen",
            "routed",
            "attempt",
            "dead_lettered",
            "replayed",
            "attempt",
            "delivered"
        ]
    );
    let lines = store.trace(&doc).unwrap();
    assert_eq!(
        lines[3].step,
        TraceStep::DeadLettered {
            destination: DEST.into(),
            seq: 1,
            status: Some(403),
            reason: "Forbidden".into()
        }
    );
    assert_eq!(lines[3].at_ms - lines[2].at_ms, 250);
    assert_eq!(
        lines[4].step,
        TraceStep::Replayed {
            destination: DEST.into(),
            dead_letter: 1,
            seq: Some(2)
        }
    );
    assert_eq!(
        ml_connector_actors::store::attempt_latencies(&lines),
        [None, None, None, Some(250), None, None, Some(0)]
    );
    assert_eq!(store.trace_documents(SOURCE, "1").unwrap(), vec![doc]);
    assert_eq!(
        store.trace_documents(SOURCE, "2").unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_document_keeps_at_most_the_configured_number_of_lines() {
    let env = Env::new();
    let store = env.open();
    store.set_trace_lines_per_document(3);
    let router = FakeRouter::to(&[DEST]);
    commit(&store, &records(1), &router, None).unwrap();
    // seen, routed, then four attempt marks: six lines written, the newest three kept.
    for _ in 0..4 {
        store.begin_attempts(DEST, &[1]).unwrap();
    }
    let lines = store.trace(&document_id(SOURCE, ENTITY, "1")).unwrap();
    let attempts: Vec<u32> = lines
        .iter()
        .map(|l| match l.step {
            TraceStep::Attempt { attempt, .. } => attempt,
            _ => 0,
        })
        .collect();
    assert_eq!(attempts, [2, 3, 4]);
}
