//! Metric names (one prefix, base units, `_total` counters) and their descriptions.
//! Labels are bounded: source, entity, destination, credential, system, kind, name, outcome,
//! error_type, op.

/// Poll cycles, labels `source`, `entity`, `outcome` (`ok`, `error`).
pub const POLLS: &str = "mlc_polls_total";
/// Records read from sources, labels `source`, `entity`.
pub const RECORDS_SEEN: &str = "mlc_records_seen_total";
/// Events detected by pollers, labels `source`, `entity`.
pub const EVENTS: &str = "mlc_events_total";
/// Source errors, labels `source`, `entity`, `error_type` (`auth`, `session_gone`,
/// `malformed`, `transient`, `refused`, `route`, `store`).
pub const SOURCE_ERRORS: &str = "mlc_source_errors_total";
/// Duration of a poll cycle in seconds, labels `source`, `entity`.
pub const POLL_DURATION: &str = "mlc_poll_duration_seconds";
/// Delivery attempts by outcome (`delivered`, `retry`, `unknown`, `dead`, `found_existing`,
/// `deferred`: postponed for want of a session), label `destination`.
pub const DELIVERIES: &str = "mlc_deliveries_total";
/// Retries scheduled, label `destination`.
pub const DELIVERY_RETRIES: &str = "mlc_delivery_retries_total";
/// HTTP 429 answers received, label `destination`.
pub const THROTTLED: &str = "mlc_throttled_total";
/// Seconds from outbox commit to confirmed delivery, label `destination`.
pub const DELIVERY_LATENCY: &str = "mlc_delivery_latency_seconds";
/// Lookups after ambiguous outcomes, labels `destination`, `outcome`.
pub const LOOKUPS: &str = "mlc_lookups_total";
/// Logins, labels `credential`, `system`, `outcome` (`ok`, `rejected`, `transient`).
pub const LOGINS: &str = "mlc_logins_total";
/// Keepalives / proactive refreshes, labels `credential`, `system`, `outcome`.
pub const SESSION_REFRESHES: &str = "mlc_session_refreshes_total";
/// Sessions dropped because the server said they were gone, labels `credential`, `system`.
pub const SESSION_INVALIDATIONS: &str = "mlc_session_invalidations_total";
/// Outbox entries waiting, label `destination` (gauge).
pub const OUTBOX_DEPTH: &str = "mlc_outbox_depth";
/// Age in seconds of the oldest undelivered entry, label `destination` (gauge).
pub const OLDEST_UNDELIVERED_AGE: &str = "mlc_oldest_undelivered_age_seconds";
/// Entries in the dead-letter table (gauge).
pub const DEAD_LETTERS: &str = "mlc_dead_letters";
/// Entries moved to the dead-letter table, label `destination`.
pub const DEAD_LETTERED: &str = "mlc_dead_lettered_total";
/// Inbound requests, labels `kind`, `name`, `outcome` (`accepted`, `refused`: failed
/// verification or malformed, `unavailable`: the store could not commit, answered 503).
pub const INBOUND: &str = "mlc_inbound_total";
/// Changes carried by accepted inbound requests, labels `kind`, `name`, `outcome`
/// (`accepted`: committed, `duplicate`: its sender id was committed before).
pub const INBOUND_CHANGES: &str = "mlc_inbound_changes_total";
/// Configuration problems found at run time (e.g. a token lacking a permission), labels
/// `destination`, `problem` (`missing_permission`).
pub const CONFIG_PROBLEMS: &str = "mlc_config_problems_total";
/// Actor restarts by the supervisor, label `actor`.
pub const ACTOR_RESTARTS: &str = "mlc_actor_restarts_total";

