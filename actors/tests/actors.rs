//! The actors themselves: a `PollerActor` and a `DeliveryActor` under `actix::Supervisor` in an
//! `actix::System`, wired only through the store and nudges, then stopped cleanly.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ml_connector_actors::Nudges;
use ml_connector_actors::{
    bind_sink, bind_source, DeliveryActor, DeliveryConfig, DeliveryContext, Expiry, Health,
    LifecycleOwner, PollContext, PollerActor, PollerConfig, SessionHandle, SourceError,
};
use support::*;

const DEST: &str = "finance-channel";

/// Wait (real time, at most 10 s) until `done` holds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn supervised_poller_and_delivery_deliver_every_change_once() {
    let env = Env::new();
    let store = env.open();
    let source = Arc::new(FakeSource::new(records(5), 2));
    // The first read of page 2 finds the session gone: the poller logs in again by itself.
    source.script(vec![
        None,
        Some(SourceError::SessionGone {
            reason: "401".into(),
        }),
    ]);
    let auth = FakeAuth::new(Expiry::Inactivity(Duration::from_secs(1800)));
    let health = Health::default();
    let session = SessionHandle::new(
        auth.clone(),
        "acme-erp",
        Arc::new(env.clock.clone()),
        health.clone(),
    );
    let sink = Arc::new(FakeSink::default());
    let nudges = Nudges::default();
    let owner = LifecycleOwner::default();

    let (_, channel_session) = support::session(&env, "acme-channel", Expiry::Never);
    let poll_ctx = PollContext {
        config: PollerConfig {
            source: SOURCE.into(),
            cadence: ml_connector_actors::Cadence::Every(Duration::from_millis(20)),
        },
        source: bind_source(Shared(source.clone()), session),
        store: store.clone(),
        router: Arc::new(FakeRouter::to(&[DEST])),
        nudges: nudges.clone(),
    };
    let delivery_ctx = DeliveryContext::new(
        DeliveryConfig {
            rate_per_second: 0.0,
            ..DeliveryConfig::new(DEST)
        },
        bind_sink(Shared(sink.clone()), channel_session),
        store.clone(),
        Arc::new(env.clock.clone()),
        nudges.clone(),
    );

    let system = actix::System::new();
    system.block_on(async {
        let lifecycle = owner.lifecycle();
        let poller = actix::Supervisor::start(move |_| PollerActor::new(poll_ctx, lifecycle));
        let lifecycle = owner.lifecycle();
        let delivery =
            actix::Supervisor::start(move |_| DeliveryActor::new(delivery_ctx, lifecycle));

        wait_until("5 deliveries", || sink.sends() >= 5).await;

        // New data: DocEntry 6 is created and DocEntry 2 is closed (it moves to the end).
        source.push(rec(6, 6, "bost_Open"));
        {
            let mut data = lock(&source.data);
            let r = data.iter_mut().find(|r| r.key == "2").unwrap();
            r.position = "p07".into();
            r.fields["DocumentStatus"] = "bost_Close".into();
        }
        wait_until("7 deliveries", || sink.sends() >= 7).await;
        wait_until("an empty outbox", || outbox(&store, DEST).is_empty()).await;

        assert!(
            owner.stop_and_wait(Duration::from_secs(5)).await,
            "clean stop"
        );
        assert!(poller.connected() && delivery.connected(), "no actor died");
        actix::System::current().stop();
    });
    drop(system);

    let mut keys = sink.sent_keys();
    keys.sort();
    let mut expected: Vec<String> = (1..=6)
        .map(|i| format!("{}->{DEST}", created_key(i)))
        .collect();
    expected.push(format!("acme/PurchaseOrders/2/status_changed/1->{DEST}"));
    expected.sort();
    assert_eq!(keys, expected, "every change delivered exactly once");
    assert_eq!(
        store
            .cursor(&format!("{SOURCE}/{ENTITY}"))
            .unwrap()
            .as_deref(),
        Some("p07")
    );
    assert_eq!(
        auth.logins(),
        2,
        "one login plus one re-login after the session was gone"
    );
    assert_eq!(store.dead_letter_count().unwrap(), 0);
    assert!(health.report().0);
}

#[test]
fn a_topology_of_boxed_components_delivers_and_stops_cleanly() {
    use ml_connector_actors::{ManagedSession, Nudges, Topology};

    let env = Env::new();
    let store = env.open();
    let source = Arc::new(FakeSource::new(records(3), 2));
    let health = Health::default();
    let clock: ml_connector_actors::clock::SharedClock = Arc::new(env.clock.clone());
    let erp_auth = FakeAuth::new(Expiry::Inactivity(Duration::from_secs(1800)));
    let erp = SessionHandle::new(erp_auth.clone(), "acme-erp", clock.clone(), health.clone());
    let chat_auth = FakeAuth::new(Expiry::Never);
    let chat = SessionHandle::new(
        chat_auth.clone(),
        "acme-chat",
        clock.clone(),
        health.clone(),
    );
    let sink = Arc::new(FakeSink::default());

    // A registry builder gets the typed handle back from the boxed session.
    let boxed: Arc<dyn ManagedSession> = Arc::new(erp.clone());
    assert_eq!((boxed.name(), boxed.system()), ("acme-erp", "fake"));
    let typed = boxed
        .as_any()
        .downcast_ref::<SessionHandle<FakeAuth>>()
        .expect("downcast to the typed handle");

    let topology = Topology::new(
        store.clone(),
        clock,
        health.clone(),
        Nudges::default(),
        Arc::new(FakeRouter::to(&[DEST])),
    )
    .session(boxed.clone())
    .session(Arc::new(chat.clone()))
    .poller(
        PollerConfig {
            source: SOURCE.into(),
            cadence: ml_connector_actors::Cadence::Every(Duration::from_millis(20)),
        },
        bind_source(Shared(source.clone()), typed.clone()),
    )
    .destination(
        DeliveryConfig::new(DEST),
        bind_sink(Shared(sink.clone()), chat),
    )
    .keepalive_tick(Duration::from_millis(20))
    .store_gauges(None);

    let system = actix::System::new();
    system.block_on(async {
        let running = topology.start();
        wait_until("3 deliveries", || sink.sends() >= 3).await;
        wait_until("an empty outbox", || outbox(&store, DEST).is_empty()).await;
        let (ready, components) = health.report();
        assert!(ready, "{components:?}");
        assert_eq!(
            components.keys().cloned().collect::<Vec<_>>(),
            vec![
                "destination:finance-channel".to_string(),
                "session:acme-chat".to_string(),
                "session:acme-erp".to_string(),
                "source:acme/PurchaseOrders".to_string()
            ]
        );
        assert!(running.stop(Duration::from_secs(5)).await, "clean stop");
        actix::System::current().stop();
    });
    drop(system);

    assert_eq!(sink.sends(), 3, "every change delivered exactly once");
    assert_eq!(erp_auth.logins(), 1);
    assert_eq!(erp_auth.logged_out(), vec![1], "logged out on stop");
    assert_eq!(chat_auth.logged_out(), vec![1]);
    assert!(health.report().1.is_empty(), "health entries cleared");
    assert_eq!(store.dead_letter_count().unwrap(), 0);
}
