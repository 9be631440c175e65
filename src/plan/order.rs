//! The cutover order wired into the changes: each change's `depends_on` and `gates` from the
//! stage table in `resources::cutover` (what each stage waits for, and which stages run one at
//! a time). Kind-agnostic: a stage's gate comes from the kinds (`Kind::gate`).

use std::collections::BTreeMap;

use crate::blueprint::resolved::Instance;
use crate::model::{Change, Gate};
use crate::resources;
use crate::resources::cutover::{Order, Wait};
use crate::resources::kind::Stage;

/// Add edges and gates to one instance's changes (in stage order) from `order`. `external`:
/// addresses of shared changes other instances own, by stage.
pub fn wire(
    order: &Order,
    inst: &Instance,
    changes: &mut [(Stage, Change)],
    external: &BTreeMap<Stage, Vec<String>>,
) {
    let no_external = Vec::new();
    let ext = |s: Stage| external.get(&s).unwrap_or(&no_external);
    // What each stage offers those that wait for it: its writes, and its gates.
    let mut writes: BTreeMap<Stage, Vec<String>> = BTreeMap::new();
    let mut by_stage: BTreeMap<Stage, Vec<&Change>> = BTreeMap::new();
    for (s, c) in changes.iter() {
        by_stage.entry(*s).or_default().push(c);
        if c.action.is_write() {
            writes.entry(*s).or_default().push(c.address.clone());
        }
    }
    let gates_of = |s: Stage| -> Vec<Gate> {
        let of_stage = by_stage.get(&s).map(Vec::as_slice).unwrap_or(&[]);
        resources::KINDS
            .iter()
            .filter_map(|k| k.gate(inst, s, of_stage))
            .collect()
    };
    // What a change waits for depends only on its stage: worked out once per stage.
    let mut per_stage: BTreeMap<Stage, (Vec<String>, Vec<Gate>)> = BTreeMap::new();
    for stage in by_stage.keys() {
        let mut deps = Vec::new();
        let mut gates = Vec::new();
        for (after, wait) in order.edges(*stage) {
            deps.extend(writes.get(after).into_iter().flatten().cloned());
            deps.extend(ext(*after).iter().cloned());
            let gated = match wait {
                Wait::Done => false,
                Wait::Ready => true,
                Wait::ReadyIf(needed) => needed(inst),
            };
            if gated {
                gates.extend(gates_of(*after));
            }
        }
        per_stage.insert(*stage, (deps, gates));
    }
    for (stage, c) in changes.iter_mut() {
        let (deps, gates) = &per_stage[stage];
        c.depends_on.extend(deps.iter().cloned());
        for g in gates {
            if !c.gates.contains(g) {
                c.gates.push(g.clone());
            }
        }
    }
    // Serial stages: one at a time, in the order listed, after those other instances own.
    for stage in order.serial {
        let mut previous: Vec<String> = ext(*stage).clone();
        for (_, c) in changes.iter_mut().filter(|(s, _)| s == stage) {
            c.depends_on.extend(previous.iter().cloned());
            if c.action.is_write() {
                previous = vec![c.address.clone()];
            }
        }
    }
}
