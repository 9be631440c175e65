//! Microsoft.Insights action groups (2023-01-01) and activity-log alerts (2020-10-01), as in
//! Azure/azure-rest-api-specs specification/monitor/resource-manager/Microsoft.Insights/stable/
//! {2023-01-01/examples/getActionGroup.json, 2020-10-01/examples/
//! ActivityLogAlertRule_CreateOrUpdate.json}. Both synchronous, `location: Global`, flat
//! `{code, message}` errors like the rest of Insights. Validation as Azure does it: a group
//! short name of at most 12 characters, an alert with at least one scope and an `allOf`
//! condition. GET shows the rewrites Azure makes (MONITORING.md): `microsoft.insights`
//! lower-cased in ids (and action group ids in alerts), the leading `/` of scopes dropped,
//! condition field names capitalised (`category` → `Category`), a `status` on each e-mail
//! receiver.

use serde_json::{json, Value};

use crate::emulator::config::EmulatorConfig;
use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;
use crate::emulator::provider::{Info, Provider, Write};
use crate::emulator::spec::{Spec, TypeDef};
use crate::emulator::store::State;

const GROUP_TYPE: &str = "Microsoft.Insights/actionGroups";
const ALERT_TYPE: &str = "Microsoft.Insights/activityLogAlerts";

const INFO: Info = Info {
    namespace: "Microsoft.Insights",
    api_versions: &["2020-10-01", "2023-01-01"],
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

    fn prepare(&self, _cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, .. } = w;
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
        if let Some(id) = body["id"].as_str() {
            body["id"] = json!(lower_provider(id));
        }
        let props = &mut body["properties"];
        if let Some(receivers) = props["emailReceivers"].as_array_mut() {
            for r in receivers {
                r["status"] = json!("Enabled");
            }
        }
        if let Some(scopes) = props["scopes"].as_array_mut() {
            for s in scopes {
                if let Some(t) = s.as_str() {
                    *s = json!(t.trim_start_matches('/'));
                }
            }
        }
        if let Some(all) = props["condition"]["allOf"].as_array_mut() {
            all.iter_mut().for_each(capitalise_fields);
        }
        if let Some(groups) = props["actions"]["actionGroups"].as_array_mut() {
            for g in groups {
                if let Some(id) = g["actionGroupId"].as_str() {
                    g["actionGroupId"] = json!(lower_provider(id));
                }
            }
        }
    }
}

/// `/providers/Microsoft.Insights/` as the service writes it: lower-case.
fn lower_provider(id: &str) -> String {
    id.replace(
        "/providers/Microsoft.Insights/",
        "/providers/microsoft.insights/",
    )
}

/// `category` → `Category`, in a leaf and in the leaves of an `anyOf`.
fn capitalise_fields(leaf: &mut Value) {
    if let Some(any) = leaf["anyOf"].as_array_mut() {
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
