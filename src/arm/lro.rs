//! moat's own long-running-operation poller (the SDK's re-sends the PUT on every poll; see
//! ../shared/DEPENDENCIES.md). Precedence follows ARM's async contract: `Azure-AsyncOperation`,
//! else `Location`, else the resource's own `provisioningState`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::Value;

use super::error::{parse_error_body, resource_of, ArmError};
use super::types::{ArmRequest, ArmResponse, Method};

#[derive(Debug, Clone, PartialEq)]
pub struct LroOptions {
    /// Interval when ARM sends no Retry-After.
    pub default_interval: Duration,
    /// Never poll faster than this, whatever Retry-After says.
    pub min_interval: Duration,
    /// Never wait longer than this between polls.
    pub max_interval: Duration,
    /// Total time one operation may take.
    pub budget: Duration,
}

impl Default for LroOptions {
    fn default() -> Self {
        LroOptions {
            default_interval: Duration::from_secs(5),
            min_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(60),
            budget: Duration::from_secs(30 * 60),
        }
    }
}

impl LroOptions {
    /// The same options with every wait between polls zero (the budget still applies): for tests
    /// against the emulator, which finishes operations in microseconds.
    pub fn zero_delays(mut self) -> Self {
        self.default_interval = Duration::ZERO;
        self.min_interval = Duration::ZERO;
        self.max_interval = Duration::ZERO;
        self
    }

    /// The wait before the next poll given a response's headers: `retry-after-ms` /
    /// `x-ms-retry-after-ms` (milliseconds) first, then `Retry-After` (seconds), clamped to
    /// [min, max].
    pub fn interval(&self, resp: &ArmResponse) -> Duration {
        let wait = retry_after(resp).unwrap_or(self.default_interval);
        wait.clamp(self.min_interval, self.max_interval.max(self.min_interval))
    }
}

