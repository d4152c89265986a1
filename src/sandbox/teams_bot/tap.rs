//! A simulated tap on a card button: the `invoke` activity the Bot Connector POSTs to the
//! bot's endpoint, with a JWT signed by the sandbox key, or one of the forgeries.
//!
//! Activity: `{"type":"invoke","name":"adaptiveCard/action","id","serviceUrl","channelId":
//! "msteams","from":{"id","aadObjectId","name"},"conversation":{"id"},"recipient":{"id"},
//! "value":{"action":{"type":"Action.Execute","verb","data"}}}`. JWT claims: `iss`
//! `https://api.botframework.com`, `aud` the app id, `serviceUrl`, `nbf` now − 60 s, `exp`
//! now + 1 h (expired forgery: now − 1 h, beyond the 5-minute skew).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value as Json};
use url::Url;

use super::signer::{key, KeyRole};

/// How the tap's JWT is wrong (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// A genuine token.
    None,
    /// Signed with a key the JWKS does not hold (same `kid` as the current key).
    WrongKey,
    /// Expired an hour ago.
    Expired,
    /// `aud` is another bot's app id.
    WrongAudience,
    /// The `serviceUrl` claim differs from the activity's.
    WrongServiceUrl,
    /// Signed with the rotated key (valid once the sandbox rotated its keys).
    RotatedKey,
}

/// One button press.
#[derive(Debug, Clone)]
pub struct Tap {
    /// The gateway's bot endpoint (`http://127.0.0.1:PORT/inbound/teams_bot/<name>`).
    pub endpoint: Url,
    /// The bot's app id (`aud`).
    pub app_id: String,
    /// The sandbox's Bot Connector base (activity and claim `serviceUrl`).
    pub service_url: String,
    /// Conversation of the card.
    pub conversation_id: String,
    /// Invoke activity id (the gateway dedupes on it).
    pub activity_id: String,
    /// `Action.Execute` verb.
    pub verb: String,
    /// `Action.Execute` data, as on the button.
    pub data: Json,
    /// The presser's Entra object id.
    pub from_aad: String,
    /// The presser's display name.
    pub from_name: String,
    /// What is wrong with the JWT.
    pub forgery: Forgery,
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A Bot Connector JWT for bot `app_id` with claim `serviceUrl`, made wrong as `forgery`
/// says (see the module docs for the claims).
pub fn bot_jwt(app_id: &str, service_url: &str, forgery: Forgery) -> String {
    let now = now_s();
    let mut claims = json!({
        "iss": "https://api.botframework.com", "aud": app_id,
        "nbf": now - 60, "exp": now + 3600, "serviceUrl": service_url,
    });
    let role = match forgery {
        Forgery::WrongKey => KeyRole::Attacker,
        Forgery::RotatedKey => KeyRole::Rotated,
        _ => KeyRole::Current,
    };
    match forgery {
        Forgery::Expired => {
            claims["exp"] = json!(now - 3600);
            claims["nbf"] = json!(now - 7200);
        }
        Forgery::WrongAudience => claims["aud"] = json!("11111111-2222-3333-4444-555555555555"),
        Forgery::WrongServiceUrl => claims["serviceUrl"] = json!("https://smba.trafficmanager.net/amer/"),
        _ => {}
    }
    key(role).sign(&claims)
}

/// POST `activity` to `endpoint` with `Authorization: Bearer <jwt>`; the status and the
/// body (JSON, `Null` when empty or not JSON).
///
/// # Errors
/// The transport error as text.
pub async fn post_activity(client: &reqwest::Client, endpoint: &Url, jwt: &str, activity: &Json) -> Result<(u16, Json), String> {
    let answer = client
        .post(endpoint.clone())
        .bearer_auth(jwt)
        .json(activity)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let body = answer.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Json::Null)))
}

impl Tap {
    /// The invoke activity.
    pub fn activity(&self) -> Json {
        json!({
            "type": "invoke", "name": "adaptiveCard/action", "id": self.activity_id,
            "channelId": "msteams", "serviceUrl": self.service_url,
            "from": {"id": format!("29:{}", self.from_aad), "aadObjectId": self.from_aad, "name": self.from_name},
            "conversation": {"id": self.conversation_id},
            "recipient": {"id": format!("28:{}", self.app_id)},
            "value": {"action": {"type": "Action.Execute", "verb": self.verb, "data": self.data}},
        })
    }

    /// The `Authorization` JWT of this tap.
    pub fn jwt(&self) -> String {
        bot_jwt(&self.app_id, &self.service_url, self.forgery)
    }

    /// POST the tap; the gateway's status and body (JSON, `Null` when empty or not JSON).
    ///
    /// # Errors
    /// The transport error as text.
    pub async fn send(&self, client: &reqwest::Client) -> Result<(u16, Json), String> {
        post_activity(client, &self.endpoint, &self.jwt(), &self.activity()).await
    }
}
