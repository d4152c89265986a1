//! The short fault campaign CI runs (`ml-connector torture` with `TortureOptions::short()`):
//! the real binary against the sandboxes through kill -9, ambiguous sends, a 429 storm, SAP
//! down and a full disk.

use ml_connector::commands::torture::{campaign, Fault, TortureOptions};

const BIN: &str = env!("CARGO_BIN_EXE_ml-connector");

/// Issue 7 item 8: 200 documents, 3 × kill -9, 4 ambiguous sends, one 429 storm, SAP down for
/// 2 s and the disk-full phase: every document ends up in Teams exactly once, nothing is
/// dead-lettered, every fault was applied, and the final SIGTERM exits 0.
#[test]
fn short_campaign_loses_nothing_and_duplicates_nothing() {
    ml_connector::tls::install_crypto_provider();
    let options = TortureOptions::short();
    let report = campaign(&options, std::path::Path::new(BIN)).expect("campaign runs");
    eprintln!("{report}");
    let short = TortureOptions::short();
    let disk_full = report.disk_full.as_ref().expect("disk-full phase ran");
    // The disk-full bursts stop at the first refused write.
    let fixed = short.planned_documents() - short.disk_full_burst;
    assert_eq!(report.docs, fixed + disk_full.documents);
    assert_eq!(report.lost, 0, "lost");
    assert_eq!(report.duplicated, 0, "duplicated");
    assert_eq!(report.dead_lettered, 0, "dead-lettered");
    assert_eq!(report.messages, report.docs, "one message per document");
    let count = |f: Fault| report.recoveries.iter().filter(|(k, _)| *k == f).count();
    assert_eq!(count(Fault::Kill), short.kills);
    assert_eq!(count(Fault::Ambiguous), short.ambiguous);
    assert_eq!(count(Fault::Storm), short.storms);
    assert_eq!(count(Fault::SapDown), short.sap_outages);
    assert_eq!(count(Fault::DiskFull), 1);
    assert!(
        disk_full.limit_bytes > 0,
        "the store existed: {disk_full:?}"
    );
    assert!(report.clean_stop, "final SIGTERM exits 0");
}
