//! Property: casing, ordering and server-added fields never produce a change.

use crate::support;

use moat::observe::{Observed, ObservedInstance};
use proptest::prelude::*;
use serde_json::Value;

use support::*;

/// Keys whose values ARM compares case-insensitively (enums, ids, names).
const CASE_INSENSITIVE: &[&str] = &[
    "publicNetworkAccess",
    "defaultAction",
    "bypass",
    "type",
    "name",
    "source",
    "severityThreshold",
    "access",
    "direction",
    "protocol",
    "principalType",
    "privateEndpointNetworkPolicies",
    "mode",
    "basePolicyName",
    "location",
    "kind",
    "raiPolicyName",
    "category",
    "id",
    "privateLinkServiceId",
    "privateDnsZoneId",
    "roleDefinitionId",
    "principalId",
    "workspaceId",
    "groupIds",
];

fn flip_case(s: &str, rng: &mut fastrand::Rng) -> String {
    s.chars()
        .map(|c| {
            if rng.bool() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

pub(crate) fn mutate(v: &mut Value, key: Option<&str>, rng: &mut fastrand::Rng) {
    match v {
        Value::String(s)
            if key.is_some_and(|k| CASE_INSENSITIVE.contains(&k)) && rng.u8(..4) == 0 =>
        {
            *s = flip_case(s, rng);
        }
        Value::Array(a) => {
            rng.shuffle(a);
            for x in a.iter_mut() {
                mutate(x, key, rng);
            }
        }
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let child = m.get_mut(&k).expect("key exists");
                mutate(child, Some(k.as_str()), rng);
            }
            // A field the server added that moat has never heard of.
            if rng.u8(..3) == 0 {
                let n = rng.u32(..);
                let val = match rng.u8(..4) {
                    0 => Value::Bool(rng.bool()),
                    1 => Value::from(rng.i64(..)),
                    2 => serde_json::json!({"nested": n}),
                    _ => Value::String(format!("server-{n}")),
                };
                m.insert(format!("serverAdded{n}"), val);
            }
        }
        _ => {}
    }
}

/// Every body every kind read (so a new kind's reads are mutated without being listed here).
fn mutate_observed(obs: &ObservedInstance, seed: u64) -> ObservedInstance {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = obs.clone();
    for v in out.reads.values_mut().flatten() {
        mutate(v, None, &mut rng);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn casing_ordering_and_server_fields_never_produce_a_change(seed in any::<u64>()) {
        let inst = strict_instance();
        let obs = mutate_observed(&hardened_observed(&inst), seed);
        let p = moat::plan::plan(&blueprint(vec![inst]), &Observed { instances: vec![obs] });
        let noisy: Vec<String> = p
            .changes()
            .filter(|c| c.action != moat::plan::model::Action::NoOp)
            .map(|c| format!("{} {:?} {:?}", c.address, c.action, c.fields))
            .collect();
        prop_assert!(noisy.is_empty(), "seed {seed}: {noisy:#?}");
    }
}

#[test]
fn the_mutator_really_mutates() {
    // Guard against a mutator that silently does nothing (the property would then prove nothing).
    let inst = strict_instance();
    let obs = hardened_observed(&inst);
    let changed = (0..20u64)
        .filter(|s| mutate_observed(&obs, *s) != obs)
        .count();
    assert!(changed >= 19);
}
