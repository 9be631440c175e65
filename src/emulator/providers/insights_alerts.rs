//! Microsoft.Insights action groups (2023-01-01), activity-log alerts (2020-10-01) and metric
//! alerts (2018-03-01), as in Azure/azure-rest-api-specs specification/monitor/resource-manager/
//! Microsoft.Insights/stable/{2023-01-01/examples/getActionGroup.json, 2020-10-01/examples/
//! ActivityLogAlertRule_CreateOrUpdate.json, 2018-03-01/examples/
//! createOrUpdateMetricAlertWithDimensions.json}. All synchronous, flat `{code, message}` errors
//! like the rest of Insights. Validation as Azure does it: a group short name of at most 12
//! characters; an alert with at least one scope and an `allOf` condition; a metric alert with a
//! severity 0-4, a window and frequency Azure Monitor allows (frequency not longer than the
//! window) and criteria. GET shows the rewrites Azure makes (MONITORING.md): `microsoft.insights`
//! lower-cased in ids (and action group ids in alerts), the leading `/` of activity-log scopes
//! dropped, condition field names capitalised (`category` → `Category`), a `status` on each
//! e-mail receiver; metric alerts gain `targetResourceType`, `targetResourceRegion` and a
//! `hidden-link:` tag naming the scoped resource.

use serde_json::{json, Value};

use crate::emulator::config::EmulatorConfig;
use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;
use crate::emulator::provider::{Info, Provider, Write};
use crate::emulator::spec::{Spec, TypeDef};
use crate::emulator::store::State;

const GROUP_TYPE: &str = "Microsoft.Insights/actionGroups";
const ALERT_TYPE: &str = "Microsoft.Insights/activityLogAlerts";
const METRIC_TYPE: &str = "Microsoft.Insights/metricAlerts";
const LOG_TYPE: &str = "Microsoft.Insights/scheduledQueryRules";
/// Window sizes and frequencies (minutes) Azure Monitor accepts for metric alerts.
const WINDOWS: &[(&str, u32)] = &[
    ("PT1M", 1),
    ("PT5M", 5),
    ("PT15M", 15),
    ("PT30M", 30),
    ("PT1H", 60),
    ("PT6H", 360),
    ("PT12H", 720),
    ("P1D", 1440),
];
const FREQUENCIES: &[&str] = &["PT1M", "PT5M", "PT15M", "PT30M", "PT1H"];

const INFO: Info = Info {
    namespace: "Microsoft.Insights",
    api_versions: &["2018-03-01", "2020-10-01", "2023-01-01", "2023-12-01"],
    types: &[
        TypeDef {
            name: GROUP_TYPE,
            spec: Spec {
                create_status: 201,
                ..Spec::SYNC
            },
            ..TypeDef::BASE
        },
        TypeDef {
            name: ALERT_TYPE,
            spec: Spec {
                create_status: 201,
                ..Spec::SYNC
            },
            ..TypeDef::BASE
        },
        TypeDef {
            name: METRIC_TYPE,
            spec: Spec {
                create_status: 201,
                ..Spec::SYNC
            },
            ..TypeDef::BASE
        },
        TypeDef {
            name: LOG_TYPE,
            spec: Spec {
                create_status: 201,
                ..Spec::SYNC
            },
            ..TypeDef::BASE
        },
    ],
};

pub struct InsightsAlerts;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("BadRequest", message)
}

