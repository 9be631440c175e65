//! `guardrails:`: Azure Policy assignments at a subscription or resource-group scope, derived
//! from the control names the instances use (docs/guardrails.md).
//!
//! The schema table (`schema::GUARDRAIL`) checks the shape: known control names, effects the
//! built-in offers. Here the loader checks the scope, refuses a control guarded twice in one
//! scope, and gives every instance in a scope the guards that cover it ([`Guard`]), so the kinds,
//! which see one instance at a time, can plan the shared assignment (emitted once) and the
//! instance's exemption.

use std::collections::BTreeMap;

use serde_json::Value;

use super::diag::{Code, Diagnostic};
use super::resolved::{ExceptionKind, Guard, Instance};
use super::yaml::Node;

/// A guarded control's built-in definition (docs/guardrails-design.md, section 1).
pub struct BuiltIn {
    /// The control's key in `controls:` and in `guardrails[].controls`.
    pub control: &'static str,
    /// The built-in policy definition's name (a GUID).
    pub definition: &'static str,
    /// The blueprint effects (`guardrails[].controls` values) this built-in serves.
    pub effects: &'static [&'static str],
    /// The exception whose instances get a policy exemption.
    pub exception: ExceptionKind,
    pub display: &'static str,
    /// `policyRule.then.details.roleDefinitionIds` of a Modify / DeployIfNotExists built-in:
    /// `(GUID, role name)`. The assignment's managed identity gets each at the assignment
    /// scope (docs/guardrails-design.md, section 3a).
    pub roles: &'static [(&'static str, &'static str)],
}

/// Contributor: the `roleDefinitionIds` of both Modify built-ins (14de9e63, 47ba1dd7).
const CONTRIBUTOR: (&str, &str) = ("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor");

/// Log Analytics Contributor: the `roleDefinitionIds` of the diagnostics DeployIfNotExists
/// (55d1f543), which writes a diagnostic setting on the account.
const LOG_ANALYTICS_CONTRIBUTOR: (&str, &str) = (
    "92aaf0da-9dab-42b6-94a3-d43ce8d16293",
    "Log Analytics Contributor",
);

/// The controls a guardrail may name; `schema::GUARDRAIL_CONTROLS` lists the same keys.
pub const BUILT_INS: &[BuiltIn] = &[
    BuiltIn {
        control: "localAuth",
        definition: "71ef260a-8f18-47b7-abcb-62d0673d94dc",
        effects: &["audit", "deny"],
        exception: ExceptionKind::LocalAuth,
        display: "Azure AI Services resources should have key access disabled",
        roles: &[],
    },
    BuiltIn {
        control: "localAuth",
        definition: "14de9e63-1b31-492e-a5a3-c3f7fd57f555",
        effects: &["modify"],
        exception: ExceptionKind::LocalAuth,
        display: "Configure Cognitive Services accounts to disable local authentication methods",
        roles: &[CONTRIBUTOR],
    },
    BuiltIn {
        control: "networkAccess",
        definition: "037eea7a-bd0a-46c5-9a66-03aea78705d3",
        effects: &["audit", "deny"],
        exception: ExceptionKind::PublicNetworkAccess,
        display: "Azure AI Services resources should restrict network access",
        roles: &[],
    },
    BuiltIn {
        control: "networkAccess",
        definition: "47ba1dd7-28d9-4b07-a8d5-9813bed64e0c",
        effects: &["modify"],
        exception: ExceptionKind::PublicNetworkAccess,
        display: "Configure Cognitive Services accounts to disable public network access",
        roles: &[CONTRIBUTOR],
    },
    BuiltIn {
        control: "identity",
        definition: "fe3fd216-4f83-4fc1-8984-2bbec80a3418",
        effects: &["audit", "deny"],
        exception: ExceptionKind::NoManagedIdentity,
        display: "Cognitive Services accounts should use a managed identity",
        roles: &[],
    },
    BuiltIn {
        control: "privateEndpoint",
        definition: "d6759c02-b87f-42b7-892e-71b3f471d782",
        effects: &["audit"],
        exception: ExceptionKind::PublicNetworkAccess,
        display: "Azure AI Services resources should use Azure Private Link",
        roles: &[],
    },
    BuiltIn {
        control: "diagnostics",
        definition: "1b4d1c4e-934c-4703-944c-27c82c06bebb",
        effects: &["auditIfNotExists"],
        exception: ExceptionKind::ReducedLogging,
        display: "Diagnostic logs in Azure AI services resources should be enabled",
        roles: &[],
    },
    BuiltIn {
        control: "diagnostics",
        definition: "55d1f543-d1b0-4811-9663-d6d0dbc6326d",
        effects: &["deployIfNotExists"],
        exception: ExceptionKind::ReducedLogging,
        display: "Enable logging by category group for Cognitive Services (microsoft.cognitiveservices/accounts) to Log Analytics",
        roles: &[LOG_ANALYTICS_CONTRIBUTOR],
    },
];

