//! The generic ARM resource behaviour every type shares: scope and parent checks, conditional
//! requests, conflicts, the envelope (`id`/`name`/`type`/`etag`/`systemData`), the three write
//! styles and their operations, cascading deletes. Type-specific rules live in the family
//! modules, reached through [`hooks`].

use std::time::Duration;

use serde_json::{json, Value};

use super::clock::rfc3339;
use super::config::{EmulatorConfig, FaultConfig, LroStyle};
use super::error::{ApiError, HResult, Reply};
use super::hooks;
use super::ids::{normalize_location, Kind, ResId};
pub use super::lro::{advance, start_op_raw, start_purge, OpTarget};
use super::lro::{start_op, Effect, Operation};
pub use super::spec::{spec, Cond, Spec};
use super::store::{props, provisioning_state, State};

/// Everything a handler may touch while the state lock is held.
pub struct Cx<'a> {
    pub st: &'a mut State,
    pub cfg: &'a EmulatorConfig,
    pub faults: &'a mut FaultConfig,
    pub now: Duration,
    pub base: &'a str,
    /// Hash of the caller's bearer token (never the token).
    pub principal: &'a str,
    pub api_version: &'a str,
}

impl Cx<'_> {
    pub fn now_ns(&self) -> u64 {
        self.now.as_nanos() as u64
    }

    pub fn timestamp(&self) -> String {
        rfc3339(self.now)
    }
}

pub fn check_subscription(cfg: &EmulatorConfig, sub: &str) -> Result<(), ApiError> {
    let well_formed = uuid::Uuid::parse_str(sub).is_ok();
    let allowed = cfg
        .subscriptions
        .as_ref()
        .map_or(true, |l| l.iter().any(|s| s.eq_ignore_ascii_case(sub)));
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

/// Subscription, resource group, and parent (or extension scope) must exist.
pub fn check_scope(cx: &Cx, id: &ResId) -> Result<(), ApiError> {
    check_subscription(cx.cfg, &id.sub)?;
    if let (Some(rg), Some(rg_id)) = (&id.rg, id.rg_id()) {
        if !cx.st.exists(&rg_id) {
            return Err(rg_not_found(rg));
        }
    }
    if id.kind.is_extension() {
        if id.scope_is_resource() && !cx.st.exists(&id.scope) {
            return Err(ApiError::not_found(&id.scope));
        }
    } else if id.types.len() > 1 && !id.kind.is_subscription_level() {
        if let Some(parent) = id.parent() {
            if !cx.st.exists(&parent.key()) {
                return Err(ApiError::parent_not_found(&parent.display()));
            }
        }
    }
    Ok(())
}

/// The account an account-family id belongs to.
fn account_key(id: &ResId) -> Option<String> {
    match id.kind {
        Kind::Account | Kind::Deployment | Kind::RaiPolicy | Kind::PrivateEndpointConnection => {
            let mut a = id.clone();
            a.types.truncate(1);
            a.names.truncate(1);
            a.kind = Kind::Account;
            a.full_type = "Microsoft.CognitiveServices/accounts".into();
            Some(a.key())
        }
        _ => None,
    }
}

fn vnet_key(id: &ResId) -> Option<String> {
    match id.kind {
        Kind::VirtualNetwork | Kind::Subnet => {
            let mut v = id.clone();
            v.types.truncate(1);
            v.names.truncate(1);
            v.full_type = "Microsoft.Network/virtualNetworks".into();
            Some(v.key())
        }
        _ => None,
    }
}

/// An operation still running on `key` or anything below it.
pub fn op_in_flight_under<'s>(st: &'s State, key: &str) -> Option<&'s Operation> {
    let prefix = format!("{key}/");
    st.ops
        .values()
        .find(|o| o.running() && (o.resource_key == key || o.resource_key.starts_with(&prefix)))
}

/// A private endpoint being created or changed holds a lock on the account it connects to
/// (its connection is being written there).
fn endpoint_op_targets(st: &State, acct_key: &str) -> bool {
    st.ops
        .values()
        .filter(|o| o.running() && o.method == "PUT")
        .any(|o| {
            o.full_type
                .eq_ignore_ascii_case("Microsoft.Network/privateEndpoints")
                && st.get(&o.resource_key).is_some_and(|pe| {
                    [
                        "privateLinkServiceConnections",
                        "manualPrivateLinkServiceConnections",
                    ]
                    .iter()
                    .flat_map(|l| pe["properties"][l].as_array().cloned().unwrap_or_default())
                    .any(|c| {
                        c.pointer("/properties/privateLinkServiceId")
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.eq_ignore_ascii_case(acct_key))
                    })
                })
        })
}

