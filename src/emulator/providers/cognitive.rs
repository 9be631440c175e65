//! Microsoft.CognitiveServices accounts: soft-delete, restore and purge (the deleted-accounts
//! collection), keys, private link resources. Deployments, RAI policies and private endpoint
//! connections have their own provider files.

use std::time::Duration;

use serde_json::{json, Value};

use crate::emulator::clock::rfc3339;
use crate::emulator::config::{EmulatorConfig, LroStyle};
use crate::emulator::cx::Cx;
use crate::emulator::engine;
use crate::emulator::error::{ApiError, HResult, Reply};
use crate::emulator::ids::{normalize_location, parse_id, ResId};
use crate::emulator::lro::start_purge;
use crate::emulator::provider::{self, Info, Provider, Request, Write};
use crate::emulator::spec::{Lock, Placement, Spec, TypeDef};
use crate::emulator::store::{is_type, prop_str, props, DeletedAccount, EtagStyle, State};

pub const ACCOUNT_TYPE: &str = "Microsoft.CognitiveServices/accounts";
const PLR_TYPE: &str = "Microsoft.CognitiveServices/accounts/privateLinkResources";
const DELETED_TYPE: &str = "Microsoft.CognitiveServices/deletedAccounts";
const DELETED_IN_RG_TYPE: &str =
    "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts";

pub const API_VERSIONS: &[&str] = &[
    "2017-04-18",
    "2021-04-30",
    "2021-10-01",
    "2022-03-01",
    "2022-10-01",
    "2022-12-01",
    "2023-05-01",
    "2024-10-01",
    "2025-06-01",
    "2025-09-01",
    "2026-03-01",
];

/// What every CognitiveServices type has: `W/"datetime'…'"` etags and systemData.
pub const COGNITIVE: Spec = Spec {
    etag: EtagStyle::CognitiveServices,
    system_data: true,
    ..Spec::SYNC
};

const TYPES: &[TypeDef] = &[
    TypeDef {
        name: ACCOUNT_TYPE,
        spec: Spec {
            put: LroStyle::AsyncBody,
            patch: Some(LroStyle::Accepted),
            delete: LroStyle::Accepted,
            has_state: true,
            creating: "Creating",
            updating: "Accepted",
            accepted_body: true,
            ..COGNITIVE
        },
        lock: Some(Lock::RequestConflict),
        seed_rank: 6,
        soft_delete: true,
        known: Some(&super::shapes::ACCOUNT),
        ..TypeDef::BASE
    },
    TypeDef {
        name: PLR_TYPE,
        ..TypeDef::BASE
    },
    TypeDef {
        name: DELETED_IN_RG_TYPE,
        placement: Placement::Subscription,
        ..TypeDef::BASE
    },
    TypeDef {
        name: DELETED_TYPE,
        placement: Placement::Subscription,
        ..TypeDef::BASE
    },
];

const INFO: Info = Info {
    namespace: "Microsoft.CognitiveServices",
    api_versions: API_VERSIONS,
    types: TYPES,
};

pub struct Accounts;

impl Provider for Accounts {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let id = req.id()?;
        if id.is(DELETED_TYPE) || id.is(DELETED_IN_RG_TYPE) {
            return Some(deleted_accounts(cx, req.method, id));
        }
        if id.is(PLR_TYPE) {
            return Some(private_link_resources(cx, id));
        }
        let on_account = id.parent().is_some_and(|p| p.is(ACCOUNT_TYPE));
        if req.method != "POST" || id.is_instance() || !on_account {
            return None;
        }
        match id.types.last()?.to_ascii_lowercase().as_str() {
            "listkeys" => Some(list_keys(cx, id)),
            "regeneratekey" => Some(regenerate_key(cx, id, req.body)),
            _ => None,
        }
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        prepare_account(cx, id, body, existing)
    }

    fn after_commit(&self, cx: &mut Cx, id: &ResId, body: &Value) {
        ensure_keys(cx, id);
        if id.is(ACCOUNT_TYPE) && cx.api_version != "seed" {
            // Azure Policy evaluates DeployIfNotExists after a successful create or update.
            super::policy_deploy::deploy_if_not_exists(cx, &id.display(), body);
        }
    }

    fn after_delete(&self, cx: &mut Cx, _id: &ResId, body: &Value) {
        soft_delete(cx, body);
    }

    /// Account bodies show their private endpoint connections inline.
    fn render(&self, st: &State, _cfg: &EmulatorConfig, key: &str, body: &mut Value) {
        if is_type(body, ACCOUNT_TYPE) {
            let pecs = st.children(key, "privateEndpointConnections");
            props(body).insert("privateEndpointConnections".into(), json!(pecs));
        }
    }
}