/// Store operations that failed with an I/O error (disk full, device error), label `op`
/// (`read`, `write`, `reopen`).
pub const STORE_ERRORS: &str = "mlc_store_errors_total";
/// 1 while the store can write, 0 while it is re-opening after an I/O error (gauge).
pub const STORE_HEALTHY: &str = "mlc_store_healthy";
/// Repairs run when opening the store (after a crash or an I/O error).
pub const STORE_REPAIRS: &str = "mlc_store_repairs_total";
/// Size of the store file in bytes (gauge).
pub const STORE_SIZE: &str = "mlc_store_size_bytes";
/// Bytes available on the file system of the store file (gauge).
pub const STORE_FREE: &str = "mlc_store_free_bytes";
/// Rows deleted by retention, label `table` (`dedupe`, `snapshots`, `trace`, `audit`)
/// (counter).
pub const STORE_PRUNED: &str = "mlc_store_pruned_rows_total";
/// Compactions of the store file, label `outcome` (`ok`, `busy`, `error`) (counter).
pub const STORE_COMPACTIONS: &str = "mlc_store_compactions_total";
/// 1 while a destination holds messages because its daily cap is reached (they wait in the
/// outbox, unchanged, until the rolling day frees room), else 0; label `destination` (gauge).
pub const DAILY_CAP_HELD: &str = "mlc_daily_cap_held";
/// Messages counted against a destination's daily cap in the current rolling day, label
/// `destination` (gauge).
pub const DAILY_CAP_USED: &str = "mlc_daily_cap_used";
/// 1 while a destination holds messages in its quiet hours (they wait in the outbox,
/// unchanged, until the window ends), else 0; label `destination` (gauge).
pub const QUIET_HOURS_HELD: &str = "mlc_quiet_hours_held";
/// The daily cap of a destination (messages per rolling day), label `destination` (gauge; set
/// with `mlc_daily_cap_used`, only for destinations with a cap). Alerts compare the two.
pub const DAILY_CAP_LIMIT: &str = "mlc_daily_cap_limit";
/// Sends and lookups still in flight, label `destination` (gauge).
pub const DELIVERY_IN_FLIGHT: &str = "mlc_delivery_in_flight";

/// Register descriptions with the installed recorder (call once after installing it).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(POLLS, "Poll cycles by outcome");
    describe_counter!(RECORDS_SEEN, "Records read from source systems");
    describe_counter!(EVENTS, "Business events detected");
    describe_counter!(SOURCE_ERRORS, "Errors reading source systems by type");
    describe_histogram!(POLL_DURATION, Unit::Seconds, "Duration of one poll cycle");
    describe_counter!(DELIVERIES, "Delivery attempts by outcome");
    describe_counter!(DELIVERY_RETRIES, "Delivery retries scheduled");
    describe_counter!(THROTTLED, "HTTP 429 answers from destinations");
    describe_histogram!(
        DELIVERY_LATENCY,
        Unit::Seconds,
        "Outbox commit to confirmed delivery"
    );
    describe_counter!(
        LOOKUPS,
        "Lookups of earlier attempts after ambiguous outcomes"
    );
    describe_counter!(LOGINS, "Logins by outcome");
    describe_counter!(
        SESSION_REFRESHES,
        "Proactive session keepalives and token refreshes"
    );
    describe_counter!(SESSION_INVALIDATIONS, "Sessions the server reported gone");
    describe_counter!(
        CONFIG_PROBLEMS,
        "Configuration problems found at run time (missing permissions)"
    );
    describe_gauge!(OUTBOX_DEPTH, "Outbox entries waiting per destination");
    describe_gauge!(
        OLDEST_UNDELIVERED_AGE,
        Unit::Seconds,
        "Age of the oldest undelivered entry"
    );
    describe_gauge!(DEAD_LETTERS, "Entries in the dead-letter table");
    describe_counter!(DEAD_LETTERED, "Entries moved to the dead-letter table");
    describe_counter!(INBOUND, "Inbound requests by outcome");
    describe_counter!(
        INBOUND_CHANGES,
        "Changes of accepted inbound requests, committed or duplicate"
    );
    describe_gauge!(
        QUIET_HOURS_HELD,
        "1 while a destination holds messages in its quiet hours"
    );
    describe_gauge!(
        DAILY_CAP_HELD,
        "1 while a destination holds messages at its daily cap"
    );
    describe_gauge!(
        DAILY_CAP_USED,
        "Messages counted against the daily cap in the rolling day"
    );
    describe_gauge!(DAILY_CAP_LIMIT, "Daily cap of the destination");
    describe_gauge!(DELIVERY_IN_FLIGHT, "Sends and lookups in flight");
    describe_counter!(ACTOR_RESTARTS, "Actor restarts by the supervisor");
    describe_counter!(STORE_ERRORS, "Store operations failed with an I/O error");
    describe_gauge!(
        STORE_HEALTHY,
        "1 while the store can write, 0 while it re-opens"
    );
    describe_counter!(STORE_REPAIRS, "Repairs run when opening the store");
    describe_gauge!(STORE_SIZE, Unit::Bytes, "Size of the store file");
    describe_counter!(STORE_PRUNED, "Rows deleted by retention, by table");
    describe_counter!(
        STORE_COMPACTIONS,
        "Compactions of the store file, by outcome"
    );
    describe_gauge!(
        STORE_FREE,
        Unit::Bytes,
        "Bytes available on the store's file system"
    );
}
