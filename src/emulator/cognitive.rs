//! Microsoft.CognitiveServices: accounts (soft-delete, restore, purge, keys, private link
//! resources), deployments, RAI policies, private endpoint connections.

use std::time::Duration;

use serde_json::{json, Value};

use super::clock::rfc3339;
use super::engine::{self, Cx};
use super::error::{ApiError, HResult, Reply};
use super::ids::{normalize_location, ResId};
use super::store::{default_prop, prop_str, props, DeletedAccount, State};

pub const ACCOUNT_TYPE: &str = "Microsoft.CognitiveServices/accounts";

/// System-managed content filter policies every account has.
pub const SYSTEM_RAI_POLICIES: &[&str] = &["Microsoft.Default", "Microsoft.DefaultV2"];

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("BadRequest", message)
}

fn valid_account_name(n: &str) -> bool {
    let mut chars = n.chars();
    (2..=64).contains(&n.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Private DNS zones a private endpoint on an account of this kind needs.
pub fn required_zones(kind: &str) -> Vec<&'static str> {
    match kind.to_ascii_lowercase().as_str() {
        "openai" => vec!["privatelink.openai.azure.com"],
        "aiservices" => vec![
            "privatelink.cognitiveservices.azure.com",
            "privatelink.openai.azure.com",
            "privatelink.services.ai.azure.com",
        ],
        _ => vec!["privatelink.cognitiveservices.azure.com"],
    }
}

/// Key of the deleted-account record for (sub, location, rg, name).
pub fn deleted_id(sub: &str, loc: &str, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{sub}/providers/Microsoft.CognitiveServices/locations/{}/resourceGroups/{rg}/deletedAccounts/{name}",
        normalize_location(loc)
    )
}

fn find_deleted(st: &State, sub: &str, rg: &str, name: &str) -> Option<String> {
    let suffix = format!("/resourcegroups/{}/deletedaccounts/{}", rg, name).to_ascii_lowercase();
    let prefix = format!("/subscriptions/{sub}/").to_ascii_lowercase();
    st.deleted
        .keys()
        .find(|k| k.starts_with(&prefix) && k.ends_with(&suffix))
        .cloned()
}

fn subdomain_taken(st: &State, key: &str, deleted_key: Option<&str>, sub: &str) -> bool {
    let live = st.resources.iter().any(|(k, v)| {
        k != key
            && engine::is_type(v, ACCOUNT_TYPE)
            && prop_str(v, "customSubDomainName").is_some_and(|s| s.eq_ignore_ascii_case(sub))
    });
    let deleted = st.deleted.iter().any(|(k, d)| {
        Some(k.as_str()) != deleted_key
            && prop_str(&d.account, "customSubDomainName")
                .is_some_and(|s| s.eq_ignore_ascii_case(sub))
    });
    live || deleted
}

