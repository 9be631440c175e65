//! Typed ARM errors: each names the resource, the HTTP method, ARM's code and message and the
//! request id, so that `error:` / `Caused by:` / `hint:` rendering has everything it needs.

use std::time::Duration;

use serde_json::Value;

use super::retry::{retry_note, SUPERSEDED_CODE};
use super::types::{ArmRequest, ArmResponse, Method};

/// An inner error from ARM's `error.details`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ArmError {
    /// ARM answered with an error status.
    /// Server text (`code`, `message`) is shown with its control characters escaped, on one line.
    #[error("{method} {resource} failed{}: {status} {}: {}", retry_note(*retries, *elapsed), one_line(code), one_line(message))]
    Response {
        method: Method,
        resource: String,
        status: u16,
        code: String,
        message: String,
        details: Vec<ErrorDetail>,
        request_id: Option<String>,
        correlation_id: Option<String>,
        /// Retries made before giving up, and the time they took.
        retries: u32,
        elapsed: Duration,
    },
    /// A long-running operation ended `Failed` or `Canceled`.
    #[error(
        "{method} {resource}: operation ended {}: {}: {}",
        one_line(status),
        one_line(code),
        one_line(message)
    )]
    OperationFailed {
        method: Method,
        resource: String,
        status: String,
        code: String,
        message: String,
        details: Vec<ErrorDetail>,
        request_id: Option<String>,
    },
    /// A long-running operation did not finish within its budget.
    #[error("{method} {resource}: operation still running after {waited:?} (budget exhausted)")]
    OperationTimeout {
        method: Method,
        resource: String,
        waited: Duration,
    },
    /// The request never got an HTTP answer (connection refused / reset, timeout).
    #[error("{method} {resource} failed{}: {message}", retry_note(*retries, *elapsed))]
    Transport {
        method: Method,
        resource: String,
        message: String,
        retries: u32,
        elapsed: Duration,
    },
    /// Getting a token failed: every credential of the chain that was tried, and why.
    #[error("could not get an access token for ARM: {0}")]
    Credential(CredentialError),
    /// Bad endpoint / configuration; nothing was sent.
    #[error("{0}")]
    Config(String),
    /// A response that is not what ARM documents (unparseable body, missing header).
    #[error("{method} {resource}: unexpected response: {}", one_line(message))]
    Protocol {
        method: Method,
        resource: String,
        message: String,
    },
}

/// Why no access token came: each credential of moat's chain ([`super::credential`]) that was
/// tried, in the chain's order, with why it gave none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialError {
    pub attempts: Vec<CredentialAttempt>,
}

/// One credential of the chain and why it gave no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialAttempt {
    /// Which credential, as the user would set it up: `environment (client secret)`,
    /// `managed identity (IMDS)`, `Azure CLI`.
    pub credential: String,
    pub failure: AttemptFailure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptFailure {
    /// Not set up where moat runs (e.g. its environment variables are missing); nothing was sent.
    Unavailable(String),
    /// Asked, and it failed (the message of the credential's error chain, on one line).
    Failed(String),
    /// Asked, and it gave no answer within this time.
    TimedOut(Duration),
}

impl CredentialError {
    /// A failure of a single credential (one that is not moat's chain, or the chain's selected
    /// credential).
    pub fn single(credential: impl Into<String>, failure: AttemptFailure) -> Self {
        CredentialError {
            attempts: vec![CredentialAttempt {
                credential: credential.into(),
                failure,
            }],
        }
    }
}

impl std::fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptFailure::Unavailable(why) => write!(f, "not available: {}", one_line(why)),
            AttemptFailure::Failed(why) => f.write_str(&one_line(why)),
            AttemptFailure::TimedOut(d) => write!(f, "no answer within {d:?}"),
        }
    }
}

impl std::fmt::Display for CredentialAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.credential, self.failure)
    }
}

