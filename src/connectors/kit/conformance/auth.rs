//! The contract of an [`Authenticator`]: rejected vs temporary login failures, no retry loop on
//! rejected credentials, no secret in `Debug`.

use std::time::Duration;

use ml_connector_actors::{AuthError, Authenticator, Health, SessionHandle};

use super::support::{assert_no_secret, manual_clock};

/// What a credential kind's simulator must offer to [`check_authenticator`].
///
/// Build the simulator once (served on `127.0.0.1:0`, see [`super::serve`]) and hand out fresh
/// authenticators pointed at it, with clients whose timeouts are short (a second or two).
pub trait AuthFixture {
    /// The authenticator under test.
    type Auth: Authenticator<Credentials: std::fmt::Debug> + std::fmt::Debug;

    /// An authenticator with credentials the simulator accepts.
    fn authenticator(&self) -> Self::Auth;

    /// The same authenticator with credentials the simulator refuses as a whole (wrong
    /// password, client secret or refresh token), so the login must answer
    /// [`AuthError::Rejected`].
    fn wrong_credentials(&self) -> Self::Auth;

    /// The same authenticator pointed at `127.0.0.1` on a port nobody listens on
    /// ([`super::unreachable_url`]).
    fn unreachable(&self) -> Self::Auth;

    /// Queue a fault: the next login request is answered with `status` (a 5xx) by the
    /// simulator.
    fn fail_next_login(&self, status: u16);

    /// Queue a fault: the next login request is answered `429`. Returns the `Retry-After` the
    /// simulator sends with it (`None` when it sends none); the login error must carry it.
    fn throttle_next_login(&self) -> Option<Duration>;

    /// Login requests that reached the simulator so far (successful or not).
    fn login_requests(&self) -> usize;

    /// Every secret that must never show in `Debug` or error text: the configured ones
    /// (password, client secret, refresh token) and those the simulator issued so far
    /// (session ids, access tokens, rotated refresh tokens). Called after logins, so issued
    /// values are included.
    fn secrets(&self) -> Vec<String>;
}

/// Run the authenticator contract against `fixture`:
///
/// 1. a login with valid credentials succeeds with exactly one login request; the `Debug` of
///    the authenticator and of the login (credentials and expiry) shows no secret;
/// 2. wrong credentials → [`AuthError::Rejected`] after exactly one request; through a
///    [`SessionHandle`] a second `get` right after answers the same error without a request
///    (no retry loop); neither the error nor the authenticator's `Debug` shows a secret;
/// 3. nobody listening → [`AuthError::Transient`];
/// 4. a 503 → `Transient`; a 429 → `Transient` with the simulator's `Retry-After`; each after
///    exactly one request;
/// 5. once the faults are consumed, a login succeeds again.
pub async fn check_authenticator<F: AuthFixture>(fixture: &F) {
    let auth = fixture.authenticator();
    let before = fixture.login_requests();
    let login = auth
        .login()
        .await
        .unwrap_or_else(|e| panic!("login with valid credentials failed: {e}"));
    assert_eq!(
        fixture.login_requests(),
        before + 1,
        "one request per login"
    );
    let secrets = fixture.secrets();
    assert_no_secret("Debug of the authenticator", &format!("{auth:?}"), &secrets);
    assert_no_secret(
        "Debug of the login (credentials)",
        &format!("{login:?}"),
        &secrets,
    );

    // Wrong credentials: rejected once, and the session does not ask again at once.
    let wrong = fixture.wrong_credentials();
    let before = fixture.login_requests();
    let err = wrong
        .login()
        .await
        .expect_err("wrong credentials must fail");
    assert!(
        matches!(err, AuthError::Rejected { .. }),
        "wrong credentials must be Rejected, got {err:?}"
    );
    assert_eq!(
        fixture.login_requests(),
        before + 1,
        "a rejected login is not retried inside the authenticator"
    );
    assert_no_secret(
        "the rejection",
        &format!("{err} {err:?}"),
        &fixture.secrets(),
    );
    assert_no_secret(
        "Debug of the authenticator with wrong credentials",
        &format!("{wrong:?}"),
        &fixture.secrets(),
    );
    let session = SessionHandle::new(wrong, "conformance", manual_clock(), Health::default());
    let before = fixture.login_requests();
    for attempt in 0..2 {
        let err = session
            .get()
            .await
            .expect_err("wrong credentials must fail");
        assert!(
            matches!(err, AuthError::Rejected { .. }),
            "session get #{attempt}: expected Rejected, got {err:?}"
        );
    }
    assert_eq!(
        fixture.login_requests(),
        before + 1,
        "the second get right after a rejection must not log in again"
    );

    // Temporary failures.
    let err = fixture
        .unreachable()
        .login()
        .await
        .expect_err("nobody listening");
    assert!(
        matches!(err, AuthError::Transient { .. }),
        "an unreachable server must be Transient, got {err:?}"
    );
    fixture.fail_next_login(503);
    let before = fixture.login_requests();
    let err = auth.login().await.expect_err("503 must fail");
    assert!(
        matches!(err, AuthError::Transient { .. }),
        "a 503 must be Transient, got {err:?}"
    );
    assert_eq!(fixture.login_requests(), before + 1);
    let wait = fixture.throttle_next_login();
    let err = auth.login().await.expect_err("429 must fail");
    match &err {
        AuthError::Transient { retry_after, .. } => assert_eq!(
            *retry_after, wait,
            "a 429 login carries the simulator's Retry-After"
        ),
        other => panic!("a 429 must be Transient, got {other:?}"),
    }
    assert_eq!(fixture.login_requests(), before + 2);
    assert_no_secret(
        "a transient error",
        &format!("{err} {err:?}"),
        &fixture.secrets(),
    );

    auth.login()
        .await
        .unwrap_or_else(|e| panic!("login after the faults failed: {e}"));
}
