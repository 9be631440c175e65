//! Destroy as a planner mode: the plan `moat destroy` shows and carries out, drawn by the same
//! renderers and executed by the same applier as any plan.
//!
//! Removing an instance from a blueprint never deletes anything: the planner only plans what the
//! blueprint lists. Destroy is explicit (named instances), planned and shown like apply (every
//! Delete with its risk) and confirmed like apply. Each kind says what of its resources moat may
//! delete (`Kind::destroy`): only what moat created for the instance, never a resource another
//! instance of the blueprint still uses (`Kind::uses`), never VNets, subnets, NSGs or
//! workspaces. An account moat did not create stops the instance's destroy. The order is the
//! cutover undone (`resources::cutover::DESTROY`).

use std::collections::BTreeMap;

use crate::blueprint::resolved::{Blueprint, Instance};
use crate::model::observed::Observed;
use crate::model::{InstancePlan, Plan};
use crate::resources::cutover::{DESTROY, DESTROY_ORDER};
use crate::resources::kind::{InUse, Stage};
use crate::resources::{self, norm_id};

/// The destroy plan for the instances named in `names` (all in `bp`), from their observed state.
pub fn plan(bp: &Blueprint, names: &[String], observed: &Observed) -> Plan {
    let in_use: InUse = bp
        .instances
        .iter()
        .filter(|i| !names.contains(&i.name))
        .flat_map(|o| resources::KINDS.iter().flat_map(move |k| k.uses(o)))
        .map(|id| norm_id(&id))
        .collect();
    let mut instances: Vec<InstancePlan> = bp
        .instances
        .iter()
        .filter(|i| names.contains(&i.name))
        .map(|inst| plan_instance(inst, &super::observed_of(observed, inst).reads, &in_use))
        .collect();
    super::finish(bp, &mut instances)
}

fn plan_instance(
    inst: &Instance,
    seen: &crate::model::observed::Reads,
    in_use: &InUse,
) -> InstancePlan {
    let mut out = super::instance_plan(inst);
    let mut staged: Vec<(Stage, crate::model::Change)> = Vec::new();
    for kind in resources::KINDS {
        let planned = kind.destroy(inst, seen, in_use);
        if planned.halt {
            // Nothing of an instance whose account moat did not create (or that is gone) is
            // deleted.
            out.notes = planned.notes;
            out.changes = planned.changes.into_iter().map(|(_, c)| c).collect();
            return out;
        }
        out.notes.extend(planned.notes);
        staged.extend(planned.changes);
    }
    let rank = |s: &Stage| {
        DESTROY_ORDER
            .iter()
            .position(|x| x == s)
            .unwrap_or(usize::MAX)
    };
    staged.sort_by_key(|(s, _)| rank(s));
    super::order::wire(&DESTROY, inst, &mut staged, &BTreeMap::new());
    out.changes = staged.into_iter().map(|(_, c)| c).collect();
    out
}
