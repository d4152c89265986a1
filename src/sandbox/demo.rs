//! The demo scenario on the sandbox world ([`SandboxEnv`]): point a configuration's
//! credentials at the simulators, seed its stored secrets with the simulators' values, and
//! keep creating documents in the simulated SAP. `ml-connector demo` wires it to a gateway.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ml_connector_actors::Store;

use super::env::SandboxEnv;
use super::sap_b1::SapSim;
use crate::routes::humanize::format_money;
use crate::seam::SecretRefs;
use crate::secrets::{SecretKey, SecretRef};

/// Environment variable `config/demo.toml` reads the Workflows URL from.
pub const WORKFLOW_ENV: &str = "MLC_DEMO_WORKFLOW_URL";

impl SandboxEnv {
    /// `text` (a configuration) with every credential pointed at the simulators: `sap_b1`
    /// credentials get `base_url`, `entra` credentials `login_base_url`, `graph_base_url` and
    /// the simulated app's `tenant_id` and `client_id`, `twilio` credentials `base_url` and
    /// the simulated `account_sid`.
    ///
    /// Errors: `text` is not TOML.
    pub fn point_config(&self, text: &str) -> Result<String, String> {
        let mut doc: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(list) = doc.get_mut("credentials").and_then(|v| v.as_array_mut()) {
            for entry in list.iter_mut().filter_map(|v| v.as_table_mut()) {
                let teams = self.teams.config();
                let values: Vec<(&str, String)> = match entry.get("kind").and_then(|k| k.as_str()) {
                    Some("sap_b1") => vec![("base_url", self.sap_url.to_string())],
                    Some("entra") => vec![
                        ("login_base_url", self.teams_url.to_string()),
                        ("graph_base_url", self.teams_url.to_string()),
                        ("tenant_id", teams.tenant_id),
                        ("client_id", teams.client_id),
                    ],
                    Some("twilio") => vec![
                        ("base_url", self.twilio_url.to_string()),
                        ("account_sid", self.twilio.config().account_sid),
                    ],
                    _ => Vec::new(),
                };
                for (key, value) in values {
                    entry.insert(key.to_string(), toml::Value::String(value));
                }
            }
        }
        toml::to_string(&doc).map_err(|e| e.to_string())
    }

    /// Stores the simulators' password, client secret and refresh token under the names the
    /// credentials refer to — `credentials` yields each credential's kind and secret references
    /// (`{ secret = "NAME" }` only; `{ env = ... }` references are left to the environment).
    ///
    /// Errors: the store or the key failed.
    pub fn seed_secrets<'a>(
        &self,
        credentials: impl IntoIterator<Item = (&'a str, SecretRefs)>,
        store: &Store,
        key: &SecretKey,
    ) -> Result<(), String> {
        for (kind, refs) in credentials {
            for (field, reference) in refs {
                let value = match (kind, field.as_str()) {
                    ("sap_b1", "password") => self.sap.config().password.clone(),
                    ("entra", "client_secret") => self.teams.config().client_secret,
                    ("entra", "refresh_token") => self.teams.current_refresh_token(),
                    ("twilio", "auth_token") => self.twilio.config().auth_token,
                    _ => continue,
                };
                if let SecretRef::Secret(name) = reference {
                    crate::secrets::set(&name, &value, key, store).map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }
}

/// Create documents until stopped: mostly purchase orders, some purchase invoices (some large
/// enough for the CFO chat), vendor payments, and now and then a closing of an earlier purchase
/// order (a `status_changed` event). Prints one line per change; returns how many it made.
pub fn produce(sap: &SapSim, rate: f64, stop: &AtomicBool) -> usize {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.05));
    let mut n: u64 = 0;
    let mut orders: Vec<i64> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let entity = match n % 10 {
            3 | 7 => "PurchaseInvoices",
            9 => "VendorPayments",
            _ => "PurchaseOrders",
        };
        if n.is_multiple_of(6) && !orders.is_empty() {
            let entry = orders[(n as usize / 6) % orders.len()];
            sap.update(
                "PurchaseOrders",
                entry,
                serde_json::json!({"DocumentStatus": "bost_Close"}),
            );
            let number = sap
                .document("PurchaseOrders", entry)
                .and_then(|d| d.get("DocNum").map(|v| v.to_string()))
                .unwrap_or_default();
            println!("  SAP    ▸ purchase order {number} closed");
        } else {
            let doc = sap.generate(entity, n);
            let entry = sap.insert(entity, doc.clone());
            if entity == "PurchaseOrders" {
                orders.push(entry);
            }
            let stored = sap.document(entity, entry).unwrap_or(doc);
            let field = |name: &str| match stored.get(name) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let total = format_money(own_total(&stored), Some(field("DocCurrency").as_str()));
            println!(
                "  SAP    ▸ new {} {} · {} ({}) · {total}",
                label(entity),
                field("DocNum"),
                field("CardName"),
                field("CardCode"),
            );
        }
        std::thread::sleep(period);
    }
    n as usize
}

/// How the demo names the entities it creates.
fn label(entity: &str) -> &'static str {
    match entity {
        "PurchaseOrders" => "purchase order",
        "PurchaseInvoices" => "purchase invoice",
        "VendorPayments" => "outgoing payment",
        _ => "document",
    }
}

/// A generated record's total in its own currency (`DocCurrency`): `DocTotalFc` on a
/// foreign-currency document, else `DocTotal`; payments carry `CashSum` + `TransferSum`.
fn own_total(doc: &serde_json::Value) -> f64 {
    let number = |name: &str| doc.get(name).and_then(serde_json::Value::as_f64);
    match (number("DocTotalFc"), number("DocTotal")) {
        (Some(fc), _) if fc != 0.0 => fc,
        (_, Some(total)) => total,
        _ => number("CashSum").unwrap_or(0.0) + number("TransferSum").unwrap_or(0.0),
    }
}

/// Insert `n` open A/R invoices (`Invoices`) whose `DocDueDate` was `days_ago` days ago and
/// nothing paid, so the overdue scan finds them; prints one line each. Returns their `DocEntry`s.
pub fn seed_overdue_invoices(sap: &SapSim, n: u64, days_ago: i64) -> Vec<i64> {
    let due = time::OffsetDateTime::now_utc().date() - time::Duration::days(days_ago);
    (1..=n)
        .map(|i| {
            let mut doc = sap.generate("Invoices", 900_000 + i);
            doc["DocDueDate"] = serde_json::json!(super::sap_b1::v2_date(due));
            doc["PaidToDate"] = serde_json::json!(0.0);
            let entry = sap.insert("Invoices", doc);
            let stored = sap.document("Invoices", entry).unwrap_or_default();
            println!(
                "  SAP    ▸ A/R invoice {} · {} · {} · due {due}, unpaid",
                stored["DocNum"],
                stored["CardName"].as_str().unwrap_or_default(),
                format_money(own_total(&stored), stored["DocCurrency"].as_str()),
            );
            entry
        })
        .collect()
}
