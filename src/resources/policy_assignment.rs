//! `Microsoft.Authorization/policyAssignments` (`guardrails`): a built-in policy assigned at a
//! subscription or resource group, with the effect the blueprint gives the control
//! (docs/guardrails.md).
//!
//! Shared: one assignment serves every instance in its scope, so each of them plans it and the
//! planner emits it once (the first instance in the scope). Its name is derived from the scope
//! and the definition (`moat-localauth-<8 hex>`), so moat finds its own assignment with one GET
//! and a second run never makes a second one. Synchronous PUT of the whole body, api-version
//! 2025-11-01 (stable; REST spec `getPolicyAssignment.json`); assignments have no etag.
//!
//! Managed: displayName, description (with moat's owner marker), policyDefinitionId (compared as
//! an id: Azure may lower-case it), the `effect` parameter, enforcementMode (absent = Default),
//! notScopes (a live exclusion is a weakening moat removes) and `metadata.managed-by`. Azure adds
//! `scope`, `instanceId`, `definitionVersion`, identity ids and `createdBy`/`createdOn` in
//! metadata: never compared, so a converged assignment is a no-op.
//!
//! Order: stage `Guardrails`, after every hardening stage of the owning instance, and after the
//! account writes of every other instance in the scope (edges the kind adds itself; the planner
//! drops those that are not writes of this plan). A Deny assigned before them could refuse
//! moat's own cutover writes.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::policy_diagnostics as diagnostics;
use super::{enum_eq, fingerprint, get, get_str, id_eq, OWNER_MARKER, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::guardrails::{
    built_in, built_in_of, definition_id, remediates, siblings, with_siblings,
};
use crate::blueprint::resolved::Guard;
use crate::blueprint::resolved::Instance;
use crate::model::{Action, Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = "2025-11-01";
pub const KIND: KindId = KindId::new("policy-assignment");

pub struct PolicyAssignmentKind;

static META: Meta = Meta {
    label: "policy-assignment",
    arm_type: "Microsoft.Authorization/policyAssignments",
    api_version: API_VERSION,
    shared: true,
    managed: &[
        "identity.type",
        "location",
        "properties.displayName",
        "properties.description",
        "properties.policyDefinitionId",
        "properties.parameters",
        "properties.enforcementMode",
        "properties.notScopes",
        "properties.metadata",
    ],
    read_only: &[
        "identity.principalId",
        "identity.tenantId",
        "properties.scope",
        "properties.instanceId",
        "properties.definitionVersion",
    ],
    ignored: &[
        "identity.userAssignedIdentities",
        "properties.nonComplianceMessages",
        "properties.resourceSelectors",
        "properties.overrides",
        "properties.assignmentType",
        "properties.selfServeExemptionSettings",
        "systemData",
    ],
    first_on_lock: false,
    weak: &[
        ("properties.enforcementMode", "\"DoNotEnforce\""),
        ("properties.parameters.effect.value", "\"Disabled\""),
    ],
};

/// The assignment's name: the control and a digest of scope and definition.
pub fn name(g: &Guard) -> String {
    let key = format!("{}|{}", g.scope.to_lowercase(), definition_id(g));
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("moat-{}-{}", g.control.to_lowercase(), &digest[..8])
}

/// The assignment's id.
pub fn id(g: &Guard) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/{}",
        g.scope,
        name(g)
    )
}

/// The account writes of an instance a Deny could refuse (the account kind's addresses); the
/// assignment waits for those of every instance in its scope.
fn account_writes(instance: &str) -> Vec<String> {
    [
        "",
        "/identity",
        "/encryption",
        "/network",
        "/public-network-access",
        "/local-auth",
    ]
    .iter()
    .map(|s| format!("{instance}/account{s}"))
    .collect()
}

fn display(g: &Guard) -> String {
    let what = built_in_of(g).map_or("", |b| b.display);
    format!("moat: {what} ({})", g.effect)
}

fn description(g: &Guard) -> String {
    format!(
        "{OWNER_MARKER} controls.{} of the moat blueprint, enforced with effect {} at this scope.",
        g.control, g.effect
    )
}

