//! Microsoft.Resources: subscriptions and resource groups. They are not provider resources
//! (no `/providers/` segment), so everything here is reached through [`Provider::serve`].

use serde_json::{json, Value};

use crate::emulator::engine::{self, Cx};
use crate::emulator::error::{ApiError, HResult, Reply};
use crate::emulator::ids::{required_location, rg_display, Route};
use crate::emulator::lro::{start_op_raw, Effect, OpTarget};
use crate::emulator::provider::{Info, Provider, Request};

use crate::emulator::store::prop_str;

const INFO: Info = Info {
    namespace: "Microsoft.Resources",
    api_versions: &[
        "2019-10-01",
        "2020-06-01",
        "2021-01-01",
        "2021-04-01",
        "2022-09-01",
        "2023-07-01",
        "2024-03-01",
        "2024-07-01",
        "2024-11-01",
        "2025-03-01",
        "2025-04-01",
    ],
    types: &[],
};

pub struct Resources;

impl Provider for Resources {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let body = req.body.clone();
        Some(match (req.route, req.method) {
            (Route::Subscription { sub }, "GET") => get_subscription(cx, sub),
            (Route::ResourceGroups { sub }, "GET") => list_rgs(cx, sub),
            (Route::ResourceGroup { sub, rg }, "GET") => get_rg(cx, sub, rg),
            // `az group exists`: 204 when present.
            (Route::ResourceGroup { sub, rg }, "HEAD") => {
                get_rg(cx, sub, rg).map(|_| Reply::empty(204))
            }
            (Route::ResourceGroup { sub, rg }, "PUT") => put_rg(cx, sub, rg, body),
            (Route::ResourceGroup { sub, rg }, "PATCH") => patch_rg(cx, sub, rg, body),
            (Route::ResourceGroup { sub, rg }, "DELETE") => delete_rg(cx, sub, rg),
            (Route::ResourceGroup { .. }, method) => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("The requested method {method} is not allowed for this resource."),
            )),
            _ => return None,
        })
    }
}

pub const RG_TYPE: &str = "Microsoft.Resources/resourceGroups";

fn valid_rg_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 90
        && !n.ends_with('.')
        && n.chars()
            .all(|c| c.is_alphanumeric() || "-_().".contains(c))
}

fn get_subscription(cx: &Cx, sub: &str) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    Ok(Reply::json(
        200,
        json!({
            "id": format!("/subscriptions/{sub}"), "subscriptionId": sub, "tenantId": cx.cfg.tenant_id,
            "displayName": "moat emulator subscription", "state": "Enabled"
        }),
    ))
}

fn put_rg(cx: &mut Cx, sub: &str, rg: &str, body: Value) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    if !valid_rg_name(rg) {
        return Err(ApiError::bad_request("InvalidResourceGroup", format!("The provided resource group name '{rg}' has these invalid characters or is too long.")));
    }
    let id = rg_display(sub, rg);
    let existing = cx.st.get(&id).cloned();
    let loc = required_location(&body, None)?;
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

fn get_rg(cx: &Cx, sub: &str, rg: &str) -> HResult {
    engine::check_subscription(cx.cfg, sub)?;
    cx.st
        .get(&rg_display(sub, rg))
        .cloned()
        .map(|b| Reply::json(200, b))
        .ok_or_else(|| engine::rg_not_found(rg))
}

fn patch_rg(cx: &mut Cx, sub: &str, rg: &str, body: Value) -> HResult {
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

fn list_rgs(cx: &Cx, sub: &str) -> HResult {
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
fn delete_rg(cx: &mut Cx, sub: &str, rg: &str) -> HResult {
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
    let h = start_op_raw(
        cx,
        OpTarget {
            sub: sub.to_string(),
            ns: "Microsoft.Resources".into(),
            full_type: RG_TYPE.into(),
            display: id,
            method: "DELETE",
            location: loc,
        },
        Effect::Delete,
    );
    Ok(Reply {
        status: 202,
        headers: h,
        body: None,
    })
}