/// One attempt: `Azure CLI: …`; several: one line each, in the order they were tried.
impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.attempts.as_slice() {
            [] => f.write_str("no credential to try"),
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "no credential gave a token; tried, in order:")?;
                for a in all {
                    write!(f, "\n- {a}")?;
                }
                Ok(())
            }
        }
    }
}

/// `e` and its sources, joined: azure_core errors keep the useful part in the chain.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Text a server sent, fit for one line of an error: control characters (newlines included)
/// escaped.
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    crate::sanitize::escape_controls(s)
}

/// Strip scheme/host and query so that messages name the resource, not the URL.
pub fn resource_of(path: &str) -> String {
    let no_scheme = match path.find("://") {
        Some(i) => {
            let rest = &path[i + 3..];
            match rest.find('/') {
                Some(j) => &rest[j..],
                None => "/",
            }
        }
        None => path,
    };
    match no_scheme.find('?') {
        Some(q) => no_scheme[..q].to_string(),
        None => no_scheme.to_string(),
    }
}

/// Parse ARM's error body defensively: the wrapped `{"error":{...}}` envelope, the flat
/// `{"code","message"}` one (Microsoft.Insights), and a message that itself holds stringified
/// JSON of an inner error.
pub fn parse_error_body(body: Option<&Value>) -> (String, String, Vec<ErrorDetail>) {
    let Some(body) = body else {
        return (String::new(), String::new(), Vec::new());
    };
    let err = body.get("error").unwrap_or(body);
    let code = err
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut details: Vec<ErrorDetail> = err
        .get("details")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|x| {
                    let (c, m, _) = parse_error_body(Some(x));
                    ErrorDetail {
                        code: c,
                        message: m,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    // Stringified inner error inside `message`.
    if message.trim_start().starts_with('{') {
        if let Ok(inner) = serde_json::from_str::<Value>(&message) {
            let (c, m, d) = parse_error_body(Some(&inner));
            if !c.is_empty() {
                details.insert(
                    0,
                    ErrorDetail {
                        code: c,
                        message: m.clone(),
                    },
                );
                details.extend(d);
                message = m;
            }
        }
    }
    (code, message, details)
}

impl ArmError {
    pub fn from_response(req: &ArmRequest, resp: &ArmResponse) -> ArmError {
        Self::from_response_after(req, resp, 0, Duration::ZERO)
    }

    pub fn from_response_after(
        req: &ArmRequest,
        resp: &ArmResponse,
        retries: u32,
        elapsed: Duration,
    ) -> ArmError {
        let (mut code, mut message, details) = parse_error_body(resp.body.as_ref());
        if code.is_empty() {
            code = match resp.status {
                404 => "NotFound".into(),
                412 => "PreconditionFailed".into(),
                401 => "Unauthorized".into(),
                403 => "Forbidden".into(),
                429 => "TooManyRequests".into(),
                s => format!("Http{s}"),
            };
        }
        if message.is_empty() {
            message = "(no message in ARM's response)".into();
        }
        ArmError::Response {
            method: req.method,
            resource: resource_of(&req.path),
            status: resp.status,
            code,
            message,
            details,
            request_id: resp.request_id().map(str::to_string),
            correlation_id: resp
                .header("x-ms-correlation-request-id")
                .map(str::to_string),
            retries,
            elapsed,
        }
    }

    /// ARM's error code, when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Response { code, .. } | ArmError::OperationFailed { code, .. } => {
                Some(code.as_str())
            }
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Response { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            ArmError::Response { request_id, .. }
            | ArmError::OperationFailed { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The correlation id ARM assigned, when the error came from a response.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            ArmError::Response { correlation_id, .. } => correlation_id.as_deref(),
            _ => None,
        }
    }

    /// ARM's inner errors.
    pub fn details(&self) -> &[ErrorDetail] {
        match self {
            ArmError::Response { details, .. } | ArmError::OperationFailed { details, .. } => {
                details
            }
            _ => &[],
        }
    }

    /// Retries made before this error, and the time they took.
    pub fn retries(&self) -> Option<(u32, Duration)> {
        match self {
            ArmError::Response {
                retries, elapsed, ..
            }
            | ArmError::Transport {
                retries, elapsed, ..
            } => Some((*retries, *elapsed)),
            _ => None,
        }
    }

    /// A long-running operation that ARM cancelled because another one superseded it (the write
    /// itself was fine and can be re-sent).
    pub fn is_superseded(&self) -> bool {
        match self {
            ArmError::OperationFailed {
                status,
                code,
                details,
                ..
            } => {
                status.eq_ignore_ascii_case("canceled")
                    && (code.eq_ignore_ascii_case(SUPERSEDED_CODE)
                        || details
                            .iter()
                            .any(|d| d.code.eq_ignore_ascii_case(SUPERSEDED_CODE)))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resp(status: u16, body: Value) -> ArmResponse {
        let mut r = ArmResponse {
            status,
            body: Some(body),
            ..Default::default()
        };
        r.headers.insert("x-ms-request-id".into(), "rid-1".into());
        r.headers
            .insert("x-ms-correlation-request-id".into(), "cid-1".into());
        r
    }

    #[test]
    fn parses_wrapped_flat_and_stringified_errors() {
        let (c, m, d) = parse_error_body(Some(&json!({"error": {"code": "A", "message": "m",
            "details": [{"code": "B", "message": "n"}]}})));
        assert_eq!((c.as_str(), m.as_str()), ("A", "m"));
        assert_eq!(
            d,
            vec![ErrorDetail {
                code: "B".into(),
                message: "n".into()
            }]
        );
        let (c, m, _) = parse_error_body(Some(&json!({"code": "Flat", "message": "x"})));
        assert_eq!((c.as_str(), m.as_str()), ("Flat", "x"));
        let inner = r#"{"error":{"code":"RoleAssignmentUpdateNotPermitted","message":"no"}}"#;
        let (c, m, d) = parse_error_body(Some(&json!({"code": "BadRequest", "message": inner})));
        assert_eq!(c, "BadRequest");
        assert_eq!(m, "no");
        assert_eq!(d[0].code, "RoleAssignmentUpdateNotPermitted");
    }

    #[test]
    fn response_error_names_method_resource_code_ids_and_retries() {
        let req = ArmRequest::new(
            Method::Put,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a",
            "2024-10-01",
        );
        let e = ArmError::from_response_after(
            &req,
            &resp(
                503,
                json!({"error": {"code": "ServiceUnavailable", "message": "busy"}}),
            ),
            3,
            Duration::from_millis(12_400),
        );
        assert_eq!(
            e.to_string(),
            "PUT /subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a \
             failed after 3 retries in 12.4s: 503 ServiceUnavailable: busy"
        );
        assert_eq!(e.request_id(), Some("rid-1"));
        assert_eq!(e.correlation_id(), Some("cid-1"));
        let e = ArmError::from_response(
            &ArmRequest::follow("https://h/x?y=1"),
            &ArmResponse {
                status: 404,
                ..Default::default()
            },
        );
        assert_eq!(
            e.to_string(),
            "GET /x failed: 404 NotFound: (no message in ARM's response)"
        );
    }

    #[test]
    fn superseded_is_recognised_by_code_or_detail() {
        let mk = |status: &str, code: &str, details: Vec<ErrorDetail>| ArmError::OperationFailed {
            method: Method::Put,
            resource: "/x".into(),
            status: status.into(),
            code: code.into(),
            message: "m".into(),
            details,
            request_id: None,
        };
        assert!(mk("Canceled", SUPERSEDED_CODE, vec![]).is_superseded());
        let d = vec![ErrorDetail {
            code: SUPERSEDED_CODE.into(),
            message: String::new(),
        }];
        assert!(mk("Canceled", "Canceled", d.clone()).is_superseded());
        assert!(!mk("Failed", "Canceled", d).is_superseded());
        assert!(!mk("Canceled", "OperationCanceled", vec![]).is_superseded());
    }
}