/// The body moat writes. A Modify / DeployIfNotExists assignment carries a system-assigned
/// identity and a location: the live one when the assignment exists (ARM refuses a change of
/// location, `invalidlocationupdate`), else the first instance's in the scope.
pub fn body(g: &Guard, live: Option<&Value>) -> Value {
    let mut b = json!({"properties": {
        "displayName": display(g),
        "description": description(g),
        "policyDefinitionId": definition_id(g),
        "parameters": {"effect": {"value": g.effect}},
        "enforcementMode": "Default",
        "notScopes": [],
        "metadata": {OWNER_TAG: OWNER_VALUE},
    }});
    for (k, v) in &g.parameters {
        b["properties"]["parameters"][k] = json!({ "value": v });
    }
    if remediates(g) {
        let location = live
            .and_then(|l| get_str(l, "location"))
            .unwrap_or(&g.location);
        b["identity"] = json!({"type": "SystemAssigned"});
        b["location"] = json!(location);
    }
    b
}

impl Kind for PolicyAssignmentKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// The assignment of each guard, and moat's assignments of the control's other built-ins
    /// at the scope (an earlier effect that the blueprint changed).
    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        with_siblings(&inst.guardrails)
            .into_iter()
            .map(|g| Read::get(id(&g), API_VERSION))
            .collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let changes = inst.guardrails.iter().flat_map(|g| {
            let live = seen.value(&Read::get(id(g), API_VERSION));
            let replaced = siblings(g).into_iter().filter_map(|old| {
                let l = seen.value(&Read::get(id(&old), API_VERSION))?;
                owned(l).then(|| replace(inst, g, &old, l))
            });
            std::iter::once(plan(inst, g, live)).chain(replaced.collect::<Vec<_>>())
        });
        let mut out = Planned::of(Stage::Guardrails, changes);
        // The blast radius, per instance in the scope (the assignment itself is planned once).
        out.notes = inst
            .guardrails
            .iter()
            .filter_map(|g| blast_radius(inst, g, seen))
            .collect();
        out
    }

    /// The assignments of the instance's guards, and of the control's other built-ins (an
    /// earlier effect): an instance the destroy keeps still needs the scope's guardrails.
    fn uses(&self, inst: &Instance) -> Vec<String> {
        with_siblings(&inst.guardrails)
            .into_iter()
            .map(|g| id(&g))
            .collect()
    }

    /// moat's assignments in the instance's scopes, once no instance the destroy keeps is in
    /// that scope; someone else's assignment under moat's name is kept, with a note.
    fn destroy(&self, inst: &Instance, seen: &Reads, in_use: &InUse) -> Planned {
        let mut out = Planned::default();
        for g in with_siblings(&inst.guardrails) {
            let Some(live) = seen.value(&Read::get(id(&g), API_VERSION)) else {
                continue;
            };
            let keep = if !owned(live) {
                Some("moat did not make it (no `metadata.managed-by: moat`)")
            } else if in_use.contains(&super::norm_id(&id(&g))) {
                Some("another instance of the blueprint in its scope still uses it")
            } else {
                None
            };
            if let Some(why) = keep {
                out.notes.push(format!(
                    "the policy assignment {} at {} is kept: {why}",
                    name(&g),
                    g.scope
                ));
                continue;
            }
            let effect = get_str(live, "properties.parameters.effect.value").unwrap_or(&g.effect);
            let c = super::delete_change(
                format!("{}/policy-assignment/{}", inst.name, name(&g)),
                KIND,
                &id(&g),
                API_VERSION,
                format!(
                    "moat destroy: the {effect} assignment of controls.{} moat made at {}; no instance the destroy keeps is in its scope",
                    g.control, g.scope
                ),
                format!(
                    "Azure Policy no longer enforces controls.{} in {}: any account there, moat's or not, may again be written with it weakened",
                    g.control, g.scope
                ),
                live,
            );
            out.changes.push((Stage::Guardrails, c));
        }
        out
    }
}