pub fn prepare_account(
    cx: &mut Cx,
    id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    if !valid_account_name(id.name()) {
        return Err(ApiError::bad_request(
            "InvalidResourceName",
            format!("Resource name '{}' is invalid. It must be 2-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit.", id.name()),
        ));
    }
    let rg = id.rg.clone().unwrap_or_default();
    let restore = body.pointer("/properties/restore").and_then(Value::as_bool) == Some(true);
    props(&mut body).remove("restore");
    props(&mut body).remove("privateEndpointConnections");
    if existing.is_none() {
        if let Some(dk) = find_deleted(cx.st, &id.sub, &rg, id.name()) {
            if !restore {
                let c = &cx.cfg.conflicts;
                return Err(ApiError::new(
                    c.restore_required_status,
                    &c.restore_required_code,
                    format!("An account named '{}' was soft-deleted. Set properties.restore to true to recover it, or purge it before creating a new one.", id.name()),
                ));
            }
            let d = cx.st.deleted.remove(&dk).expect("found above");
            for (k, v) in d.children {
                cx.st.resources.insert(k, v);
            }
            let mut old = d.account;
            if let Some(tags) = body.get("tags") {
                old["tags"] = tags.clone();
            }
            let p = props(&mut old);
            p.remove("deletionDate");
            p.remove("scheduledPurgeDate");
            cx.st.dirty = true;
            return Ok(old);
        }
    }
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .map(normalize_location)
        .or_else(|| {
            existing
                .and_then(|e| e["location"].as_str())
                .map(str::to_string)
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?;
    if let Some(old) = existing.and_then(|e| e["location"].as_str()) {
        if normalize_location(old) != location {
            return Err(ApiError::bad_request(
                "LocationNotAvailableForResourceType",
                "The location of an existing account cannot be changed.",
            ));
        }
    }
    body["location"] = json!(location);
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .or_else(|| existing.and_then(|e| e["kind"].as_str()))
        .map(str::to_string)
        .ok_or_else(|| bad("The account kind is required."))?;
    body["kind"] = json!(kind);
    if body.pointer("/sku/name").and_then(Value::as_str).is_none() {
        match existing.and_then(|e| e.get("sku")) {
            Some(s) => body["sku"] = s.clone(),
            None => return Err(bad("The account sku is required.")),
        }
    }
    // customSubDomainName: globally unique, effectively immutable.
    let old_sub = existing
        .and_then(|e| prop_str(e, "customSubDomainName"))
        .map(str::to_string);
    let new_sub = prop_str(&body, "customSubDomainName").map(str::to_string);
    let sub = match (old_sub, new_sub) {
        (Some(o), Some(n)) if !o.eq_ignore_ascii_case(&n) => {
            return Err(ApiError::bad_request("CustomDomainInUse", format!("The customSubDomainName of an existing account cannot be changed from '{o}' to '{n}'.")));
        }
        (Some(o), None) if cx.cfg.conflicts.subdomain_must_be_repeated => {
            return Err(ApiError::bad_request("CustomDomainInUse", format!("Please pick a different name. The subdomain name '{o}' is not available as it's already used by a resource.")));
        }
        (Some(o), None) => Some(o),
        (_, n) => n,
    };
    if let Some(s) = &sub {
        if subdomain_taken(cx.st, &id.key(), None, s) {
            return Err(ApiError::bad_request("CustomDomainInUse", format!("Please pick a different name. The subdomain name '{s}' is not available as it's already used by a resource. If the resource using the name was deleted in the last 48 hours, you may need to purge the deleted resource.")));
        }
        props(&mut body).insert("customSubDomainName".into(), json!(s));
    }
    let endpoint = match (&sub, kind.to_ascii_lowercase().as_str()) {
        (Some(s), "openai") => format!("https://{s}.openai.azure.com/"),
        (Some(s), _) => format!("https://{s}.cognitiveservices.azure.com/"),
        (None, _) => format!("https://{location}.api.cognitive.microsoft.com/"),
    };
    let internal_id = existing
        .and_then(|e| prop_str(e, "internalId"))
        .map(str::to_string)
        .unwrap_or_else(|| cx.st.new_guid("internal").replace('-', ""));
    let created = existing
        .and_then(|e| prop_str(e, "dateCreated"))
        .map(str::to_string)
        .unwrap_or_else(|| cx.timestamp());
    let p = props(&mut body);
    p.insert("endpoint".into(), json!(endpoint));
    p.insert(
        "endpoints".into(),
        json!({ "OpenAI Language Model Instance API": endpoint, "Token Service API": endpoint }),
    );
    p.insert("internalId".into(), json!(internal_id));
    p.insert("dateCreated".into(), json!(created));
    p.insert("isMigrated".into(), json!(false));
    p.entry("capabilities").or_insert(json!([]));
    p.entry("publicNetworkAccess").or_insert(json!("Enabled"));
    if let Some(t) = body
        .pointer("/identity/type")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        if t.contains("SystemAssigned") {
            let pid = existing
                .and_then(|e| e.pointer("/identity/principalId"))
                .cloned()
                .unwrap_or_else(|| {
                    json!(
                        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, id.key().as_bytes())
                            .to_string()
                    )
                });
            body["identity"]["principalId"] = pid;
            body["identity"]["tenantId"] = json!(cx.cfg.tenant_id);
        }
    }
    Ok(body)
}

