//! Microsoft.Insights diagnostic settings and categories. This provider answers errors with the
//! flat `{code, message}` envelope and lower-cases the resource part of setting ids.

use serde_json::{json, Value};

use crate::emulator::config::EmulatorConfig;
use crate::emulator::cx::Cx;
use crate::emulator::error::{ApiError, HResult, Reply};
use crate::emulator::ids::ResId;
use crate::emulator::provider::{Info, Provider, Request, Write};
use crate::emulator::routes::rendered;
use crate::emulator::spec::{Placement, Spec, TypeDef};
use crate::emulator::store::{props, State};

const SETTING_TYPE: &str = "Microsoft.Insights/diagnosticSettings";
const CATEGORY_TYPE: &str = "Microsoft.Insights/diagnosticSettingsCategories";

const INFO: Info = Info {
    namespace: "Microsoft.Insights",
    api_versions: &["2017-05-01-preview", "2021-05-01-preview"],
    types: TYPES,
};

pub struct Insights;

const TYPES: &[TypeDef] = &[
    TypeDef {
        name: SETTING_TYPE,
        spec: Spec {
            create_status: 200,
            ..Spec::SYNC
        },
        placement: Placement::Extension,
        known: Some(&super::shapes::DIAGNOSTIC_SETTING),
        ..TypeDef::BASE
    },
    TypeDef {
        name: CATEGORY_TYPE,
        placement: Placement::Extension,
        ..TypeDef::BASE
    },
];

impl Provider for Insights {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn flat_errors(&self) -> bool {
        true
    }

    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let id = req.id()?;
        if id.is(CATEGORY_TYPE) {
            return Some(categories(cx.st, id).map(|b| Reply::json(200, b)));
        }
        if id.is(SETTING_TYPE) && !id.is_instance() && req.method == "GET" {
            return Some(list_settings(cx, req, id));
        }
        None
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        if existing.is_none() && asks_for_retention(&body) {
            // Azure Monitor retired storage retention in diagnostic settings: since 2023 a new
            // setting may not enable it (existing ones keep theirs). Flat error, as all of
            // Insights' (docs: migrate-to-azure-storage-lifecycle-policy).
            return Err(bad(
                "Diagnostic settings does not support retention for new diagnostic settings.",
            ));
        }
        prepare(cx, id, body)
    }

    fn render(&self, _st: &State, cfg: &EmulatorConfig, _key: &str, body: &mut Value) {
        render(body, cfg.insights_lowercase_ids);
    }
}

fn list_settings(cx: &Cx, req: &Request, id: &ResId) -> HResult {
    crate::emulator::routes::list_start(cx, id, req.query)?;
    if id.scope_is_resource() && !cx.st.exists(&id.scope) {
        return Err(ApiError::not_found(&id.scope));
    }
    let items = cx.st.children(
        &format!("{}/providers/Microsoft.Insights", id.scope),
        "diagnosticSettings",
    );
    let items = rendered(cx, items);
    Ok(Reply::json(200, json!({ "value": items })))
}

/// (name, Logs|Metrics, category groups) for Cognitive Services accounts.
const ACCOUNT_CATEGORIES: &[(&str, &str, &[&str])] = &[
    ("Audit", "Logs", &["allLogs", "audit"]),
    ("RequestResponse", "Logs", &["allLogs"]),
    ("Trace", "Logs", &["allLogs"]),
    ("AzureOpenAIRequestUsage", "Logs", &["allLogs"]),
    ("AllMetrics", "Metrics", &[]),
];

const OTHER_CATEGORIES: &[(&str, &str, &[&str])] = &[("AllMetrics", "Metrics", &[])];

fn categories_for(
    scope_type: &str,
) -> &'static [(&'static str, &'static str, &'static [&'static str])] {
    if scope_type.eq_ignore_ascii_case("Microsoft.CognitiveServices/accounts") {
        ACCOUNT_CATEGORIES
    } else {
        OTHER_CATEGORIES
    }
}

