//! Policy parameters and Azure Policy's DeployIfNotExists, for the built-ins the emulator knows
//! (src/emulator/providers/policy.rs).
//!
//! - Parameters ([`check`]): an assignment may only give the parameters its definition
//!   declares (400 `UndefinedPolicyParameter`, the message Azure sends: "The policy assignment
//!   '…' has the parameter(s) '…' which are not defined in the policy definition '…'."), must
//!   give those without a default (400 `MissingPolicyParameter`; the code is ARM's, the wording
//!   here is not verified), and a value outside `allowedValues` is refused (400
//!   `InvalidPolicyParameterValue`).
//! - DeployIfNotExists ([`deploy_if_not_exists`]) of the diagnostics built-in 55d1f543 (Azure/
//!   azure-policy `built-in-policies/policyDefinitions/Monitoring/DS_LA_cognitiveservices-
//!   accounts_DINE.json`): after a successful create or update of an account in the scope of an
//!   enforced, unexempted assignment, when the account's location is in `resourceLocationList`
//!   (`["*"]` is every location) and no diagnostic setting on the account satisfies the
//!   existenceCondition (exactly one `audit` and one `allLogs` category-group entry, each
//!   enabled exactly when it is the `categoryGroup` parameter, and `workspaceId` equal to
//!   `logAnalytics`), the emulator writes the template's setting: `diagnosticSettingName` on the
//!   account, those two entries, `metrics: []`. Azure runs the deployment some minutes later as
//!   the assignment's identity and records it on the assignment; the emulator writes at once,
//!   does not check the identity's role, and skips the deployment when the workspace does not
//!   exist (Azure's deployment would fail).

use serde_json::{json, Value};

use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;

/// A parameter of a built-in other than `effect`: its name, default (JSON text; `None` means
/// the assignment must give it) and `allowedValues` (empty: any).
pub struct Param {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub allowed: &'static [&'static str],
}

/// The parameters of 55d1f543 besides `effect`.
pub const DIAGNOSTICS_DINE: &[Param] = &[
    Param {
        name: "diagnosticSettingName",
        default: Some("\"setByPolicy-LogAnalytics\""),
        allowed: &[],
    },
    Param {
        name: "categoryGroup",
        default: Some("\"audit\""),
        allowed: &["audit", "allLogs"],
    },
    Param {
        name: "resourceLocationList",
        default: Some("[\"*\"]"),
        allowed: &[],
    },
    Param {
        name: "logAnalytics",
        default: None,
        allowed: &[],
    },
];

/// Validate the `parameters` of an assignment named `assignment` of built-in `definition`
/// (its `effect` values and other parameters) as Azure does.
pub fn check(
    assignment: &str,
    definition: &str,
    effects: &[&str],
    params: &[Param],
    given: Option<&Value>,
) -> Result<(), ApiError> {
    let given = given.and_then(Value::as_object);
    let value = |name: &str| given.and_then(|g| g.get(name)).map(|p| &p["value"]);
    let undefined: Vec<&str> = given
        .into_iter()
        .flat_map(|g| g.keys())
        .filter(|k| *k != "effect" && !params.iter().any(|p| p.name == k.as_str()))
        .map(String::as_str)
        .collect();
    if !undefined.is_empty() {
        return Err(ApiError::bad_request(
            "UndefinedPolicyParameter",
            format!("The policy assignment '{assignment}' has the parameter(s) '{}' which are not defined in the policy definition '{definition}'.", undefined.join(",")),
        ));
    }
    let allowed =
        std::iter::once(("effect", effects)).chain(params.iter().map(|p| (p.name, p.allowed)));
    for (name, values) in allowed.filter(|(_, v)| !v.is_empty()) {
        if let Some(v) = value(name) {
            let ok = v
                .as_str()
                .is_some_and(|s| values.iter().any(|a| a.eq_ignore_ascii_case(s)));
            if !ok {
                return Err(ApiError::bad_request(
                    "InvalidPolicyParameterValue",
                    format!("The policy parameter '{name}' value '{}' is not allowed. Allowed values: {}.", v.as_str().map_or(v.to_string(), str::to_string), values.join(", ")),
                ));
            }
        }
    }
    if let Some(p) = params
        .iter()
        .find(|p| p.default.is_none() && value(p.name).is_none_or(Value::is_null))
    {
        return Err(ApiError::bad_request(
            "MissingPolicyParameter",
            format!("The policy assignment '{assignment}' does not give a value for the parameter '{}' of the policy definition '{definition}', which has no default value.", p.name),
        ));
    }
    Ok(())
}

