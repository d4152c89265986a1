//! Wire types of the SAP Business One Service Layer: the login request and answer, the error
//! shape of v1 and v2, and the classification of an error answer.
//!
//! Source: SAP's guide "Working with SAP Business One Service Layer" §3.1 (Login/Logout) and
//! the error answers recorded against Service Layer 10.0 FP 2608 (`/work/shared/api-notes/
//! sap-business-one.md`, sections "Session" and "Errors").

use std::fmt;

use serde::{Deserialize, Serialize};

/// Body of `POST Login` (guide §3.1).
///
/// JSON: `{"CompanyDB":"SBODEMOUS","UserName":"manager","Password":"...","Language":23}`
/// (`Language` is left out when `None`). `Debug` never prints the password.
#[derive(Serialize)]
pub struct LoginRequest<'a> {
    /// Company database (`SBODEMOUS`).
    #[serde(rename = "CompanyDB")]
    pub company_db: &'a str,
    /// SAP Business One user code (`manager`).
    #[serde(rename = "UserName")]
    pub user_name: &'a str,
    /// The user's password, exposed only while the request body is serialised.
    #[serde(rename = "Password")]
    pub password: &'a str,
    /// Optional UI language code of the session (SAP language number, e.g. 23).
    #[serde(rename = "Language", skip_serializing_if = "Option::is_none")]
    pub language: Option<i32>,
}

impl fmt::Debug for LoginRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("company_db", &self.company_db)
            .field("user_name", &self.user_name)
            .field("password", &"[REDACTED]")
            .field("language", &self.language)
            .finish()
    }
}

/// SAP's default `SessionTimeout` in minutes, used when a login answer does not carry one.
pub const DEFAULT_SESSION_TIMEOUT_MINUTES: u64 = 30;

/// Answer of a successful `POST Login` (HTTP 200, guide §3.1).
///
/// JSON (v2): `{"@odata.context":"...$metadata#B1Sessions/$entity","SessionId":"PTRzIjYK-...",
/// "Version":"1000110","SessionTimeout":30}`; v1 has `"odata.metadata"` instead of
/// `@odata.context`. `Debug` never prints the session id (it is the `B1SESSION` cookie).
#[derive(Clone, PartialEq, Eq)]
pub struct LoginAnswer {
    /// `SessionId`: the value of the `B1SESSION` cookie.
    pub session_id: String,
    /// `Version`: Service Layer build (`"1000110"`), if sent.
    pub version: Option<String>,
    /// `SessionTimeout` in **minutes**, an inactivity timeout. Number or numeric string on the
    /// wire; [`DEFAULT_SESSION_TIMEOUT_MINUTES`] when absent or unreadable.
    pub session_timeout_minutes: u64,
}

impl fmt::Debug for LoginAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginAnswer")
            .field("session_id", &"[REDACTED]")
            .field("version", &self.version)
            .field("session_timeout_minutes", &self.session_timeout_minutes)
            .finish()
    }
}

impl LoginAnswer {
    /// Parse the body of a 200 answer to `POST Login`.
    ///
    /// Errors: the body is not a JSON object, or `SessionId` is missing or empty. The error text
    /// never contains the body (it holds the session id).
    pub fn parse(body: &[u8]) -> Result<LoginAnswer, String> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| format!("login answer is not JSON ({})", json_error_kind(&e)))?;
        let object = value
            .as_object()
            .ok_or_else(|| "login answer is not a JSON object".to_string())?;
        let session_id = object
            .get("SessionId")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| "login answer has no SessionId".to_string())?
            .to_string();
        let version = object.get("Version").and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        let session_timeout_minutes = object
            .get("SessionTimeout")
            .and_then(|v| match v {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            })
            .filter(|m| *m > 0)
            .unwrap_or(DEFAULT_SESSION_TIMEOUT_MINUTES);
        Ok(LoginAnswer {
            session_id,
            version,
            session_timeout_minutes,
        })
    }
}

/// Short, content-free name of a JSON parse failure (`truncated`, `syntax error`, ...), for
/// error texts that must not quote the body.
pub fn json_error_kind(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Io => "io error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "wrong types",
        serde_json::error::Category::Eof => "truncated",
    }
}

/// `error.code`: a number in v1 (`301`), a string in v2 (`"301"`, `"-304"`, sometimes `""`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ErrorCode {
    /// v1: `"code": -304`.
    Number(i64),
    /// v2: `"code": "-304"`.
    Text(String),
}

impl ErrorCode {
    /// The code as a number, when it is one (`"-304"` → `-304`; `""` → `None`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ErrorCode::Number(n) => Some(*n),
            ErrorCode::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// `error.message`: a string in v2, `{"lang":"en-us","value":"..."}` in v1.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ErrorMessage {
    /// v2: `"message": "Invalid session or session already timeout."`.
    Text(String),
    /// v1: `"message": {"lang":"en-us","value":"Invalid session or session already timeout."}`.
    Localized {
        /// Language of the text (`en-us`).
        #[serde(default)]
        lang: Option<String>,
        /// The text.
        value: String,
    },
}

