//! One line of `ml-connector check`.

/// The outcome of one probe: `SYSTEM  TARGET  OK  DETAIL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    /// `<kind>:<entry name>` (`sap_b1:acme`, `teams_channel:finance`).
    pub system: String,
    /// What was probed (`POST Login`, `GET PurchaseOrders`, `GET …/messages?$top=1`).
    pub target: String,
    /// Whether it worked.
    pub ok: bool,
    /// What happened; when it failed, how to fix it. Never a secret.
    pub detail: String,
}

impl CheckRow {
    /// A row for `system`/`target` from a probe result (`Ok(detail)` or `Err(reason)`).
    pub fn new(system: &str, target: impl Into<String>, result: Result<String, String>) -> Self {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        CheckRow {
            system: system.to_string(),
            target: target.into(),
            ok,
            detail,
        }
    }
}