pub fn after_commit_account(cx: &mut Cx, id: &ResId) {
    let key = id.key();
    if !cx.st.keys.contains_key(&key) {
        let k1 = cx.st.new_guid("key1").replace('-', "");
        let k2 = cx.st.new_guid("key2").replace('-', "");
        cx.st.keys.insert(key, [k1, k2]);
    }
}

/// Account bodies show their private endpoint connections inline.
pub fn render_account(st: &State, key: &str, body: &mut Value) {
    let pecs = st.children(key, "privateEndpointConnections");
    props(body).insert("privateEndpointConnections".into(), json!(pecs));
}

/// Deleting an account soft-deletes it with everything below it.
pub fn soft_delete(cx: &mut Cx, body: &Value) {
    let Some(id) = body["id"].as_str().and_then(super::ids::parse_id) else {
        return;
    };
    let key = id.key();
    let loc = body["location"].as_str().unwrap_or("global").to_string();
    let children: Vec<(String, Value)> = cx
        .st
        .descendants(&key)
        .into_iter()
        .filter_map(|k| cx.st.remove(&k).map(|v| (k, v)))
        .collect();
    for (_, c) in &children {
        if engine::is_type(
            c,
            "Microsoft.CognitiveServices/accounts/privateEndpointConnections",
        ) {
            super::endpoints::pec_removed(cx, c);
        }
    }
    cx.st.remove(&key);
    cx.st.keys.remove(&key);
    let mut account = body.clone();
    let p = props(&mut account);
    p.insert("provisioningState".into(), json!("Succeeded"));
    let dk =
        deleted_id(&id.sub, &loc, id.rg.as_deref().unwrap_or(""), id.name()).to_ascii_lowercase();
    cx.st.deleted.insert(
        dk,
        DeletedAccount {
            account,
            children,
            location: loc,
            deleted_at_ns: cx.now_ns(),
            purge_at_ns: cx.now_ns() + cx.cfg.soft_delete_retention.as_nanos() as u64,
        },
    );
    cx.st.dirty = true;
}

fn deleted_view(key: &str, d: &DeletedAccount) -> Value {
    let mut b = d.account.clone();
    let id = super::ids::parse_id(b["id"].as_str().unwrap_or_default());
    if let Some(id) = id {
        b["id"] = json!(deleted_id(
            &id.sub,
            &d.location,
            id.rg.as_deref().unwrap_or(""),
            id.name()
        ));
    } else {
        b["id"] = json!(key);
    }
    b["type"] = json!("Microsoft.CognitiveServices/deletedAccounts");
    let p = props(&mut b);
    p.insert(
        "deletionDate".into(),
        json!(rfc3339(Duration::from_nanos(d.deleted_at_ns))),
    );
    p.insert(
        "scheduledPurgeDate".into(),
        json!(rfc3339(Duration::from_nanos(d.purge_at_ns))),
    );
    p.insert("privateEndpointConnections".into(), json!([]));
    b
}

/// GET/DELETE `/subscriptions/{s}/providers/Microsoft.CognitiveServices/...deletedAccounts...`.
pub fn deleted_accounts(cx: &mut Cx, method: &str, id: &ResId) -> HResult {
    engine::check_subscription(cx.cfg, &id.sub)?;
    if !id.is_instance() {
        let prefix = format!("/subscriptions/{}/", id.sub).to_ascii_lowercase();
        let items: Vec<Value> = cx
            .st
            .deleted
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, d)| deleted_view(k, d))
            .collect();
        return Ok(Reply::json(200, json!({ "value": items })));
    }
    let key = id.display().to_ascii_lowercase();
    let Some(d) = cx.st.deleted.get(&key) else {
        return match method {
            "DELETE" => Ok(Reply::empty(204)),
            _ => Err(ApiError::not_found(&id.display())),
        };
    };
    match method {
        "GET" => Ok(Reply::json(200, deleted_view(&key, d))),
        "DELETE" => {
            if !cx.cfg.lro.enabled {
                cx.st.deleted.remove(&key);
                cx.st.dirty = true;
                return Ok(Reply::empty(200));
            }
            let h = engine::start_purge(cx, id, &key);
            Ok(Reply {
                status: 202,
                headers: h,
                body: None,
            })
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "Only GET and DELETE are supported on deleted accounts.",
        )),
    }
}