/// The first built-in of a guarded control (every built-in of a control waives the same
/// exception).
pub fn built_in(control: &str) -> Option<&'static BuiltIn> {
    BUILT_INS.iter().find(|b| b.control == control)
}

/// The built-in a guard assigns: the one of its control that serves its effect.
pub fn built_in_of(g: &Guard) -> Option<&'static BuiltIn> {
    BUILT_INS
        .iter()
        .find(|b| b.control == g.control && b.effects.iter().any(|e| arm_effect(e) == g.effect))
}

/// The other built-ins of a guard's control, each as the guard that would assign it: moat's
/// assignment of one of them (an earlier effect) goes when the blueprint changes the effect.
pub fn siblings(g: &Guard) -> Vec<Guard> {
    let own = built_in_of(g).map(|b| b.definition);
    BUILT_INS
        .iter()
        .filter(|b| b.control == g.control && Some(b.definition) != own)
        .map(|b| Guard {
            effect: arm_effect(b.effects[0]).to_string(),
            ..g.clone()
        })
        .collect()
}

/// Every guard of an instance, each followed by its siblings: what moat may have assigned at
/// the guards' scopes (read, kept in use, and destroyed together).
pub fn with_siblings(guards: &[Guard]) -> Vec<Guard> {
    guards
        .iter()
        .flat_map(|g| std::iter::once(g.clone()).chain(siblings(g)))
        .collect()
}

/// Whether the guard's effect changes resources (Modify / DeployIfNotExists): its assignment
/// needs a managed identity, a location, and the identity's role assignments.
pub fn remediates(g: &Guard) -> bool {
    g.effect == "Modify" || g.effect == "DeployIfNotExists"
}

/// `/providers/Microsoft.Authorization/policyDefinitions/{guid}` of a guard's built-in.
pub fn definition_id(g: &Guard) -> String {
    let guid = built_in_of(g).map_or("", |b| b.definition);
    format!("/providers/Microsoft.Authorization/policyDefinitions/{guid}")
}

/// The scope as ARM writes it, or `None` when it is neither a subscription nor a resource group.
fn scope_of(text: &str) -> Option<String> {
    let guid = |s: &str| {
        s.len() == 36
            && s.chars().enumerate().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    if guid(text) {
        return Some(format!("/subscriptions/{}", text.to_lowercase()));
    }
    let parts: Vec<&str> = text.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["", s, sub] if s.eq_ignore_ascii_case("subscriptions") && guid(sub) => {
            Some(format!("/subscriptions/{}", sub.to_lowercase()))
        }
        ["", s, sub, r, rg]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups")
                && guid(sub)
                && !rg.is_empty() =>
        {
            Some(format!(
                "/subscriptions/{}/resourceGroups/{rg}",
                sub.to_lowercase()
            ))
        }
        _ => None,
    }
}

/// Whether `inst` is in `scope` (as [`scope_of`] writes it).
pub fn covers(scope: &str, inst: &Instance) -> bool {
    let sub = format!("/subscriptions/{}", inst.subscription.to_lowercase());
    let rg = format!("{sub}/resourceGroups/{}", inst.resource_group);
    scope.eq_ignore_ascii_case(&sub) || scope.eq_ignore_ascii_case(&rg)
}