/// Azure's serialisation conflicts (RequestConflict, AnotherOperationInProgress).
pub fn check_conflicts(cx: &Cx, id: &ResId) -> Result<(), ApiError> {
    if cx.cfg.conflicts.request_conflict {
        if let Some(acct) = account_key(id) {
            if op_in_flight_under(cx.st, &acct).is_some() || endpoint_op_targets(cx.st, &acct) {
                let display = cx
                    .st
                    .get(&acct)
                    .and_then(|a| a["id"].as_str())
                    .unwrap_or(&acct);
                return Err(ApiError::conflict(
                    "RequestConflict",
                    format!("Another operation is being performed on the parent resource '{display}'. Please try again later."),
                ));
            }
        }
    }
    if cx.cfg.conflicts.another_operation_in_progress {
        if let Some(vnet) = vnet_key(id) {
            if let Some(op) = op_in_flight_under(cx.st, &vnet) {
                return Err(ApiError::conflict(
                    "AnotherOperationInProgress",
                    format!(
                        "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {}",
                        op.status_url(cx.base)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn style_for(cx: &Cx, method: &str, id: &ResId, documented: LroStyle) -> LroStyle {
    if !cx.cfg.lro.enabled {
        return LroStyle::Sync;
    }
    cx.cfg
        .style_override(method, &id.full_type)
        .unwrap_or(documented)
}

pub(crate) fn set_state(body: &mut Value, sp: &Spec, state: &str) {
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
    hooks::after_commit(cx, id, &body);
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
    let sp = spec(id.kind);
    strip_read_only(&mut body);
    let mut body = hooks::prepare(cx, id, body, existing.as_ref())?;
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
            Ok(Reply::json(status, hooks::render(cx.st, cx.cfg, &key)))
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
                Reply::json(status, hooks::render(cx.st, cx.cfg, &key)),
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
    let sp = spec(id.kind);
    let Some(documented) = sp.patch else {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("PATCH is not supported for {}.", id.full_type),
        ));
    };
    check_conflicts(cx, id)?;
    let mut body = hooks::apply_patch(cx.st, cx.cfg, id.kind, &existing, &patch)?;
    strip_read_only(&mut body);
    let mut body = hooks::prepare(cx, id, body, Some(&existing))?;
    envelope(cx, id, &mut body, Some(&existing), &sp);
    let loc = location_of(&body).or_else(|| ancestor_location(cx.st, id));
    match style_for(cx, "PATCH", id, documented) {
        LroStyle::Sync => {
            set_state(&mut body, &sp, "Succeeded");
            commit(cx, id, body);
            Ok(Reply::json(200, hooks::render(cx.st, cx.cfg, &key)))
        }
        LroStyle::AsyncBody | LroStyle::Accepted => {
            set_state(&mut body, &sp, sp.updating);
            commit(cx, id, body);
            let h = start_op(cx, id, "PATCH", Effect::Finish, loc.as_deref());
            let r = if sp.accepted_body {
                Reply::json(202, hooks::render(cx.st, cx.cfg, &key))
            } else {
                Reply::empty(202)
            };
            Ok(with_headers(r, h))
        }
    }
}

/// DELETE (idempotent: 204 when absent).
pub fn delete(cx: &mut Cx, id: &ResId, cond: &Cond) -> HResult {
    check_subscription(cx.cfg, &id.sub)?;
    if let (Some(rg), Some(rg_id)) = (&id.rg, id.rg_id()) {
        if !cx.st.exists(&rg_id) {
            return Err(rg_not_found(rg));
        }
    }
    let key = id.key();
    let Some(existing) = cx.st.get(&key).cloned() else {
        return Ok(Reply::empty(204));
    };
    cond.check(Some(&existing), "DELETE")?;
    check_conflicts(cx, id)?;
    hooks::before_delete(cx, id, &existing)?;
    let sp = spec(id.kind);
    match style_for(cx, "DELETE", id, sp.delete) {
        LroStyle::Sync => {
            let shown = hooks::render(cx.st, cx.cfg, &key);
            remove_resource(cx, &key);
            if id.kind == Kind::RoleAssignment {
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

/// Remove a resource and everything below it, with side effects (soft-delete for accounts).
pub fn remove_resource(cx: &mut Cx, key: &str) {
    if cx.st.deleted.remove(&key.to_ascii_lowercase()).is_some() {
        cx.st.dirty = true;
        return;
    }
    let Some(body) = cx.st.get(key).cloned() else {
        return;
    };
    // Accounts below (resource group deletion) are soft-deleted with their own subtree.
    for k in cx.st.descendants(key) {
        if let Some(b) = cx.st.get(&k).cloned() {
            if is_type(&b, "Microsoft.CognitiveServices/accounts") {
                hooks::after_delete(cx, &b);
            }
        }
    }
    if is_type(&body, "Microsoft.CognitiveServices/accounts") {
        hooks::after_delete(cx, &body);
        return;
    }
    let mut keys = cx.st.descendants(key);
    keys.sort_by_key(|k| std::cmp::Reverse(k.matches('/').count()));
    for k in keys {
        if let Some(b) = cx.st.remove(&k) {
            hooks::after_delete(cx, &b);
        }
    }
    cx.st.remove(key);
    hooks::after_delete(cx, &body);
}

pub fn is_type(body: &Value, t: &str) -> bool {
    body["type"]
        .as_str()
        .is_some_and(|x| x.eq_ignore_ascii_case(t))
}

/// `provisioningState` of a stored resource is Succeeded (or absent).
pub fn is_settled(body: &Value) -> bool {
    provisioning_state(body).map_or(true, |s| s.eq_ignore_ascii_case("Succeeded"))
}

/// A page of a list, with `nextLink` when paging is configured.
pub fn list_reply(cx: &Cx, path: &str, items: Vec<Value>, skip: usize, pageable: bool) -> Reply {
    let Some(size) = cx.cfg.page_size.filter(|_| pageable) else {
        return Reply::json(200, json!({ "value": items }));
    };
    let page: Vec<Value> = items.iter().skip(skip).take(size).cloned().collect();
    let mut body = json!({ "value": page });
    if skip + size < items.len() {
        body["nextLink"] = json!(format!(
            "{}{}?api-version={}&$skipToken={}",
            cx.base,
            path,
            cx.api_version,
            skip + size
        ));
    }
    Reply::json(200, body)
}
