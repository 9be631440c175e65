//! Routing of ARM paths to handlers: special endpoints (operations, deleted accounts, role
//! definitions, categories, actions), lists with their scope rules, and the generic verbs.

use serde_json::{json, Value};

use super::engine::{self, Cond, Cx};
use super::error::{ApiError, HResult, Reply};
use super::ids::{Kind, ResId, Route};
use super::server::param;
use super::{authorization, cognitive, insights, lro, network, privatedns, resources};

pub(crate) fn dispatch(
    cx: &mut Cx,
    method: &str,
    path: &str,
    route: &Route,
    query: &[(String, String)],
    body: Value,
    cond: &Cond,
) -> HResult {
    let not_allowed = || {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method {method} is not allowed for this resource."),
        )
    };
    match route {
        Route::Subscription { sub } if method == "GET" => resources::get_subscription(cx, sub),
        Route::ResourceGroups { sub } if method == "GET" => resources::list_rgs(cx, sub),
        Route::ResourceGroup { sub, rg } => match method {
            "GET" => resources::get_rg(cx, sub, rg),
            // `az group exists`: 204 when present.
            "HEAD" => resources::get_rg(cx, sub, rg).map(|_| Reply::empty(204)),
            "PUT" => resources::put_rg(cx, sub, rg, body),
            "PATCH" => resources::patch_rg(cx, sub, rg, body),
            "DELETE" => resources::delete_rg(cx, sub, rg),
            _ => Err(not_allowed()),
        },
        Route::TenantRoleDefinition { name } => {
            authorization::role_definitions(None, None, Some(name), None)
        }
        Route::Provider(id) => provider(cx, method, path, id.clone(), query, body, cond),
        _ => Err(ApiError::new(
            404,
            "NotFound",
            format!("No route for {method} {path}."),
        )),
    }
}

fn provider(
    cx: &mut Cx,
    method: &str,
    path: &str,
    mut id: ResId,
    query: &[(String, String)],
    body: Value,
    cond: &Cond,
) -> HResult {
    let filter = param(query, "$filter");
    match id.kind {
        Kind::OperationStatus | Kind::OperationResult => {
            engine::check_subscription(cx.cfg, &id.sub)?;
            let op = cx
                .st
                .ops
                .get(&id.name().to_ascii_lowercase())
                .ok_or_else(|| ApiError::not_found(&id.display()))?;
            let ra = cx.cfg.lro.retry_after;
            return if id.kind == Kind::OperationStatus {
                Ok(lro::status_reply(op, cx.now, ra))
            } else {
                lro::result_reply(op, cx.base, ra)
            };
        }
        Kind::DeletedAccount => return cognitive::deleted_accounts(cx, method, &id),
        Kind::RoleDefinition => {
            return authorization::role_definitions(Some(&id.sub), Some(&id), None, filter)
        }
        Kind::DiagnosticCategory => {
            return insights::categories(cx.st, &id).map(|b| Reply::json(200, b))
        }
        Kind::DefaultSecurityRule => {
            return network::default_rule_reply(cx.st, &id).map(|b| Reply::json(200, b))
        }
        Kind::PrivateLinkResource => return cognitive::private_link_resources(cx, &id),
        Kind::RecordSet => {
            if let Some(n) = id.names.get_mut(1) {
                *n = n.to_ascii_lowercase();
            }
        }
        _ => {}
    }
    if !id.is_instance() {
        return match method {
            "POST" => action(cx, &id, &body),
            "GET" => list(cx, path, &id, query),
            _ => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("{method} is not allowed on a collection."),
            )),
        };
    }
    if id.kind == Kind::RaiPolicy && method == "GET" {
        if let Some(sys) = cognitive::SYSTEM_RAI_POLICIES
            .iter()
            .find(|p| p.eq_ignore_ascii_case(id.name()))
        {
            let acct = id.parent().expect("rai policies have a parent");
            engine::check_scope(cx, &id)?;
            let display = cx
                .st
                .get(&acct.key())
                .and_then(|a| a["id"].as_str())
                .unwrap_or_default()
                .to_string();
            return Ok(Reply::json(
                200,
                cognitive::system_rai_policy(&display, sys),
            ));
        }
    }
    match method {
        "GET" | "HEAD" => {
            engine::check_scope(cx, &id)?;
            let key = id.key();
            if !cx.st.exists(&key) {
                return Err(ApiError::not_found(&id.display()));
            }
            Ok(Reply::json(200, super::hooks::render(cx.st, cx.cfg, &key)))
        }
        "PUT" => engine::put(cx, &id, if body.is_null() { json!({}) } else { body }, cond),
        "PATCH" => engine::patch(cx, &id, if body.is_null() { json!({}) } else { body }, cond),
        "DELETE" => engine::delete(cx, &id, cond),
        "POST" => Err(ApiError::new(
            404,
            "NotFound",
            format!("Unknown action on {}.", id.display()),
        )),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported."),
        )),
    }
}