fn account_for_keys(cx: &Cx, id: &ResId) -> Result<(String, Value), ApiError> {
    let acct = id
        .parent()
        .ok_or_else(|| ApiError::not_found(&id.display()))?;
    engine::check_scope(cx, &acct)?;
    let key = acct.key();
    let body = cx
        .st
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&acct.display()))?;
    if body
        .pointer("/properties/disableLocalAuth")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Err(bad(
            "Failed to list key. disableLocalAuth is set to be true",
        ));
    }
    Ok((key, body))
}

/// POST `{acct}/listKeys`.
pub fn list_keys(cx: &mut Cx, id: &ResId) -> HResult {
    let (key, _) = account_for_keys(cx, id)?;
    after_commit_account(cx, id.parent().as_ref().expect("checked"));
    let [k1, k2] = cx.st.keys.get(&key).cloned().expect("just ensured");
    Ok(Reply::json(200, json!({ "key1": k1, "key2": k2 })))
}

/// POST `{acct}/regenerateKey` with `{"keyName": "Key1" | "Key2"}`.
pub fn regenerate_key(cx: &mut Cx, id: &ResId, body: &Value) -> HResult {
    let (key, _) = account_for_keys(cx, id)?;
    let which = match body
        .get("keyName")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("key1") => 0,
        Some("key2") => 1,
        _ => return Err(bad("keyName must be 'Key1' or 'Key2'.")),
    };
    after_commit_account(cx, id.parent().as_ref().expect("checked"));
    let fresh = cx.st.new_guid("regenerated").replace('-', "");
    let keys = cx.st.keys.get_mut(&key).expect("just ensured");
    keys[which] = fresh;
    let [k1, k2] = keys.clone();
    cx.st.dirty = true;
    Ok(Reply::json(200, json!({ "key1": k1, "key2": k2 })))
}

/// GET `{acct}/privateLinkResources`.
pub fn private_link_resources(cx: &Cx, id: &ResId) -> HResult {
    let acct = id
        .parent()
        .ok_or_else(|| ApiError::not_found(&id.display()))?;
    engine::check_scope(cx, &acct)?;
    let body = cx
        .st
        .get(&acct.key())
        .ok_or_else(|| ApiError::not_found(&acct.display()))?;
    let zones = required_zones(body["kind"].as_str().unwrap_or(""));
    let display = body["id"].as_str().unwrap_or_default();
    Ok(Reply::json(
        200,
        json!({ "value": [{
            "id": format!("{display}/privateLinkResources/account"),
            "name": "account",
            "type": "Microsoft.CognitiveServices/accounts/privateLinkResources",
            "properties": { "groupId": "account", "requiredMembers": ["default"], "requiredZoneNames": zones }
        }]}),
    ))
}