fn scope_type(st: &State, scope: &str) -> String {
    st.get(scope)
        .and_then(|b| b["type"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("BadRequest", message)
}

/// Some log or metric entry has `retentionPolicy.enabled: true`.
fn asks_for_retention(body: &Value) -> bool {
    ["logs", "metrics"].iter().any(|list| {
        body.pointer(&format!("/properties/{list}"))
            .and_then(Value::as_array)
            .is_some_and(|entries| {
                entries
                    .iter()
                    .any(|e| e.pointer("/retentionPolicy/enabled") == Some(&json!(true)))
            })
    })
}

fn prepare(cx: &mut Cx, id: &ResId, mut body: Value) -> Result<Value, ApiError> {
    let p = body.get("properties").cloned().unwrap_or(json!({}));
    let nonempty = |f: &str| {
        p.get(f)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if ![
        "workspaceId",
        "storageAccountId",
        "eventHubAuthorizationRuleId",
        "marketplacePartnerId",
        "serviceBusRuleId",
    ]
    .iter()
    .any(|f| nonempty(f))
    {
        return Err(bad("At least one destination (workspaceId, storageAccountId, eventHubAuthorizationRuleId, marketplacePartnerId) must be set."));
    }
    if let Some(ws) = p
        .get("workspaceId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        if !cx.st.exists(ws) {
            return Err(ApiError::bad_request(
                "LinkedResourceNotFound",
                format!("Log Analytics workspace '{ws}' was not found."),
            ));
        }
    }
    // Categories are only known (and checked) for account scopes.
    let scope_is_account =
        scope_type(cx.st, &id.scope).eq_ignore_ascii_case("Microsoft.CognitiveServices/accounts");
    for (list, kind) in [("logs", "Logs"), ("metrics", "Metrics")] {
        let mut entries = p
            .get(list)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for e in entries.iter_mut() {
            if e.get("enabled").and_then(Value::as_bool).is_none() {
                return Err(bad(format!("Every entry of {list} needs 'enabled'.")));
            }
            if let Some(c) = e.get("category").and_then(Value::as_str) {
                let known = ACCOUNT_CATEGORIES
                    .iter()
                    .any(|k| k.0.eq_ignore_ascii_case(c) && k.1 == kind);
                if scope_is_account && !known {
                    return Err(bad(format!("Category '{c}' is not supported.")));
                }
            } else if let Some(g) = e.get("categoryGroup").and_then(Value::as_str) {
                if kind != "Logs"
                    || !["allLogs", "audit"]
                        .iter()
                        .any(|x| x.eq_ignore_ascii_case(g))
                {
                    return Err(bad(format!("Category group '{g}' is not supported.")));
                }
            } else {
                return Err(bad(format!(
                    "Every entry of {list} needs a category or categoryGroup."
                )));
            }
            if e.get("retentionPolicy").is_none() {
                e["retentionPolicy"] = json!({ "enabled": false, "days": 0 });
            }
        }
        props(&mut body).insert(list.into(), json!(entries));
    }
    Ok(body)
}

/// Insights reports ids lower-cased up to the setting name.
fn render(body: &mut Value, lowercase: bool) {
    if !lowercase {
        return;
    }
    if let Some(id) = body["id"].as_str() {
        if let Some((scope, name)) =
            id.rsplit_once("/providers/Microsoft.Insights/diagnosticSettings/")
        {
            body["id"] = json!(format!(
                "{}/providers/microsoft.insights/diagnosticSettings/{name}",
                scope.to_ascii_lowercase()
            ));
        }
    }
}

/// GET `{scope}/providers/Microsoft.Insights/diagnosticSettingsCategories[/{name}]`.
fn categories(st: &State, id: &ResId) -> Result<Value, ApiError> {
    if id.scope_is_resource() && !st.exists(&id.scope) {
        return Err(ApiError::not_found(&id.scope));
    }
    let scope = id.scope.to_ascii_lowercase();
    let all: Vec<Value> = categories_for(&scope_type(st, &id.scope)).iter().map(|(name, kind, groups)| {
        let mut props = json!({ "categoryType": kind });
        if !groups.is_empty() {
            props["categoryGroups"] = json!(groups);
        }
        json!({
            "id": format!("{scope}/providers/microsoft.insights/diagnosticSettingsCategories/{name}"),
            "type": "microsoft.insights/diagnosticSettingsCategories",
            "name": name,
            "properties": props
        })
    }).collect();
    if id.is_instance() {
        return all
            .into_iter()
            .find(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(id.name()))
            })
            .ok_or_else(|| ApiError::not_found(&id.display()));
    }
    Ok(json!({ "value": all }))
}
