//! Typed ARM errors: each names the resource, the HTTP method, ARM's code and message and the
//! request id, so that `error:` / `Caused by:` / `hint:` rendering has everything it needs.

use std::time::Duration;

use serde_json::Value;

use super::{ArmRequest, ArmResponse, Method};

/// An inner error from ARM's `error.details`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ArmError {
    /// ARM answered with an error status.
    #[error("{method} {resource} failed: {status} {code}: {message}")]
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
    #[error("{method} {resource}: operation ended {status}: {code}: {message}")]
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
    #[error("{method} {resource}: {message}")]
    Transport {
        method: Method,
        resource: String,
        message: String,
        retries: u32,
        elapsed: Duration,
    },
    /// Getting a token failed.
    #[error("could not get an access token for ARM: {0}")]
    Credential(String),
    /// Bad endpoint / configuration; nothing was sent.
    #[error("{0}")]
    Config(String),
    /// A response that is not what ARM documents (unparseable body, missing header).
    #[error("{method} {resource}: unexpected response: {message}")]
    Protocol {
        method: Method,
        resource: String,
        message: String,
    },
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
                    ErrorDetail { code: c, message: m }
                })
                .collect()
        })
        .unwrap_or_default();
    // Stringified inner error inside `message`.
    if message.trim_start().starts_with('{') {
        if let Ok(inner) = serde_json::from_str::<Value>(&message) {
            let (c, m, d) = parse_error_body(Some(&inner));
            if !c.is_empty() {
                details.insert(0, ErrorDetail { code: c, message: m.clone() });
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
            ArmError::Response { request_id, .. } | ArmError::OperationFailed { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// A hint for the user, for the errors where one helps.
    pub fn hint(&self) -> Option<String> {
        let code = self.code()?;
        let hint = match code {
            "AuthorizationFailed" | "LinkedAuthorizationFailed" => {
                "the identity moat runs as lacks a permission on this scope; `moat plan` needs \
                 Reader on the instances, `moat apply` the custom role in docs/security.md \
                 (or Cognitive Services Contributor + Network Contributor + Private DNS Zone \
                 Contributor + Role Based Access Control Administrator + Monitoring Contributor)"
            }
            "PrincipalNotFound" => {
                "the principal is new and has not replicated through Entra ID yet; set its \
                 `type` in the blueprint (e.g. ServicePrincipal) and re-run apply in a few minutes"
            }
            "RequestConflict" | "AnotherOperationInProgress" => {
                "another operation is running on this resource; re-run apply when it has finished"
            }
            "CustomDomainInUse" => {
                "the custom subdomain is taken, possibly by a soft-deleted account: purge it or \
                 choose another name"
            }
            "PreconditionFailed" => {
                "the resource changed since moat read it; run `moat plan` again"
            }
            "SubscriptionRequestsThrottled" | "TooManyRequests" => {
                "ARM throttled the requests; lower --parallelism or retry later"
            }
            "InvalidAuthenticationToken" | "ExpiredAuthenticationToken" | "Unauthorized" => {
                "the access token was refused; run `az login` again or check MOAT_ACCESS_TOKEN"
            }
            _ => return None,
        };
        Some(hint.to_string())
    }
}
