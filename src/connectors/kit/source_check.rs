//! The steps `check` runs for a polled ERP source (`sap_b1`, `acumatica`): the typed login
//! session, its credentials, and one `GET <entity>?$top=1` row per polled entity. Every
//! failure becomes a [`CheckRow`] of `system` (`<kind>:<source name>`) instead of an error.

use std::fmt::Display;

use ml_connector_actors::boxed::ManagedSession;
use ml_connector_actors::{Authenticator, SessionHandle};

use crate::seam::{typed_session, CheckRow};

/// The credential's session as `SessionHandle<A>`.
///
/// Errors: the one row `{system}  session  FAIL  {entry}: its credential does not provide a
/// … session` (wrong or missing credential).
pub fn session<A: Authenticator>(
    system: &str,
    session: Option<&dyn ManagedSession>,
    entry: &str,
) -> Result<SessionHandle<A>, Vec<CheckRow>> {
    typed_session::<A>(session, entry)
        .map_err(|e| vec![CheckRow::new(system, "session", Err(e.to_string()))])
}

/// Valid credentials of `handle` (logs in when there is no live session).
///
/// Errors: the one row `{system}  session  FAIL  {login error}`.
pub async fn credentials<A: Authenticator>(
    system: &str,
    handle: &SessionHandle<A>,
) -> Result<A::Credentials, Vec<CheckRow>> {
    handle
        .get()
        .await
        .map(|(credentials, _generation)| credentials)
        .map_err(|e| vec![CheckRow::new(system, "session", Err(e.to_string()))])
}

/// The row of one `$top=1` read of `entity`: target `GET {entity}`, detail `read {n}
/// record(s) with $top=1` or the read's error.
pub fn probe_row(
    system: &str,
    entity: impl Display,
    read: Result<usize, impl Display>,
) -> CheckRow {
    let result = read
        .map(|n| format!("read {n} record(s) with $top=1"))
        .map_err(|e| e.to_string());
    CheckRow::new(system, format!("GET {entity}"), result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_row_names_the_entity_and_the_count_or_the_error() {
        let row = probe_row("sap_b1:acme", "Orders", Ok::<usize, String>(1));
        assert_eq!(
            row,
            CheckRow::new(
                "sap_b1:acme",
                "GET Orders",
                Ok("read 1 record(s) with $top=1".into())
            )
        );
        let row = probe_row("acumatica:acme", "Bill", Err::<usize, _>("HTTP 403"));
        assert_eq!(
            row,
            CheckRow::new("acumatica:acme", "GET Bill", Err("HTTP 403".into()))
        );
    }
}
