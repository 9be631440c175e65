//! Microsoft.PolicyInsights remediations (stable 2024-10-01, REST spec `stable/2024-10-01/
//! remediations.json` and `examples/Remediations_*`): a one-shot task that applies a Modify
//! assignment to the existing resources of its scope that break it.
//!
//! An extension resource at a subscription, resource group or resource. ARM refuses (400
//! `InvalidCreateRemediationRequest`, "The request to create remediation '{name}' is invalid.
//! …", the code Azure PowerShell's tests show) a body without `policyAssignmentId`, an assignment
//! that does not exist, is not at or above the task's scope, has no Modify / DeployIfNotExists
//! effect or no managed identity, a `resourceDiscoveryMode` outside its enum, and a
//! `resourceIds` filter that is empty, longer than 100 or combined with `ReEvaluateCompliance`.
//!
//! The task runs when it is written (Azure answers `Accepted` and finishes later; the emulator
//! finishes at once and answers with the outcome): every account in scope (and in the filters)
//! that the assignment's Modify applies to (`notScopes`, exemptions: `policy::remediation_of`)
//! and that does not comply is changed as the assignment's identity — when that identity holds
//! a role assignment at or above the account, else the account's deployment fails, as on Azure
//! ("does not have authorization to perform action"), as it does when the resulting account
//! breaks an enforced Deny (the task's write is an ordinary write). `provisioningState` is `Succeeded`, or
//! `Failed` when a deployment failed; `deploymentStatus` counts them. Both discovery modes
//! evaluate the accounts as they are now (the emulator keeps no compliance records).

use serde_json::{json, Value};

use super::policy::{covers, find, remediation_of, scope_of};
use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;
use crate::emulator::provider::{Info, Provider, Write};
use crate::emulator::spec::{lookup, Placement, Spec, TypeDef};
use crate::emulator::store::{prop_str, props, EtagStyle};

const REMEDIATION: &str = "Microsoft.PolicyInsights/remediations";
const ACCOUNT: &str = "Microsoft.CognitiveServices/accounts";
const ROLE_ASSIGNMENT: &str = "Microsoft.Authorization/roleAssignments";

const INFO: Info = Info {
    namespace: "Microsoft.PolicyInsights",
    api_versions: &["2024-10-01", "2021-10-01", "2019-07-01"],
    types: &[TypeDef {
        name: REMEDIATION,
        spec: Spec {
            system_data: true,
            delete_body: true,
            ..Spec::SYNC
        },
        placement: Placement::Extension,
        ..TypeDef::BASE
    }],
};

pub struct PolicyInsights;

impl Provider for PolicyInsights {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let id = w.id.display();
        let name = w.id.name().to_string();
        let invalid = |why: String| {
            ApiError::bad_request(
                "InvalidCreateRemediationRequest",
                format!("The request to create remediation '{name}' is invalid. {why}"),
            )
        };
        let mut body = w.body;
        let pa = prop_str(&body, "policyAssignmentId")
            .ok_or_else(|| invalid("The policy assignment ID is required.".into()))?
            .to_string();
        let mode = prop_str(&body, "resourceDiscoveryMode")
            .unwrap_or("ExistingNonCompliant")
            .to_string();
        if !["ExistingNonCompliant", "ReEvaluateCompliance"].contains(&mode.as_str()) {
            return Err(invalid(format!("The resource discovery mode '{mode}' is not supported. Allowed values: ExistingNonCompliant, ReEvaluateCompliance.")));
        }
        let ids = body.pointer("/properties/filters/resourceIds").cloned();
        if let Some(list) = ids.as_ref().and_then(Value::as_array) {
            if list.is_empty() || list.len() > 100 {
                return Err(invalid(
                    "The resource ID filter must list between 1 and 100 resource IDs.".into(),
                ));
            }
            if mode == "ReEvaluateCompliance" {
                return Err(invalid("Resource ID filters cannot be used when re-evaluating compliance before remediation.".into()));
            }
        }
        let assignment = find(cx.st, &pa)
            .cloned()
            .ok_or_else(|| invalid(format!("The policy assignment '{pa}' could not be found.")))?;
        let a_scope = prop_str(&assignment, "scope")
            .unwrap_or_default()
            .to_string();
        let scope = scope_of_remediation(&id);
        if !covers(&a_scope, &scope) {
            return Err(invalid(format!("The remediation scope '{scope}' must be at or under the scope '{a_scope}' of the policy assignment.")));
        }
        let effect = assignment
            .pointer("/properties/parameters/effect/value")
            .and_then(Value::as_str)
            .unwrap_or("Modify");
        if !["Modify", "DeployIfNotExists"]
            .iter()
            .any(|e| e.eq_ignore_ascii_case(effect))
        {
            return Err(invalid(format!("The policy assignment '{pa}' does not contain any policy definitions with effect 'deployIfNotExists' or 'modify'.")));
        }
        let Some(principal) = assignment
            .pointer("/identity/principalId")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Err(invalid(format!(
                "The policy assignment '{pa}' does not have a managed identity."
            )));
        };
        let locations: Option<Vec<String>> = body
            .pointer("/properties/filters/locations")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.replace(' ', "").to_ascii_lowercase())
                    .collect()
            });
        let (ok, failed) = run(
            cx,
            &assignment,
            &principal,
            &scope,
            locations.as_deref(),
            ids.as_ref(),
        );
        let now = cx.timestamp();
        let created = w
            .existing
            .and_then(|e| e.pointer("/properties/createdOn").cloned())
            .unwrap_or_else(|| json!(now));
        let correlation = cx.st.new_guid("remediation-correlation");
        let p = props(&mut body);
        p.insert("resourceDiscoveryMode".into(), json!(mode));
        p.insert(
            "provisioningState".into(),
            json!(if failed > 0 { "Failed" } else { "Succeeded" }),
        );
        p.insert("createdOn".into(), created);
        p.insert("lastUpdatedOn".into(), json!(now));
        p.insert(
            "deploymentStatus".into(),
            json!({"totalDeployments": ok + failed, "successfulDeployments": ok, "failedDeployments": failed}),
        );
        p.insert(
            "statusMessage".into(),
            json!(if failed > 0 {
                format!("{failed} resource(s) could not be remediated: the policy assignment's managed identity does not have authorization to perform action 'Microsoft.CognitiveServices/accounts/write', or the write was disallowed by policy.")
            } else {
                format!("{ok} resource(s) remediated.")
            }),
        );
        p.insert("correlationId".into(), json!(correlation));
        Ok(body)
    }
}

