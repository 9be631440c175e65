//! `Microsoft.Authorization/policyExemptions` (`guardrails`): the exemption of one account from
//! a guardrail's assignment, for an instance whose blueprint exception waives the guarded
//! control (`local-auth` for `localAuth`, `public-network-access` for `networkAccess`).
//!
//! Per instance, at the account's scope, named like the assignment it waives. Category
//! `Waiver`; the description is the exception's reason and `expiresOn` its expiry (end of that
//! day, UTC). Policy exemptions exist only in preview api-versions: moat pins the newest,
//! 2026-01-01-preview (REST spec `getPolicyExemptionWithResourceSelectors.json`).
//!
//! An exception that has expired, or that the blueprint no longer has, leaves no exemption:
//! one moat made (`metadata.managed-by: moat`) is deleted, and the plan says, as a risk, that
//! Azure now refuses writes to that account that keep the control weakened. Stage `Exemptions`,
//! after the assignment (ARM validates the exemption against the assignment's scope).

use serde_json::{json, Value};

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::{fingerprint, get_str, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::guardrails::{built_in, siblings, with_siblings};
use crate::blueprint::resolved::{Exception, Guard, Instance, Mode};
use crate::model::{Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = "2026-01-01-preview";
pub const KIND: KindId = KindId::new("policy-exemption");

pub struct PolicyExemptionKind;

static META: Meta = Meta {
    label: "policy-exemption",
    arm_type: "Microsoft.Authorization/policyExemptions",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "properties.policyAssignmentId",
        "properties.exemptionCategory",
        "properties.displayName",
        "properties.description",
        "properties.expiresOn",
        "properties.metadata",
    ],
    read_only: &["systemData"],
    ignored: &[
        "properties.policyDefinitionReferenceIds",
        "properties.assignmentScopeValidation",
        "properties.resourceSelectors",
    ],
    first_on_lock: false,
    weak: &[],
};

fn id(inst: &Instance, g: &Guard) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyExemptions/{}",
        inst.account_id(),
        super::policy_assignment::name(g)
    )
}

/// The exception that waives `g` for `inst`, if the blueprint has one.
fn exception<'a>(inst: &'a Instance, g: &Guard) -> Option<&'a Exception> {
    let kind = built_in(&g.control)?.exception;
    inst.exceptions.iter().find(|e| e.allows == kind)
}

fn expired(e: &Exception) -> bool {
    e.days_left.is_some_and(|d| d < 0)
}

fn body(inst: &Instance, g: &Guard, e: &Exception) -> Value {
    let mut p = json!({
        "policyAssignmentId": super::policy_assignment::id(g),
        "exemptionCategory": "Waiver",
        "displayName": format!("moat: {} exception `{}`", inst.name, e.allows),
        "description": e.reason,
        "metadata": {OWNER_TAG: OWNER_VALUE},
    });
    if let Some(d) = &e.expires {
        p["expiresOn"] = json!(format!("{d}T23:59:59Z"));
    }
    json!({ "properties": p })
}

