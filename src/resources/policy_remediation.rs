//! `Microsoft.PolicyInsights/remediations` (`guardrails[].remediate`): a one-shot task in which
//! Azure Policy applies a Modify assignment to the accounts of its scope that already break it.
//! An assignment alone only rewrites writes made after it (docs/guardrails.md).
//!
//! When moat plans one: only for a control that `remediate` names (guarded with `modify`), and
//! only when the scope holds non-compliant accounts the plan does not take care of itself. The
//! kind lists the scope's accounts (one list read per scope, shared by its instances) and judges
//! each by the built-in's rule (`policy_assignment::finding`); the blueprint's own accounts are
//! left out, since the plan hardens them or their exemption waives them. The task is named from
//! the assignment and a digest of those accounts' ids (`moat-localauth-<8 hex>-<8 hex>`), so
//! moat reads it with one GET: present (running, succeeded or failed) means this set of accounts
//! has had its task, and nothing is planned again; once it succeeded the accounts comply and the
//! list finds none. A new set (an account turned non-compliant later, or created before an
//! assignment that changed) gets a new task. A converged plan is therefore empty.
//!
//! Body: `policyAssignmentId` and `resourceDiscoveryMode: ReEvaluateCompliance` (the compliance
//! data of an assignment made by the same apply does not exist yet; re-evaluating first is what
//! finds the accounts). No `filters`: the assignment's scope is the task's scope, and a location
//! filter would leave out accounts moat did not list. Api-version 2024-10-01 (stable, REST spec
//! `Remediations_CreateSubscriptionScope_ResourceIdsFilter.json`). Stage `Remediation`, after the
//! assignment, its identity's role (the task makes its changes as that identity) and the
//! exemptions of every instance in the scope. moat never deletes a remediation: it is a record.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::kind::{Kind, Meta, Planned, Read, Reads, Stage};
use super::{account, fingerprint, get_str, guardrail_grant, policy_assignment, policy_exemption};
use crate::arm::Method;
use crate::blueprint::guardrails::remediates;
use crate::blueprint::resolved::{Guard, Instance};
use crate::model::{Action, Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = "2024-10-01";
pub const KIND: KindId = KindId::new("policy-remediation");

pub struct PolicyRemediationKind;

static META: Meta = Meta {
    label: "policy-remediation",
    arm_type: "Microsoft.PolicyInsights/remediations",
    api_version: API_VERSION,
    shared: true,
    managed: &[
        "properties.policyAssignmentId",
        "properties.resourceDiscoveryMode",
    ],
    read_only: &[
        "properties.provisioningState",
        "properties.createdOn",
        "properties.lastUpdatedOn",
        "properties.deploymentStatus",
        "properties.statusMessage",
        "properties.correlationId",
    ],
    ignored: &[
        "properties.policyDefinitionReferenceId",
        "properties.filters",
        "properties.resourceCount",
        "properties.parallelDeployments",
        "properties.failureThreshold",
    ],
    first_on_lock: false,
    weak: &[],
};

/// The guards whose assignment moat remediates.
fn guards(inst: &Instance) -> impl Iterator<Item = &Guard> {
    inst.guardrails
        .iter()
        .filter(|g| g.remediate && remediates(g))
}

/// The accounts of the guard's scope (a resource-group or subscription list).
pub fn accounts_read(g: &Guard) -> Read {
    Read::list(
        format!("{}/providers/Microsoft.CognitiveServices/accounts", g.scope),
        account::API_VERSION,
    )
}

/// An account of the scope the assignment finds non-compliant: its id, the property and value.
pub struct Stray {
    pub id: String,
    pub field: &'static str,
    pub value: String,
}

/// The non-compliant accounts of the scope that the blueprint does not name, by id.
pub fn strays(g: &Guard, seen: &Reads) -> Vec<Stray> {
    let mut out: Vec<Stray> = seen
        .items(&accounts_read(g))
        .iter()
        .filter_map(|a| {
            let id = get_str(a, "id")?;
            if g.accounts.iter().any(|m| super::id_eq(m, id)) {
                return None;
            }
            let (field, value) = policy_assignment::finding(g, a)?;
            Some(Stray {
                id: id.to_string(),
                field,
                value,
            })
        })
        .collect();
    out.sort_by_key(|s| s.id.to_ascii_lowercase());
    out
}

/// The task's name: the assignment's, and a digest of the accounts it is for.
pub fn name(g: &Guard, strays: &[Stray]) -> String {
    let ids: Vec<String> = strays.iter().map(|s| s.id.to_ascii_lowercase()).collect();
    let digest = hex::encode(Sha256::digest(ids.join("|").as_bytes()));
    format!("{}-{}", policy_assignment::name(g), &digest[..8])
}

pub fn id(g: &Guard, strays: &[Stray]) -> String {
    format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/{}",
        g.scope,
        name(g, strays)
    )
}

