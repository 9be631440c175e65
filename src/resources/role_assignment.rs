//! `Microsoft.Authorization/roleAssignments` at the account scope (I4).
//!
//! An assignment is identified by (scope, role, principal). Its name is derived from that tuple
//! (UUID v5), so a re-run never creates a duplicate, and an existing assignment for the same tuple
//! under any other name is adopted. Role definition ids are compared by their trailing GUID
//! (requests use `/subscriptions/{s}/providers/...`, responses `/providers/...`). Only direct
//! assignments count: inherited ones (scope above the account) are filtered by the observer.
//! Managed: existence. Ignored: `description` of assignments moat did not create, conditions,
//! created/updated metadata.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{fingerprint, get_str, last_segment, OWNER_MARKER};
use crate::arm::Method;
use crate::blueprint::resolved::{ExceptionKind, Instance, Mode, RoleAssignment};
use crate::plan::model::{Action, Change, FieldChange, ResourceKind, Write};

pub const API_VERSION: &str = "2022-04-01";

/// Roles that let their holder change the account's network, keys or access.
pub const PRIVILEGED: &[(&str, &str)] = &[
    ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner"),
    ("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor"),
    (
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "User Access Administrator",
    ),
    (
        "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68",
        "Cognitive Services Contributor",
    ),
];

pub fn privileged_name(guid: &str) -> Option<&'static str> {
    PRIVILEGED
        .iter()
        .find(|(g, _)| g.eq_ignore_ascii_case(guid))
        .map(|(_, n)| *n)
}

/// Namespace for moat's deterministic assignment names.
const NAMESPACE: Uuid = Uuid::from_u128(0x6d6f_6174_0000_4000_8000_726f_6c65_6173);

/// The deterministic assignment name for (scope, role, principal).
pub fn assignment_name(scope: &str, role_guid: &str, principal: &str) -> String {
    let key = format!(
        "{}|{}|{}",
        super::norm_id(scope),
        role_guid.to_ascii_lowercase(),
        principal.to_ascii_lowercase()
    );
    Uuid::new_v5(&NAMESPACE, key.as_bytes()).to_string()
}

pub fn id(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}")
}

pub fn address(inst: &Instance, role: &str, principal: &str) -> String {
    format!(
        "{}/role-assignment/{}/{}",
        inst.name,
        role.replace(' ', "-").to_ascii_lowercase(),
        principal
    )
}

fn role_guid_of(a: &Value) -> String {
    last_segment(get_str(a, "properties.roleDefinitionId").unwrap_or("")).to_ascii_lowercase()
}

