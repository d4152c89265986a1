//! SAP Service Layer collection pages (`{"value":[...],"@odata.nextLink":"..."}`) through
//! `SapSource::parse_page`, for both poll kinds (update stamp, DocEntry). The first byte picks
//! the entity; the rest is the HTTP body. Invariants: an accepted page has one record per
//! `value` element, each keyed by its decimal `DocEntry`, and the position starts with it
//! (DocEntry kind) or ends with it (update-stamp kind).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ml_connector::connectors::sap_b1::{PollKind, SapSource, SapSourceSettings};

fn sources() -> &'static [SapSource; 2] {
    static SOURCES: OnceLock<[SapSource; 2]> = OnceLock::new();
    SOURCES.get_or_init(|| {
        ml_connector::tls::install_crypto_provider();
        let base = url::Url::parse("http://127.0.0.1:50000/b1s/v2/").expect("url");
        let make = |entity: &str| {
            let client = ml_connector::tls::default_client(Duration::from_secs(1)).expect("client");
            SapSource::new(
                client,
                SapSourceSettings::new(base.clone(), entity),
                ml_connector_actors::clock::system(),
            )
        };
        [make("PurchaseOrders"), make("IncomingPayments")]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let source = &sources()[usize::from(selector & 1)];
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let expected = json.get("value").and_then(|v| v.as_array()).map(Vec::len);
    if let Ok(page) = source.parse_page(json, "PurchaseOrders?$orderby=DocEntry", false) {
        assert_eq!(Some(page.records.len()), expected);
        for record in &page.records {
            let entry: u64 = record.key.parse().expect("decimal DocEntry key");
            let padded = format!("{entry:012}");
            match source.settings().kind {
                // `{DocEntry:012}`, or `{DocEntry:012}|{start DocEntry:012}` for payments.
                PollKind::DocEntry => assert!(record.position.starts_with(&padded)),
                PollKind::UpdateStamp => assert!(record.position.ends_with(&padded)),
            }
        }
    }
});