impl Kind for PolicyRemediationKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// The scope's accounts; once they are read, the task for the non-compliant ones.
    fn reads(&self, inst: &Instance, seen: &Reads) -> Vec<Read> {
        guards(inst)
            .flat_map(|g| {
                let list = accounts_read(g);
                let found = seen
                    .result(&list)
                    .map(|_| strays(g, seen))
                    .unwrap_or_default();
                let task = (!found.is_empty()).then(|| Read::get(id(g, &found), API_VERSION));
                std::iter::once(list).chain(task)
            })
            .collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let mut out = Planned::default();
        for g in guards(inst) {
            let found = strays(g, seen);
            if found.is_empty() {
                continue;
            }
            let live = seen.value(&Read::get(id(g, &found), API_VERSION));
            if let Some(note) = live.and_then(|l| unfinished(g, &found, l)) {
                out.notes.push(note);
            }
            out.changes
                .push((Stage::Remediation, plan(inst, g, &found, live)));
        }
        out
    }
}

/// A task that exists but has not succeeded, in a sentence (moat does not start another one for
/// the same accounts: delete it to have the next plan start a new one).
fn unfinished(g: &Guard, found: &[Stray], live: &Value) -> Option<String> {
    let state = get_str(live, "properties.provisioningState").unwrap_or("Accepted");
    if state.eq_ignore_ascii_case("Succeeded") {
        return None;
    }
    let ok = live
        .pointer("/properties/deploymentStatus/successfulDeployments")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let why = get_str(live, "properties.statusMessage")
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Some(format!(
        "the remediation {} of controls.{} at {} is {state} ({ok} of {} accounts fixed{why}); moat does not start another for the same accounts",
        name(g, found),
        g.control,
        g.scope,
        found.len()
    ))
}

fn plan(inst: &Instance, g: &Guard, found: &[Stray], live: Option<&Value>) -> Change {
    let id = id(g, found);
    let address = format!("{}/policy-remediation/{}", inst.name, name(g, found));
    let list = found
        .iter()
        .map(|s| {
            let short = s.id.rsplit('/').next().unwrap_or(&s.id);
            format!("{short} ({}: {})", s.field, s.value)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let reason = format!(
        "{} account(s) in {} break controls.{} and the blueprint does not harden them: {list}; Azure Policy fixes them with the {} assignment (guardrails remediate)",
        found.len(),
        g.scope,
        g.control,
        g.effect
    );
    if live.is_some() {
        return Change::new(address, KIND, &id, Action::NoOp, reason, fingerprint(live));
    }
    let assignment = policy_assignment::id(g);
    let body = json!({"properties": {
        "policyAssignmentId": assignment,
        "resourceDiscoveryMode": "ReEvaluateCompliance",
    }});
    let mut write = Write::new(Method::Put, &id, API_VERSION, Some(body));
    write.if_none_match = true;
    let mut c = Change::new(address, KIND, &id, Action::Create, reason, "absent".into())
        .with_write(write)
        .with_risk(Some(format!(
            "Azure Policy changes {} account(s) the blueprint does not name, as the assignment's managed identity: {list}",
            found.len()
        )));
    c.fields = vec![
        FieldChange {
            path: "properties.policyAssignmentId".into(),
            before: None,
            after: Some(assignment.into()),
        },
        FieldChange {
            path: "properties.resourceDiscoveryMode".into(),
            before: None,
            after: Some("ReEvaluateCompliance".into()),
        },
    ];
    // The task runs as the assignment's identity, with its role, and skips exempted accounts:
    // it waits for the assignment, the grants and every instance's exemption (the planner
    // drops the edges that are not writes of this plan).
    c.depends_on = std::iter::once(format!(
        "{}/policy-assignment/{}",
        inst.name,
        policy_assignment::name(g)
    ))
    .chain(guardrail_grant::addresses(inst, g))
    .chain(g.members.iter().map(|m| policy_exemption::address_of(m, g)))
    .collect();
    c
}