/// Read `guardrails:` and give each instance the guards whose scope covers it. The shape is
/// already checked against the schema; items it refused are skipped.
pub fn attach(root: &Node, instances: &mut [Instance], out: &mut Vec<Diagnostic>) {
    let mut seen: Vec<(String, String, usize)> = Vec::new();
    for item in root
        .get("guardrails")
        .and_then(Node::as_seq)
        .unwrap_or_default()
    {
        let (Some(scope_node), Some(controls)) = (item.get("scope"), item.get("controls")) else {
            continue;
        };
        let Some(text) = scope_node.as_str() else {
            continue;
        };
        let Some(scope) = scope_of(text) else {
            out.push(
                Diagnostic::error(
                    &scope_node.loc,
                    format!("guardrail scope `{text}` is neither a subscription id nor a resource group id"),
                    Some("write a subscription id, or /subscriptions/{id}/resourceGroups/{name}".into()),
                )
                .with_code(Code::Value),
            );
            continue;
        };
        let members: Vec<String> = instances
            .iter()
            .filter(|i| covers(&scope, i))
            .map(|i| i.name.clone())
            .collect();
        if members.is_empty() {
            out.push(Diagnostic::warning(
                &scope_node.loc,
                format!("no instance of the blueprint is in the guardrail scope `{scope}`: nothing plans its assignments"),
                Some("moat plans a scope's assignments with the instances in it".into()),
            ));
        }
        let remediate = remediated(item, controls, out);
        for (key, value) in controls.as_map().unwrap_or_default() {
            let (Some(_), Some(effect)) = (built_in(&key.name), value.as_str()) else {
                continue;
            };
            let lower = scope.to_lowercase();
            if let Some((_, _, line)) = seen.iter().find(|(s, c, _)| *s == lower && *c == key.name)
            {
                out.push(
                    Diagnostic::error(
                        &key.loc,
                        format!(
                            "`{}` is guarded twice in scope `{scope}` (also on line {line})",
                            key.name
                        ),
                        Some("keep one effect per control and scope".into()),
                    )
                    .with_code(Code::Conflict),
                );
                continue;
            }
            seen.push((lower, key.name.clone(), key.loc.line));
            let effect = arm_effect(effect);
            let parameters = if key.name == "diagnostics" && effect == "DeployIfNotExists" {
                let covered: Vec<&Instance> =
                    instances.iter().filter(|i| covers(&scope, i)).collect();
                match diagnostics_parameters(&covered) {
                    Ok(p) => p,
                    Err(message) => {
                        out.push(
                            Diagnostic::error(&key.loc, message, Some(
                                "one DeployIfNotExists assignment deploys one setting: give the instances in the scope the same controls.diagnostics workspaceId, name and category group".into(),
                            ))
                            .with_code(Code::Conflict),
                        );
                        continue;
                    }
                }
            } else {
                BTreeMap::new()
            };
            let guard = Guard {
                scope: scope.clone(),
                control: key.name.clone(),
                effect: effect.to_string(),
                members: members.clone(),
                accounts: instances
                    .iter()
                    .filter(|i| covers(&scope, i))
                    .map(Instance::account_id)
                    .collect(),
                location: instances
                    .iter()
                    .find(|i| covers(&scope, i))
                    .map(|i| i.location.clone())
                    .unwrap_or_default(),
                parameters,
                remediate: remediate.contains(&key.name),
            };
            for inst in instances.iter_mut().filter(|i| covers(&scope, i)) {
                inst.guardrails.push(guard.clone());
            }
        }
    }
}

