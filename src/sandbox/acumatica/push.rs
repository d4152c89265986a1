//! Push notifications as Acumatica sends them (SM302000): one POST of `{"Inserted":[row],
//! "Deleted":[row],"Query","CompanyId","Id","TimeStamp","AdditionalInfo"}` with the admin's
//! header, resent while the answer is not 2xx (at most `push_attempts`, Acumatica: 5), the
//! whole delivery repeated `push_copies` times with the same `Id` (duplicates). Only
//! `127.0.0.1` targets are called.

use serde_json::{json, Value};

use super::AcumaticaSim;

/// What one [`AcumaticaSim::push`] did: the status of every attempt, in order (`0`: no
/// answer), and the notification's `Id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// `Id` of the notification.
    pub id: String,
    /// HTTP status of each attempt of each copy, in order.
    pub attempts: Vec<u16>,
}

impl AcumaticaSim {
    /// The notification of a change of `entity`: `inserted` the record after it (plain
    /// values), `deleted` the record before it (`None` for a new record); `Query` is the
    /// entity name. Each call takes a new `Id` and a larger `TimeStamp`.
    pub fn notification(&self, entity: &str, inserted: Option<Value>, deleted: Option<Value>) -> Value {
        let mut s = self.lock();
        s.notifications += 1;
        let n = s.notifications;
        json!({
            "Inserted": inserted.into_iter().collect::<Vec<_>>(),
            "Deleted": deleted.into_iter().collect::<Vec<_>>(),
            "Query": entity,
            "CompanyId": s.config.tenant,
            "Id": format!("7f3c1a2e-0000-4000-8000-{n:012}"),
            "TimeStamp": 638_700_000_000_000_000_i64 + n as i64,
            "AdditionalInfo": {"PXPerformanceInfo": {}},
        })
    }

    /// Deliver `notification` to the configured `push_url` as Acumatica does (see the module
    /// docs). Without a `push_url`, or one not on 127.0.0.1, nothing is sent.
    pub async fn push(&self, notification: &Value) -> PushReport {
        let c = self.config();
        let id = notification["Id"].as_str().unwrap_or_default().to_string();
        let mut attempts = Vec::new();
        let Some(url) = c.push_url.filter(|u| u.host_str() == Some("127.0.0.1")) else {
            return PushReport { id, attempts };
        };
        let client = reqwest::Client::new();
        for _ in 0..c.push_copies {
            for _ in 0..c.push_attempts {
                let sent = client
                    .post(url.clone())
                    .header(c.push_header.as_str(), c.push_secret.as_str())
                    .json(notification)
                    .send()
                    .await;
                let status = sent.map(|a| a.status().as_u16()).unwrap_or(0);
                attempts.push(status);
                if (200..300).contains(&status) {
                    break;
                }
            }
        }
        PushReport { id, attempts }
    }
}
