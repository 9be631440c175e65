//! Creating an account: one PUT that already carries every hardened property (issue 10), and
//! what can stand in its way (a soft-deleted account holding the name, a custom subdomain in
//! use).

use serde_json::{json, Map, Value};

use super::ids::{address, API_VERSION, KIND};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::model::{Action, Change, FieldChange, Write};
use crate::resources::{get, get_str, json_strs, OWNER_TAG, OWNER_VALUE};

/// The body of the PUT that creates the account with every declared control already applied.
pub fn create_body(inst: &Instance, restore: bool) -> Value {
    let c = &inst.controls;
    let mut tags: Map<String, Value> = inst
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    tags.insert(OWNER_TAG.into(), OWNER_VALUE.into());
    let mut props = Map::new();
    if let Some(sub) = &inst.custom_subdomain {
        props.insert("customSubDomainName".into(), sub.clone().into());
    }
    if let Some(na) = &c.network_access {
        props.insert(
            "publicNetworkAccess".into(),
            na.spec.public_network_access.clone().into(),
        );
        props.insert("networkAcls".into(), network_acls(&na.spec));
    }
    if let Some(o) = &c.outbound {
        props.insert(
            "restrictOutboundNetworkAccess".into(),
            o.spec.restrict.into(),
        );
        props.insert("allowedFqdnList".into(), json_strs(&o.spec.allowed_fqdns));
    }
    if let Some(la) = &c.local_auth {
        props.insert("disableLocalAuth".into(), la.spec.disabled.into());
    }
    if restore {
        props.insert("restore".into(), true.into());
    }
    let mut body = json!({
        "location": inst.location,
        "kind": inst.kind,
        "sku": {"name": inst.sku},
        "tags": tags,
        "properties": props,
    });
    if let Some(id) = &c.identity {
        body["identity"] = identity_body(&id.spec);
    }
    body
}

pub(super) fn network_acls(na: &crate::blueprint::resolved::NetworkAccess) -> Value {
    json!({
        "defaultAction": na.default_action,
        "bypass": na.bypass,
        "ipRules": na.ip_rules.iter().map(|r| json!({"value": r})).collect::<Vec<_>>(),
        "virtualNetworkRules": na.virtual_network_rules.iter().map(|r| json!({"id": r})).collect::<Vec<_>>(),
    })
}

pub(super) fn identity_body(spec: &crate::blueprint::resolved::Identity) -> Value {
    let mut v = json!({"type": spec.r#type});
    if !spec.user_assigned.is_empty() {
        let m: Map<String, Value> = spec
            .user_assigned
            .iter()
            .map(|id| (id.clone(), json!({})))
            .collect();
        v["userAssignedIdentities"] = Value::Object(m);
    }
    v
}

/// A plain IP written as `1.2.3.4/32` is the same rule as `1.2.3.4`.
pub(super) fn norm_ip_rule(r: &str) -> String {
    r.trim().trim_end_matches("/32").to_ascii_lowercase()
}

/// The greenfield PUT (or a blocked change when moat may not create the account).
pub fn create(inst: &Instance, restore: bool) -> Change {
    let id = inst.account_id();
    if !inst.create_if_missing {
        return Change::blocked(
            address(inst, ""),
            KIND,
            id,
            "the account does not exist and the blueprint does not allow moat to create it (set `createIfMissing: true`)",
            "absent".into(),
        );
    }
    if inst.custom_subdomain.is_none() {
        return Change::blocked(
            address(inst, ""),
            KIND,
            id,
            "a new account needs a custom subdomain (private endpoints and Entra ID auth require one, and it cannot be added safely later)",
            "absent".into(),
        );
    }
    let body = create_body(inst, restore);
    let reason = if restore {
        "restore the soft-deleted account, already hardened (restore: true)"
    } else {
        "create the account with every hardened property in its first request"
    };
    let fields = body
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| FieldChange {
                    path: format!("properties.{k}"),
                    before: None,
                    after: Some(v.clone()),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut w = Write::new(Method::Put, &id, API_VERSION, Some(body));
    w.if_none_match = false;
    Change::new(
        address(inst, ""),
        KIND,
        id,
        Action::Create,
        reason,
        "absent".into(),
    )
    .with_fields(fields)
    .with_write(w)
}

/// The blueprint's custom subdomain is already used by another account (live, or soft-deleted
/// and still holding it): ARM would refuse the create with CustomDomainInUse, so the plan does.
pub fn subdomain_in_use(inst: &Instance, holder: &Value) -> Change {
    let sub = inst.custom_subdomain.as_deref().unwrap_or_default();
    let holder_id = get_str(holder, "id").unwrap_or("another account");
    let deleted = get_str(holder, "type")
        .is_some_and(|t| t.to_ascii_lowercase().ends_with("/deletedaccounts"))
        || get(holder, "properties.deletionDate").is_some();
    let why = if deleted {
        let name = get_str(holder, "name").unwrap_or("NAME");
        let loc = get_str(holder, "location").unwrap_or("LOCATION");
        let rg = holder_id
            .split('/')
            .skip_while(|s| !s.eq_ignore_ascii_case("resourceGroups"))
            .nth(1)
            .unwrap_or("RESOURCE_GROUP");
        format!(
            "CustomDomainInUse: the custom subdomain {sub} is held by the soft-deleted account {holder_id}; \
             hint: choose another `customSubdomain`, or free the name by purging that account \
             (`az cognitiveservices account purge --name {name} --resource-group {rg} --location {loc}`)"
        )
    } else {
        format!(
            "CustomDomainInUse: the custom subdomain {sub} is already used by the account {holder_id}; \
             hint: a custom subdomain is globally unique, choose another `customSubdomain` for this instance"
        )
    };
    Change::blocked(
        address(inst, ""),
        KIND,
        inst.account_id(),
        why,
        "absent".into(),
    )
}
