//! The contract of a [`Source`]: paging to the end with byte-wise sortable positions, one
//! re-login when the session is gone, malformed answers do not move the cursor.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ml_connector_actors::{
    bind_source, Authenticator, CycleError, EventKind, Health, Nudges, PollContext, PollSource,
    PollerConfig, SessionHandle, Source, SourceError,
};

use super::support::{manual_clock, RecordingRouter, TempStore};

/// Records seeded before the first read; the fixture's page size must be smaller, so paging
/// is exercised.
pub const SEEDED: usize = 5;
/// Records seeded before each later step.
const MORE: usize = 2;
/// `PollerConfig::source` of the contract's poll context.
const SOURCE_NAME: &str = "conformance";

/// What a source kind's simulator must offer to [`check_source`].
pub trait SourceFixture {
    /// The credential the source reads with.
    type Auth: Authenticator;
    /// The source under test.
    type Source: Source<Credentials = <Self::Auth as Authenticator>::Credentials>;

    /// An authenticator with credentials the simulator accepts.
    fn authenticator(&self) -> Self::Auth;

    /// A fresh source for one entity of the simulator, starting from the beginning, with a
    /// page size below [`SEEDED`] (e.g. 2) and a short request timeout.
    fn source(&self) -> Self::Source;

    /// Add `n` new records to that entity; returns their keys (`Record::key`) in the order
    /// the source will read them.
    fn seed(&self, n: usize) -> Vec<String>;

    /// Invalidate every session at the simulator (server-side kill): the next read with an
    /// old session is refused as "session gone".
    fn kill_sessions(&self);

    /// Successful logins at the simulator so far.
    fn logins(&self) -> u64;

    /// Queue a fault: the next page the source reads is answered with a body it cannot parse
    /// (not JSON, or truncated).
    fn malform_next_page(&self);
}

/// Run the source contract against `fixture`, through [`bind_source`] with a real
/// [`SessionHandle`] and [`PollContext::cycle`] on a temporary store:
///
/// 1. paging from the first page to the end reads exactly the [`SEEDED`] keys, each once, over
///    more than one page; positions strictly increase byte-wise in poll order;
/// 2. a cycle commits one `created` event per seeded key, in order, and stores the largest
///    position as the cursor;
/// 3. after the simulator kills every session, the next cycle logs in exactly once more and
///    delivers exactly the newly seeded keys;
/// 4. a malformed page fails the cycle with [`SourceError::Malformed`] and leaves the stored
///    cursor unchanged; the next cycle delivers exactly the records seeded before it and
///    advances the cursor.
pub async fn check_source<F: SourceFixture>(fixture: &F) {
    let session = SessionHandle::new(
        fixture.authenticator(),
        "conformance",
        manual_clock(),
        Health::default(),
    );
    let source = bind_source(fixture.source(), session);
    let keys = fixture.seed(SEEDED);
    assert_eq!(keys.len(), SEEDED, "seed returns one key per record");

    // 1. Paging to the end.
    let (read, positions, pages) = read_to_end(source.as_ref()).await;
    assert_eq!(
        read, keys,
        "paging reads exactly the seeded keys, once, in order"
    );
    assert!(
        pages > 1,
        "{SEEDED} records must span more than one page; lower the fixture's page size"
    );
    for pair in positions.windows(2) {
        assert!(
            pair[0].as_bytes() < pair[1].as_bytes(),
            "positions must increase byte-wise in poll order: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }

    // 2. One cycle on a store.
    let temp = TempStore::open();
    let router = Arc::new(RecordingRouter::default());
    let ctx = PollContext {
        config: PollerConfig {
            source: SOURCE_NAME.to_string(),
            cadence: ml_connector_actors::Cadence::Every(Duration::from_secs(60)),
        },
        source: source.clone(),
        store: temp.store.clone(),
        router: router.clone(),
        nudges: Nudges::default(),
    };
    let stream = format!("{SOURCE_NAME}/{}", source.entity());
    let report = ctx.cycle().await.expect("first cycle");
    assert_eq!(report.events, SEEDED);
    assert_eq!(report.enqueued, SEEDED);
    assert_eq!(
        created(&keys),
        router.take(),
        "one created event per record"
    );
    let cursor = temp.store.cursor(&stream).expect("cursor");
    assert_eq!(cursor.as_ref(), positions.last(), "cursor = last position");

    // 3. Session gone: exactly one re-login.
    let fresh = fixture.seed(MORE);
    fixture.kill_sessions();
    let logins = fixture.logins();
    let report = ctx
        .cycle()
        .await
        .unwrap_or_else(|e| panic!("a cycle after the session was killed failed: {e}"));
    assert_eq!(fixture.logins(), logins + 1, "exactly one re-login");
    assert_eq!(report.events, MORE);
    assert_eq!(created(&fresh), router.take());
    let cursor = temp.store.cursor(&stream).expect("cursor");

    // 4. Malformed: no cursor move, then recovery.
    let pending = fixture.seed(MORE);
    fixture.malform_next_page();
    let err = ctx
        .cycle()
        .await
        .expect_err("a malformed page fails the cycle");
    assert!(
        matches!(err, CycleError::Source(SourceError::Malformed { .. })),
        "expected Malformed, got {err:?}"
    );
    assert_eq!(
        temp.store.cursor(&stream).expect("cursor"),
        cursor,
        "a malformed page must not move the cursor"
    );
    assert!(
        router.take().is_empty(),
        "nothing routed from a failed page"
    );
    let report = ctx.cycle().await.expect("the cycle after recovery");
    assert_eq!(report.events, MORE);
    assert_eq!(
        created(&pending),
        router.take(),
        "recovery delivers the records"
    );
    let advanced = temp.store.cursor(&stream).expect("cursor");
    assert!(
        advanced.as_deref().map(str::as_bytes) > cursor.as_deref().map(str::as_bytes),
        "the cursor advances after recovery: {cursor:?} -> {advanced:?}"
    );
}

/// Every page from the first one to the end: the keys and positions read in order, and the
/// number of pages. Panics on an error or a key read twice.
async fn read_to_end(source: &dyn PollSource) -> (Vec<String>, Vec<String>, usize) {
    let mut page_ref = source.first_page(None);
    let (mut keys, mut positions, mut pages) = (Vec::new(), Vec::new(), 0);
    let mut seen = BTreeSet::new();
    loop {
        let page = source
            .fetch(&page_ref)
            .await
            .unwrap_or_else(|e| panic!("page {pages} failed: {e}"));
        pages += 1;
        for record in page.records {
            assert!(
                seen.insert(record.key.clone()),
                "key {} read twice",
                record.key
            );
            keys.push(record.key);
            positions.push(record.position);
        }
        match page.next {
            Some(next) => page_ref = next,
            None => return (keys, positions, pages),
        }
    }
}

fn created(keys: &[String]) -> Vec<(EventKind, String)> {
    keys.iter()
        .map(|k| (EventKind::Created, k.clone()))
        .collect()
}