impl Provider for InsightsAlerts {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn flat_errors(&self) -> bool {
        true
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, mut body, .. } = w;
        if id.is(LOG_TYPE) {
            check_log_alert(cx, &body)?;
            let storage = body["properties"]["checkWorkspaceAlertsStorageConfigured"] == true;
            body["properties"]["isWorkspaceAlertsStorageConfigured"] = json!(storage);
            if !body["tags"].is_object() {
                body["tags"] = json!({});
            }
            return Ok(body);
        }
        if id.is(METRIC_TYPE) {
            check_metric_alert(&body["properties"])?;
            target(cx, &mut body);
            return Ok(body);
        }
        let props = &body["properties"];
        if id.is(GROUP_TYPE) {
            match props["groupShortName"].as_str() {
                None | Some("") => return Err(bad("The groupShortName property is required.")),
                Some(s) if s.chars().count() > 12 => {
                    return Err(bad(format!(
                        "The groupShortName '{s}' is too long: at most 12 characters are allowed."
                    )))
                }
                Some(_) => {}
            }
        } else {
            let scopes = props["scopes"].as_array().map_or(0, Vec::len);
            if scopes == 0 {
                return Err(bad(
                    "The 'scopes' property is required and must contain at least one scope.",
                ));
            }
            if !props["condition"]["allOf"].is_array() {
                return Err(bad("The 'condition.allOf' property is required."));
            }
        }
        Ok(body)
    }

    fn render(&self, _st: &State, _cfg: &EmulatorConfig, _key: &str, body: &mut Value) {
        let body_type = body["type"].as_str().unwrap_or_default().to_string();
        if let Some(id) = body["id"].as_str() {
            body["id"] = json!(lower_provider(id));
        }
        let activity = body_is(&body_type, ALERT_TYPE);
        if body_is(&body_type, LOG_TYPE) {
            // Microsoft's answers: `microsoft.insights/scheduledqueryrules`, lower-cased in
            // the type and the id.
            body["type"] = json!(LOG_TYPE.to_ascii_lowercase());
            if let Some(id) = body["id"].as_str() {
                let id = id
                    .replace("/resourceGroups/", "/resourcegroups/")
                    .replace("/scheduledQueryRules/", "/scheduledqueryrules/");
                body["id"] = json!(id);
            }
        }
        // Stored bodies come from clients: reach into them without assuming their shape.
        for r in arr(body, "/properties/emailReceivers") {
            if let Some(o) = r.as_object_mut() {
                o.insert("status".into(), json!("Enabled"));
            }
        }
        if activity {
            for s in arr(body, "/properties/scopes") {
                if let Some(t) = s.as_str() {
                    *s = json!(t.trim_start_matches('/'));
                }
            }
        }
        arr(body, "/properties/condition/allOf").for_each(capitalise_fields);
        for path in ["/properties/actions", "/properties/actions/actionGroups"] {
            for g in arr(body, path) {
                if let Some(o) = g.as_object_mut() {
                    if let Some(id) = o.get("actionGroupId").and_then(Value::as_str) {
                        let id = lower_provider(id);
                        o.insert("actionGroupId".into(), json!(id));
                    }
                }
            }
        }
    }
}

/// The items of the array at `pointer`, none when it is missing or not an array.
fn arr<'a>(body: &'a mut Value, pointer: &str) -> impl Iterator<Item = &'a mut Value> {
    body.pointer_mut(pointer)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// What Azure refuses in a metric alert: a severity outside 0-4, no scope, a window or
/// frequency it does not offer, a frequency longer than the window, no criteria.
fn check_metric_alert(props: &Value) -> Result<(), ApiError> {
    match props["severity"].as_i64() {
        Some(0..=4) => {}
        _ => {
            return Err(bad(format!(
                "The severity '{}' is invalid: it must be an integer from 0 to 4.",
                props["severity"]
            )))
        }
    }
    if props["scopes"].as_array().is_none_or(Vec::is_empty) {
        return Err(bad(
            "The 'scopes' property is required and must contain at least one scope.",
        ));
    }
    let minutes = |v: &Value, allowed: &[&str]| {
        let s = v.as_str()?;
        allowed.iter().find(|a| a.eq_ignore_ascii_case(s))?;
        WINDOWS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(s))
            .map(|(_, m)| *m)
    };
    let windows: Vec<&str> = WINDOWS.iter().map(|(w, _)| *w).collect();
    let window = minutes(&props["windowSize"], &windows).ok_or_else(|| {
        bad(format!(
            "The windowSize '{}' is not supported: use one of {}.",
            props["windowSize"],
            windows.join(", ")
        ))
    })?;
    let frequency = minutes(&props["evaluationFrequency"], FREQUENCIES).ok_or_else(|| {
        bad(format!(
            "The evaluationFrequency '{}' is not supported: use one of {}.",
            props["evaluationFrequency"],
            FREQUENCIES.join(", ")
        ))
    })?;
    if frequency > window {
        return Err(bad(
            "The evaluationFrequency must not be longer than the windowSize.",
        ));
    }
    if props["criteria"]["allOf"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        return Err(bad("The 'criteria.allOf' property is required."));
    }
    Ok(())
}

