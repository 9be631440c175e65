//! Long-running operations: the record kept per operation, the polling URLs handed out
//! (absolute, on the emulator's own origin), and the two polling protocols: the
//! Azure-AsyncOperation status resource (always 200 with `status`) and the Location result
//! (202 while running, then the synchronous answer).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::clock::rfc3339;
use super::config::FailOutcome;
use super::error::{ApiError, HResult, Reply};

/// What happens to the store when the operation completes successfully.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Effect {
    /// The resource is already stored with a non-terminal provisioningState: mark it Succeeded.
    Finish,
    /// 202-create/update: the body becomes visible only now.
    Commit { body: Value, created: bool },
    /// Remove the resource (soft-delete for accounts).
    Delete,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum OpState {
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl OpState {
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Running => "InProgress",
            OpState::Succeeded => "Succeeded",
            OpState::Failed => "Failed",
            OpState::Canceled => "Canceled",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub sub: String,
    pub ns: String,
    pub location: String,
    pub api_version: String,
    pub method: String,
    pub resource_key: String,
    pub resource_id: String,
    pub full_type: String,
    pub start_ns: u64,
    pub done_ns: u64,
    pub effect: Effect,
    /// Set by a fault rule: the operation ends in this state with this error.
    pub forced: Option<(FailOutcome, String, String)>,
    pub state: OpState,
    pub error: Option<(String, String)>,
    /// What the Location URL answers once done.
    pub result_status: u16,
    pub result_body: Option<Value>,
}

impl Operation {
    pub fn running(&self) -> bool {
        self.state == OpState::Running
    }

    fn path(&self, kind: &str) -> String {
        format!(
            "/subscriptions/{}/providers/{}/locations/{}/{kind}/{}",
            self.sub, self.ns, self.location, self.id
        )
    }

    pub fn status_url(&self, base: &str) -> String {
        format!(
            "{base}{}?api-version={}",
            self.path("operationStatuses"),
            self.api_version
        )
    }

    pub fn result_url(&self, base: &str) -> String {
        format!(
            "{base}{}?api-version={}",
            self.path("operationResults"),
            self.api_version
        )
    }
}

/// `Retry-After` (whole seconds, rounded up, at least 1 so old clients never spin) and
/// `retry-after-ms` for a wait.
pub fn retry_headers(wait: Duration) -> Vec<(String, String)> {
    let ms = wait.as_millis().max(1);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    vec![
        ("Retry-After".into(), secs.max(1).to_string()),
        ("retry-after-ms".into(), ms.to_string()),
    ]
}

/// Headers of the first response of an operation.
pub fn start_headers(op: &Operation, base: &str, retry_after: Duration) -> Vec<(String, String)> {
    let mut h = vec![
        ("Azure-AsyncOperation".to_string(), op.status_url(base)),
        ("Location".to_string(), op.result_url(base)),
    ];
    h.extend(retry_headers(retry_after));
    h
}

/// GET on the Azure-AsyncOperation URL.
pub fn status_reply(op: &Operation, now: Duration, retry_after: Duration) -> Reply {
    let mut body = json!({
        "id": op.path("operationStatuses"),
        "name": op.id,
        "status": op.state.as_str(),
        "startTime": rfc3339(Duration::from_nanos(op.start_ns)),
    });
    if op.running() {
        let total = op.done_ns.saturating_sub(op.start_ns).max(1) as f64;
        let done = (now.as_nanos() as u64).saturating_sub(op.start_ns) as f64;
        body["percentComplete"] = json!(((done / total) * 100.0).clamp(0.0, 99.0).floor());
        let mut r = Reply::json(200, body);
        for (k, v) in retry_headers(retry_after) {
            r = r.with_header(&k, v);
        }
        return r;
    }
    body["endTime"] = json!(rfc3339(Duration::from_nanos(op.done_ns)));
    body["percentComplete"] = json!(100.0);
    if let Some((code, message)) = &op.error {
        body["error"] = json!({"code": code, "message": message});
    }
    Reply::json(200, body)
}

/// GET on the Location URL.
pub fn result_reply(op: &Operation, base: &str, retry_after: Duration) -> HResult {
    if op.running() {
        let mut r = Reply::empty(202).with_header("Location", op.result_url(base));
        for (k, v) in retry_headers(retry_after) {
            r = r.with_header(&k, v);
        }
        return Ok(r);
    }
    if let Some((code, message)) = &op.error {
        return Err(ApiError::new(op.result_status, code, message.clone()));
    }
    Ok(match &op.result_body {
        Some(b) => Reply::json(op.result_status, b.clone()),
        None => Reply::empty(op.result_status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let h = retry_headers(Duration::from_millis(1500));
        assert_eq!(h[0].1, "2");
        assert_eq!(h[1].1, "1500");
        let h = retry_headers(Duration::from_millis(30));
        assert_eq!(h[0].1, "1");
        assert_eq!(h[1].1, "30");
    }
}
