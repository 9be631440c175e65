//! Azure Policy's DeployIfNotExists, for the diagnostics built-in the emulator knows
//! (src/emulator/providers/policy.rs; its parameters: policy_params.rs).
//!
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

use super::policy_params::Param;
use crate::emulator::cx::Cx;

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
/// (stored body `account`): the diagnostic setting of every applying assignment of 55d1f543
/// whose existenceCondition no setting on the account satisfies.
pub fn deploy_if_not_exists(cx: &mut Cx, account_id: &str, account: &Value) {
    let location = account["location"].as_str().unwrap_or_default();
    let deployments: Vec<(String, String, String)> =
        super::policy::applying(cx, account_id, "DeployIfNotExists")
            .filter_map(|(a, b)| {
                let params = b.params;
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
                let here = list.first() == Some(&"*")
                    || list.iter().any(|l| l.eq_ignore_ascii_case(location));
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
