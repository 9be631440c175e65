//! Destroy as a planner mode: the plan `moat destroy` shows and carries out, drawn by the same
//! renderers and executed by the same applier as any plan.
//!
//! Removing an instance from a blueprint never deletes anything: the planner only plans what the
//! blueprint lists. Destroy is explicit (named instances), planned and shown like apply (every
//! Delete with its risk) and confirmed like apply. Each kind says what of its resources moat may
//! delete (`Kind::destroy`): only what moat created for the instance, never a resource another
//! instance of the blueprint still uses (`Kind::uses`), never VNets, subnets, NSGs or
//! workspaces. An account moat did not create stops the instance's destroy. The order is the
//! cutover undone (`resources::cutover::DESTROY`), guardrails first.
//!
//! A shared resource (a zone, an NSG rule, an action group, a guardrail's policy assignment)
//! that several of the destroyed instances plan is deleted once, by the first of them; the
//! later ones wait for it where their stages wait for its stage, and it waits for their changes
//! in the stages its own stage waits for (a zone goes after every destroyed instance's zone
//! group, an exemption after the assignment that one of the others deletes).

use std::collections::{BTreeMap, HashMap};

use crate::blueprint::resolved::{Blueprint, Instance};
use crate::model::observed::Observed;
use crate::model::{Change, InstancePlan, Plan};
use crate::resources::cutover::{DESTROY, DESTROY_ORDER};
use crate::resources::kind::{InUse, Stage};
use crate::resources::{self, norm_id};

/// A shared delete emitted by an earlier instance that a later one also planned.
struct Late {
    owner: usize,
    address: String,
    stage: Stage,
    later: usize,
}

/// The destroy plan for the instances named in `names` (all in `bp`), from their observed state.
pub fn plan(bp: &Blueprint, names: &[String], observed: &Observed) -> Plan {
    let in_use: InUse = bp
        .instances
        .iter()
        .filter(|i| !names.contains(&i.name))
        .flat_map(|o| resources::KINDS.iter().flat_map(move |k| k.uses(o)))
        .map(|id| norm_id(&id))
        .collect();
    let mut shared: HashMap<String, (usize, String)> = HashMap::new();
    let mut late: Vec<Late> = Vec::new();
    let mut instances: Vec<InstancePlan> = Vec::new();
    let mut stages: Vec<Vec<Stage>> = Vec::new();
    for inst in bp.instances.iter().filter(|i| names.contains(&i.name)) {
        let seen = &super::observed_of(observed, inst).reads;
        let n = instances.len();
        let (out, of) = plan_instance(inst, seen, &in_use, n, &mut shared, &mut late);
        instances.push(out);
        stages.push(of);
    }
    for l in late {
        let waits = DESTROY.edges(l.stage);
        let deps: Vec<String> = instances[l.later]
            .changes
            .iter()
            .zip(&stages[l.later])
            .filter(|(c, s)| c.action.is_write() && waits.iter().any(|(w, _)| w == *s))
            .map(|(c, _)| c.address.clone())
            .collect();
        if let Some(c) = instances[l.owner]
            .changes
            .iter_mut()
            .find(|c| c.address == l.address)
        {
            c.depends_on.extend(deps);
        }
    }
    super::finish(bp, &mut instances)
}

/// One instance's destroy, with each change's stage. `n`: its index among the destroyed
/// instances; `shared`: the shared deletes emitted so far (key → owner index and address).
fn plan_instance(
    inst: &Instance,
    seen: &crate::model::observed::Reads,
    in_use: &InUse,
    n: usize,
    shared: &mut HashMap<String, (usize, String)>,
    late: &mut Vec<Late>,
) -> (InstancePlan, Vec<Stage>) {
    let mut out = super::instance_plan(inst);
    let mut staged: Vec<(Stage, Change)> = Vec::new();
    for kind in resources::KINDS {
        let planned = kind.destroy(inst, seen, in_use);
        if planned.halt {
            // Nothing of an instance whose account moat did not create (or that is gone) is
            // deleted.
            out.notes = planned.notes;
            let (stages, changes) = planned.changes.into_iter().unzip();
            out.changes = changes;
            return (out, stages);
        }
        out.notes.extend(planned.notes);
        staged.extend(planned.changes);
    }
    // Addresses of shared deletes another destroyed instance owns, that this one waits for.
    let mut external: BTreeMap<Stage, Vec<String>> = BTreeMap::new();
    staged.retain(|(stage, c)| {
        if !resources::find(&c.kind).is_some_and(|k| k.meta().shared) {
            return true;
        }
        let key = format!("{}|{}", c.kind, norm_id(&c.id));
        match shared.get(&key) {
            Some((owner, address)) => {
                external.entry(*stage).or_default().push(address.clone());
                late.push(Late {
                    owner: *owner,
                    address: address.clone(),
                    stage: *stage,
                    later: n,
                });
                false
            }
            None => {
                shared.insert(key, (n, c.address.clone()));
                true
            }
        }
    });
    let rank = |s: &Stage| {
        DESTROY_ORDER
            .iter()
            .position(|x| x == s)
            .unwrap_or(usize::MAX)
    };
    staged.sort_by_key(|(s, _)| rank(s));
    super::order::wire(&DESTROY, inst, &mut staged, &external);
    let (stages, changes) = staged.into_iter().unzip();
    out.changes = changes;
    (out, stages)
}