pub fn prepare_deployment(
    cx: &mut Cx,
    id: &ResId,
    mut body: Value,
    _existing: Option<&Value>,
) -> Result<Value, ApiError> {
    let model = body
        .pointer("/properties/model")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(name) = model
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(bad("properties.model.name is required."));
    };
    if model.get("format").and_then(Value::as_str).is_none() {
        return Err(bad("properties.model.format is required."));
    }
    if model.get("version").and_then(Value::as_str).is_none() {
        let v = match name.as_str() {
            "gpt-4o" => "2024-11-20",
            "gpt-4o-mini" => "2024-07-18",
            "text-embedding-3-large" | "text-embedding-3-small" => "1",
            _ => "1",
        };
        body["properties"]["model"]["version"] = json!(v);
    }
    if body.pointer("/sku/name").and_then(Value::as_str).is_none() {
        body["sku"] = json!({ "name": "Standard", "capacity": 1 });
    }
    if body.pointer("/sku/capacity").is_none() {
        body["sku"]["capacity"] = json!(1);
    }
    let capacity = body["sku"]["capacity"].clone();
    default_prop(&mut body, "raiPolicyName", json!("Microsoft.DefaultV2"));
    let rai = prop_str(&body, "raiPolicyName")
        .unwrap_or_default()
        .to_string();
    if !SYSTEM_RAI_POLICIES
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&rai))
    {
        let acct = id.parent().expect("deployments have a parent");
        if !cx.st.exists(&format!(
            "{}/raipolicies/{}",
            acct.key(),
            rai.to_ascii_lowercase()
        )) {
            return Err(ApiError::bad_request(
                "RaiPolicyNotFound",
                format!(
                    "The RAI policy '{rai}' does not exist on account '{}'.",
                    acct.name()
                ),
            ));
        }
    }
    default_prop(
        &mut body,
        "versionUpgradeOption",
        json!("OnceNewDefaultVersionAvailable"),
    );
    default_prop(&mut body, "deploymentState", json!("Running"));
    default_prop(&mut body, "serviceTier", json!("Default"));
    let p = props(&mut body);
    p.insert("currentCapacity".into(), capacity);
    p.entry("capabilities").or_insert(json!({}));
    p.entry("rateLimits").or_insert(json!([]));
    Ok(body)
}

pub fn prepare_rai_policy(_cx: &mut Cx, id: &ResId, mut body: Value) -> Result<Value, ApiError> {
    if SYSTEM_RAI_POLICIES
        .iter()
        .any(|p| p.eq_ignore_ascii_case(id.name()))
    {
        return Err(bad(format!(
            "'{}' is a system-managed policy and cannot be changed.",
            id.name()
        )));
    }
    let filters = body
        .pointer("/properties/contentFilters")
        .cloned()
        .unwrap_or(json!([]));
    for f in filters.as_array().into_iter().flatten() {
        if f.get("name").and_then(Value::as_str).is_none()
            || f.get("source").and_then(Value::as_str).is_none()
        {
            return Err(bad("Each content filter needs a name and a source."));
        }
        if let Some(t) = f.get("severityThreshold").and_then(Value::as_str) {
            if !["Low", "Medium", "High"].contains(&t) {
                return Err(bad(format!("Invalid severityThreshold '{t}'.")));
            }
        }
    }
    default_prop(&mut body, "contentFilters", json!([]));
    default_prop(&mut body, "mode", json!("Default"));
    default_prop(&mut body, "basePolicyName", json!("Microsoft.Default"));
    props(&mut body).insert("type".into(), json!("UserManaged"));
    Ok(body)
}

/// The built-in policies, readable on every account.
pub fn system_rai_policy(acct_display: &str, name: &str) -> Value {
    json!({
        "id": format!("{acct_display}/raiPolicies/{name}"),
        "name": name,
        "type": "Microsoft.CognitiveServices/accounts/raiPolicies",
        "properties": { "type": "SystemManaged", "mode": "Blocking", "contentFilters": [] }
    })
}

pub fn prepare_pec(
    _cx: &mut Cx,
    id: &ResId,
    body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    let Some(existing) = existing else {
        return Err(ApiError::new(404, "PrivateEndpointConnectionNotFound", format!("Private endpoint connection '{}' does not exist; connections are created by private endpoints.", id.name())));
    };
    let state = body
        .pointer("/properties/privateLinkServiceConnectionState")
        .cloned()
        .ok_or_else(|| bad("properties.privateLinkServiceConnectionState is required."))?;
    let status = state.get("status").and_then(Value::as_str).unwrap_or("");
    if !["Pending", "Approved", "Rejected"].contains(&status) {
        return Err(bad(format!("Invalid connection status '{status}'.")));
    }
    let mut out = existing.clone();
    let mut st = state.clone();
    if st.get("actionsRequired").is_none() {
        st["actionsRequired"] = json!("None");
    }
    props(&mut out).insert("privateLinkServiceConnectionState".into(), st);
    Ok(out)
}