pub fn bad(message: impl Into<String>) -> ApiError {
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
            && is_type(v, ACCOUNT_TYPE)
            && prop_str(v, "customSubDomainName").is_some_and(|s| s.eq_ignore_ascii_case(sub))
    });
    let deleted = st.deleted.iter().any(|(k, d)| {
        Some(k.as_str()) != deleted_key
            && prop_str(&d.account, "customSubDomainName")
                .is_some_and(|s| s.eq_ignore_ascii_case(sub))
    });
    live || deleted
}

fn prepare_account(
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
    // Read-only: kept from the stored account; a seed may date an account created long ago.
    let seeded = (cx.principal == "seed")
        .then(|| prop_str(&body, "dateCreated"))
        .flatten();
    let created = existing
        .and_then(|e| prop_str(e, "dateCreated"))
        .or(seeded)
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
    check_key_access(cx, &body, existing)?;
    if cx.api_version != "seed" {
        // Azure Policy applies assigned Modify definitions to the request, then evaluates the
        // result against assigned Deny definitions (its documented order of evaluation).
        super::policy::modify(cx, &id.display(), &mut body);
        super::policy::deny(cx, &id.display(), &body)?;
    }
    Ok(body)
}

/// A write that switches the account to (or to another) customer-managed key needs its
/// system-assigned identity to hold key access on the vault already, as on Azure. The error
/// code and wording are **[unverified]**: the requirement is Microsoft's ("The managed identity
/// … must have the following permissions in key vault: wrap key, unwrap key, get",
/// learn.microsoft.com/azure/ai-services/encryption/cognitive-services-encryption-keys-portal);
/// the message follows Key Vault's own denial. A user-assigned identity (`identityClientId`)
/// is not checked: the emulator has no identities to map a client id to.
fn check_key_access(cx: &Cx, body: &Value, existing: Option<&Value>) -> Result<(), ApiError> {
    let enc = body.pointer("/properties/encryption");
    let cmk = enc
        .and_then(|e| e["keySource"].as_str())
        .is_some_and(|s| s.eq_ignore_ascii_case("Microsoft.KeyVault"));
    if !cmk || existing.and_then(|e| e.pointer("/properties/encryption")) == enc {
        return Ok(());
    }
    let kv = &enc.expect("cmk")["keyVaultProperties"];
    if kv["identityClientId"]
        .as_str()
        .is_some_and(|c| !c.is_empty())
    {
        return Ok(());
    }
    let uri = kv["keyVaultUri"].as_str().unwrap_or_default();
    let principal = body
        .pointer("/identity/principalId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match super::key_vault::key_access_denied(cx.st, uri, principal) {
        Some(why) => Err(ApiError::bad_request(
            "KeyVaultAccessDenied",
            format!("The account's managed identity cannot access the customer-managed key at '{uri}': {why} Grant it a key role (e.g. Key Vault Crypto Service Encryption User) or an access policy first."),
        )),
        None => Ok(()),
    }
}

fn ensure_keys(cx: &mut Cx, id: &ResId) {
    let key = id.key();
    if !cx.st.keys.contains_key(&key) {
        let k1 = cx.st.new_guid("key1").replace('-', "");
        let k2 = cx.st.new_guid("key2").replace('-', "");
        cx.st.keys.insert(key, [k1, k2]);
    }
}

/// Deleting an account soft-deletes it with everything below it.
fn soft_delete(cx: &mut Cx, body: &Value) {
    let Some(id) = body["id"].as_str().and_then(parse_id) else {
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
        provider::after_delete(cx, c);
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
    let id = parse_id(b["id"].as_str().unwrap_or_default());
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
fn deleted_accounts(cx: &mut Cx, method: &str, id: &ResId) -> HResult {
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
            let h = start_purge(cx, id, &key);
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
fn list_keys(cx: &mut Cx, id: &ResId) -> HResult {
    let (key, _) = account_for_keys(cx, id)?;
    ensure_keys(cx, id.parent().as_ref().expect("checked"));
    let [k1, k2] = cx.st.keys.get(&key).cloned().expect("just ensured");
    Ok(Reply::json(200, json!({ "key1": k1, "key2": k2 })))
}

const REGENERATE_ACTION: &str = "Microsoft.CognitiveServices/accounts/regenerateKey/action";

/// POST `{acct}/regenerateKey` with `{"keyName": "Key1" | "Key2"}`.
fn regenerate_key(cx: &mut Cx, id: &ResId, body: &Value) -> HResult {
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
    ensure_keys(cx, id.parent().as_ref().expect("checked"));
    let fresh = cx.st.new_guid("regenerated").replace('-', "");
    let keys = cx.st.keys.get_mut(&key).expect("just ensured");
    keys[which] = fresh;
    let [k1, k2] = keys.clone();
    cx.st.dirty = true;
    let acct = id.parent().expect("checked");
    super::activity_log::record_action(cx, &acct, REGENERATE_ACTION, body);
    Ok(Reply::json(200, json!({ "key1": k1, "key2": k2 })))
}

/// GET `{acct}/privateLinkResources`.
fn private_link_resources(cx: &Cx, id: &ResId) -> HResult {
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
