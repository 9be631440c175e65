//! Long-running operations: the record kept per operation, the polling URLs handed out
//! (absolute, on the emulator's own origin), and the two polling protocols: the
//! Azure-AsyncOperation status resource (always 200 with `status`) and the Location result
//! (202 while running, then the synchronous answer).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::clock::rfc3339;
use super::config::{FailOutcome, FaultConfig};
use super::engine::{commit, remove_resource, set_state, Cx};
use super::error::{ApiError, HResult, Reply};
use super::hooks;
use super::ids::{normalize_location, Kind, ResId};
use super::spec::{spec, Spec};

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
pub(crate) fn start_op(
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
            .map_or(true, |m| m.eq_ignore_ascii_case(method))
            && lower.contains(&r.path_contains.to_ascii_lowercase())
            && r.times != Some(0)
    })?;
    if let Some(t) = rule.times.as_mut() {
        *t -= 1;
    }
    Some((rule.outcome, rule.code.clone(), rule.message.clone()))
}

/// Complete every operation whose time has come, in completion order.
pub fn advance(cx: &mut Cx) {
    let now = cx.now_ns();
    loop {
        let next = cx
            .st
            .ops
            .iter()
            .filter(|(_, o)| o.running() && o.done_ns <= now)
            .min_by_key(|(_, o)| o.done_ns)
            .map(|(k, _)| k.clone());
        let Some(k) = next else { break };
        complete(cx, &k);
    }
}

fn complete(cx: &mut Cx, op_key: &str) {
    let Some(op) = cx.st.ops.get(op_key).cloned() else {
        return;
    };
    let id = super::ids::parse_id(&op.resource_id);
    let sp = match &id {
        Some(i) => spec(i.kind),
        None => Spec {
            has_state: true,
            ..spec(Kind::Generic)
        },
    };
    let key = op.resource_key.clone();
    let (state, error, status, body) = match &op.forced {
        None => match &op.effect {
            Effect::Finish => {
                if let Some(mut b) = cx.st.get(&key).cloned() {
                    set_state(&mut b, &sp, "Succeeded");
                    if let Some(e) = cx.st.etag(sp.etag, cx.now) {
                        b["etag"] = json!(e);
                    }
                    cx.st.insert(b);
                }
                let status = if op.method == "PUT" || op.method == "PATCH" {
                    200
                } else {
                    204
                };
                (
                    OpState::Succeeded,
                    None,
                    status,
                    Some(hooks::render(cx.st, cx.cfg, &key)),
                )
            }
            Effect::Commit { body, created } => {
                if let Some(id) = &id {
                    commit(cx, id, body.clone());
                }
                let status = if *created { 201 } else { 200 };
                (
                    OpState::Succeeded,
                    None,
                    status,
                    Some(hooks::render(cx.st, cx.cfg, &key)),
                )
            }
            Effect::Delete => {
                remove_resource(cx, &key);
                (OpState::Succeeded, None, 204, None)
            }
        },
        Some((outcome, code, message)) => {
            let (state, label, status) = match outcome {
                FailOutcome::Failed => (OpState::Failed, "Failed", 400),
                FailOutcome::Canceled => (OpState::Canceled, "Canceled", 409),
            };
            match &op.effect {
                Effect::Finish | Effect::Delete => {
                    if let Some(mut b) = cx.st.get(&key).cloned() {
                        set_state(&mut b, &sp, label);
                        cx.st.insert(b);
                    }
                }
                Effect::Commit { created: false, .. } => {
                    if let Some(mut b) = cx.st.get(&key).cloned() {
                        set_state(&mut b, &sp, "Succeeded");
                        cx.st.insert(b);
                    }
                }
                Effect::Commit { created: true, .. } => {}
            }
            (state, Some((code.clone(), message.clone())), status, None)
        }
    };
    if let Some(o) = cx.st.ops.get_mut(op_key) {
        o.state = state;
        o.error = error;
        o.result_status = status;
        o.result_body = body.filter(|b| !b.is_null());
    }
    cx.st.dirty = true;
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
