//! Microsoft.Resources (subscriptions, resource groups) and Microsoft.OperationalInsights
//! workspaces (enough to exist and be referenced).

use serde_json::{json, Value};

use super::engine::{self, Cx};
use super::error::{ApiError, HResult, Reply};
use super::ids::{normalize_location, rg_display, ResId};
use super::store::{prop_str, props};

pub const RG_TYPE: &str = "Microsoft.Resources/resourceGroups";

fn valid_rg_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 90
        && !n.ends_with('.')
        && n.chars()
            .all(|c| c.is_alphanumeric() || "-_().".contains(c))
}

pub fn get_subscription(cx: &Cx, sub: &str) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    Ok(Reply::json(
        200,
        json!({
            "id": format!("/subscriptions/{sub}"), "subscriptionId": sub, "tenantId": cx.cfg.tenant_id,
            "displayName": "moat emulator subscription", "state": "Enabled"
        }),
    ))
}

pub fn put_rg(cx: &mut Cx, sub: &str, rg: &str, body: Value) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    if !valid_rg_name(rg) {
        return Err(ApiError::bad_request("InvalidResourceGroup", format!("The provided resource group name '{rg}' has these invalid characters or is too long.")));
    }
    let id = rg_display(sub, rg);
    let existing = cx.st.get(&id).cloned();
    let loc = body
        .get("location")
        .and_then(Value::as_str)
        .map(normalize_location)
        .ok_or_else(|| {
            ApiError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?;
    if let Some(e) = &existing {
        if e["location"].as_str() != Some(loc.as_str()) {
            return Err(ApiError::conflict("InvalidResourceGroupLocation", format!("Invalid resource group location '{loc}'. The Resource group already exists in location '{}'.", e["location"].as_str().unwrap_or(""))));
        }
        if prop_str(e, "provisioningState") == Some("Deleting") {
            return Err(ApiError::conflict("ResourceGroupBeingDeleted", format!("The resource group '{rg}' is in deprovisioning state and cannot perform this operation.")));
        }
    }
    let out = json!({
        "id": id, "name": rg, "type": RG_TYPE, "location": loc,
        "tags": body.get("tags").cloned().unwrap_or(json!({})),
        "properties": { "provisioningState": "Succeeded" }
    });
    cx.st.insert(out.clone());
    Ok(Reply::json(if existing.is_some() { 200 } else { 201 }, out))
}

pub fn get_rg(cx: &Cx, sub: &str, rg: &str) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    cx.st
        .get(&rg_display(sub, rg))
        .cloned()
        .map(|b| Reply::json(200, b))
        .ok_or_else(|| engine::rg_not_found(rg))
}

pub fn patch_rg(cx: &mut Cx, sub: &str, rg: &str, body: Value) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    let mut e = cx
        .st
        .get(&rg_display(sub, rg))
        .cloned()
        .ok_or_else(|| engine::rg_not_found(rg))?;
    if let Some(tags) = body.get("tags") {
        e["tags"] = tags.clone();
    }
    cx.st.insert(e.clone());
    Ok(Reply::json(200, e))
}

pub fn list_rgs(cx: &Cx, sub: &str) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    let items: Vec<Value> = cx
        .st
        .of_type(RG_TYPE)
        .filter(|r| {
            r["id"].as_str().is_some_and(|i| {
                i.to_ascii_lowercase()
                    .starts_with(&format!("/subscriptions/{}/", sub.to_ascii_lowercase()))
            })
        })
        .cloned()
        .collect();
    Ok(Reply::json(200, json!({ "value": items })))
}

/// DELETE a resource group: 202 + Location; everything in it goes when the operation ends.
pub fn delete_rg(cx: &mut Cx, sub: &str, rg: &str) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    let id = rg_display(sub, rg);
    let Some(mut e) = cx.st.get(&id).cloned() else {
        return Ok(Reply::empty(204));
    };
    if !cx.cfg.lro.enabled {
        engine::remove_resource(cx, &id);
        return Ok(Reply::empty(200));
    }
    e["properties"]["provisioningState"] = json!("Deleting");
    let loc = e["location"].as_str().map(str::to_string);
    cx.st.insert(e);
    let h = engine::start_op_raw(
        cx,
        engine::OpTarget {
            sub: sub.to_string(),
            ns: "Microsoft.Resources".into(),
            full_type: RG_TYPE.into(),
            display: id,
            method: "DELETE",
            location: loc,
        },
        super::lro::Effect::Delete,
    );
    Ok(Reply {
        status: 202,
        headers: h,
        body: None,
    })
}

pub fn prepare_workspace(
    cx: &mut Cx,
    _id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    let loc = body
        .get("location")
        .or_else(|| existing.and_then(|e| e.get("location")))
        .and_then(Value::as_str)
        .map(normalize_location)
        .ok_or_else(|| {
            ApiError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?;
    body["location"] = json!(loc);
    let customer = existing
        .and_then(|e| prop_str(e, "customerId"))
        .map(str::to_string)
        .unwrap_or_else(|| cx.st.new_guid("workspace"));
    let created = existing
        .and_then(|e| prop_str(e, "createdDate"))
        .map(str::to_string)
        .unwrap_or_else(|| cx.timestamp());
    let now = cx.timestamp();
    let p = props(&mut body);
    p.insert("customerId".into(), json!(customer));
    p.entry("sku").or_insert(json!({ "name": "PerGB2018" }));
    p.entry("retentionInDays").or_insert(json!(30));
    p.entry("publicNetworkAccessForIngestion")
        .or_insert(json!("Enabled"));
    p.entry("publicNetworkAccessForQuery")
        .or_insert(json!("Enabled"));
    p.insert("createdDate".into(), json!(created));
    p.insert("modifiedDate".into(), json!(now));
    Ok(body)
}
