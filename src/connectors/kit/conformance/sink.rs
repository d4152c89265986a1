//! The contract of a [`Sink`]: confirmed delivery with the remote id, 429 with `Retry-After`,
//! timeout after the send is `Unknown` and found again, a bad payload is refused before any
//! request, a refused session is `SessionGone`.

use std::future::Future;
use std::time::Duration;

use ml_connector_actors::store::OutboxEntry;
use ml_connector_actors::{Lookup, Outcome, Sink};

use super::support::assert_no_secret;

/// Whether a destination can be asked for an earlier attempt's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookups {
    /// `find_existing` searches the destination (Graph message list).
    Supported,
    /// Send-only destination (webhook): `find_existing` always answers
    /// [`Lookup::Unsupported`].
    Unsupported,
}

/// Credentials of the sink under test.
pub type SinkCredentials<F> = <<F as SinkFixture>::Sink as Sink>::Credentials;

/// What a destination kind's simulator must offer to [`check_sink`].
pub trait SinkFixture {
    /// The sink under test.
    type Sink: Sink + std::fmt::Debug;

    /// The sink, pointed at the simulator, whose requests time out well before
    /// [`SinkFixture::hang_after_store_next`]'s delay ends (e.g. 500 ms against 3 s).
    fn sink(&self) -> &Self::Sink;

    /// Credentials the destination accepts (log in at the simulator; `()` for none).
    fn credentials(&self) -> impl Future<Output = SinkCredentials<Self>> + Send;

    /// Credentials the destination refuses with 401 (an expired or unknown token), or `None`
    /// when the sink has no session (its credentials are in the URL); the 401 step is then
    /// skipped.
    fn refused_credentials(&self) -> Option<SinkCredentials<Self>>;

    /// A valid outbox entry for this destination (payload in the destination's shape) whose
    /// dedupe key is unique for `n`.
    fn entry(&self, n: u64) -> OutboxEntry;

    /// An entry whose payload is not in the destination's shape (e.g. another destination
    /// kind's body).
    fn bad_entry(&self) -> OutboxEntry;

    /// The messages the destination stored, in arrival order, each with the id it assigned
    /// (`None` when the destination assigns none, like a webhook).
    fn stored(&self) -> Vec<Option<String>>;

    /// Requests that reached the destination so far (not counting the credential's token
    /// endpoint).
    fn requests(&self) -> usize;

    /// Queue a fault: the next send is answered `429` with `Retry-After`; returns that delay.
    fn throttle_next(&self) -> Duration;

    /// Queue a fault: the next send is stored, then its answer is held back longer than the
    /// sink's timeout.
    fn hang_after_store_next(&self);

    /// Whether `find_existing` can search this destination.
    fn lookups(&self) -> Lookups;

    /// Secrets that must never show in the `Debug` of the sink or of an outcome (tokens,
    /// a webhook URL's signature).
    fn secrets(&self) -> Vec<String>;
}