fn principal_of(a: &Value) -> String {
    get_str(a, "properties.principalId")
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn matches(a: &Value, want: &RoleAssignment) -> bool {
    role_guid_of(a) == want.role_definition_guid.to_ascii_lowercase()
        && principal_of(a) == want.principal_id.to_ascii_lowercase()
}

/// Changes for declared assignments (create or adopt), moat's own stale ones (delete) and, on
/// opt-in, undeclared privileged ones (delete, loudly). Also returns notes on privileged
/// assignments moat leaves alone.
pub fn plan(inst: &Instance, direct: &[Value]) -> (Vec<Change>, Vec<String>) {
    let Some(ctl) = &inst.controls.role_assignments else {
        return (Vec::new(), Vec::new());
    };
    let scope = inst.account_id();
    let sub = &inst.subscription;
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for want in &ctl.spec.assignments {
        let existing = direct.iter().find(|a| matches(a, want));
        let name = existing
            .and_then(|a| get_str(a, "name"))
            .map(str::to_string)
            .unwrap_or_else(|| {
                assignment_name(&scope, &want.role_definition_guid, &want.principal_id)
            });
        let id = id(&scope, &name);
        let action = super::outcome(ctl.mode, existing.is_some(), false);
        let mut c = Change::new(
            address(inst, &want.role_name, &want.principal_id),
            ResourceKind::RoleAssignment,
            &id,
            action,
            format!(
                "{} gets {} on the account, least privilege (I4)",
                want.principal_type, want.role_name
            ),
            fingerprint(existing),
        );
        if action == Action::Create {
            let description = match &want.description {
                Some(d) => format!("{d} {OWNER_MARKER}"),
                None => OWNER_MARKER.to_string(),
            };
            let body = json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{}", want.role_definition_guid),
                "principalId": want.principal_id,
                "principalType": want.principal_type,
                "description": description,
            }});
            c.fields = vec![
                FieldChange {
                    path: "properties.roleDefinitionId".into(),
                    before: None,
                    after: Some(
                        format!("{} ({})", want.role_name, want.role_definition_guid).into(),
                    ),
                },
                FieldChange {
                    path: "properties.principalId".into(),
                    before: None,
                    after: Some(format!("{} ({})", want.principal_id, want.principal_type).into()),
                },
            ];
            c.write = Some(Write::new(Method::Put, &id, API_VERSION, Some(body)));
            // The loader already refuses this; the planner refuses it too, so a resolved model
            // built any other way cannot grant a privileged role without the exception.
            // Same rule as the loader: a privileged role is a weakening for a user or an
            // application, and for a group when it is one of the broad ARM roles.
            let broad = matches!(
                want.role_name.as_str(),
                "Owner" | "Contributor" | "User Access Administrator"
            );
            if privileged_name(&want.role_definition_guid).is_some()
                && (want.principal_type != "Group" || broad)
                && !inst.has_exception(ExceptionKind::PrivilegedRole)
            {
                out.push(Change::blocked(
                    c.address,
                    ResourceKind::RoleAssignment,
                    id,
                    format!(
                        "refusing to weaken security: grants the privileged role {} to {}, and the blueprint has no `privileged-role` exception",
                        want.role_name, want.principal_id
                    ),
                    c.observed,
                ));
                continue;
            }
            if privileged_name(&want.role_definition_guid).is_some() {
                c.risk = Some(format!(
                    "grants the privileged role {} (allowed by an exception)",
                    want.role_name
                ));
                c.exception = inst
                    .exceptions
                    .iter()
                    .find(|e| e.allows == ExceptionKind::PrivilegedRole)
                    .map(|e| format!("{}: {}", e.allows, e.reason));
            }
        }
        out.push(c);
    }
    let mut undeclared: Vec<&Value> = direct
        .iter()
        .filter(|a| !ctl.spec.assignments.iter().any(|w| matches(a, w)))
        .collect();
    undeclared.sort_by_key(|a| get_str(a, "name").unwrap_or("").to_string());
    for a in undeclared {
        let role = role_guid_of(a);
        let principal = principal_of(a);
        let ptype = get_str(a, "properties.principalType").unwrap_or("User");
        let owned = get_str(a, "properties.description").is_some_and(|d| d.contains(OWNER_MARKER));
        let privileged = privileged_name(&role);
        let id = get_str(a, "id")
            .map(str::to_string)
            .unwrap_or_else(|| id(&scope, get_str(a, "name").unwrap_or("")));
        let role_label = privileged
            .map(str::to_string)
            .unwrap_or_else(|| role.clone());
        let delete = |reason: &str, risk: Option<String>| {
            Change::new(
                address(inst, &role_label, &principal),
                ResourceKind::RoleAssignment,
                &id,
                Action::Delete,
                reason,
                fingerprint(Some(a)),
            )
            .with_fields(vec![FieldChange {
                path: "properties".into(),
                before: Some(
                    json!({"role": role_label, "principalId": principal, "principalType": ptype}),
                ),
                after: None,
            }])
            .with_write(Write::new(Method::Delete, &id, API_VERSION, None))
            .with_risk(risk)
        };
        if owned && ctl.mode == Mode::Managed {
            out.push(delete(
                "moat created this assignment and the blueprint no longer declares it",
                None,
            ));
        } else if let Some(pname) = privileged {
            if ctl.spec.remove_undeclared_privileged && ctl.mode == Mode::Managed {
                out.push(delete(
                    "undeclared privileged assignment, and the blueprint removes them (removeUndeclaredPrivileged)",
                    Some(format!("REMOVES {pname} from {ptype} {principal}: it loses control-plane access to the account")),
                ));
            } else {
                notes.push(format!(
                    "{ptype} {principal} holds the privileged role {pname} directly on the account and the blueprint does not declare it (set roleAssignments.removeUndeclaredPrivileged: true to remove it)"
                ));
            }
        }
    }
    (out, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_names_are_deterministic_and_case_insensitive() {
        let a = assignment_name(
            "/subscriptions/S/resourceGroups/RG/x",
            "5E0BD9BD-7b93-4f28-af87-19fc36ad61bd",
            "ABC",
        );
        let b = assignment_name(
            "/subscriptions/s/resourcegroups/rg/x/",
            "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
            "abc",
        );
        assert_eq!(a, b);
        let c = assignment_name(
            "/subscriptions/s/resourcegroups/rg/x",
            "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
            "abd",
        );
        assert_ne!(a, c);
        assert!(Uuid::parse_str(&a).is_ok());
    }
}
