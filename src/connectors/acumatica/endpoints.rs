//! `GET /entity`: the endpoints and versions an instance offers, and whether the pinned one is
//! among them (the `check` row of an `acumatica` credential).
//!
//! Source: `/work/shared/api-notes/acumatica.md` ("Base": a wrong version answers 404, so the
//! pinned version is compared with the list before anything is read).

use super::auth::{AcumaticaAuthenticator, AcumaticaSession};
use super::wire::{describe_answer, EndpointList};
use crate::connectors::kit::outbound::describe;

/// Read `GET /entity` with `session`.
///
/// Errors: a transport failure, a non-200 answer or a body that is not the endpoint list
/// (text for a `check` row).
pub async fn offered(
    auth: &AcumaticaAuthenticator,
    session: &AcumaticaSession,
) -> Result<EndpointList, String> {
    let url = auth
        .settings()
        .base_url
        .join("entity")
        .map_err(|e| format!("base_url cannot hold `entity`: {e}"))?;
    let cookie = session
        .cookie_header()
        .map_err(|_| "the session cookie is not a valid header".to_string())?;
    let answer = auth
        .client()
        .get(url)
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = answer.status().as_u16();
    let body = answer.bytes().await.map_err(|e| describe(&e))?;
    if status != 200 {
        return Err(describe_answer(status, &body));
    }
    serde_json::from_slice(&body).map_err(|e| format!("not an endpoint list: {e}"))
}

/// The verdict on the pinned `endpoint`/`version` given the offered list: `Ok("Default/24.200.001
/// is offered")` or the configuration error naming every offered version.
pub fn pinned_verdict(list: &EndpointList, endpoint: &str, version: &str) -> Result<String, String> {
    if list
        .endpoints
        .iter()
        .any(|e| e.name == endpoint && e.version == version)
    {
        return Ok(format!("{endpoint}/{version} is offered"));
    }
    let offered: Vec<String> = list.endpoints.iter().map(ToString::to_string).collect();
    Err(format!(
        "configuration error: the instance does not offer {endpoint}/{version}; it offers {} \
         (set endpoint and version of the credential to one of them)",
        if offered.is_empty() { "none".to_string() } else { offered.join(", ") }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::acumatica::wire::OfferedEndpoint;

    #[test]
    fn a_missing_version_names_the_offered_ones() {
        let list = EndpointList {
            endpoints: vec![
                OfferedEndpoint { name: "Default".into(), version: "22.200.001".into() },
                OfferedEndpoint { name: "Default".into(), version: "23.200.001".into() },
            ],
        };
        assert_eq!(
            pinned_verdict(&list, "Default", "23.200.001"),
            Ok("Default/23.200.001 is offered".to_string())
        );
        assert_eq!(
            pinned_verdict(&list, "Default", "24.200.001"),
            Err("configuration error: the instance does not offer Default/24.200.001; it offers \
                 Default/22.200.001, Default/23.200.001 (set endpoint and version of the \
                 credential to one of them)"
                .to_string())
        );
    }
}