/// The scope a remediation hangs off: its id up to `/providers/Microsoft.PolicyInsights`.
fn scope_of_remediation(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    match lower.rfind("/providers/microsoft.policyinsights/") {
        Some(i) => id[..i].to_string(),
        None => String::new(),
    }
}

/// Apply the assignment's Modify to the accounts of `scope` it finds non-compliant: (fixed,
/// failed) counts. A failed one lacks its identity's role, or its write breaks an enforced
/// Deny (`RequestDisallowedByPolicy`, as any write).
fn run(
    cx: &mut Cx,
    assignment: &Value,
    principal: &str,
    scope: &str,
    locations: Option<&[String]>,
    ids: Option<&Value>,
) -> (u64, u64) {
    let now = cx.timestamp();
    let wanted = |a: &Value| {
        let id = a["id"].as_str().unwrap_or_default();
        let loc = a["location"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        covers(scope, id)
            && locations.is_none_or(|l| l.contains(&loc.replace(' ', "")))
            && ids.and_then(Value::as_array).is_none_or(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .any(|i| i.eq_ignore_ascii_case(id))
            })
    };
    let targets: Vec<(Value, &'static str, Value)> = cx
        .st
        .of_type(ACCOUNT)
        .filter(|a| wanted(a))
        .filter_map(|a| remediation_of(cx.st, &now, assignment, a).map(|(f, v)| (a.clone(), f, v)))
        .collect();
    let (mut ok, mut failed) = (0, 0);
    let style = lookup(ACCOUNT).map_or(EtagStyle::None, |t| t.spec.etag);
    for (mut account, field, value) in targets {
        let id = account["id"].as_str().unwrap_or_default().to_string();
        if !holds_role(cx, principal, &id) {
            failed += 1;
            continue;
        }
        props(&mut account).insert(field.into(), value);
        // The task's write is an ordinary account write: an enforced Deny refuses it.
        if super::policy::deny(cx, &id, &account).is_err() {
            failed += 1;
            continue;
        }
        if let Some(e) = cx.st.etag(style, cx.now) {
            account["etag"] = json!(e);
        }
        cx.st.insert(account);
        ok += 1;
    }
    (ok, failed)
}

/// Whether `principal` holds a role assignment at or above `id`.
fn holds_role(cx: &Cx, principal: &str, id: &str) -> bool {
    cx.st.of_type(ROLE_ASSIGNMENT).any(|r| {
        prop_str(r, "principalId").is_some_and(|p| p.eq_ignore_ascii_case(principal))
            && r["id"]
                .as_str()
                .is_some_and(|rid| covers(&scope_of(rid), id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_what_the_task_hangs_off() {
        assert_eq!(
            scope_of_remediation(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.PolicyInsights/remediations/r"
            ),
            "/subscriptions/s/resourceGroups/rg"
        );
    }
}