/// A parameter's value in an assignment, or its default.
fn param(assignment: &Value, params: &[Param], name: &str) -> Value {
    assignment
        .pointer(&format!("/properties/parameters/{name}/value"))
        .cloned()
        .or_else(|| {
            let p = params.iter().find(|p| p.name == name)?;
            serde_json::from_str(p.default?).ok()
        })
        .unwrap_or(Value::Null)
}

/// The existenceCondition of 55d1f543 on one setting.
fn satisfies(setting: &Value, group: &str, workspace: &str) -> bool {
    let logs = setting
        .pointer("/properties/logs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let count = |name: &str| {
        logs.iter()
            .filter(|l| {
                l["categoryGroup"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(name))
                    && l["enabled"].as_bool() == Some(name.eq_ignore_ascii_case(group))
            })
            .count()
    };
    count("audit") == 1
        && count("allLogs") == 1
        && setting
            .pointer("/properties/workspaceId")
            .and_then(Value::as_str)
            .is_some_and(|w| w.eq_ignore_ascii_case(workspace))
}

/// Azure Policy's DeployIfNotExists after a successful write of the account `account_id`
/// (stored body `account`): the diagnostic setting of every assignment in `applying` (the
/// enforced DeployIfNotExists assignments that reach the account, with their built-in's
/// parameters; `policy::deploy_if_not_exists` finds them) whose existenceCondition no setting
/// on the account satisfies.
pub fn deploy(
    cx: &mut Cx,
    account_id: &str,
    account: &Value,
    applying: &[(Value, &'static [Param])],
) {
    let location = account["location"].as_str().unwrap_or_default();
    let deployments: Vec<(String, String, String)> = applying
        .iter()
        .filter_map(|(a, params)| {
            let params = *params;
            let name = param(a, params, "diagnosticSettingName");
            let group = param(a, params, "categoryGroup");
            let workspace = param(a, params, "logAnalytics");
            let locations = param(a, params, "resourceLocationList");
            let list: Vec<&str> = locations
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let here =
                list.first() == Some(&"*") || list.iter().any(|l| l.eq_ignore_ascii_case(location));
            Some((
                name.as_str()?.to_string(),
                group.as_str()?.to_string(),
                workspace.as_str()?.to_string(),
            ))
            .filter(|_| here)
        })
        .collect();
    let scope = format!("{account_id}/providers/Microsoft.Insights");
    for (name, group, workspace) in deployments {
        let settings = cx.st.children(&scope, "diagnosticSettings");
        if settings.iter().any(|s| satisfies(s, &group, &workspace)) || !cx.st.exists(&workspace) {
            continue;
        }
        let logs: Vec<Value> = ["audit", "allLogs"]
            .iter()
            .map(|g| json!({"categoryGroup": g, "enabled": g.eq_ignore_ascii_case(&group)}))
            .collect();
        cx.st.insert(json!({
            "id": format!("{scope}/diagnosticSettings/{name}"),
            "name": name,
            "type": "Microsoft.Insights/diagnosticSettings",
            "properties": {"workspaceId": workspace, "logs": logs, "metrics": []},
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked_like_azure() {
        let def = "55d1f543-d1b0-4811-9663-d6d0dbc6326d";
        let effects = &["DeployIfNotExists", "AuditIfNotExists", "Disabled"];
        let ok = json!({"effect": {"value": "DeployIfNotExists"}, "logAnalytics": {"value": "/w"}});
        assert!(check("a", def, effects, DIAGNOSTICS_DINE, Some(&ok)).is_ok());
        let code = |given: Value| {
            check("a", def, effects, DIAGNOSTICS_DINE, Some(&given))
                .unwrap_err()
                .code
        };
        assert_eq!(
            code(json!({"effect": {"value": "Deny"}})),
            "InvalidPolicyParameterValue"
        );
        assert_eq!(
            code(json!({"effect": {"value": "DeployIfNotExists"}})),
            "MissingPolicyParameter"
        );
        assert_eq!(
            code(json!({"logAnalytics": {"value": "/w"}, "categoryGroup": {"value": "none"}})),
            "InvalidPolicyParameterValue"
        );
        assert_eq!(
            code(json!({"logAnalytics": {"value": "/w"}, "workspace": {"value": "/w"}})),
            "UndefinedPolicyParameter"
        );
    }

    #[test]
    fn the_existence_condition_wants_both_groups_once() {
        let ws = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w";
        let s =
            |logs: Value| json!({"properties": {"workspaceId": ws.to_uppercase(), "logs": logs}});
        let both = json!([{"categoryGroup": "audit", "enabled": false}, {"categoryGroup": "allLogs", "enabled": true}]);
        assert!(satisfies(&s(both.clone()), "allLogs", ws));
        assert!(!satisfies(&s(both), "audit", ws));
        assert!(!satisfies(
            &s(json!([{"categoryGroup": "allLogs", "enabled": true}])),
            "allLogs",
            ws
        ));
    }
}
