//! Routing of ARM paths: operation polling, then whatever the path's provider serves itself
//! (actions, built-ins, special lists, non-resource routes), then the generic verbs and lists.

use serde_json::{json, Value};

use super::engine::{self, Cond, Cx};
use super::error::{ApiError, HResult, Reply};
use super::ids::{OpPoll, ResId, Route};
use super::lro;
use super::provider::{self, param, Request};

pub fn dispatch(
    cx: &mut Cx,
    method: &str,
    path: &str,
    route: &Route,
    query: &[(String, String)],
    body: Value,
    cond: &Cond,
) -> HResult {
    if let Route::Provider(id) = route {
        return resource(cx, method, path, id.clone(), query, body, cond);
    }
    let req = Request {
        method,
        path,
        route,
        query,
        body: &body,
        cond,
    };
    for p in provider::all() {
        if let Some(r) = p.serve(cx, &req) {
            return r;
        }
    }
    Err(ApiError::new(
        404,
        "NotFound",
        format!("No route for {method} {path}."),
    ))
}

fn resource(
    cx: &mut Cx,
    method: &str,
    path: &str,
    mut id: ResId,
    query: &[(String, String)],
    body: Value,
    cond: &Cond,
) -> HResult {
    if let Some(poll) = id.op_poll() {
        engine::check_subscription(cx.cfg, &id.sub)?;
        let op = cx
            .st
            .ops
            .get(&id.name().to_ascii_lowercase())
            .ok_or_else(|| ApiError::not_found(&id.display()))?;
        let ra = cx.cfg.lro.retry_after;
        return match poll {
            OpPoll::Status => Ok(lro::status_reply(op, cx.now, ra)),
            OpPoll::Result => lro::result_reply(op, cx.base, ra),
        };
    }
    if id.ty.is_some_and(|t| t.lowercase_name) && id.is_instance() {
        if let Some(n) = id.names.last_mut() {
            *n = n.to_ascii_lowercase();
        }
    }
    if let Some(p) = provider::owner(&id) {
        let route = Route::Provider(id.clone());
        let req = Request {
            method,
            path,
            route: &route,
            query,
            body: &body,
            cond,
        };
        if let Some(r) = p.serve(cx, &req) {
            return r;
        }
    }
    if !id.is_instance() {
        return match method {
            "POST" => Err(ApiError::new(
                404,
                "NotFound",
                format!(
                    "Unknown action '{}' on {}.",
                    id.types
                        .last()
                        .map(|s| s.to_ascii_lowercase())
                        .unwrap_or_default(),
                    id.display()
                ),
            )),
            "GET" => {
                let skip = list_start(cx, &id, query)?;
                let items = collection(cx, &id)?;
                let pageable = id.ty.is_none_or(|t| t.pageable);
                Ok(engine::list_reply(cx, path, query, items, skip, pageable))
            }
            _ => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("{method} is not allowed on a collection."),
            )),
        };
    }
    match method {
        "GET" | "HEAD" => {
            engine::check_scope(cx, &id)?;
            let key = id.key();
            if !cx.st.exists(&key) {
                return Err(ApiError::not_found(&id.display()));
            }
            Ok(Reply::json(200, provider::render(cx.st, cx.cfg, &key)))
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

/// The checks every list makes (subscription, resource group), then its `$skipToken` offset.
pub fn list_start(cx: &Cx, id: &ResId, query: &[(String, String)]) -> Result<usize, ApiError> {
    engine::check_rg(cx, id)?;
    Ok(param(query, "$skipToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// Stored bodies as GET shows them.
pub fn rendered(cx: &Cx, items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .map(|v| {
            provider::render(
                cx.st,
                cx.cfg,
                &v["id"].as_str().unwrap_or_default().to_ascii_lowercase(),
            )
        })
        .collect()
}

/// The members of a collection, rendered: top-level types in the scope, or the children of the
/// parent (which must exist).
pub fn collection(cx: &Cx, id: &ResId) -> Result<Vec<Value>, ApiError> {
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
    Ok(rendered(cx, items))
}
