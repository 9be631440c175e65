//! The generic ARM resource behaviour every type shares: scope and parent checks, conditional
//! requests, conflicts, the envelope (`id`/`name`/`type`/`etag`/`systemData`), the three write
//! styles and their operations, cascading deletes. Type-specific rules live in the providers,
//! reached through the [`provider`](super::provider) registry.

use serde_json::{json, Value};

use super::config::{EmulatorConfig, LroStyle};
pub use super::cx::Cx;
use super::error::{ApiError, HResult, Reply};
use super::ids::{normalize_location, ResId};
use super::lro::{start_op, Effect, Operation};
use super::provider::{self, Provider, Write};
pub use super::spec::{Cond, Spec};
use super::spec::{Lock, Placement};
use super::store::{props, State};

pub fn check_subscription(cfg: &EmulatorConfig, sub: &str) -> Result<(), ApiError> {
    let well_formed = uuid::Uuid::parse_str(sub).is_ok();
    let allowed = cfg
        .subscriptions
        .as_ref()
        .is_none_or(|l| l.iter().any(|s| s.eq_ignore_ascii_case(sub)));
    if well_formed && allowed {
        Ok(())
    } else if !well_formed {
        Err(ApiError::bad_request(
            "InvalidSubscriptionId",
            format!("The provided subscription identifier '{sub}' is malformed or invalid."),
        ))
    } else {
        Err(ApiError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        ))
    }
}

pub fn rg_not_found(rg: &str) -> ApiError {
    ApiError::new(
        404,
        "ResourceGroupNotFound",
        format!("Resource group '{rg}' could not be found."),
    )
}

/// The subscription and the resource group (if any) of `id` must exist.
pub fn check_rg(cx: &Cx, id: &ResId) -> Result<(), ApiError> {
    check_subscription(cx.cfg, &id.sub)?;
    if let (Some(rg), Some(rg_id)) = (&id.rg, id.rg_id()) {
        if !cx.st.exists(&rg_id) {
            return Err(rg_not_found(rg));
        }
    }
    Ok(())
}

