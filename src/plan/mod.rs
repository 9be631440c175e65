//! The pure, synchronous, deterministic planner: (blueprint, observed state) → plan.
//!
//! It decides everything apply will do: which resources change, the exact request bodies (built
//! from the raw observed JSON), the dependency edges, the cutover gates and the directives apply
//! follows (locks, re-sends, adoption). Apply makes no decisions. The planner knows no kind: it
//! asks every registered kind (`resources::registry`) for its changes, emits a resource shared
//! by several instances once, and wires the changes in the cutover order
//! (`resources::cutover`).

pub mod destroy;
pub use crate::model;
mod order;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::blueprint::resolved::{Blueprint, Instance};
use crate::model::observed::{Observed, ObservedInstance};
use crate::resources::cutover;
use crate::resources::kind::Stage;
use crate::resources::{self, norm_id};
use model::{BlueprintRef, Change, InstancePlan, Plan, PLAN_FORMAT_VERSION};

/// Plan every instance. `observed.instances` is in blueprint order.
pub fn plan(bp: &Blueprint, observed: &Observed) -> Plan {
    let mut shared: HashMap<String, String> = HashMap::new();
    let mut instances: Vec<InstancePlan> = bp
        .instances
        .iter()
        .map(|inst| plan_instance(inst, observed_of(observed, inst), &mut shared))
        .collect();
    finish(bp, &mut instances)
}

/// The observed state of one instance (empty when it was not observed).
pub fn observed_of<'a>(observed: &'a Observed, inst: &Instance) -> &'a ObservedInstance {
    static EMPTY: std::sync::OnceLock<ObservedInstance> = std::sync::OnceLock::new();
    observed
        .instances
        .iter()
        .find(|o| o.name == inst.name)
        .unwrap_or_else(|| EMPTY.get_or_init(ObservedInstance::default))
}

/// Prune dependencies, write the directives, and wrap the instances' plans.
fn finish(bp: &Blueprint, instances: &mut Vec<InstancePlan>) -> Plan {
    prune_dependencies(instances);
    for c in instances.iter_mut().flat_map(|i| i.changes.iter_mut()) {
        with_directives(c);
        c.regression = regression(c);
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        moat_version: env!("CARGO_PKG_VERSION").to_string(),
        blueprint: BlueprintRef {
            path: bp.source.display().to_string(),
            path_from_plan: None,
            digest: bp.digest.clone(),
        },
        instances: std::mem::take(instances),
    }
}

fn plan_instance(
    inst: &Instance,
    obs: &ObservedInstance,
    shared: &mut HashMap<String, String>,
) -> InstancePlan {
    let mut out = instance_plan(inst);
    let mut staged: Vec<(Stage, Change)> = Vec::new();
    // Addresses of shared changes another instance owns, that this instance still waits for.
    let mut external: BTreeMap<Stage, Vec<String>> = BTreeMap::new();
    for kind in resources::KINDS {
        let planned = kind.changes(inst, &obs.reads);
        out.notes.extend(planned.notes);
        for (stage, c) in planned.changes {
            if !kind.meta().shared {
                staged.push((stage, c));
                continue;
            }
            // A resource several instances share is emitted once, by the first instance that
            // needs it; later instances depend on that address.
            let key = format!("{}|{}", c.kind, norm_id(&c.id));
            match shared.get(&key) {
                Some(owner) => external.entry(stage).or_default().push(owner.clone()),
                None => {
                    shared.insert(key, c.address.clone());
                    staged.push((stage, c));
                }
            }
        }
        if planned.halt {
            // Nothing else is safe to plan (an account moat refuses to touch).
            break;
        }
    }
    staged.sort_by_key(|(stage, _)| *stage);
    order::wire(&cutover::CUTOVER, inst, &mut staged, &external);
    out.changes = staged.into_iter().map(|(_, c)| c).collect();
    // Shown, never carried out: rotation is `moat rotate`'s (it breaks clients on the old key).
    if let (Some(kr), Some(seen)) = (&inst.key_rotation, &obs.rotation) {
        out.rotation = Some(crate::rotate::due::due(kr, &out.account_id, seen));
    }
    out
}

/// An instance's plan, before any change or note.
fn instance_plan(inst: &Instance) -> InstancePlan {
    InstancePlan {
        name: inst.name.clone(),
        subscription: inst.subscription.clone(),
        account_id: inst.account_id(),
        changes: Vec::new(),
        notes: Vec::new(),
        exceptions: inst
            .exceptions
            .iter()
            .map(|e| model::StandingException {
                allows: e.allows.to_string(),
                reason: e.reason.clone(),
                expires: e.expires.clone(),
                days_left: e.days_left,
            })
            .collect(),
        rotation: None,
    }
}

/// Write the apply directives the change's kind decides into its write: the lock it serialises
/// on, whether it goes first on that lock, the refusal it waits out and re-sends, and the
/// adoption of an equal resource under another name. Apply decides none of these itself.
pub fn with_directives(c: &mut Change) {
    let Some(kind) = crate::resources::find(&c.kind) else {
        return;
    };
    let (lock, resend, adopt) = (kind.lock(c), kind.resend(c), kind.adopt(c));
    if let Some(w) = c.write.as_mut() {
        w.first_on_lock = kind.meta().first_on_lock && lock.is_some();
        w.lock = lock;
        w.resend = resend;
        w.adopt = adopt;
    }
}

/// Whether `c` puts back what the blueprint already declares: an update, allowed by no
/// exception, away from a value its kind calls weak (`Meta::weak`).
pub fn regression(c: &Change) -> bool {
    let Some(kind) = crate::resources::find(&c.kind) else {
        return false;
    };
    c.action == model::Action::Update
        && c.exception.is_none()
        && c.fields.iter().any(|f| {
            let before = f.before.as_ref().map_or_else(
                || "(absent)".to_string(),
                |v| serde_json::to_string(v).unwrap_or_default(),
            );
            f.before != f.after
                && kind
                    .meta()
                    .weak
                    .iter()
                    .any(|(path, weak)| *path == f.path && weak.eq_ignore_ascii_case(&before))
        })
}

/// Dependencies only matter between writes; a change that writes nothing waits for nothing.
fn prune_dependencies(instances: &mut [InstancePlan]) {
    let writes: std::collections::HashSet<String> = instances
        .iter()
        .flat_map(|i| i.changes.iter())
        .filter(|c| c.action.is_write())
        .map(|c| c.address.clone())
        .collect();
    for ch in instances.iter_mut().flat_map(|i| i.changes.iter_mut()) {
        if ch.action.is_write() {
            ch.depends_on.retain(|d| writes.contains(d));
            ch.depends_on.sort();
            ch.depends_on.dedup();
        } else {
            ch.depends_on.clear();
            ch.gates.clear();
        }
    }
}

/// Body of a created resource, for tests and renderers.
pub fn write_body(c: &Change) -> Option<&Value> {
    c.write.as_ref().and_then(|w| w.body.as_ref())
}
