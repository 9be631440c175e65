//! Completing long-running operations: when an operation's time has come, its effect is
//! applied to the store (or, when a fault rule forced it, its failure) and its result recorded.

use serde_json::json;

use super::config::FailOutcome;
use super::engine::{commit, remove_resource, set_state, spec_of, Cx};
use super::ids::parse_id;
use super::ops::{Effect, OpState};
use super::provider::render;
use super::spec::Spec;

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
    let id = parse_id(&op.resource_id);
    let sp = match &id {
        Some(i) => spec_of(i),
        None => Spec {
            has_state: true,
            ..Spec::SYNC
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
                    Some(render(cx.st, cx.cfg, &key)),
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
                    Some(render(cx.st, cx.cfg, &key)),
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