/// What the built-in assigned for `g` finds on an account as it is: the property that makes it
/// non-compliant and its value, or `None` when it complies. The blast radius and the
/// remediation task (`policy_remediation`) judge accounts by this one rule.
pub fn finding(g: &Guard, acct: &Value) -> Option<(&'static str, String)> {
    match g.control.as_str() {
        "localAuth" => {
            let off = get(acct, "properties.disableLocalAuth").and_then(Value::as_bool);
            (off != Some(true)).then(|| {
                let v = off.map_or("(absent)".to_string(), |b| b.to_string());
                ("properties.disableLocalAuth", v)
            })
        }
        "networkAccess" if remediates(g) => {
            // The Modify built-in (47ba1dd7) knows only publicNetworkAccess: a firewall default
            // of Deny does not make the account compliant.
            let pna = get_str(acct, "properties.publicNetworkAccess").unwrap_or("Enabled");
            (!enum_eq(pna, "Disabled")).then(|| ("properties.publicNetworkAccess", pna.to_string()))
        }
        "networkAccess" => {
            let pna = get_str(acct, "properties.publicNetworkAccess").unwrap_or("Enabled");
            let default = get_str(acct, "properties.networkAcls.defaultAction").unwrap_or("Allow");
            (!enum_eq(pna, "Disabled") && !enum_eq(default, "Deny")).then(|| {
                let v = format!("{pna}, networkAcls.defaultAction {default}");
                ("properties.publicNetworkAccess", v)
            })
        }
        "identity" => {
            let t = get_str(acct, "identity.type").unwrap_or("(absent)");
            (t == "(absent)" || enum_eq(t, "None")).then(|| ("identity.type", t.to_string()))
        }
        "privateEndpoint" => {
            let approved = get(acct, "properties.privateEndpointConnections")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| {
                    get_str(c, "properties.privateLinkServiceConnectionState.status")
                        .is_some_and(|s| enum_eq(s, "Approved"))
                })
                .count();
            (approved == 0).then(|| {
                let v = "no Approved connection".to_string();
                ("properties.privateEndpointConnections", v)
            })
        }
        _ => None,
    }
}

/// What the assignment of `g` finds on `inst`'s account as it is today (observed, before this
/// plan hardens it), in a sentence for the reviewer: non-compliant with the guarded control, and
/// whether an exemption waives it or this plan fixes it first. `None` when it complies.
fn blast_radius(inst: &Instance, g: &Guard, seen: &Reads) -> Option<String> {
    let acct = seen.value(&super::account::read(inst))?;
    let (field, value) = if g.control == "diagnostics" {
        // Judged on the account's diagnostic settings, not on the account.
        {
            let settings = super::diagnostic_setting::read(inst).map(|r| seen.items(&r));
            diagnostics::non_compliance(g, settings)?
        }
    } else {
        finding(g, acct)?
    };
    let waived = built_in(&g.control)
        .is_some_and(|b| inst.exceptions.iter().any(|e| e.allows == b.exception));
    let what = if enum_eq(&g.effect, "Deny") {
        "would refuse its writes"
    } else if g.effect == "DeployIfNotExists" {
        "would deploy its diagnostic setting on its next write, non-compliant"
    } else if remediates(g) {
        "would rewrite its next write, non-compliant"
    } else {
        "reports it non-compliant"
    };
    let then = if waived {
        "its exemption (the blueprint's exception) waives it"
    } else if hardens(inst, g) {
        "this plan hardens it before the assignment is written"
    } else if enum_eq(&g.effect, "Deny") {
        "the blueprint does not declare the control compliant for it, so its next write (moat's too) will be refused"
    } else {
        "the blueprint does not declare the control compliant for it, so it stays non-compliant"
    };
    Some(format!(
        "{}: the {} assignment of controls.{} at {} {what} as it is today ({field}: {value}); {then}",
        inst.name, g.effect, g.control, g.scope
    ))
}

