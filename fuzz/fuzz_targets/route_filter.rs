//! The route filter language (`DocTotal >= 10000`, `CardCode in ["C1","C2"]`, `Comments
//! contains "x"`): `Filter::parse` on the first line, `Filter::matches` against the rest as a
//! JSON record. Invariants: the expression round-trips (`expression()` re-parses to a filter
//! that gives the same answer), and a record without the field never matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::routes::Filter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (expression, record) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(filter) = Filter::parse(expression) else {
        return;
    };
    let again = Filter::parse(filter.expression()).expect("the expression re-parses");
    assert_eq!(again.field(), filter.field());
    if let Ok(record) = serde_json::from_str::<serde_json::Value>(record) {
        assert_eq!(filter.matches(&record), again.matches(&record));
        if record.get(filter.field()).is_none() {
            assert!(!filter.matches(&record));
        }
    }
    assert!(!filter.matches(&serde_json::json!({})));
});
