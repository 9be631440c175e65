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

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Ready, Stage};
use super::{fingerprint, get_str, last_segment, OWNER_MARKER};
use crate::arm::Method;
use crate::blueprint::resolved::{ExceptionKind, Instance, Mode, RoleAssignment};
use crate::model::{Action, Adopt, Change, Compare, FieldChange, Gate, KindId, Match, Write};

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
            KIND,
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
                    KIND,
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
                KIND,
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

pub const KIND: KindId = KindId::new("role-assignment");

pub struct RoleAssignmentKind;

/// What moat compares and writes of an assignment (any kind of assignment it makes).
pub const MANAGED: &[&str] = &[
    "properties.roleDefinitionId",
    "properties.principalId",
    "properties.principalType",
    "properties.description",
];

/// What it leaves alone: server-owned fields and conditions.
pub const IGNORED: &[&str] = &[
    "properties.scope",
    "properties.condition",
    "properties.conditionVersion",
    "properties.delegatedManagedIdentityResourceId",
    "properties.createdOn",
    "properties.updatedOn",
    "properties.createdBy",
    "properties.updatedBy",
];

static META: Meta = Meta {
    label: "role-assignment",
    arm_type: "Microsoft.Authorization/roleAssignments",
    api_version: API_VERSION,
    shared: false,
    managed: MANAGED,
    read_only: &[],
    ignored: IGNORED,
    first_on_lock: false,
    weak: &[],
};

const ASSIGNMENTS: &str = "/providers/Microsoft.Authorization/roleAssignments";

impl Kind for RoleAssignmentKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// Assignments moat created on the account (its marker in the description) go before it.
    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let account = inst.account_id();
        let Some(r) = read(inst) else {
            return Planned::default();
        };
        let deletes = seen
            .items(&r)
            .iter()
            .filter(|a| get_str(a, "properties.scope").is_some_and(|s| super::id_eq(s, &account)))
            .filter(|a| {
                get_str(a, "properties.description").is_some_and(|d| d.contains(OWNER_MARKER))
            })
            .filter_map(|a| {
                let rid = get_str(a, "id")?;
                let role = last_segment(get_str(a, "properties.roleDefinitionId").unwrap_or(""));
                let role_name = privileged_name(role)
                    .map(str::to_string)
                    .or_else(|| {
                        inst.controls.role_assignments.as_ref().and_then(|r| {
                            r.spec
                                .assignments
                                .iter()
                                .find(|x| x.role_definition_guid.eq_ignore_ascii_case(role))
                                .map(|x| x.role_name.clone())
                        })
                    })
                    .unwrap_or_else(|| role.to_string());
                let principal = get_str(a, "properties.principalId").unwrap_or("?");
                Some(super::delete_change(
                    address(inst, &role_name, principal),
                    KIND,
                    rid,
                    API_VERSION,
                    "a role assignment moat created on the account",
                    format!("principal {principal} loses {role_name} on the account"),
                    a,
                ))
            });
        Planned::of(Stage::Access, deletes.collect::<Vec<_>>())
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let Some(r) = read(inst) else {
            return Planned::default();
        };
        // Only direct assignments count: inherited ones (scope above the account) are left out.
        let account = inst.account_id();
        let direct: Vec<Value> = seen
            .items(&r)
            .iter()
            .filter(|a| get_str(a, "properties.scope").is_some_and(|s| super::id_eq(s, &account)))
            .cloned()
            .collect();
        let (changes, notes) = plan(inst, &direct);
        Planned {
            notes,
            ..Planned::of(Stage::Access, changes)
        }
    }

    /// The declared assignments (not those being deleted), visible at the account scope.
    fn gate(&self, _inst: &Instance, stage: Stage, changes: &[&Change]) -> Option<Gate> {
        let ids: Vec<String> = changes
            .iter()
            .filter(|c| stage == Stage::Access && c.kind == KIND && c.action != Action::Delete)
            .map(|c| c.id.clone())
            .collect();
        (!ids.is_empty()).then(|| visible_gate(ids))
    }

    /// Another writer may create the same (scope, role, principal) under another name between
    /// plan and apply: ARM answers RoleAssignmentExists, and that assignment is adopted.
    fn adopt(&self, change: &Change) -> Option<Adopt> {
        let w = change.write.as_ref().filter(|w| w.method == Method::Put)?;
        let body = w.body.as_ref()?;
        let scope = &change.id[..change
            .id
            .to_ascii_lowercase()
            .find(&ASSIGNMENTS.to_ascii_lowercase())?];
        let text = |p: &str| get_str(body, p).unwrap_or_default().to_string();
        Some(Adopt {
            code: "RoleAssignmentExists".into(),
            list: format!("{scope}{ASSIGNMENTS}"),
            api_version: API_VERSION.into(),
            matches: vec![
                Match {
                    path: "properties.principalId".into(),
                    value: text("properties.principalId"),
                    compare: Compare::Text,
                },
                Match {
                    path: "properties.roleDefinitionId".into(),
                    value: text("properties.roleDefinitionId"),
                    compare: Compare::LastSegment,
                },
                Match {
                    path: "properties.scope".into(),
                    value: scope.to_string(),
                    compare: Compare::Id,
                },
            ],
        })
    }

    /// Every assignment is readable (role assignments replicate; key auth goes off only once
    /// the consumers' assignments are visible).
    fn ready(&self, ids: &[String], seen: &Reads) -> Ready {
        for id in ids {
            match Ready::read(seen, Read::get(id.clone(), API_VERSION)) {
                Ok(Some(_)) => {}
                Ok(None) => return Ready::Wait(format!("role assignment {id} not visible yet")),
                Err(need) => return need,
            }
        }
        Ready::Yes
    }

    fn describe_gate(&self, ids: &[String]) -> String {
        format!(
            "{} role assignment(s) visible at the account scope",
            ids.len()
        )
    }
}

/// Key auth goes off once these assignments are visible.
pub fn visible_gate(ids: Vec<String>) -> Gate {
    Gate { kind: KIND, ids }
}

/// The direct and inherited assignments at the account scope (`atScope()`).
pub fn read(inst: &Instance) -> Option<Read> {
    inst.controls.role_assignments.as_ref().map(|_| {
        Read::list(format!("{}{ASSIGNMENTS}", inst.account_id()), API_VERSION)
            .with_query("$filter", "atScope()")
    })
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
