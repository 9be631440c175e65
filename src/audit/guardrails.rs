//! `MOAT-GV-001`: a guardrail of the blueprint is missing or weaker in Azure than declared.
//!
//! moat's plan judges only moat's own assignment (by its name). The audit judges what applies:
//! for each guardrail (scope, control, effect) the assignments that apply at the scope
//! (`$filter=atScope()`: at it and above, whoever made them) of any built-in of the control,
//! and for each account in the scope the exemptions that apply to it (`atScope()` at the
//! account). Findings:
//! - **missing**: no assignment of the control's built-ins applies at the scope;
//! - **weaker**: none applies with the declared strength, enforced and excluding no account of
//!   the scope: an `Audit` where the blueprint says `deny`, `enforcementMode: DoNotEnforce`,
//!   an effect of `Disabled`, or a `notScopes` entry covering an account;
//! - **foreign exemption**: an unexpired exemption moat did not make (no
//!   `metadata.managed-by: moat`) of one of those assignments, covering an account. Waived when
//!   the instance's blueprint exception waives the control (it says the same thing), else not.
//!
//! Reads: one assignment list per guardrail scope, one exemption list per account in it, each
//! once per audit (the cache), through the audit's read-only client.

use serde_json::{json, Value};

use crate::arm::{ArmApi, ArmError};
use crate::blueprint::guardrails::{built_in, BUILT_INS};
use crate::blueprint::resolved::{Blueprint, Guard, Instance};
use crate::model::Plan;
use crate::resources::{policy_assignment, policy_exemption, OWNER_TAG, OWNER_VALUE};
use crate::values::norm_id;

use super::cache::{guid_of, Cache};
use super::{rules, Evidence, Finding};

const RULE: &str = "MOAT-GV-001";
const ASSIGNMENTS: &str = "Microsoft.Authorization/policyAssignments";
const EXEMPTIONS: &str = "Microsoft.Authorization/policyExemptions";

