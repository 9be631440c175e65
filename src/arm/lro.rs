//! moat's own long-running-operation poller (the SDK's re-sends the PUT on every poll; see
//! ../shared/DEPENDENCIES.md). Precedence follows ARM's async contract: `Azure-AsyncOperation`,
//! else `Location`, else the resource's own `provisioningState`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::{parse_error_body, resource_of};
use super::{ArmApi, ArmError, ArmRequest, ArmResponse, Method};

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

fn is_terminal(state: &str) -> bool {
    matches!(
        state.to_ascii_lowercase().as_str(),
        "succeeded" | "failed" | "canceled" | "cancelled"
    )
}

fn failed(req: &ArmRequest, status: &str, body: Option<&Value>, resp: &ArmResponse) -> ArmError {
    let (code, message, details) = parse_error_body(body);
    ArmError::OperationFailed {
        method: req.method,
        resource: resource_of(&req.path),
        status: status.to_string(),
        code: if code.is_empty() { status.to_string() } else { code },
        message: if message.is_empty() {
            "(ARM gave no error details)".into()
        } else {
            message
        },
        details,
        request_id: resp.request_id().map(str::to_string),
    }
}

/// Poll the operation that `req` started (first response `first`) to a terminal state.
pub async fn poll<A: ArmApi + ?Sized>(
    api: &A,
    req: &ArmRequest,
    first: ArmResponse,
) -> Result<Option<Value>, ArmError> {
    let opts = api.lro_options();
    let started = Instant::now();
    let async_op = first.header("azure-asyncoperation").map(str::to_string);
    let location = first.header("location").map(str::to_string);

    // Synchronous completion: 200/201/204 with a terminal (or absent) provisioningState and no
    // operation header to follow.
    if first.status != 202 && async_op.is_none() {
        match provisioning_state(first.body.as_ref()) {
            None => return Ok(first.body),
            Some(s) if is_terminal(s) => {
                if s.eq_ignore_ascii_case("succeeded") {
                    return Ok(first.body);
                }
                return Err(failed(req, s, first.body.as_ref(), &first));
            }
            Some(_) => {}
        }
    }

    let mut last = first.clone();
    loop {
        if started.elapsed() > opts.budget {
            return Err(ArmError::OperationTimeout {
                method: req.method,
                resource: resource_of(&req.path),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(opts.interval(&last)).await;

        if let Some(url) = &async_op {
            let resp = api.send(ArmRequest::follow(url.clone())).await?;
            if resp.status != 200 {
                return Err(ArmError::from_response(&ArmRequest::follow(url.clone()), &resp));
            }
            let status = resp
                .body
                .as_ref()
                .and_then(|b| b.get("status"))
                .and_then(Value::as_str)
                .unwrap_or("InProgress")
                .to_string();
            if is_terminal(&status) {
                if !status.eq_ignore_ascii_case("succeeded") {
                    return Err(failed(req, &status, resp.body.as_ref(), &resp));
                }
                return final_result(api, req, location.as_deref()).await;
            }
            last = resp;
        } else if let Some(url) = &location {
            let resp = api.send(ArmRequest::follow(url.clone())).await?;
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
                    return final_result(api, req, None).await;
                }
                _ => {
                    let (code, _, _) = parse_error_body(resp.body.as_ref());
                    if code.is_empty() {
                        return Err(ArmError::from_response(&ArmRequest::follow(url.clone()), &resp));
                    }
                    return Err(failed(req, "Failed", resp.body.as_ref(), &resp));
                }
            }
        } else {
            // Poll the resource's own provisioningState.
            let get = ArmRequest {
                method: Method::Get,
                path: req.path.clone(),
                api_version: req.api_version.clone(),
                query: Vec::new(),
                body: None,
                headers: Vec::new(),
            };
            let resp = api.send(get.clone()).await?;
            if resp.status == 404 && req.method == Method::Delete {
                return Ok(None);
            }
            if resp.status != 200 {
                return Err(ArmError::from_response(&get, &resp));
            }
            match provisioning_state(resp.body.as_ref()) {
                None => return Ok(resp.body),
                Some(s) if s.eq_ignore_ascii_case("succeeded") => return Ok(resp.body),
                Some(s) if is_terminal(s) => {
                    return Err(failed(req, s, resp.body.as_ref(), &resp));
                }
                Some(_) => last = resp,
            }
        }
    }
}

/// After an Azure-AsyncOperation succeeded: PUT/PATCH read the resource (original URI), POST reads
/// Location when there is one, DELETE has no result.
async fn final_result<A: ArmApi + ?Sized>(
    api: &A,
    req: &ArmRequest,
    location: Option<&str>,
) -> Result<Option<Value>, ArmError> {
    let get = match req.method {
        Method::Delete => return Ok(None),
        Method::Post => match location {
            Some(l) => ArmRequest::follow(l),
            None => return Ok(None),
        },
        _ => ArmRequest {
            method: Method::Get,
            path: req.path.clone(),
            api_version: req.api_version.clone(),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
        },
    };
    let resp = api.send(get.clone()).await?;
    match resp.status {
        200 | 201 => Ok(resp.body),
        204 => Ok(None),
        _ => Err(ArmError::from_response(&get, &resp)),
    }
}