fn action(cx: &mut Cx, id: &ResId, body: &Value) -> HResult {
    let name = id
        .types
        .last()
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let parent_is_account = id.parent().is_some_and(|p| p.kind == Kind::Account);
    match name.as_str() {
        "listkeys" if parent_is_account => cognitive::list_keys(cx, id),
        "regeneratekey" if parent_is_account => cognitive::regenerate_key(cx, id, body),
        _ => Err(ApiError::new(
            404,
            "NotFound",
            format!("Unknown action '{name}' on {}.", id.display()),
        )),
    }
}

fn list(cx: &mut Cx, path: &str, id: &ResId, query: &[(String, String)]) -> HResult {
    engine::check_subscription(cx.cfg, &id.sub)?;
    if let (Some(rg), Some(rg_id)) = (&id.rg, id.rg_id()) {
        if !cx.st.exists(&rg_id) {
            return Err(engine::rg_not_found(rg));
        }
    }
    let skip = param(query, "$skipToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let render = |cx: &Cx, items: Vec<Value>| -> Vec<Value> {
        items
            .into_iter()
            .map(|v| {
                super::hooks::render(
                    cx.st,
                    cx.cfg,
                    &v["id"].as_str().unwrap_or_default().to_ascii_lowercase(),
                )
            })
            .collect()
    };
    // Record sets: `{zone}/ALL` or `{zone}/{type}`.
    if id.types.len() == 2
        && id.names.len() == 1
        && id.types[0].eq_ignore_ascii_case("privateDnsZones")
        && (id.kind == Kind::RecordSet || id.types[1].eq_ignore_ascii_case("ALL"))
    {
        let mut zone = id.clone();
        zone.types.truncate(1);
        zone.full_type = "Microsoft.Network/privateDnsZones".into();
        zone.kind = Kind::DnsZone;
        let items = privatedns::list_records(cx.st, &zone, &id.types[1])?;
        return Ok(engine::list_reply(cx, path, items, skip, true));
    }
    match id.kind {
        Kind::RoleAssignment => {
            if id.scope_is_resource() && !cx.st.exists(&id.scope) {
                return Err(ApiError::not_found(&id.scope));
            }
            let items = authorization::list(cx.st, &id.scope, param(query, "$filter"));
            return Ok(engine::list_reply(cx, path, items, skip, true));
        }
        Kind::DiagnosticSetting => {
            if id.scope_is_resource() && !cx.st.exists(&id.scope) {
                return Err(ApiError::not_found(&id.scope));
            }
            let items = cx.st.children(
                &format!("{}/providers/Microsoft.Insights", id.scope),
                "diagnosticSettings",
            );
            let items = render(cx, items);
            return Ok(Reply::json(200, json!({ "value": items })));
        }
        _ => {}
    }
    let items = if id.names.is_empty() {
        let prefix = format!("{}/", id.scope.to_ascii_lowercase());
        cx.st
            .of_type(&id.full_type)
            .filter(|v| {
                v["id"]
                    .as_str()
                    .is_some_and(|i| i.to_ascii_lowercase().starts_with(&prefix))
            })
            .cloned()
            .collect()
    } else {
        let parent = id.parent().expect("child collections have a parent");
        if !cx.st.exists(&parent.key()) {
            return Err(ApiError::not_found(&parent.display()));
        }
        cx.st.children(
            &parent.key(),
            id.types.last().map(String::as_str).unwrap_or_default(),
        )
    };
    let mut items = render(cx, items);
    if id.kind == Kind::RaiPolicy {
        let acct = id.parent().expect("checked above");
        let display = cx
            .st
            .get(&acct.key())
            .and_then(|a| a["id"].as_str())
            .unwrap_or_default()
            .to_string();
        for p in cognitive::SYSTEM_RAI_POLICIES {
            items.insert(0, cognitive::system_rai_policy(&display, p));
        }
    }
    let pageable = id.kind != Kind::PrivateEndpointConnection;
    Ok(engine::list_reply(cx, path, items, skip, pageable))
}
