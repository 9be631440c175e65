//! Long-running operations: starting one (with the fault rules that force its outcome), and the
//! two polling protocols: the Azure-AsyncOperation status resource (always 200 with `status`)
//! and the Location result (202 while running, then the synchronous answer). Completing
//! operations changes resources, so it lives with the engine.

use std::time::Duration;

use serde_json::json;

use super::clock::rfc3339;
use super::config::{FailOutcome, FaultConfig};
use super::cx::Cx;
use super::error::{ApiError, HResult, Reply};
use super::ids::{normalize_location, ResId};
pub use super::ops::{Effect, OpState, Operation};

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

// ---- Operation lifecycle (start, complete) ----

/// What an operation is about (resource groups have no provider id, hence not a [`ResId`]).
pub struct OpTarget {
    pub sub: String,
    pub ns: String,
    pub full_type: String,
    pub display: String,
    pub method: &'static str,
    pub location: Option<String>,
}

/// Start an operation on `id`; returns its first-response headers.
pub fn start_op(
    cx: &mut Cx,
    id: &ResId,
    method: &'static str,
    effect: Effect,
    location: Option<&str>,
) -> Vec<(String, String)> {
    let target = OpTarget {
        sub: id.sub.clone(),
        ns: id.full_type.split('/').next().unwrap_or(&id.ns).to_string(),
        full_type: id.full_type.clone(),
        display: id.display(),
        method,
        location: location.map(str::to_string),
    };
    start_op_raw(cx, target, effect)
}

/// Purge of a soft-deleted account (the record stays visible until the operation ends).
pub fn start_purge(cx: &mut Cx, id: &ResId, key: &str) -> Vec<(String, String)> {
    let target = OpTarget {
        sub: id.sub.clone(),
        ns: "Microsoft.CognitiveServices".into(),
        full_type: "Microsoft.CognitiveServices/deletedAccounts".into(),
        display: key.to_string(),
        method: "DELETE",
        location: id.names.first().cloned(),
    };
    start_op_raw(cx, target, Effect::Delete)
}

pub fn start_op_raw(cx: &mut Cx, t: OpTarget, effect: Effect) -> Vec<(String, String)> {
    let forced = take_fail_rule(cx.faults, t.method, &t.display);
    let op_id = cx.st.new_guid("operation");
    let dur = cx.cfg.lro_duration(&t.full_type);
    let op = Operation {
        id: op_id.clone(),
        sub: t.sub,
        ns: t.ns,
        location: t
            .location
            .as_deref()
            .map(normalize_location)
            .unwrap_or_else(|| "global".into()),
        api_version: cx.api_version.to_string(),
        method: t.method.to_string(),
        resource_key: t.display.to_ascii_lowercase(),
        resource_id: t.display,
        full_type: t.full_type,
        start_ns: cx.now_ns(),
        done_ns: cx.now_ns() + dur.as_nanos() as u64,
        effect,
        forced,
        state: OpState::Running,
        error: None,
        result_status: 0,
        result_body: None,
    };
    let headers = start_headers(&op, cx.base, cx.cfg.lro.retry_after);
    cx.st.ops.insert(op_id.to_ascii_lowercase(), op);
    cx.st.dirty = true;
    headers
}

fn take_fail_rule(
    f: &mut FaultConfig,
    method: &str,
    display: &str,
) -> Option<(FailOutcome, String, String)> {
    let lower = display.to_ascii_lowercase();
    let rule = f.fail_operations.iter_mut().find(|r| {
        r.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && lower.contains(&r.path_contains.to_ascii_lowercase())
            && r.times != Some(0)
    })?;
    if let Some(t) = rule.times.as_mut() {
        *t -= 1;
    }
    Some((rule.outcome, rule.code.clone(), rule.message.clone()))
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