/// The server's requested delay, if any.
pub fn retry_after(resp: &ArmResponse) -> Option<Duration> {
    for h in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = resp.header(h).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = resp.header("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // HTTP-date form.
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn provisioning_state(body: Option<&Value>) -> Option<&str> {
    body?.get("properties")?.get("provisioningState")?.as_str()
}

/// The states an operation or a resource is in while ARM works on it: ARM's own `Accepted`,
/// those the providers moat uses document (Cognitive Services accounts and deployments:
/// Creating, Deleting, Moving, ResolvingDNS; Network: Updating, Deleting; private DNS: Creating,
/// Updating, Deleting) and the operation-status values (`InProgress`, `NotStarted`, `Running`)
/// plus the generic `Provisioning`, `Pending`. Anything outside these and [`TERMINAL_STATES`] is
/// not waited for: it fails at once (docs/reliability.md) instead of using up the budget.
pub const IN_PROGRESS_STATES: &[&str] = &[
    "Accepted",
    "Creating",
    "Updating",
    "Deleting",
    "Provisioning",
    "Running",
    "Moving",
    "ResolvingDNS",
    "InProgress",
    "NotStarted",
    "Pending",
];

/// ARM's terminal states (Succeeded, Failed, Canceled, and the British spelling some services
/// send), plus `Disabled`, the terminal non-success state of Cognitive Services deployments.
pub const TERMINAL_STATES: &[&str] = &["Succeeded", "Failed", "Canceled", "Cancelled", "Disabled"];

/// Where a `provisioningState` (or operation `status`) leaves the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateClass {
    Succeeded,
    /// Terminal, not success.
    Failed,
    InProgress,
    /// Not a state ARM or the providers document.
    Unknown,
}

/// Classify a state, case-insensitively.
pub fn classify_state(state: &str) -> StateClass {
    let is = |set: &[&str]| set.iter().any(|s| s.eq_ignore_ascii_case(state));
    if state.eq_ignore_ascii_case("Succeeded") {
        StateClass::Succeeded
    } else if is(TERMINAL_STATES) {
        StateClass::Failed
    } else if is(IN_PROGRESS_STATES) {
        StateClass::InProgress
    } else {
        StateClass::Unknown
    }
}

/// The error for a state outside the known sets, naming the resource and the state.
pub fn unknown_state(req: &ArmRequest, field: &str, state: &str) -> ArmError {
    ArmError::Protocol {
        method: req.method,
        resource: resource_of(&req.path),
        message: format!(
            "{field} {state:?} is not a state ARM documents (in progress: {}; terminal: {}); \
             moat does not wait for it",
            IN_PROGRESS_STATES.join(", "),
            TERMINAL_STATES.join(", ")
        ),
    }
}

fn failed(req: &ArmRequest, status: &str, body: Option<&Value>, resp: &ArmResponse) -> ArmError {
    let (code, message, details) = parse_error_body(body);
    ArmError::OperationFailed {
        method: req.method,
        resource: resource_of(&req.path),
        status: status.to_string(),
        code: if code.is_empty() {
            status.to_string()
        } else {
            code
        },
        message: if message.is_empty() {
            "(ARM gave no error details)".into()
        } else {
            message
        },
        details,
        request_id: resp.request_id().map(str::to_string),
    }
}

/// A GET of the resource the operation works on.
fn resource_get(req: &ArmRequest) -> ArmRequest {
    ArmRequest {
        method: Method::Get,
        path: req.path.clone(),
        api_version: req.api_version.clone(),
        query: Vec::new(),
        body: None,
        headers: Vec::new(),
    }
}

/// Poll the operation that `req` started (first response `first`) to a terminal state.
///
/// Follows ARM-PROTOCOL.md §1.4: a first response that is not 202 and carries a terminal (or no)
/// `provisioningState` is the result; otherwise `Azure-AsyncOperation` is polled if given (always
/// 200 with `status`), else `Location` (202 while running, then the synchronous result), else the
/// resource itself. Every wait honours Retry-After within [min, max] and the whole operation
/// within `budget`.
///
/// `send` is one exchange of the client's ([`super::ArmApi::send`]); `on_poll` is told before each
/// status read.
pub async fn poll<S, F>(
    send: S,
    on_poll: impl Fn(),
    opts: LroOptions,
    req: &ArmRequest,
    first: ArmResponse,
) -> Result<Option<Value>, ArmError>
where
    S: Fn(ArmRequest) -> F,
    F: Future<Output = Result<ArmResponse, ArmError>>,
{
    let started = Instant::now();
    let async_op = first.header("azure-asyncoperation").map(str::to_string);
    let location = first.header("location").map(str::to_string);

    // Synchronous completion: 200/201/204 with a terminal provisioningState, or with none and no
    // operation header to follow. (Network answers 200 + Azure-AsyncOperation + Succeeded when
    // nothing changed; there is nothing to wait for then.)
    if first.status != 202 {
        match provisioning_state(first.body.as_ref()).map(|s| (s, classify_state(s))) {
            None if async_op.is_none() => return Ok(first.body),
            Some((_, StateClass::Succeeded)) => return Ok(first.body),
            Some((s, StateClass::Failed)) => {
                return Err(failed(req, s, first.body.as_ref(), &first))
            }
            Some((s, StateClass::Unknown)) => {
                return Err(unknown_state(req, "provisioningState", s))
            }
            _ => {}
        }
    }

    let mut last = first.clone();
    loop {
        let waited = started.elapsed();
        let Some(left) = opts.budget.checked_sub(waited).filter(|d| !d.is_zero()) else {
            return Err(ArmError::OperationTimeout {
                method: req.method,
                resource: resource_of(&req.path),
                waited,
            });
        };
        tokio::time::sleep(opts.interval(&last).min(left)).await;
        if started.elapsed() >= opts.budget {
            return Err(ArmError::OperationTimeout {
                method: req.method,
                resource: resource_of(&req.path),
                waited: started.elapsed(),
            });
        }
        on_poll();

        if let Some(url) = &async_op {
            let status_req = ArmRequest::follow(url.clone());
            let resp = send(status_req.clone()).await?;
            if resp.status != 200 {
                // Failing to read the status is not the operation failing (§1.4).
                return Err(ArmError::from_response(&status_req, &resp));
            }
            let status = resp
                .body
                .as_ref()
                .and_then(|b| b.get("status"))
                .and_then(Value::as_str)
                .unwrap_or("InProgress")
                .to_string();
            match classify_state(&status) {
                StateClass::Succeeded => {
                    return final_result(&send, req, location.as_deref()).await
                }
                StateClass::Failed => return Err(failed(req, &status, resp.body.as_ref(), &resp)),
                StateClass::Unknown => return Err(unknown_state(req, "operation status", &status)),
                StateClass::InProgress => last = resp,
            }
        } else if let Some(url) = &location {
            let loc_req = ArmRequest::follow(url.clone());
            let resp = send(loc_req.clone()).await?;
            match resp.status {
                202 => last = resp,
                200 | 201 | 204 => {
                    if req.method == Method::Delete || resp.status == 204 {
                        return Ok(resp.body);
                    }
                    // Location returns the sync result; for PUT/PATCH read the resource itself
                    // when the result has no body.
                    if resp.body.is_some() {
                        return Ok(resp.body);
                    }
                    return final_result(&send, req, None).await;
                }
                // Some RPs drop the operation record with the deleted resource.
                404 if req.method == Method::Delete => return Ok(None),
                _ => {
                    let (code, _, _) = parse_error_body(resp.body.as_ref());
                    if code.is_empty() {
                        return Err(ArmError::from_response(&loc_req, &resp));
                    }
                    return Err(failed(req, "Failed", resp.body.as_ref(), &resp));
                }
            }
        } else {
            // Poll the resource's own provisioningState.
            let get = resource_get(req);
            let resp = send(get.clone()).await?;
            if resp.status == 404 && req.method == Method::Delete {
                return Ok(None);
            }
            if resp.status != 200 {
                return Err(ArmError::from_response(&get, &resp));
            }
            match provisioning_state(resp.body.as_ref()).map(|s| (s, classify_state(s))) {
                None | Some((_, StateClass::Succeeded)) => return Ok(resp.body),
                Some((s, StateClass::Failed)) => {
                    return Err(failed(req, s, resp.body.as_ref(), &resp))
                }
                Some((s, StateClass::Unknown)) => {
                    return Err(unknown_state(req, "provisioningState", s))
                }
                Some((_, StateClass::InProgress)) => last = resp,
            }
        }
    }
}

/// After an Azure-AsyncOperation succeeded: PUT/PATCH read the resource (original URI), POST reads
/// Location when there is one, DELETE has no result.
async fn final_result<S, F>(
    send: S,
    req: &ArmRequest,
    location: Option<&str>,
) -> Result<Option<Value>, ArmError>
where
    S: Fn(ArmRequest) -> F,
    F: Future<Output = Result<ArmResponse, ArmError>>,
{
    let get = match req.method {
        Method::Delete => return Ok(None),
        Method::Post => match location {
            Some(l) => ArmRequest::follow(l),
            None => return Ok(None),
        },
        _ => resource_get(req),
    };
    let resp = send(get.clone()).await?;
    match resp.status {
        200 | 201 => Ok(resp.body),
        204 => Ok(None),
        _ => Err(ArmError::from_response(&get, &resp)),
    }
}
