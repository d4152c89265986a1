//! The shared session: single-flight login, inactivity keepalive and proactive re-login,
//! backoff on rejected credentials, stale invalidations.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::{AuthError, Expiry, Health, ManualClock, SessionHandle};
use support::*;

const COMPONENT: &str = "session:acme-sap";

fn handle(auth: &FakeAuth, clock: &ManualClock, health: &Health) -> SessionHandle<FakeAuth> {
    SessionHandle::new(
        auth.clone(),
        "acme-sap",
        Arc::new(clock.clone()),
        health.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_gets_on_a_fresh_handle_log_in_once() {
    let clock = ManualClock::new(T0);
    let health = Health::default();
    let mut auth = FakeAuth::new(Expiry::Inactivity(Duration::from_secs(1800)));
    auth.login_delay = Duration::from_millis(50);
    let session = handle(&auth, &clock, &health);
    assert!(!health.report().0);

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = session.clone();
            tokio::spawn(async move { s.get().await })
        })
        .collect();
    for t in tasks {
        let (credentials, generation) = t.await.unwrap().unwrap();
        assert_eq!((credentials, generation), (1, 1));
    }
    assert_eq!(auth.logins(), 1);
    assert_eq!(auth.log.max_in_flight.load(Ordering::SeqCst), 1);
    assert!(session.is_ready().await);
    let (ready, components) = health.report();
    assert!(ready);
    assert_eq!(components[COMPONENT].detail, "logged in");
}

#[tokio::test]
async fn inactivity_session_is_kept_alive_then_renewed_before_it_times_out() {
    let clock = ManualClock::new(T0);
    let health = Health::default();
    let auth = FakeAuth::new(Expiry::Inactivity(Duration::from_secs(30 * 60)));
    let session = handle(&auth, &clock, &health);
    assert_eq!(session.get().await.unwrap(), (1, 1));

    // Idle for 10 minutes: nothing to do yet.
    clock.advance(Duration::from_secs(10 * 60));
    session.maintain().await;
    assert_eq!((auth.logins(), auth.keepalives()), (1, 0));

    // Idle for 15 minutes (half the timeout): a keepalive, not a login.
    clock.advance(Duration::from_secs(5 * 60));
    session.maintain().await;
    assert_eq!((auth.logins(), auth.keepalives()), (1, 1));
    assert_eq!(session.get().await.unwrap(), (1, 1), "same session");

    // 14 minutes after that use: still below the keepalive threshold.
    clock.advance(Duration::from_secs(14 * 60));
    session.maintain().await;
    assert_eq!((auth.logins(), auth.keepalives()), (1, 1));

    // 29.5 minutes idle, before SAP's 30 minutes are over: get() logs in again proactively
    // rather than handing out a session that may die mid-request.
    // The dropped session is logged out first (it may still hold a licence at SAP).
    clock.advance(Duration::from_secs(15 * 60 + 30));
    assert_eq!(session.get().await.unwrap(), (2, 2));
    assert_eq!((auth.logins(), auth.keepalives()), (2, 1));
    assert_eq!(auth.logged_out(), vec![1]);

    // Past the timeout: a new login again, after a best-effort logout.
    clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(session.get().await.unwrap(), (3, 3));
    assert_eq!(auth.logins(), 3);
    assert_eq!(auth.logged_out(), vec![1, 2]);

    // Regular use keeps the session: a get every 10 minutes for an hour needs no login.
    for _ in 0..6 {
        clock.advance(Duration::from_secs(10 * 60));
        assert_eq!(session.get().await.unwrap(), (3, 3));
    }
    assert_eq!(auth.logins(), 3);

    session.logout().await;
    assert_eq!(auth.log.logouts.load(Ordering::SeqCst), 3);
    assert_eq!(auth.logged_out(), vec![1, 2, 3]);
    assert!(!session.is_ready().await);
}

#[tokio::test]
async fn an_expired_inactivity_session_is_logged_out_before_the_next_login() {
    let clock = ManualClock::new(T0);
    let health = Health::default();
    let auth = FakeAuth::new(Expiry::Inactivity(Duration::from_secs(30 * 60)));
    let session = handle(&auth, &clock, &health);
    assert_eq!(session.get().await.unwrap(), (1, 1));

    // Idle past the timeout, then get(): log out session 1, log in session 2.
    clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(session.get().await.unwrap(), (2, 2));
    assert_eq!(auth.logged_out(), vec![1]);

    // Idle past the timeout, then the keepalive timer: the same, through maintain().
    clock.advance(Duration::from_secs(31 * 60));
    session.maintain().await;
    assert_eq!((auth.logins(), auth.keepalives()), (3, 0));
    assert_eq!(auth.logged_out(), vec![1, 2]);
    assert_eq!(session.get().await.unwrap(), (3, 3));

    // A session the server reported gone needs no logout.
    session.invalidate(3).await;
    assert_eq!(session.get().await.unwrap(), (4, 4));
    assert_eq!(auth.logged_out(), vec![1, 2]);

    // A login that fails after the logout does not log the old session out twice.
    clock.advance(Duration::from_secs(31 * 60));
    auth.fail_next_login(AuthError::Transient {
        reason: "500 (299) SAML Login Failed".into(),
        retry_after: Some(Duration::from_secs(5)),
    });
    assert!(session.get().await.is_err());
    assert_eq!(auth.logged_out(), vec![1, 2, 4]);
    clock.advance(Duration::from_secs(6));
    assert_eq!(session.get().await.unwrap(), (6, 5));
    assert_eq!(auth.logged_out(), vec![1, 2, 4]);
}