/// What Azure refuses in a log alert: a severity outside 0-4, no location, no scope or a scope
/// that does not exist (the workspace is missing), a window or frequency that is not a
/// duration, a criterion without a query.
fn check_log_alert(cx: &Cx, body: &Value) -> Result<(), ApiError> {
    let props = &body["properties"];
    if !matches!(props["severity"].as_i64(), Some(0..=4)) {
        return Err(bad(format!(
            "The severity '{}' is invalid: it must be an integer from 0 to 4.",
            props["severity"]
        )));
    }
    if body["location"].as_str().is_none_or(str::is_empty) {
        return Err(bad("The 'location' property is required."));
    }
    let scopes: Vec<&str> = props["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if scopes.is_empty() {
        return Err(bad(
            "The 'scopes' property is required and must contain at least one scope.",
        ));
    }
    if let Some(missing) = scopes.iter().find(|s| !cx.st.exists(s)) {
        return Err(bad(format!(
            "The scope '{missing}' could not be found: a log alert needs an existing workspace."
        )));
    }
    for key in ["windowSize", "evaluationFrequency"] {
        if !props[key].as_str().is_some_and(|d| d.starts_with('P')) {
            return Err(bad(format!(
                "The {key} '{}' is not an ISO 8601 duration.",
                props[key]
            )));
        }
    }
    let all = props["criteria"]["allOf"].as_array();
    if all.is_none_or(|a| {
        a.is_empty()
            || a.iter()
                .any(|c| c["query"].as_str().is_none_or(str::is_empty))
    }) {
        return Err(bad("Each criterion of 'criteria.allOf' needs a query."));
    }
    Ok(())
}

/// What Azure adds to a metric alert scoped to one resource: its type and region, and a
/// `hidden-link:` tag naming it.
fn target(cx: &Cx, body: &mut Value) {
    let Some(scope) = body["properties"]["scopes"][0].as_str().map(str::to_string) else {
        return;
    };
    let Some(res) = cx.st.get(&scope) else { return };
    let (kind, region) = (res["type"].clone(), res["location"].clone());
    body["properties"]["targetResourceType"] = kind;
    body["properties"]["targetResourceRegion"] = region;
    if !body["tags"].is_object() {
        body["tags"] = json!({});
    }
    body["tags"][format!("hidden-link:{scope}")] = json!("Resource");
}

/// `/providers/Microsoft.Insights/` as the service writes it: lower-case.
fn lower_provider(id: &str) -> String {
    id.replace(
        "/providers/Microsoft.Insights/",
        "/providers/microsoft.insights/",
    )
}

fn body_is(t: &str, want: &str) -> bool {
    t.eq_ignore_ascii_case(want)
}

/// `category` → `Category`, in a leaf and in the leaves of an `anyOf`.
fn capitalise_fields(leaf: &mut Value) {
    if let Some(any) = leaf.get_mut("anyOf").and_then(Value::as_array_mut) {
        any.iter_mut().for_each(capitalise_fields);
    }
    if let Some(f) = leaf.get("field").and_then(Value::as_str) {
        let mut c = f.chars();
        let up: String = c
            .next()
            .map(|h| h.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default();
        leaf["field"] = json!(up);
    }
}