/// Run the sink contract against `fixture` (typed [`Sink`] calls with the fixture's
/// credentials):
///
/// 1. a valid entry → [`Outcome::Delivered`] with the id the simulator stored (one request,
///    one stored message; a non-empty id when the destination assigns none);
/// 2. 429 with `Retry-After: N` → `Retry { after: Some(N), throttled: true }`, nothing stored;
/// 3. an answer held back past the timeout after the message was stored →
///    [`Outcome::Unknown`]; then `find_existing` → [`Lookup::Found`] with the stored id
///    ([`Lookup::Unsupported`] for a send-only destination), and for an entry never sent →
///    [`Lookup::NotFound`] (again `Unsupported` for send-only);
/// 4. a payload not in the destination's shape → [`Outcome::Permanent`] with no request
///    sent;
/// 5. credentials the destination refuses (401) → [`Outcome::SessionGone`], nothing stored;
/// 6. neither the sink's `Debug` nor any outcome shows a secret.
pub async fn check_sink<F: SinkFixture>(fixture: &F) {
    let sink = fixture.sink();
    let credentials = fixture.credentials().await;
    let mut answers: Vec<String> = Vec::new();

    // 1. Delivered with the stored id.
    let (requests, stored) = (fixture.requests(), fixture.stored().len());
    let outcome = sink.deliver(&fixture.entry(1), &credentials).await;
    answers.push(format!("{outcome:?}"));
    let Outcome::Delivered { remote_id } = &outcome else {
        panic!("a valid entry must be Delivered, got {outcome:?}");
    };
    assert_eq!(fixture.requests(), requests + 1, "one request per delivery");
    let after = fixture.stored();
    assert_eq!(after.len(), stored + 1, "one message stored");
    match after.last().cloned().flatten() {
        Some(id) => assert_eq!(remote_id, &id, "remote id = the id the destination stored"),
        None => assert!(!remote_id.is_empty(), "a remote id is never empty"),
    }

    // 2. Throttled.
    let wait = fixture.throttle_next();
    let stored = fixture.stored().len();
    let outcome = sink.deliver(&fixture.entry(2), &credentials).await;
    answers.push(format!("{outcome:?}"));
    assert!(
        matches!(&outcome, Outcome::Retry { after: Some(after), throttled: true, .. } if *after == wait),
        "429 with Retry-After {}s must be Retry {{ after: {wait:?}, throttled: true }}, got {outcome:?}",
        wait.as_secs()
    );
    assert_eq!(
        fixture.stored().len(),
        stored,
        "a throttled send stores nothing"
    );

    // 3. Timeout after the message was stored; the lookup finds it.
    fixture.hang_after_store_next();
    let hung = fixture.entry(3);
    let outcome = sink.deliver(&hung, &credentials).await;
    answers.push(format!("{outcome:?}"));
    assert!(
        matches!(outcome, Outcome::Unknown { .. }),
        "a send that timed out after it was stored must be Unknown, got {outcome:?}"
    );
    let after = fixture.stored();
    assert_eq!(after.len(), stored + 1, "the hung send was stored");
    let lookup = sink.find_existing(&hung, &credentials).await;
    let never_sent = sink.find_existing(&fixture.entry(4), &credentials).await;
    answers.push(format!("{lookup:?} {never_sent:?}"));
    match fixture.lookups() {
        Lookups::Supported => {
            let id = after
                .last()
                .cloned()
                .flatten()
                .expect("a searchable destination assigns ids");
            assert_eq!(lookup, Lookup::Found { remote_id: id });
            assert_eq!(never_sent, Lookup::NotFound);
        }
        Lookups::Unsupported => {
            assert_eq!(lookup, Lookup::Unsupported);
            assert_eq!(never_sent, Lookup::Unsupported);
        }
    }

    // 4. Bad payload: permanent, no request.
    let requests = fixture.requests();
    let outcome = sink.deliver(&fixture.bad_entry(), &credentials).await;
    answers.push(format!("{outcome:?}"));
    assert!(
        matches!(outcome, Outcome::Permanent { .. }),
        "a payload not in the destination's shape must be Permanent, got {outcome:?}"
    );
    assert_eq!(fixture.requests(), requests, "no request for a bad payload");

    // 5. Refused credentials.
    if let Some(refused) = fixture.refused_credentials() {
        let (requests, stored) = (fixture.requests(), fixture.stored().len());
        let outcome = sink.deliver(&fixture.entry(5), &refused).await;
        answers.push(format!("{outcome:?}"));
        assert!(
            matches!(outcome, Outcome::SessionGone { .. }),
            "a 401 must be SessionGone, got {outcome:?}"
        );
        assert_eq!(fixture.requests(), requests + 1);
        assert_eq!(
            fixture.stored().len(),
            stored,
            "a refused send stores nothing"
        );
    }

    let secrets = fixture.secrets();
    assert_no_secret("Debug of the sink", &format!("{sink:?}"), &secrets);
    for (i, answer) in answers.iter().enumerate() {
        assert_no_secret(&format!("answer #{i}"), answer, &secrets);
    }
}
