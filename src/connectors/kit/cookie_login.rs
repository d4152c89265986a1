//! The fields every cookie-session ERP credential shares (`[[credentials]] kind = "sap_b1"`:
//! Service Layer `POST /Login`; `kind = "acumatica"`: `POST /entity/auth/login`): the `tls`
//! trust, the login names that must not be blank, the timeouts of at least one second, the
//! `password` secret reference and the HTTP client the login session reads with.

use std::time::Duration;

use crate::seam::{BuildError, Problem, SecretRefs};
use crate::secrets::SecretRef;
use crate::tls::{Trust, TrustSpec};

/// `tls`: which server certificate to trust; absent means the system roots.
///
/// Errors: a table that does not fit its mode, at `tls.<key>` (`tls.sha256`).
pub fn trust(spec: Option<TrustSpec>) -> Result<Trust, Problem> {
    match spec {
        None => Ok(Trust::System),
        Some(spec) => spec
            .build()
            .map_err(|(key, message)| Problem::new(format!("tls.{key}"), message)),
    }
}

/// Checks each `(key, value)` in order has a value that is not blank (whitespace only).
///
/// Errors: at the first blank `key`, `must not be empty`.
pub fn require_filled(fields: &[(&str, &str)]) -> Result<(), Problem> {
    match fields.iter().find(|(_, value)| value.trim().is_empty()) {
        Some((key, _)) => Err(Problem::new(*key, "must not be empty")),
        None => Ok(()),
    }
}

/// Checks each `(key, seconds)` in order is at least 1 (a timeout or idle time).
///
/// Errors: at the first zero `key`, `must be at least 1`.
pub fn require_seconds(fields: &[(&str, u64)]) -> Result<(), Problem> {
    match fields.iter().find(|(_, seconds)| *seconds == 0) {
        Some((key, _)) => Err(Problem::new(*key, "must be at least 1")),
        None => Ok(()),
    }
}

/// The credential's one secret: `[("password", reference)]`.
pub fn password_refs(password: &SecretRef) -> SecretRefs {
    vec![("password".to_string(), password.clone())]
}

/// The HTTP client of credential `name`: trusting `tls`, each call limited to
/// `request_timeout`.
///
/// Errors: `credential {name}: {reason}` when the trust cannot be loaded (no secret in it).
pub fn http_client(
    name: &str,
    tls: &Trust,
    request_timeout: Duration,
) -> Result<reqwest::Client, BuildError> {
    crate::tls::http_client(tls, request_timeout)
        .map_err(|e| BuildError(format!("credential {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_tls_trusts_the_system_roots() {
        assert_eq!(trust(None), Ok(Trust::System));
    }

    #[test]
    fn the_first_blank_name_is_the_problem() {
        assert_eq!(
            require_filled(&[("company_db", "SBO"), ("username", "manager")]),
            Ok(())
        );
        assert_eq!(
            require_filled(&[("company_db", "SBO"), ("username", "  "), ("tenant", "")]),
            Err(Problem::new("username", "must not be empty"))
        );
    }

    #[test]
    fn the_first_zero_timeout_is_the_problem() {
        assert_eq!(require_seconds(&[("idle_logout_seconds", 1)]), Ok(()));
        assert_eq!(
            require_seconds(&[
                ("idle_logout_seconds", 300),
                ("request_timeout_seconds", 0),
                ("session_timeout_seconds", 0),
            ]),
            Err(Problem::new(
                "request_timeout_seconds",
                "must be at least 1"
            ))
        );
    }

    #[test]
    fn the_password_is_the_only_secret_reference() {
        let password: SecretRef = toml::from_str::<toml::Table>("p = { secret = \"acu\" }")
            .expect("toml")["p"]
            .clone()
            .try_into()
            .expect("secret ref");
        assert_eq!(
            password_refs(&password),
            vec![("password".to_string(), password)]
        );
    }
}