/// Subscription, resource group, and parent (or extension scope) must exist.
pub fn check_scope(cx: &Cx, id: &ResId) -> Result<(), ApiError> {
    check_rg(cx, id)?;
    match id.placement() {
        Placement::Extension if id.scope_is_resource() && !cx.st.exists(&id.scope) => {
            Err(ApiError::not_found(&id.scope))
        }
        Placement::Resource if id.types.len() > 1 => match id.parent() {
            Some(parent) if !cx.st.exists(&parent.key()) => {
                Err(ApiError::parent_not_found(&parent.display()))
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// An operation still running on `key` or anything below it.
pub fn op_in_flight_under<'s>(st: &'s State, key: &str) -> Option<&'s Operation> {
    let prefix = format!("{key}/");
    st.ops
        .values()
        .find(|o| o.running() && (o.resource_key == key || o.resource_key.starts_with(&prefix)))
}

/// A running PUT elsewhere holds a lock on `root_key` (a private endpoint being created or
/// changed locks the account it connects to: its connection is being written there).
fn locked_by_other_op(st: &State, root_key: &str) -> bool {
    st.ops
        .values()
        .filter(|o| o.running() && o.method == "PUT")
        .any(|o| {
            let body = st.get(&o.resource_key);
            let p = super::spec::lookup(&o.full_type).and_then(provider::of_type);
            match (body, p) {
                (Some(b), Some(p)) => p.locks(st, b).iter().any(|k| k == root_key),
                _ => false,
            }
        })
}

/// Azure's serialisation conflicts (RequestConflict, AnotherOperationInProgress).
pub fn check_conflicts(cx: &Cx, id: &ResId) -> Result<(), ApiError> {
    let Some(lock) = id.ty.and_then(|t| t.lock) else {
        return Ok(());
    };
    let root = id.root().key();
    match lock {
        Lock::RequestConflict
            if cx.cfg.conflicts.request_conflict
                && (op_in_flight_under(cx.st, &root).is_some()
                    || locked_by_other_op(cx.st, &root)) =>
        {
            let display = cx
                .st
                .get(&root)
                .and_then(|a| a["id"].as_str())
                .unwrap_or(&root);
            return Err(ApiError::conflict(
                "RequestConflict",
                format!("Another operation is being performed on the parent resource '{display}'. Please try again later."),
            ));
        }
        Lock::AnotherOperationInProgress if cx.cfg.conflicts.another_operation_in_progress => {
            if let Some(op) = op_in_flight_under(cx.st, &root) {
                return Err(ApiError::conflict(
                    "AnotherOperationInProgress",
                    format!(
                        "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {}",
                        op.status_url(cx.base)
                    ),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The spec of a type (generic types: synchronous, read-only).
pub fn spec_of(id: &ResId) -> Spec {
    id.ty.map_or(Spec::SYNC, |t| t.spec)
}

/// The provider of a registered type; writes to anything else are refused.
fn provider_of(id: &ResId) -> Result<&'static dyn Provider, ApiError> {
    id.ty.and_then(provider::of_type).ok_or_else(|| {
        ApiError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "The emulator does not implement writes of resource type '{}'.",
                id.full_type
            ),
        )
    })
}

fn style_for(cx: &Cx, method: &str, id: &ResId, documented: LroStyle) -> LroStyle {
    if !cx.cfg.lro.enabled {
        return LroStyle::Sync;
    }
    cx.cfg
        .style_override(method, &id.full_type)
        .unwrap_or(documented)
}

pub fn set_state(body: &mut Value, sp: &Spec, state: &str) {
    if sp.has_state {
        props(body).insert("provisioningState".into(), json!(state));
    }
}

/// Remove what callers may not set (server-owned envelope fields).
fn strip_read_only(body: &mut Value) {
    if let Some(o) = body.as_object_mut() {
        o.remove("etag");
        o.remove("systemData");
        if let Some(p) = o.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove("provisioningState");
        }
    }
}

/// Drop what the type's REST model does not define, as ARM does.
fn drop_unknown(id: &ResId, body: &mut Value) {
    if let Some(known) = id.ty.and_then(|t| t.known) {
        known.retain(body);
    }
}

fn envelope(cx: &mut Cx, id: &ResId, body: &mut Value, existing: Option<&Value>, sp: &Spec) {
    if !body.is_object() {
        *body = json!({});
    }
    body["id"] = json!(id.display());
    body["name"] = json!(id.name());
    body["type"] = json!(id.full_type);
    if let Some(loc) = body.get("location").and_then(Value::as_str) {
        body["location"] = json!(normalize_location(loc));
    }
    if let Some(e) = cx.st.etag(sp.etag, cx.now) {
        body["etag"] = json!(e);
    }
    if sp.system_data {
        let created = existing
            .and_then(|e| e.pointer("/systemData/createdAt"))
            .cloned()
            .unwrap_or_else(|| json!(cx.timestamp()));
        body["systemData"] = json!({
            "createdBy": cx.principal, "createdByType": "User", "createdAt": created,
            "lastModifiedBy": cx.principal, "lastModifiedByType": "User",
            "lastModifiedAt": cx.timestamp(),
        });
    }
}

/// Store a final body and run the type's side effects.
pub fn commit(cx: &mut Cx, id: &ResId, body: Value) {
    cx.st.insert(body.clone());
    if let Some(p) = id.ty.and_then(provider::of_type) {
        p.after_commit(cx, id, &body);
    }
}

fn with_headers(mut r: Reply, headers: Vec<(String, String)>) -> Reply {
    r.headers.extend(headers);
    r
}

/// The location an operation on this body is tracked in.
fn location_of(body: &Value) -> Option<String> {
    body.get("location")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Child resources (deployments, subnets...) are tracked in their parent's location.
fn ancestor_location(st: &State, id: &ResId) -> Option<String> {
    let mut cur = id.parent();
    while let Some(p) = cur {
        if let Some(l) = st.get(&p.key()).and_then(location_of) {
            return Some(l);
        }
        cur = p.parent();
    }
    None
}

/// PUT (create or replace).
pub fn put(cx: &mut Cx, id: &ResId, mut body: Value, cond: &Cond) -> HResult {
    check_scope(cx, id)?;
    let key = id.key();
    let existing = cx.st.get(&key).cloned();
    cond.check(existing.as_ref(), "PUT")?;
    check_conflicts(cx, id)?;
    let sp = spec_of(id);
    strip_read_only(&mut body);
    drop_unknown(id, &mut body);
    let mut body = provider_of(id)?.prepare(
        cx,
        Write {
            id,
            body,
            existing: existing.as_ref(),
        },
    )?;
    envelope(cx, id, &mut body, existing.as_ref(), &sp);
    let created = existing.is_none();
    let loc = location_of(&body)
        .or_else(|| existing.as_ref().and_then(location_of))
        .or_else(|| ancestor_location(cx.st, id));
    match style_for(cx, "PUT", id, sp.put) {
        LroStyle::Sync => {
            set_state(&mut body, &sp, "Succeeded");
            commit(cx, id, body);
            let status = if created { sp.create_status } else { 200 };
            Ok(Reply::json(status, provider::render(cx.st, cx.cfg, &key)))
        }
        LroStyle::AsyncBody => {
            set_state(
                &mut body,
                &sp,
                if created { sp.creating } else { sp.updating },
            );
            commit(cx, id, body);
            let h = start_op(cx, id, "PUT", Effect::Finish, loc.as_deref());
            let status = if created { 201 } else { 200 };
            Ok(with_headers(
                Reply::json(status, provider::render(cx.st, cx.cfg, &key)),
                h,
            ))
        }
        LroStyle::Accepted => {
            let mut shown = body.clone();
            set_state(
                &mut shown,
                &sp,
                if created { sp.creating } else { sp.updating },
            );
            if let Some(mut e) = existing {
                set_state(&mut e, &sp, sp.updating);
                cx.st.insert(e);
            }
            set_state(&mut body, &sp, "Succeeded");
            let h = start_op(
                cx,
                id,
                "PUT",
                Effect::Commit { body, created },
                loc.as_deref(),
            );
            let r = if sp.accepted_body {
                Reply::json(202, shown)
            } else {
                Reply::empty(202)
            };
            Ok(with_headers(r, h))
        }
    }
}

/// PATCH (merge patch; tag-only kinds replace `tags`).
pub fn patch(cx: &mut Cx, id: &ResId, patch: Value, cond: &Cond) -> HResult {
    check_scope(cx, id)?;
    let key = id.key();
    let Some(existing) = cx.st.get(&key).cloned() else {
        return Err(ApiError::not_found(&id.display()));
    };
    cond.check(Some(&existing), "PATCH")?;
    let sp = spec_of(id);
    let Some(documented) = sp.patch else {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("PATCH is not supported for {}.", id.full_type),
        ));
    };
    check_conflicts(cx, id)?;
    let p = provider_of(id)?;
    // Only what the caller sent is filtered: the stored body may hold what the server added.
    let mut patch = patch;
    drop_unknown(id, &mut patch);
    let mut body = p.patch_body(cx, &existing, &patch)?;
    strip_read_only(&mut body);
    let mut body = p.prepare(
        cx,
        Write {
            id,
            body,
            existing: Some(&existing),
        },
    )?;
    envelope(cx, id, &mut body, Some(&existing), &sp);
    let loc = location_of(&body).or_else(|| ancestor_location(cx.st, id));
    match style_for(cx, "PATCH", id, documented) {
        LroStyle::Sync => {
            set_state(&mut body, &sp, "Succeeded");
            commit(cx, id, body);
            Ok(Reply::json(200, provider::render(cx.st, cx.cfg, &key)))
        }
        LroStyle::AsyncBody | LroStyle::Accepted => {
            set_state(&mut body, &sp, sp.updating);
            commit(cx, id, body);
            let h = start_op(cx, id, "PATCH", Effect::Finish, loc.as_deref());
            let r = if sp.accepted_body {
                Reply::json(202, provider::render(cx.st, cx.cfg, &key))
            } else {
                Reply::empty(202)
            };
            Ok(with_headers(r, h))
        }
    }
}

/// DELETE (idempotent: 204 when absent).
pub fn delete(cx: &mut Cx, id: &ResId, cond: &Cond) -> HResult {
    check_rg(cx, id)?;
    let key = id.key();
    let Some(existing) = cx.st.get(&key).cloned() else {
        return Ok(Reply::empty(204));
    };
    cond.check(Some(&existing), "DELETE")?;
    check_conflicts(cx, id)?;
    if let Some(p) = id.ty.and_then(provider::of_type) {
        p.before_delete(cx, id, &existing)?;
    }
    let sp = spec_of(id);
    match style_for(cx, "DELETE", id, sp.delete) {
        LroStyle::Sync => {
            let shown = provider::render(cx.st, cx.cfg, &key);
            remove_resource(cx, &key);
            if sp.delete_body {
                Ok(Reply::json(200, shown))
            } else {
                Ok(Reply::empty(200))
            }
        }
        LroStyle::AsyncBody | LroStyle::Accepted => {
            let mut e = existing.clone();
            set_state(&mut e, &sp, "Deleting");
            cx.st.insert(e);
            let h = start_op(
                cx,
                id,
                "DELETE",
                Effect::Delete,
                location_of(&existing).as_deref(),
            );
            Ok(with_headers(Reply::empty(202), h))
        }
    }
}

/// Remove a resource and everything below it, with side effects. Soft-deleted types take their
/// own subtree into the deleted record (a resource group deletion soft-deletes its accounts).
pub fn remove_resource(cx: &mut Cx, key: &str) {
    if cx.st.deleted.remove(&key.to_ascii_lowercase()).is_some() {
        cx.st.dirty = true;
        return;
    }
    let Some(body) = cx.st.get(key).cloned() else {
        return;
    };
    for k in cx.st.descendants(key) {
        if let Some(b) = cx.st.get(&k).cloned().filter(is_soft_deleted) {
            provider::after_delete(cx, &b);
        }
    }
    if is_soft_deleted(&body) {
        provider::after_delete(cx, &body);
        return;
    }
    let mut keys = cx.st.descendants(key);
    keys.sort_by_key(|k| std::cmp::Reverse(k.matches('/').count()));
    for k in keys {
        if let Some(b) = cx.st.remove(&k) {
            provider::after_delete(cx, &b);
        }
    }
    cx.st.remove(key);
    provider::after_delete(cx, &body);
}

fn is_soft_deleted(body: &Value) -> bool {
    body["type"]
        .as_str()
        .and_then(super::spec::lookup)
        .is_some_and(|t| t.soft_delete)
}

/// A page of a list, with `nextLink` when paging is configured or the caller asked for `$top`.
/// The `nextLink` repeats the request's own query (`$filter`, `$top`, api-version...) with the
/// next `$skipToken`, on the origin the request came to: page 2 is page 2 of the same list.
pub fn list_reply(
    cx: &Cx,
    path: &str,
    query: &[(String, String)],
    items: Vec<Value>,
    skip: usize,
    pageable: bool,
) -> Reply {
    let top = provider::param(query, "$top")
        .and_then(|t| t.parse::<usize>().ok())
        .filter(|t| *t > 0);
    let Some(size) = top.or(cx.cfg.page_size).filter(|_| pageable) else {
        return Reply::json(200, json!({ "value": items }));
    };
    let page: Vec<Value> = items.iter().skip(skip).take(size).cloned().collect();
    let mut body = json!({ "value": page });
    if skip + size < items.len() {
        body["nextLink"] = json!(next_link(cx, path, query, skip + size));
    }
    Reply::json(200, body)
}

fn next_link(cx: &Cx, path: &str, query: &[(String, String)], skip: usize) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut q: Vec<String> = query
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("$skipToken"))
        .map(|(k, v)| format!("{}={}", enc(k).replace("%24", "$"), enc(v)))
        .collect();
    if !query
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("api-version"))
    {
        q.insert(0, format!("api-version={}", enc(cx.api_version)));
    }
    q.push(format!("$skipToken={skip}"));
    format!("{}{path}?{}", cx.base, q.join("&"))
}