/// Whether the instance's declared controls make its account compliant with `g`'s built-in.
fn hardens(inst: &Instance, g: &Guard) -> bool {
    let c = &inst.controls;
    match g.control.as_str() {
        "localAuth" => c.local_auth.as_ref().is_some_and(|l| l.spec.disabled),
        "networkAccess" => c.network_access.as_ref().is_some_and(|n| {
            let n = &n.spec;
            enum_eq(&n.public_network_access, "Disabled")
                || (!remediates(g) && enum_eq(&n.default_action, "Deny"))
        }),
        "identity" => c
            .identity
            .as_ref()
            .is_some_and(|i| !enum_eq(&i.spec.r#type, "None")),
        "privateEndpoint" => c.private_endpoint.is_some(),
        "diagnostics" => c.diagnostics.is_some(),
        _ => false,
    }
}

/// The managed fields that differ between `live` and what moat writes for `g`.
fn differences(g: &Guard, live: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut text = |path: &str, want: &str, same: fn(&str, &str) -> bool| {
        let have = get_str(live, path);
        if !have.is_some_and(|h| same(h, want)) {
            out.push(FieldChange {
                path: path.into(),
                before: have.map(Value::from),
                after: Some(want.into()),
            });
        }
    };
    text("properties.displayName", &display(g), |a, b| a == b);
    text("properties.description", &description(g), |a, b| a == b);
    text("properties.policyDefinitionId", &definition_id(g), id_eq);
    text("properties.parameters.effect.value", &g.effect, enum_eq);
    for (k, want) in &g.parameters {
        let path = format!("properties.parameters.{k}.value");
        let have = get(live, &path);
        let same = match (have.and_then(Value::as_str), want.as_str()) {
            // Azure Policy compares strings without case; the workspace is an id.
            (Some(h), Some(w)) => id_eq(h, w),
            _ => have == Some(want),
        };
        if !same {
            out.push(FieldChange {
                path,
                before: have.cloned(),
                after: Some(want.clone()),
            });
        }
    }
    let mode = get_str(live, "properties.enforcementMode").unwrap_or("Default");
    if !enum_eq(mode, "Default") {
        out.push(FieldChange {
            path: "properties.enforcementMode".into(),
            before: Some(mode.into()),
            after: Some("Default".into()),
        });
    }
    let not_scopes = get(live, "properties.notScopes")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    if let Some(n) = not_scopes {
        out.push(FieldChange {
            path: "properties.notScopes".into(),
            before: Some(Value::Array(n.clone())),
            after: Some(json!([])),
        });
    }
    if remediates(g)
        && !get_str(live, "identity.type").is_some_and(|t| enum_eq(t, "SystemAssigned"))
    {
        out.push(FieldChange {
            path: "identity.type".into(),
            before: get(live, "identity.type").cloned(),
            after: Some("SystemAssigned".into()),
        });
    }
    let owner = format!("properties.metadata.{OWNER_TAG}");
    if !get_str(live, &owner).is_some_and(|o| o.eq_ignore_ascii_case(OWNER_VALUE)) {
        out.push(FieldChange {
            path: owner,
            before: get(live, &format!("properties.metadata.{OWNER_TAG}")).cloned(),
            after: Some(OWNER_VALUE.into()),
        });
    }
    out
}

fn plan(inst: &Instance, g: &Guard, live: Option<&Value>) -> Change {
    let id = id(g);
    let address = format!("{}/policy-assignment/{}", inst.name, name(g));
    let fields = match live {
        Some(l) => differences(g, l),
        None => Vec::new(),
    };
    let action = super::outcome(
        crate::blueprint::resolved::Mode::Managed,
        live.is_some(),
        !fields.is_empty(),
    );
    let reason = format!(
        "Azure Policy enforces controls.{} with {} on every account in {} (guardrails)",
        g.control, g.effect, g.scope
    );
    let mut c =
        Change::new(address, KIND, &id, action, reason, fingerprint(live)).with_fields(fields);
    if action.is_write() {
        let mut w = Write::new(Method::Put, &id, API_VERSION, Some(body(g, live)));
        w.if_none_match = live.is_none();
        c.write = Some(w);
        if enum_eq(&g.effect, "Deny") && action == Action::Create {
            c.risk = Some(format!(
                "Azure refuses writes in {} that break controls.{} (RequestDisallowedByPolicy), except on accounts with an exemption",
                g.scope, g.control
            ));
        }
        if g.effect == "DeployIfNotExists" && action == Action::Create {
            c.risk = Some(diagnostics::deploy_risk(g));
        } else if remediates(g) && action == Action::Create {
            c.risk = Some(format!(
                "Azure Policy rewrites every account write in {} to comply with controls.{} ({}), except on accounts with an exemption; its managed identity gets {} at the scope",
                g.scope,
                g.control,
                g.effect,
                built_in_of(g).map_or(String::new(), |b| b.roles.iter().map(|r| r.1).collect::<Vec<_>>().join(", "))
            ));
        }
        c.depends_on = g
            .members
            .iter()
            .filter(|m| **m != inst.name)
            .flat_map(|m| account_writes(m))
            .collect();
    }
    c
}

/// Whether moat made the assignment (`metadata.managed-by: moat`).
pub fn owned(live: &Value) -> bool {
    get_str(live, &format!("properties.metadata.{OWNER_TAG}"))
        .is_some_and(|o| o.eq_ignore_ascii_case(OWNER_VALUE))
}

/// moat's assignment of another built-in of the control (`old`, an earlier effect) goes: `g`'s
/// assignment replaces it.
fn replace(inst: &Instance, g: &Guard, old: &Guard, live: &Value) -> Change {
    let effect = get_str(live, "properties.parameters.effect.value").unwrap_or(&old.effect);
    super::delete_change(
        format!("{}/policy-assignment/{}", inst.name, name(old)),
        KIND,
        &id(old),
        API_VERSION,
        format!(
            "the blueprint now enforces controls.{} with {}: moat's {effect} assignment of {} goes",
            g.control,
            g.effect,
            definition_id(old)
        ),
        format!(
            "controls.{} is no longer enforced with {effect} in {}; the {} assignment replaces it",
            g.control, g.scope, g.effect
        ),
        live,
    )
}