impl ErrorMessage {
    /// The message text, whatever the shape.
    pub fn text(&self) -> &str {
        match self {
            ErrorMessage::Text(s) => s,
            ErrorMessage::Localized { value, .. } => value,
        }
    }
}

/// Longest SAP message kept in an error (characters); longer ones are cut with `…`.
const MAX_MESSAGE_CHARS: usize = 300;

/// An error answer of the Service Layer, parsed defensively.
///
/// v1: `{"error":{"code":301,"message":{"lang":"en-us","value":"Invalid session ..."}}}`;
/// v2: `{"error":{"code":"301","message":"Invalid session ...","details":[...]}}`.
/// A part with an unexpected shape is left out instead of failing the whole parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SapError {
    /// `error.code` as sent, if any.
    pub code: Option<ErrorCode>,
    /// `error.message` text (cut to 300 characters), empty when absent.
    pub message: String,
}

impl SapError {
    /// Read an error body. `None` when the body is not JSON or has no `error` object (an HTML
    /// page from the Apache front end, an empty body).
    pub fn parse(body: &[u8]) -> Option<SapError> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let error = value.get("error")?.as_object()?;
        let code = error
            .get("code")
            .and_then(|c| serde_json::from_value::<ErrorCode>(c.clone()).ok());
        let message = error
            .get("message")
            .and_then(|m| serde_json::from_value::<ErrorMessage>(m.clone()).ok())
            .map(|m| cut(m.text(), MAX_MESSAGE_CHARS))
            .unwrap_or_default();
        Some(SapError { code, message })
    }

    /// The numeric code (`301`, `-304`, `-5002`), when there is one.
    pub fn code_number(&self) -> Option<i64> {
        self.code.as_ref().and_then(ErrorCode::as_i64)
    }
}

impl fmt::Display for SapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, self.message.is_empty()) {
            (Some(ErrorCode::Number(n)), _) => write!(f, "SAP {n}: {}", self.message),
            (Some(ErrorCode::Text(s)), _) if !s.is_empty() => {
                write!(f, "SAP {s}: {}", self.message)
            }
            (_, false) => write!(f, "SAP: {}", self.message),
            (_, true) => write!(f, "SAP: no message"),
        }
    }
}

/// Cut `text` to at most `max` characters, appending `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// One line for logs and error reasons: `HTTP 400, SAP 201: Property 'X' is invalid`.
/// Holds no cookie and no request body.
pub fn describe_answer(status: u16, error: Option<&SapError>) -> String {
    match error {
        Some(e) => format!("HTTP {status}, {e}"),
        None => format!("HTTP {status}"),
    }
}

/// What an error answer of the Service Layer means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// HTTP 401 or code `301` outside login: the session expired or is invalid. Log in again.
    SessionGone,
    /// Code `-5002`: log in again and retry once; if it repeats on a fresh session it is a
    /// business-validation error (SAP's generic "field/value invalid").
    LoginAgainOnce,
    /// At login: code `-304` (wrong user or password), `-306` (unknown CompanyDB) or any 401.
    /// Never retried in a tight loop.
    WrongCredentials,
    /// HTTP 500 with code `299` ("SAML Login Failed"): parallel logins. Retry soon, serialised.
    ConcurrentLogin,
    /// Other 4xx except 408/429: 400 with `201` (invalid property or filter), `-1000`, `-10`,
    /// `-5006`; 403; 404 `-2028`. The request itself needs a fix.
    BadRequest,
    /// 408 or 429: the server is busy; retry later (honour `Retry-After`).
    Busy,
    /// Other 5xx (500/`407` broken node, 502, 503, 504): retry later.
    Server,
    /// Any other status (1xx, 3xx, or a 2xx passed here by mistake).
    Unexpected,
}

/// Code of an expired or invalid session (with HTTP 401).
pub const CODE_INVALID_SESSION: i64 = 301;
/// Code named by the design card as "log in again and retry once"; also SAP's generic
/// field/value validation error on writes.
pub const CODE_LOGIN_AGAIN_ONCE: i64 = -5002;
/// Code of a wrong user name or password at login ("Fail to NONE-SSO login from SLD.").
pub const CODE_WRONG_PASSWORD: i64 = -304;
/// Code of an unknown CompanyDB at login.
pub const CODE_UNKNOWN_COMPANY: i64 = -306;
/// Code of the 500 answer to parallel logins ("SAML Login Failed").
pub const CODE_CONCURRENT_LOGIN: i64 = 299;

