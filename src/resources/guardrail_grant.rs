//! The role assignments a Modify / DeployIfNotExists guardrail's managed identity needs
//! (`Microsoft.Authorization/roleAssignments` at the assignment's scope): one per
//! `roleDefinitionIds` entry of the built-in (both Modify built-ins name Contributor). Azure
//! Policy makes its changes as that identity; ARM does not create these assignments for an
//! SDK caller (docs/guardrails-design.md, section 3a).
//!
//! Shared like the policy assignment: planned by every instance in the scope, emitted once.
//! Named from (scope, role, policy assignment id), not from the principal, so the name is
//! stable before the identity exists. The principal is only known once the policy assignment
//! is written: when the plan creates the assignment (or its identity), the write depends on the
//! assignment's change (an edge in the plan) and carries a `bind` that apply fills from the
//! assignment's `identity.principalId` just before sending. `principalType: ServicePrincipal`
//! lets ARM skip the directory lookup of a new identity; a `PrincipalNotFound` while it
//! replicates is retried like every role assignment (`arm::retry`). Managed: existence (role,
//! principal); the description carries moat's owner marker.

use serde_json::{json, Value};

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::role_assignment::{self, assignment_name};
use super::{fingerprint, get_str, last_segment, policy_assignment, OWNER_MARKER};
use crate::arm::Method;
use crate::blueprint::guardrails::{built_in_of, remediates, siblings};
use crate::blueprint::resolved::{Guard, Instance};
use crate::model::{Action, Bind, Change, FieldChange, KindId, Write};

pub const KIND: KindId = KindId::new("guardrail-grant");

pub struct GuardrailGrantKind;

static META: Meta = Meta {
    label: "guardrail-grant",
    arm_type: "Microsoft.Authorization/roleAssignments",
    api_version: role_assignment::API_VERSION,
    shared: true,
    managed: role_assignment::MANAGED,
    read_only: &[],
    ignored: role_assignment::IGNORED,
    first_on_lock: false,
    weak: &[],
};

/// The role assignment of `role` at `scope` for the identity of `g`'s policy assignment.
pub fn id(g: &Guard, scope: &str, role: &str) -> String {
    let name = assignment_name(scope, role, &policy_assignment::id(g));
    role_assignment::id(scope, &name)
}

fn address(inst: &Instance, g: &Guard, scope: &str, role_name: &str) -> String {
    let at = if scope == g.scope { "" } else { "-workspace" };
    format!(
        "{}/guardrail-grant/{}/{}{at}",
        inst.name,
        policy_assignment::name(g),
        role_name.replace(' ', "-").to_ascii_lowercase()
    )
}

/// Where the identity of `g`'s assignment needs its roles: the assignment scope, and the
/// workspace of a diagnostics DeployIfNotExists when it is outside that scope (its
/// `logAnalytics` parameter has `assignPermissions: true`: the portal grants there too, an SDK
/// caller must; docs/guardrails-design.md, section 3a).
fn scopes(g: &Guard) -> Vec<String> {
    let mut out = vec![g.scope.clone()];
    let workspace = g.parameters.get("logAnalytics").and_then(Value::as_str);
    if let Some(w) = workspace {
        let (s, lw) = (g.scope.to_ascii_lowercase(), w.to_ascii_lowercase());
        if !lw.starts_with(&format!("{s}/")) {
            out.push(w.to_string());
        }
    }
    out
}

/// The addresses of the grants `g`'s assignment identity gets (a remediation waits for them).
pub fn addresses(inst: &Instance, g: &Guard) -> Vec<String> {
    grants(g)
        .iter()
        .map(|(g, scope, _, name)| address(inst, g, scope, name))
        .collect()
}

/// `/subscriptions/{s}` of a scope (`/subscriptions/{s}[/resourceGroups/{rg}]`).
fn subscription(scope: &str) -> &str {
    let end = scope
        .match_indices('/')
        .nth(2)
        .map_or(scope.len(), |(i, _)| i);
    &scope[..end]
}

/// The roles of a guard's built-in (none unless it remediates).
fn roles_of(g: &Guard) -> impl Iterator<Item = (&'static str, &'static str)> {
    built_in_of(g)
        .filter(|_| remediates(g))
        .map_or(&[][..], |b| b.roles)
        .iter()
        .copied()
}