/// The items of the list at `path` that apply there (`$filter=atScope()`: at it and above);
/// none when the scope does not exist (yet).
async fn applying_at(
    api: &dyn ArmApi,
    cache: &mut Cache,
    path: &str,
    api_version: &str,
) -> Result<Vec<Value>, ArmError> {
    match cache.list(api, path, api_version, Some("atScope()")).await {
        Ok(items) => Ok(items.to_vec()),
        Err(ArmError::Response { status: 404, .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// How strongly an effect holds a control: Disabled < Audit(IfNotExists) < the rest (Deny,
/// Modify, DeployIfNotExists: each makes the control hold, by refusing or by changing).
fn strength(effect: &str) -> u8 {
    match effect.to_ascii_lowercase().as_str() {
        "disabled" => 0,
        "audit" | "auditifnotexists" => 1,
        _ => 2,
    }
}

/// An assignment of one of `g`'s control's built-ins, with its effect (the parameter, else
/// the built-in's default: its first blueprint effect, in Azure's spelling).
fn effect_of(g: &Guard, a: &Value) -> Option<String> {
    let guid = guid_of(a["properties"]["policyDefinitionId"].as_str()?);
    let b = BUILT_INS
        .iter()
        .find(|b| b.control == g.control && b.definition.eq_ignore_ascii_case(&guid))?;
    let given = a
        .pointer("/properties/parameters/effect/value")
        .and_then(Value::as_str);
    Some(match given {
        Some(e) => e.to_string(),
        None => {
            let mut d = b.effects[0].to_string();
            d[..1].make_ascii_uppercase();
            d
        }
    })
}

fn covers(scope: &str, id: &str) -> bool {
    let (s, i) = (norm_id(scope), norm_id(id));
    let s = s.trim_end_matches('/');
    i == s || i.starts_with(&format!("{s}/"))
}

/// What keeps `a` from holding `g` on the accounts of `members`: its evidence, empty when it
/// holds.
fn weakness(g: &Guard, a: &Value, effect: &str, members: &[String]) -> Vec<Evidence> {
    let p = &a["properties"];
    let mut out = Vec::new();
    if strength(effect) < strength(&g.effect) {
        out.push(Evidence {
            path: "properties.parameters.effect.value".into(),
            observed: Some(json!(effect)),
            expected: Some(json!(g.effect)),
        });
    }
    let mode = p["enforcementMode"].as_str().unwrap_or("Default");
    if mode.eq_ignore_ascii_case("DoNotEnforce") {
        out.push(Evidence {
            path: "properties.enforcementMode".into(),
            observed: Some(json!(mode)),
            expected: Some(json!("Default")),
        });
    }
    let excluded: Vec<&str> = p["notScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|n| members.iter().any(|m| covers(n, m)))
        .collect();
    if !excluded.is_empty() {
        out.push(Evidence {
            path: "properties.notScopes".into(),
            observed: Some(json!(excluded)),
            expected: Some(json!([])),
        });
    }
    out
}

fn finding(inst: &str, resource_id: &str, address: String, evidence: Vec<Evidence>) -> Finding {
    Finding {
        rule: rules::rule(RULE).expect("the guardrail rule exists"),
        instance: inst.to_string(),
        resource_id: resource_id.to_string(),
        address,
        evidence,
        waived_by: None,
    }
}

/// The MOAT-GV-001 findings of every guardrail of the judged blueprint.
pub async fn findings(
    api: &dyn ArmApi,
    judged: &Blueprint,
    plan: &Plan,
    cache: &mut Cache,
) -> Result<Vec<Finding>, ArmError> {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut done: Vec<(String, String)> = Vec::new();
    for inst in &judged.instances {
        for g in &inst.guardrails {
            let key = (norm_id(&g.scope), g.control.clone());
            if done.contains(&key) {
                continue;
            }
            done.push(key);
            let members: Vec<&Instance> = judged
                .instances
                .iter()
                .filter(|i| g.members.contains(&i.name))
                .collect();
            let accounts: Vec<String> = members.iter().map(|i| i.account_id()).collect();
            let path = format!("{}/providers/{ASSIGNMENTS}", g.scope);
            let listed = applying_at(api, cache, &path, policy_assignment::API_VERSION).await?;
            let applying: Vec<(&Value, String)> = listed
                .iter()
                .filter_map(|a| Some((a, effect_of(g, a)?)))
                .collect();
            let address = format!("{}/guardrail/{}", inst.name, g.control);
            let holds = applying
                .iter()
                .any(|(a, e)| weakness(g, a, e, &accounts).is_empty());
            if applying.is_empty() {
                out.push(finding(
                    &inst.name,
                    &g.scope,
                    address,
                    vec![Evidence {
                        path: "policyAssignments".into(),
                        observed: None,
                        expected: Some(json!(format!(
                            "controls.{} enforced with {} at {}",
                            g.control, g.effect, g.scope
                        ))),
                    }],
                ));
            } else if !holds {
                for (a, e) in &applying {
                    let id = a["id"].as_str().unwrap_or_default();
                    out.push(finding(
                        &inst.name,
                        id,
                        address.clone(),
                        weakness(g, a, e, &accounts),
                    ));
                }
            }
            let ids: Vec<&str> = applying
                .iter()
                .filter_map(|(a, _)| a["id"].as_str())
                .collect();
            for m in &members {
                let account = m.account_id();
                let path = format!("{account}/providers/{EXEMPTIONS}");
                let exemptions =
                    applying_at(api, cache, &path, policy_exemption::API_VERSION).await?;
                out.extend(
                    exemptions
                        .iter()
                        .filter_map(|x| foreign(m, g, x, &ids, &now, plan)),
                );
            }
        }
    }
    Ok(out)
}

/// A finding for `x` when it is an unexpired exemption moat did not make of one of `ids`.
fn foreign(
    inst: &Instance,
    g: &Guard,
    x: &Value,
    ids: &[&str],
    now: &str,
    plan: &Plan,
) -> Option<Finding> {
    let p = &x["properties"];
    let of = p["policyAssignmentId"].as_str()?;
    let ours = p["metadata"][OWNER_TAG]
        .as_str()
        .is_some_and(|o| o.eq_ignore_ascii_case(OWNER_VALUE));
    let live = p["expiresOn"]
        .as_str()
        .is_none_or(|e| e.get(..19).unwrap_or(e) > now.get(..19).unwrap_or(now));
    if ours || !live || !ids.iter().any(|i| norm_id(i) == norm_id(of)) {
        return None;
    }
    let id = x["id"].as_str().unwrap_or_default();
    let name = x["name"].as_str().unwrap_or_default();
    let what = format!(
        "{} exemption {name} of {of}{}",
        p["exemptionCategory"].as_str().unwrap_or("an"),
        p["description"]
            .as_str()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    let mut f = finding(
        &inst.name,
        id,
        format!("{}/policy-exemption/{name}", inst.name),
        vec![Evidence {
            path: "policyExemptions".into(),
            observed: Some(json!(what)),
            expected: Some(json!(format!(
                "no exemption from controls.{} that moat did not make",
                g.control
            ))),
        }],
    );
    let kind = built_in(&g.control)?.exception.as_str();
    f.waived_by = plan
        .instances
        .iter()
        .find(|i| i.name == inst.name)
        .and_then(|i| i.exceptions.iter().find(|e| e.allows == kind))
        .map(|e| e.describe());
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(effect: &str) -> Guard {
        Guard {
            scope: "/subscriptions/s/resourceGroups/rg".into(),
            control: "localAuth".into(),
            effect: effect.into(),
            members: Vec::new(),
            accounts: Vec::new(),
            location: String::new(),
            parameters: Default::default(),
            remediate: false,
        }
    }

    #[test]
    fn an_audit_where_deny_is_declared_or_a_switched_off_assignment_is_weaker() {
        let g = guard("Deny");
        let accounts = vec![
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a"
                .to_string(),
        ];
        let a = |params: Value, mode: &str, not: Value| {
            json!({"properties": {
            "policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/71EF260A-8f18-47b7-abcb-62d0673d94dc",
            "parameters": params, "enforcementMode": mode, "notScopes": not}})
        };
        let deny = a(json!({"effect": {"value": "Deny"}}), "Default", json!([]));
        assert_eq!(effect_of(&g, &deny).as_deref(), Some("Deny"));
        assert!(weakness(&g, &deny, "Deny", &accounts).is_empty());
        // No effect parameter: the built-in's default, Audit.
        let default = a(json!({}), "Default", json!([]));
        assert_eq!(effect_of(&g, &default).as_deref(), Some("Audit"));
        assert_eq!(
            weakness(&g, &default, "Audit", &accounts)[0].path,
            "properties.parameters.effect.value"
        );
        let off = a(
            json!({"effect": {"value": "Deny"}}),
            "DoNotEnforce",
            json!(["/subscriptions/s/resourceGroups/rg"]),
        );
        let w = weakness(&g, &off, "Deny", &accounts);
        assert_eq!(
            w.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["properties.enforcementMode", "properties.notScopes"]
        );
        // An audit guardrail is held by a Deny (stronger) and by an Audit.
        assert!(weakness(&guard("Audit"), &deny, "Deny", &accounts).is_empty());
        // Another control's built-in is not this guard's.
        let other = json!({"properties": {"policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/037eea7a-bd0a-46c5-9a66-03aea78705d3"}});
        assert_eq!(effect_of(&g, &other), None);
    }
}