#[tokio::test]
async fn an_absolute_token_is_replaced_without_a_logout() {
    let clock = ManualClock::new(T0);
    let health = Health::default();
    let auth = FakeAuth::new(Expiry::Absolute(Duration::from_secs(3600)));
    let session = handle(&auth, &clock, &health);
    assert_eq!(session.get().await.unwrap(), (1, 1));
    clock.advance(Duration::from_secs(3700));
    assert_eq!(session.get().await.unwrap(), (2, 2));
    assert!(auth.logged_out().is_empty());
}

#[tokio::test]
async fn ready_means_valid_credentials_and_no_backoff() {
    let clock = ManualClock::new(T0);
    let health = Health::default();
    let auth = FakeAuth::new(Expiry::Inactivity(Duration::from_secs(30 * 60)));
    let session = handle(&auth, &clock, &health);
    assert!(!session.is_ready().await, "not logged in yet");
    session.get().await.unwrap();
    assert!(session.is_ready().await);

    // Idle past SAP's timeout: the session object still exists but is no longer usable.
    clock.advance(Duration::from_secs(31 * 60));
    assert!(!session.is_ready().await, "expired by inactivity");
    session.get().await.unwrap();
    assert!(session.is_ready().await);

    // Reported gone: not ready until the next login.
    session.invalidate(2).await;
    assert!(!session.is_ready().await, "invalidated");
    session.get().await.unwrap();
    assert!(session.is_ready().await);

    // An absolute token in its renewal window whose renewal fails: the old token still
    // works for a few minutes, but the credential is backing off from a failed login.
    let auth = FakeAuth::new(Expiry::Absolute(Duration::from_secs(3600)));
    let session = handle(&auth, &clock, &health);
    session.get().await.unwrap();
    clock.advance(Duration::from_secs(50 * 60));
    auth.fail_next_login(AuthError::Transient {
        reason: "503 Service Unavailable".into(),
        retry_after: Some(Duration::from_secs(60)),
    });
    session.maintain().await;
    assert_eq!(auth.logins(), 2);
    assert!(
        !session.is_ready().await,
        "backing off after a failed login"
    );
    clock.advance(Duration::from_secs(61));
    session.maintain().await;
    assert!(session.is_ready().await);
}

#[tokio::test]
async fn rejected_credentials_back_off_and_health_says_why() {
    let clock = ManualClock::new(T0);
    let health = Health::default();
    let auth = FakeAuth::new(Expiry::Inactivity(Duration::from_secs(1800)));
    auth.fail_next_login(AuthError::Rejected {
        reason: "wrong user name or password (-304)".into(),
    });
    let session = handle(&auth, &clock, &health);

    let err = session.get().await.unwrap_err();
    assert!(matches!(err, AuthError::Rejected { .. }), "{err:?}");
    assert_eq!(auth.logins(), 1);

    // Within the backoff (at least 5 minutes for rejected credentials) nothing reaches the
    // server: get() and maintain() answer with the last error.
    for _ in 0..5 {
        clock.advance(Duration::from_secs(59));
        match session.get().await {
            Err(AuthError::Rejected { reason }) => assert!(reason.contains("-304")),
            other => panic!("expected the stored rejection, got {other:?}"),
        }
        session.maintain().await;
    }
    assert_eq!(auth.logins(), 1, "no login during the backoff");

    let (ready, components) = health.report();
    assert!(!ready);
    let status = &components[COMPONENT];
    assert!(!status.ready);
    assert!(
        status.detail.contains("wrong user name or password (-304)"),
        "{}",
        status.detail
    );
    assert!(
        status.detail.contains("next attempt in"),
        "{}",
        status.detail
    );
    assert!(!session.is_ready().await);

    // After the backoff (at most 10 minutes with jitter) the next get() tries again.
    clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(session.get().await.unwrap(), (2, 1));
    assert_eq!(auth.logins(), 2);
    assert!(health.report().0);
}

#[tokio::test]
async fn a_stale_invalidation_is_ignored() {
    let clock = ManualClock::new(T0);
    let health = Health::default();
    let auth = FakeAuth::new(Expiry::Never);
    let session = handle(&auth, &clock, &health);

    let (_, g1) = session.get().await.unwrap();
    session.invalidate(g1).await;
    let (c2, g2) = session.get().await.unwrap();
    assert_eq!((c2, g2), (2, 2));
    assert_eq!(auth.logins(), 2);

    // A second poller that still held generation 1 reports it gone: already handled.
    session.invalidate(g1).await;
    assert_eq!(session.get().await.unwrap(), (2, 2));
    assert_eq!(auth.logins(), 2);

    // An unknown future generation is ignored too.
    session.invalidate(g2 + 1).await;
    assert_eq!(session.get().await.unwrap(), (2, 2));
    assert_eq!(auth.logins(), 2);
}

#[tokio::test]
async fn absolute_token_is_renewed_before_it_expires() {
    let clock = ManualClock::new(T0);
    let health = Health::default();
    let auth = FakeAuth::new(Expiry::Absolute(Duration::from_secs(3600)));
    let session = handle(&auth, &clock, &health);
    assert_eq!(session.get().await.unwrap(), (1, 1));
    // Half the lifetime: a token is not refreshed yet.
    clock.advance(Duration::from_secs(1800));
    session.maintain().await;
    assert_eq!(auth.logins(), 1);
    // 55 minutes: inside the last 10% (6 minutes margin): renewed by maintain().
    clock.advance(Duration::from_secs(1500));
    session.maintain().await;
    assert_eq!(auth.logins(), 2);
    assert_eq!(session.get().await.unwrap(), (2, 2));
    assert_eq!(
        auth.keepalives(),
        0,
        "an absolute token is renewed by logging in"
    );
}