/// One grant: the guard, the scope, the role's GUID and name.
type Grant = (Guard, String, &'static str, &'static str);

/// The grants of a guard (none unless it remediates).
fn grants(g: &Guard) -> Vec<Grant> {
    scopes(g)
        .into_iter()
        .flat_map(|scope| {
            roles_of(g).map(move |(guid, name)| (g.clone(), scope.clone(), guid, name))
        })
        .collect()
}

/// The grants of every remediating guard of `inst`.
fn roles(inst: &Instance) -> Vec<Grant> {
    inst.guardrails.iter().flat_map(grants).collect()
}

/// The grants moat made for the assignments of the guards' other built-ins (an earlier
/// effect): they go with that assignment, whose identity goes too.
fn stale(inst: &Instance) -> Vec<Grant> {
    inst.guardrails
        .iter()
        .flat_map(siblings)
        .flat_map(|old| grants(&old))
        .collect()
}

impl Kind for GuardrailGrantKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// Each grant by its id; the policy assignment (its principal) is the assignment kind's read.
    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        roles(inst)
            .iter()
            .chain(stale(inst).iter())
            .map(|(g, scope, role, _)| Read::get(id(g, scope, role), role_assignment::API_VERSION))
            .collect()
    }

    /// The grants of the scope's guardrails: an instance the destroy keeps still needs them.
    fn uses(&self, inst: &Instance) -> Vec<String> {
        roles(inst)
            .iter()
            .chain(stale(inst).iter())
            .map(|(g, scope, role, _)| id(g, scope, role))
            .collect()
    }

    /// The grants moat made (description marker) for the identity of a policy assignment that
    /// is gone or that this destroy deletes (moat's, no kept instance in its scope), after it:
    /// a grant of someone else's assignment's identity is kept.
    fn destroy(&self, inst: &Instance, seen: &Reads, in_use: &InUse) -> Planned {
        let all: Vec<Grant> = roles(inst).into_iter().chain(stale(inst)).collect();
        let mut out = Planned::default();
        for (g, scope, role, role_name) in all {
            let gid = id(&g, &scope, role);
            let Some(live) = seen.value(&Read::get(gid.clone(), role_assignment::API_VERSION))
            else {
                continue;
            };
            let pa = seen.value(&Read::get(
                policy_assignment::id(&g),
                policy_assignment::API_VERSION,
            ));
            let keep = if !get_str(live, "properties.description")
                .is_some_and(|d| d.contains(OWNER_MARKER))
            {
                Some("moat did not make it (no description marker)")
            } else if in_use.contains(&super::norm_id(&gid)) {
                Some("another instance of the blueprint in its scope still uses it")
            } else if pa.is_some_and(|p| !policy_assignment::owned(p)) {
                Some("its policy assignment is not moat's, and stays")
            } else {
                None
            };
            if let Some(why) = keep {
                out.notes.push(format!(
                    "the {role_name} role assignment of policy assignment {} is kept: {why}",
                    policy_assignment::name(&g)
                ));
                continue;
            }
            let c = super::delete_change(
                address(inst, &g, &scope, role_name),
                KIND,
                &gid,
                role_assignment::API_VERSION,
                format!(
                    "moat destroy: the {role_name} role assignment moat made for the identity of the {} assignment of controls.{}; it goes after that assignment",
                    g.effect, g.control
                ),
                format!("the policy assignment's identity loses {role_name} at {scope}"),
                live,
            );
            out.changes.push((Stage::GuardrailGrants, c));
        }
        out
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let mut changes: Vec<Change> = roles(inst)
            .iter()
            .map(|grant| {
                let (g, scope, role, _) = grant;
                let pa = seen.value(&Read::get(
                    policy_assignment::id(g),
                    policy_assignment::API_VERSION,
                ));
                let live = seen.value(&Read::get(id(g, scope, role), role_assignment::API_VERSION));
                plan(inst, grant, pa, live)
            })
            .collect();
        for (old, scope, role, role_name) in stale(inst) {
            let Some(l) = seen.value(&Read::get(
                id(&old, &scope, role),
                role_assignment::API_VERSION,
            )) else {
                continue;
            };
            if get_str(l, "properties.description").is_some_and(|d| d.contains(OWNER_MARKER)) {
                changes.push(super::delete_change(
                    address(inst, &old, &scope, role_name),
                    KIND,
                    &id(&old, &scope, role),
                    role_assignment::API_VERSION,
                    format!("moat's {} assignment of controls.{} goes, and with it its identity: the role assignment moat made for that identity goes too", old.effect, old.control),
                    format!("the identity of the replaced assignment loses {role_name} at {scope}"),
                    l,
                ));
            }
        }
        Planned::of(Stage::Guardrails, changes)
    }
}

