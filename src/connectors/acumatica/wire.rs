//! Wire shapes of the contract-based REST API: error bodies, wrapped fields, the
//! `LastModifiedDateTime` stamps and `GET /entity`.
//!
//! Source: `/work/shared/api-notes/acumatica.md` ("Record shape", "Errors", "Cookie login").

use serde::Deserialize;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The text Acumatica puts in a refused sign-in when every API user of the licence is signed
/// in already.
pub const API_LOGIN_LIMIT: &str = "API Login Limit";
/// The text of a refused sign-in with a wrong user name or password.
pub const INVALID_CREDENTIALS: &str = "Invalid credentials";

/// The error body of every non-422 failure: `{"message","exceptionMessage","exceptionType",
/// "stackTrace"}` (all optional here; the stack trace is never read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// `"An error has occurred."`.
    #[serde(default)]
    pub message: Option<String>,
    /// What went wrong (`"Error: Invalid credentials. Please try again."`).
    #[serde(default, rename = "exceptionMessage")]
    pub exception_message: Option<String>,
    /// .NET exception type (`PX.Data.PXException`).
    #[serde(default, rename = "exceptionType")]
    pub exception_type: Option<String>,
}

impl ApiError {
    /// Parse an error body; `None` when it is not that JSON shape.
    pub fn parse(body: &[u8]) -> Option<ApiError> {
        serde_json::from_slice(body).ok()
    }

    /// The most specific text: `exceptionMessage`, else `message`, else empty; cut to 300
    /// characters.
    pub fn text(&self) -> String {
        let text = self
            .exception_message
            .as_deref()
            .or(self.message.as_deref())
            .unwrap_or_default();
        text.chars().take(300).collect()
    }

    /// Whether the text says the licence's API users are all signed in.
    pub fn is_login_limit(&self) -> bool {
        [&self.exception_message, &self.message]
            .iter()
            .any(|t| t.as_deref().is_some_and(|t| t.contains(API_LOGIN_LIMIT)))
    }

    /// Whether the text says the user name or password is wrong.
    pub fn is_invalid_credentials(&self) -> bool {
        self.exception_message
            .as_deref()
            .is_some_and(|t| t.contains(INVALID_CREDENTIALS))
    }
}

/// `"HTTP <status>: <text>"` for error messages (never the request or a secret).
pub fn describe_answer(status: u16, body: &[u8]) -> String {
    match ApiError::parse(body).map(|e| e.text()) {
        Some(text) if !text.is_empty() => format!("HTTP {status}: {text}"),
        _ => format!("HTTP {status}"),
    }
}

/// Fields of a record that are bookkeeping, not data: dropped by [`unwrap_record`].
const BOOKKEEPING: &[&str] = &["rowNumber", "custom", "_links", "files"];

/// A wrapped record (`{"id":…,"Status":{"value":"Open"},"Vendor":{},"Details":[…]}`) as a plain
/// one (`{"id":…,"Status":"Open","Vendor":null,"Details":[…]}`): `{"value": v}` → `v`, `{}` →
/// `null`, arrays of wrapped records unwrapped element by element, `rowNumber`, `custom`,
/// `_links` and `files` dropped. A push row that is already plain passes through unchanged.
///
/// Errors: the text of what is not a JSON object (the caller reports it as malformed).
pub fn unwrap_record(record: &Value) -> Result<Value, String> {
    let Value::Object(fields) = record else {
        return Err(format!("a record is not a JSON object but {}", kind_of(record)));
    };
    let mut plain = Map::with_capacity(fields.len());
    for (name, value) in fields {
        if BOOKKEEPING.contains(&name.as_str()) {
            continue;
        }
        plain.insert(name.clone(), unwrap_value(value)?);
    }
    Ok(Value::Object(plain))
}

fn unwrap_value(value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::Object(inner) if inner.is_empty() => Value::Null,
        Value::Object(inner) if inner.contains_key("value") => inner["value"].clone(),
        Value::Object(_) => unwrap_record(value)?,
        Value::Array(rows) => Value::Array(rows.iter().map(unwrap_record).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse a `LastModifiedDateTime` (`2024-12-18T17:07:45.433+00:00`; RFC 3339).
///
/// Errors: the text when it is not an RFC 3339 date-time.
pub fn parse_stamp(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| format!("LastModifiedDateTime \"{text}\" is not an ISO 8601 date-time"))
}

/// A stamp in UTC with milliseconds, fixed width so positions compare byte-wise
/// (`2024-12-18T17:07:45.433Z`). Sub-millisecond digits are cut (the API stamps milliseconds).
pub fn position_stamp(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

/// The `$filter` literal of a stamp: `datetimeoffset'2024-12-18T17:07:45.433+00:00'`.
pub fn filter_literal(at: OffsetDateTime) -> String {
    let text = at
        .to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
        ))
        .unwrap_or_default();
    format!("datetimeoffset'{text}'")
}

/// One endpoint of `GET /entity`: `{"name":"Default","version":"24.200.001","href":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OfferedEndpoint {
    /// Endpoint name (`Default`).
    pub name: String,
    /// Endpoint version (`24.200.001`).
    pub version: String,
}

impl std::fmt::Display for OfferedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// The answer of `GET /entity`: `{"version":{…},"endpoints":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EndpointList {
    /// Every endpoint and version the instance offers.
    pub endpoints: Vec<OfferedEndpoint>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn wrapped_fields_unwrap_into_plain_records() {
        let wrapped = json!({
            "id": "5c0e", "rowNumber": 1, "note": {"value": ""}, "custom": {},
            "ReferenceNbr": {"value": "000014"}, "Amount": {"value": 1222.8},
            "Hold": {"value": false}, "Vendor": {},
            "Details": [{"id": "d1", "rowNumber": 1, "Qty": {"value": 2}}],
            "_links": {"self": "/entity/Default/24.200.001/Bill/5c0e"}
        });
        assert_eq!(
            unwrap_record(&wrapped).expect("record"),
            json!({"id": "5c0e", "note": "", "ReferenceNbr": "000014", "Amount": 1222.8,
                   "Hold": false, "Vendor": null, "Details": [{"id": "d1", "Qty": 2}]})
        );
        assert_eq!(
            unwrap_record(&json!(["x"])).unwrap_err(),
            "a record is not a JSON object but an array"
        );
    }

    #[test]
    fn stamps_are_fixed_width_and_filters_quote_them() {
        let at = parse_stamp("2024-12-18T18:07:45.4339+01:00").expect("stamp");
        assert_eq!(position_stamp(at), "2024-12-18T17:07:45.433Z");
        assert_eq!(
            filter_literal(datetime!(2024-12-18 17:07:45.433 UTC)),
            "datetimeoffset'2024-12-18T17:07:45.433+00:00'"
        );
        assert!(parse_stamp("18/12/2024").is_err());
    }

    #[test]
    fn error_bodies_name_the_cause() {
        let body = br#"{"message":"An error has occurred.","exceptionMessage":"Error: Invalid credentials. Please try again.","exceptionType":"PX.Data.PXException","stackTrace":"..."}"#;
        let e = ApiError::parse(body).expect("shape");
        assert!(e.is_invalid_credentials());
        assert!(!e.is_login_limit());
        assert_eq!(
            describe_answer(500, body),
            "HTTP 500: Error: Invalid credentials. Please try again."
        );
        assert_eq!(describe_answer(502, b"<html>"), "HTTP 502");
    }
}