impl Kind for PolicyExemptionKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    /// The exemption from each guard's assignment, and moat's exemptions from the assignments
    /// of the control's other built-ins (an earlier effect, whose assignment goes).
    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        with_siblings(&inst.guardrails)
            .into_iter()
            .map(|g| Read::get(id(inst, &g), API_VERSION))
            .collect()
    }

    /// moat's exemptions of the account (from the guards' assignments and from those of the
    /// control's other built-ins), after the assignment when the destroy deletes it too;
    /// someone else's exemption under moat's name is kept, with a note.
    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let mut out = Planned::default();
        for g in with_siblings(&inst.guardrails) {
            let Some(live) = seen.value(&Read::get(id(inst, &g), API_VERSION)) else {
                continue;
            };
            if !owned(live) {
                out.notes.push(format!(
                    "the policy exemption {} on the account is kept: moat did not make it (no `metadata.managed-by: moat`)",
                    super::policy_assignment::name(&g)
                ));
                continue;
            }
            let c = super::delete_change(
                address(inst, &g),
                KIND,
                &id(inst, &g),
                API_VERSION,
                format!(
                    "moat destroy: the exemption moat made for the account from the {} of controls.{}",
                    g.effect, g.control
                ),
                format!(
                    "the account is no longer exempt from controls.{} in {} while it is being destroyed (Azure Policy refuses or rewrites writes, not deletes)",
                    g.control, g.scope
                ),
                live,
            );
            out.changes.push((Stage::Exemptions, c));
        }
        out
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let mut out = Planned::default();
        for g in &inst.guardrails {
            for old in siblings(g) {
                if let Some(l) = seen.value(&Read::get(id(inst, &old), API_VERSION)) {
                    if owned(l) {
                        let c = super::delete_change(
                            address(inst, &old),
                            KIND,
                            &id(inst, &old),
                            API_VERSION,
                            format!("the blueprint now enforces controls.{} with {}: the exemption from moat's earlier assignment goes with it", g.control, g.effect),
                            "the account is exempted from the new assignment instead only while its exception allows it",
                            l,
                        );
                        out.changes.push((Stage::Exemptions, c));
                    }
                }
            }
            let live = seen.value(&Read::get(id(inst, g), API_VERSION));
            let e = exception(inst, g);
            match (e.filter(|e| !expired(e)), live) {
                (Some(e), live) => out
                    .changes
                    .push((Stage::Exemptions, plan(inst, g, e, live))),
                (None, Some(l)) if owned(l) => {
                    out.changes.push((Stage::Exemptions, remove(inst, g, e, l)))
                }
                (None, Some(_)) => out.notes.push(format!(
                    "the policy exemption {} was not made by moat; it is kept",
                    id(inst, g)
                )),
                (None, None) => {
                    if let Some(e) = e {
                        out.notes.push(format!(
                            "the `{}` exception expired on {}: no policy exemption, so {} of controls.{} applies to this account",
                            e.allows,
                            e.expires.as_deref().unwrap_or("?"),
                            g.effect,
                            g.control
                        ));
                    }
                }
            }
        }
        out
    }
}

use super::policy_assignment::owned;

fn address(inst: &Instance, g: &Guard) -> String {
    address_of(&inst.name, g)
}

/// The address of instance `name`'s exemption from `g`'s assignment.
pub fn address_of(name: &str, g: &Guard) -> String {
    format!(
        "{name}/policy-exemption/{}",
        super::policy_assignment::name(g)
    )
}

fn plan(inst: &Instance, g: &Guard, e: &Exception, live: Option<&Value>) -> Change {
    let id = id(inst, g);
    let want = body(inst, g, e);
    let mut fields = Vec::new();
    if let Some(l) = live {
        for key in [
            "policyAssignmentId",
            "exemptionCategory",
            "displayName",
            "description",
            "expiresOn",
        ] {
            let path = format!("properties.{key}");
            let (have, w) = (get_str(l, &path), get_str(&want, &path));
            let same = match (have, w) {
                (Some(a), Some(b)) if key == "policyAssignmentId" => super::id_eq(a, b),
                (Some(a), Some(b)) if key == "expiresOn" => a.get(..19) == b.get(..19),
                (a, b) => a == b,
            };
            if !same {
                fields.push(FieldChange {
                    path,
                    before: have.map(Value::from),
                    after: w.map(Value::from),
                });
            }
        }
        if !owned(l) {
            fields.push(FieldChange {
                path: format!("properties.metadata.{OWNER_TAG}"),
                before: None,
                after: Some(OWNER_VALUE.into()),
            });
        }
    }
    let action = super::outcome(Mode::Managed, live.is_some(), !fields.is_empty());
    let reason = format!(
        "exempts the account from the {} of controls.{} in {}, as its `{}` exception allows",
        g.effect, g.control, g.scope, e.allows
    );
    let mut c = Change::new(
        address(inst, g),
        KIND,
        &id,
        action,
        reason,
        fingerprint(live),
    )
    .with_fields(fields);
    if action.is_write() {
        let mut w = Write::new(Method::Put, &id, API_VERSION, Some(want));
        w.if_none_match = live.is_none();
        c.write = Some(w);
        c.exception = Some(format!("{}: {}", e.allows, e.reason));
    }
    c
}

fn remove(inst: &Instance, g: &Guard, e: Option<&Exception>, live: &Value) -> Change {
    let why = match e {
        Some(e) => format!(
            "the `{}` exception expired on {}",
            e.allows,
            e.expires.as_deref().unwrap_or("?")
        ),
        None => format!(
            "the blueprint no longer has a `{}` exception",
            built_in(&g.control).map_or("", |b| b.exception.as_str())
        ),
    };
    super::delete_change(
        address(inst, g),
        KIND,
        &id(inst, g),
        API_VERSION,
        format!("{why}: the account's policy exemption goes"),
        format!(
            "{} of controls.{} now applies to this account: Azure refuses writes that keep it weakened (RequestDisallowedByPolicy)",
            g.effect, g.control
        ),
        live,
    )
}