fn plan(inst: &Instance, grant: &Grant, pa: Option<&Value>, live: Option<&Value>) -> Change {
    let (g, scope, role, role_name) = grant;
    let (scope, role, role_name) = (scope.as_str(), *role, *role_name);
    let id = id(g, scope, role);
    let addr = address(inst, g, scope, role_name);
    let principal = pa.and_then(|p| get_str(p, "identity.principalId"));
    let reason = format!(
        "the managed identity of the {} assignment of controls.{} gets {role_name} at {scope}, as the built-in's roleDefinitionIds require",
        g.effect, g.control
    );
    let held = live.is_some_and(|l| {
        last_segment(get_str(l, "properties.roleDefinitionId").unwrap_or_default())
            .eq_ignore_ascii_case(role)
            && principal.is_some_and(|p| {
                get_str(l, "properties.principalId").is_some_and(|lp| lp.eq_ignore_ascii_case(p))
            })
    });
    if held {
        return Change::new(addr, KIND, &id, Action::NoOp, reason, fingerprint(live));
    }
    if let Some(l) = live {
        // Same name, another principal: the assignment's identity was replaced. ARM does not
        // let a role assignment change principal (RoleAssignmentUpdateNotPermitted): the stale
        // one goes, and the next plan grants the new identity.
        return super::delete_change(
            addr,
            KIND,
            &id,
            role_assignment::API_VERSION,
            format!("the {role_name} role assignment moat made for the policy assignment's identity names another principal (the identity was replaced)"),
            format!("the stale principal loses {role_name} at {scope}; run plan again to grant the new identity"),
            l,
        );
    }
    let body = json!({"properties": {
        "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{role}", subscription(scope)),
        "principalId": principal.unwrap_or_default(),
        "principalType": "ServicePrincipal",
        "description": format!("identity of policy assignment {} {OWNER_MARKER}", policy_assignment::name(g)),
    }});
    let mut write = Write::new(Method::Put, &id, role_assignment::API_VERSION, Some(body));
    let shown = match principal {
        Some(p) => p.to_string(),
        None => {
            write.bind = vec![Bind {
                path: "properties.principalId".into(),
                from: policy_assignment::id(g),
                api_version: policy_assignment::API_VERSION.into(),
                field: "identity.principalId".into(),
            }];
            format!(
                "identity.principalId of policy assignment {} (read at apply)",
                policy_assignment::name(g)
            )
        }
    };
    let mut c = Change::new(addr, KIND, &id, Action::Create, reason, "absent".into())
        .with_write(write)
        .with_risk(Some(format!(
            "grants {role_name} at {scope} to the policy assignment's managed identity (Azure Policy makes its changes as it)"
        )));
    c.fields = vec![
        FieldChange {
            path: "properties.roleDefinitionId".into(),
            before: None,
            after: Some(format!("{role_name} ({role})").into()),
        },
        FieldChange {
            path: "properties.principalId".into(),
            before: None,
            after: Some(format!("{shown} (ServicePrincipal)").into()),
        },
    ];
    // The principal exists once the assignment is written: an edge in the plan, not a
    // decision in apply (the planner drops it when the assignment is not written).
    c.depends_on = vec![format!(
        "{}/policy-assignment/{}",
        inst.name,
        policy_assignment::name(g)
    )];
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_at_the_subscription_of_the_scope() {
        assert_eq!(
            subscription("/subscriptions/s/resourceGroups/rg"),
            "/subscriptions/s"
        );
        assert_eq!(subscription("/subscriptions/s"), "/subscriptions/s");
    }
}