/// The parameters of the diagnostics DeployIfNotExists (55d1f543) from the instances in its
/// scope that declare `controls.diagnostics`: `logAnalytics` (their workspace),
/// `diagnosticSettingName` (their setting's name, so a deployment on a moat account writes
/// moat's setting, never a second one) and `categoryGroup` (`allLogs` when they log all,
/// else `audit`). One assignment deploys one setting: they must agree, else the message.
fn diagnostics_parameters(covered: &[&Instance]) -> Result<BTreeMap<String, Value>, String> {
    let declared: Vec<(&str, [String; 3])> = covered
        .iter()
        .filter_map(|i| {
            let d = &i.controls.diagnostics.as_ref()?.spec;
            let all = d
                .log_category_groups
                .iter()
                .any(|g| g.eq_ignore_ascii_case("allLogs"));
            let group = if all { "allLogs" } else { "audit" };
            Some((
                i.name.as_str(),
                [d.workspace_id.clone(), d.name.clone(), group.to_string()],
            ))
        })
        .collect();
    let Some((first, want)) = declared.first() else {
        return Err("a deployIfNotExists diagnostics guardrail deploys to the workspace of controls.diagnostics, and no instance in its scope declares one".into());
    };
    for (name, have) in &declared[1..] {
        for (i, what) in ["workspaceId", "name", "category group"].iter().enumerate() {
            let same = if i == 0 {
                have[i].eq_ignore_ascii_case(&want[i])
            } else {
                have[i] == want[i]
            };
            if !same {
                return Err(format!(
                    "the instances in the diagnostics guardrail's scope disagree on controls.diagnostics {what}: {first} has `{}`, {name} has `{}`",
                    want[i], have[i]
                ));
            }
        }
    }
    let [workspace, name, group] = want.clone();
    Ok(BTreeMap::from([
        ("logAnalytics".to_string(), Value::from(workspace)),
        ("diagnosticSettingName".to_string(), Value::from(name)),
        ("categoryGroup".to_string(), Value::from(group)),
    ]))
}

/// The diagnostics DeployIfNotExists guard covering `inst`, when one does: moat's own setting
/// must then satisfy the built-in's existenceCondition (one `audit` and one `allLogs` entry,
/// only its `categoryGroup` enabled), or Azure Policy would rewrite it.
pub fn diagnostics_deploy(inst: &Instance) -> Option<&Guard> {
    inst.guardrails
        .iter()
        .find(|g| g.control == "diagnostics" && g.effect == "DeployIfNotExists")
}

/// The controls `remediate` names, each checked against `controls`: a control the guardrail
/// does not guard, or guards with an effect that cannot change existing resources (audit,
/// deny), is an error at its line and column.
fn remediated(item: &Node, controls: &Node, out: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut names = Vec::new();
    for entry in item
        .get("remediate")
        .and_then(Node::as_seq)
        .unwrap_or_default()
    {
        let Some(name) = entry.as_str() else {
            continue;
        };
        let effect = controls.get(name).and_then(Node::as_str);
        let problem = match effect {
            None => format!("`remediate` names `{name}`, which this guardrail does not guard"),
            Some(e) if e != "modify" => format!(
                "`{name}: {e}` cannot remediate: only a `modify` guardrail changes existing accounts (moat does not start remediation tasks for deployIfNotExists yet)"
            ),
            Some(_) => {
                names.push(name.to_string());
                continue;
            }
        };
        out.push(
            Diagnostic::error(
                &entry.loc,
                problem,
                Some(format!(
                    "guard `{name}` with `modify` in this guardrail, or drop it from `remediate`"
                )),
            )
            .with_code(Code::Semantic),
        );
    }
    names
}

/// `deny` → `Deny`: the built-ins' `allowedValues` spelling.
fn arm_effect(effect: &str) -> &'static str {
    match effect {
        "deny" => "Deny",
        "modify" => "Modify",
        "deployIfNotExists" => "DeployIfNotExists",
        "auditIfNotExists" => "AuditIfNotExists",
        _ => "Audit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_subscriptions_or_resource_groups() {
        let sub = "00000000-0000-0000-0000-0000000000AA";
        assert_eq!(
            scope_of(sub).as_deref(),
            Some("/subscriptions/00000000-0000-0000-0000-0000000000aa")
        );
        assert_eq!(
            scope_of(&format!("/subscriptions/{sub}/resourceGroups/rg-ai/")).as_deref(),
            Some("/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-ai")
        );
        assert_eq!(scope_of("rg-ai"), None);
        assert_eq!(scope_of(&format!("/subscriptions/{sub}/providers/x")), None);
    }
}