/// Classify an error answer. `during_login` is true for the answer to `POST Login`, where a
/// 401 means wrong credentials rather than an expired session.
pub fn classify(status: u16, error: Option<&SapError>, during_login: bool) -> ErrorClass {
    let code = error.and_then(SapError::code_number);
    if during_login {
        if status == 401 || matches!(code, Some(CODE_WRONG_PASSWORD | CODE_UNKNOWN_COMPANY)) {
            return ErrorClass::WrongCredentials;
        }
    } else {
        if status == 401 || code == Some(CODE_INVALID_SESSION) {
            return ErrorClass::SessionGone;
        }
        if code == Some(CODE_LOGIN_AGAIN_ONCE) {
            return ErrorClass::LoginAgainOnce;
        }
    }
    if status == 500 && code == Some(CODE_CONCURRENT_LOGIN) {
        return ErrorClass::ConcurrentLogin;
    }
    match status {
        408 | 429 => ErrorClass::Busy,
        400..=499 => ErrorClass::BadRequest,
        500..=599 => ErrorClass::Server,
        _ => ErrorClass::Unexpected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_error_shapes_parse() {
        let v1 = br#"{"error":{"code":301,"message":{"lang":"en-us","value":"Invalid session or session already timeout."}}}"#;
        let e = SapError::parse(v1).expect("v1");
        assert_eq!(e.code_number(), Some(301));
        assert_eq!(e.message, "Invalid session or session already timeout.");
        let v2 = br#"{"error":{"code":"-304","message":"Fail to NONE-SSO login from SLD.","details":[{"code":"","message":""}]}}"#;
        let e = SapError::parse(v2).expect("v2");
        assert_eq!(e.code_number(), Some(-304));
        assert_eq!(e.to_string(), "SAP -304: Fail to NONE-SSO login from SLD.");
        // A message of an unexpected shape is dropped, the code kept.
        let odd = br#"{"error":{"code":"201","message":42}}"#;
        let e = SapError::parse(odd).expect("odd");
        assert_eq!(e.code_number(), Some(201));
        assert_eq!(e.message, "");
        assert!(SapError::parse(b"<html>Bad Gateway</html>").is_none());
        assert!(SapError::parse(b"").is_none());
    }

    #[test]
    fn classification_follows_the_api_notes() {
        let err = |code: &str| SapError {
            code: Some(ErrorCode::Text(code.into())),
            message: String::new(),
        };
        assert_eq!(
            classify(401, Some(&err("301")), false),
            ErrorClass::SessionGone
        );
        assert_eq!(classify(401, None, false), ErrorClass::SessionGone);
        assert_eq!(
            classify(400, Some(&err("301")), false),
            ErrorClass::SessionGone
        );
        assert_eq!(
            classify(400, Some(&err("-5002")), false),
            ErrorClass::LoginAgainOnce
        );
        assert_eq!(
            classify(401, Some(&err("-304")), true),
            ErrorClass::WrongCredentials
        );
        assert_eq!(
            classify(401, Some(&err("-306")), true),
            ErrorClass::WrongCredentials
        );
        assert_eq!(classify(401, None, true), ErrorClass::WrongCredentials);
        assert_eq!(
            classify(500, Some(&err("299")), true),
            ErrorClass::ConcurrentLogin
        );
        assert_eq!(
            classify(400, Some(&err("201")), false),
            ErrorClass::BadRequest
        );
        assert_eq!(
            classify(400, Some(&err("-1000")), false),
            ErrorClass::BadRequest
        );
        assert_eq!(
            classify(404, Some(&err("-2028")), false),
            ErrorClass::BadRequest
        );
        assert_eq!(classify(429, None, false), ErrorClass::Busy);
        assert_eq!(classify(500, Some(&err("407")), false), ErrorClass::Server);
        assert_eq!(classify(503, None, true), ErrorClass::Server);
        assert_eq!(classify(302, None, false), ErrorClass::Unexpected);
    }

    #[test]
    fn login_answer_parses_and_hides_the_session() {
        let body = br#"{"@odata.context":"x","SessionId":"PTRzIjYK-weN6","Version":"1000110","SessionTimeout":30}"#;
        let a = LoginAnswer::parse(body).expect("answer");
        assert_eq!(a.session_id, "PTRzIjYK-weN6");
        assert_eq!(a.version.as_deref(), Some("1000110"));
        assert_eq!(a.session_timeout_minutes, 30);
        assert!(!format!("{a:?}").contains("PTRzIjYK"));
        let s = LoginAnswer::parse(br#"{"SessionId":"a","SessionTimeout":"45"}"#).expect("s");
        assert_eq!(s.session_timeout_minutes, 45);
        assert!(LoginAnswer::parse(br#"{"SessionTimeout":30}"#).is_err());
        assert!(LoginAnswer::parse(br#"{"SessionId":"a""#).is_err());
    }

    #[test]
    fn login_request_debug_hides_password() {
        let r = LoginRequest {
            company_db: "SBODEMOUS",
            user_name: "manager",
            password: "hunter2",
            language: None,
        };
        assert!(!format!("{r:?}").contains("hunter2"));
        let json = serde_json::to_string(&r).expect("json");
        assert_eq!(
            json,
            r#"{"CompanyDB":"SBODEMOUS","UserName":"manager","Password":"hunter2"}"#
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "é".repeat(400);
        assert_eq!(cut(&long, 300).chars().count(), 301);
        assert_eq!(cut("short", 300), "short");
    }
}
