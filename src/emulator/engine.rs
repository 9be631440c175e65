//! The generic ARM resource behaviour every type shares: scope and parent checks, conditional
//! requests, conflicts, the envelope (`id`/`name`/`type`/`etag`/`systemData`), the three write
//! styles and their operations, cascading deletes. Type-specific rules live in the family
//! modules, reached through [`hooks`].

use std::time::Duration;

use serde_json::{json, Value};

use super::clock::rfc3339;
use super::config::{EmulatorConfig, FailOutcome, FaultConfig, LroStyle};
use super::error::{ApiError, HResult, Reply};
use super::hooks;
use super::ids::{normalize_location, Kind, ResId};
use super::lro::{self, Effect, OpState, Operation};
use super::store::{props, provisioning_state, EtagStyle, State};

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

/// Static behaviour of a resource kind.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub put: LroStyle,
    /// `None`: PATCH not supported. `Some(Sync)` on tag-only kinds means UpdateTags.
    pub patch: Option<LroStyle>,
    pub delete: LroStyle,
    pub etag: EtagStyle,
    /// Has `properties.provisioningState`.
    pub has_state: bool,
    pub creating: &'static str,
    pub updating: &'static str,
    /// 202 answers carry the resource body (CognitiveServices accounts, PECs).
    pub accepted_body: bool,
    /// Status of a synchronous create (diagnostic settings answer 200, not 201).
    pub create_status: u16,
    pub system_data: bool,
}

const NET: Spec = Spec {
    put: LroStyle::AsyncBody,
    patch: Some(LroStyle::Sync),
    delete: LroStyle::Accepted,
    etag: EtagStyle::Network,
    has_state: true,
    creating: "Updating",
    updating: "Updating",
    accepted_body: false,
    create_status: 201,
    system_data: false,
};

pub fn spec(kind: Kind) -> Spec {
    use LroStyle::*;
    match kind {
        Kind::Account => Spec {
            put: AsyncBody,
            patch: Some(Accepted),
            delete: Accepted,
            etag: EtagStyle::CognitiveServices,
            has_state: true,
            creating: "Creating",
            updating: "Accepted",
            accepted_body: true,
            create_status: 201,
            system_data: true,
        },
        Kind::Deployment => Spec {
            put: AsyncBody,
            patch: Some(Accepted),
            delete: Accepted,
            etag: EtagStyle::CognitiveServices,
            has_state: true,
            creating: "Accepted",
            updating: "Accepted",
            accepted_body: false,
            create_status: 201,
            system_data: true,
        },
        Kind::RaiPolicy => Spec {
            put: Sync,
            patch: None,
            delete: Accepted,
            etag: EtagStyle::CognitiveServices,
            has_state: false,
            creating: "",
            updating: "",
            accepted_body: false,
            create_status: 201,
            system_data: true,
        },
        Kind::PrivateEndpointConnection => Spec {
            put: Accepted,
            patch: None,
            delete: Accepted,
            etag: EtagStyle::CognitiveServices,
            has_state: true,
            creating: "Creating",
            updating: "Creating",
            accepted_body: true,
            create_status: 200,
            system_data: false,
        },
        Kind::VirtualNetwork | Kind::Nsg => NET,
        Kind::Subnet | Kind::SecurityRule | Kind::PrivateEndpoint | Kind::ZoneGroup => {
            Spec { patch: None, ..NET }
        }
        Kind::DnsZone | Kind::VnetLink => Spec {
            put: Accepted,
            patch: Some(Accepted),
            delete: Accepted,
            etag: EtagStyle::PrivateDns,
            has_state: true,
            creating: "Creating",
            updating: "Updating",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
        Kind::RecordSet => Spec {
            put: Sync,
            patch: Some(Sync),
            delete: Sync,
            etag: EtagStyle::PrivateDns,
            has_state: false,
            creating: "",
            updating: "",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
        Kind::RoleAssignment => Spec {
            put: Sync,
            patch: None,
            delete: Sync,
            etag: EtagStyle::None,
            has_state: false,
            creating: "",
            updating: "",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
        Kind::DiagnosticSetting => Spec {
            create_status: 200,
            ..spec(Kind::RoleAssignment)
        },
        Kind::Workspace => Spec {
            put: AsyncBody,
            patch: Some(Sync),
            delete: Accepted,
            etag: EtagStyle::None,
            has_state: true,
            creating: "Creating",
            updating: "Updating",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
        _ => Spec {
            put: Sync,
            patch: None,
            delete: Sync,
            etag: EtagStyle::None,
            has_state: false,
            creating: "",
            updating: "",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
    }
}

/// `If-Match` / `If-None-Match` of a request.
#[derive(Debug, Clone, Default)]
pub struct Cond {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        412,
        "PreconditionFailed",
        "The condition specified using HTTP conditional header(s) is not met.",
    )
}

impl Cond {
    /// ARM's conditional-request table (RPC Addendum).
    pub fn check(&self, existing: Option<&Value>, method: &str) -> Result<(), ApiError> {
        match existing {
            None => {
                if method == "PUT" && self.if_match.is_some() {
                    return Err(precondition_failed());
                }
            }
            Some(e) => {
                if let Some(m) = &self.if_match {
                    let m = m.trim();
                    let current = e.get("etag").and_then(Value::as_str);
                    if m != "*"
                        && current != Some(m)
                        && current.map(|c| format!("\"{c}\"")).as_deref() != Some(m)
                    {
                        return Err(precondition_failed());
                    }
                }
                if method == "PUT" && self.if_none_match.as_deref().map(str::trim) == Some("*") {
                    return Err(precondition_failed());
                }
            }
        }
        Ok(())
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

/// Azure's serialisation conflicts (RequestConflict, AnotherOperationInProgress).
pub fn check_conflicts(cx: &Cx, id: &ResId) -> Result<(), ApiError> {
    if cx.cfg.conflicts.request_conflict {
        if let Some(acct) = account_key(id) {
            if op_in_flight_under(cx.st, &acct).is_some() {
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

fn set_state(body: &mut Value, sp: &Spec, state: &str) {
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
fn start_op(
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
    let headers = lro::start_headers(&op, cx.base, cx.cfg.lro.retry_after);
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
