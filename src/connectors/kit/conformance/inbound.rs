//! The contract of an [`Inbound`] endpoint: a signed request is accepted, a forged one is
//! refused with 401/403 and leaves exactly one audit line and nothing else, no secret in
//! `Debug`.

use std::sync::Arc;

use ml_connector_actors::inbound::{handle_inbound, Inbound, InboundRequest};
use ml_connector_actors::{Nudges, Router};

use super::support::{assert_no_secret, rows_except_audit, RecordingRouter, TempStore};

/// What an inbound kind must offer to [`check_inbound`]: the endpoint and requests as its
/// sender (the simulated system) would send them.
pub trait InboundFixture {
    /// The endpoint under test.
    type Inbound: Inbound + std::fmt::Debug;

    /// The endpoint, configured with the fixture's secret.
    fn endpoint(&self) -> Self::Inbound;

    /// A request the sender makes, correctly signed (HMAC over the body, shared-secret
    /// header, ...): the endpoint must accept it.
    fn signed_request(&self) -> InboundRequest;

    /// Requests that must be refused as forgeries: signed with another secret, unsigned, a
    /// body altered after signing, ... (at least one).
    fn forged_requests(&self) -> Vec<InboundRequest>;

    /// The secrets that must never show in `Debug`, refusal reasons or audit lines.
    fn secrets(&self) -> Vec<String>;
}

/// Run the inbound contract against `fixture`, through [`handle_inbound`] with a temporary
/// store:
///
/// 1. the endpoint's `Debug` shows no secret;
/// 2. the signed request is answered 2xx and writes no audit line;
/// 3. each forged request is answered 401 or 403 and changes nothing in the store but one new
///    `inbound_refused` audit line (and its sequence counter); neither the answer nor the
///    line shows a secret.
pub async fn check_inbound<F: InboundFixture>(fixture: &F) {
    let endpoint = fixture.endpoint();
    let secrets = fixture.secrets();
    assert_no_secret(
        "Debug of the inbound endpoint",
        &format!("{endpoint:?}"),
        &secrets,
    );

    let temp = TempStore::open();
    let store = &temp.store;
    let router: Arc<dyn Router> = Arc::new(RecordingRouter::default());
    let nudges = Nudges::default();

    let reply = handle_inbound(&endpoint, fixture.signed_request(), store, &router, &nudges).await;
    assert!(
        (200..300).contains(&reply.status),
        "a signed request must be accepted with 2xx, got {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    assert!(
        store.audit_lines(10).expect("audit").is_empty(),
        "an accepted request writes no audit line"
    );

    let forged = fixture.forged_requests();
    assert!(!forged.is_empty(), "the fixture names at least one forgery");
    for (i, request) in forged.into_iter().enumerate() {
        let before = rows_except_audit(store);
        let lines = store.audit_lines(usize::MAX).expect("audit").len();
        let reply = handle_inbound(&endpoint, request, store, &router, &nudges).await;
        assert!(
            matches!(reply.status, 401 | 403),
            "forgery #{i} must be refused with 401/403, got {}",
            reply.status
        );
        assert_no_secret(
            "the refusal",
            &String::from_utf8_lossy(&reply.body),
            &secrets,
        );
        let audit = store.audit_lines(usize::MAX).expect("audit");
        assert_eq!(
            audit.len(),
            lines + 1,
            "forgery #{i}: exactly one audit line"
        );
        assert_eq!(audit[0].kind, "inbound_refused");
        assert_no_secret("the audit line", &audit[0].detail, &secrets);
        assert_eq!(
            rows_except_audit(store),
            before,
            "forgery #{i}: nothing but the audit line changed"
        );
    }
}
