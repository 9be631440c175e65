//! `Microsoft.Network/networkSecurityGroups/securityRules` (N4): rules on the endpoint subnet's NSG.
//!
//! Rules are managed one by one as child resources (never through an NSG PUT, which would replace
//! the whole rule set). Managed: `priority`, `direction`, `access`, `protocol`, source and
//! destination prefixes and port ranges (singular and plural forms are the same field, compared as
//! sets) and `description` (which carries moat's ownership marker). Ignored: default rules,
//! provisioning state, application security groups. Undeclared rules are deleted only when moat
//! created them (marker), or when the blueprint opts in (`removeUndeclaredRules`), loudly.

use serde_json::{json, Value};

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Stage};
use super::{enum_eq, fingerprint, get, get_str, set_eq_ci, str_list, OWNER_MARKER};
use crate::arm::Method;
use crate::blueprint::resolved::Instance;
use crate::blueprint::resolved::{Mode, Nsg, NsgRule};
use crate::model::{Action, Change, FieldChange, KindId, Write};

pub const API_VERSION: &str = super::private_endpoint::API_VERSION;

pub fn id(nsg_id: &str, name: &str) -> String {
    format!("{nsg_id}/securityRules/{name}")
}

pub fn address(instance: &str, nsg_id: &str, name: &str) -> String {
    format!(
        "{instance}/security-rule/{}/{name}",
        super::last_segment(nsg_id)
    )
}

fn description(rule: &NsgRule) -> String {
    match &rule.description {
        Some(d) if !d.is_empty() => format!("{d} {OWNER_MARKER}"),
        _ => OWNER_MARKER.to_string(),
    }
}

/// `sourceAddressPrefix` and `sourceAddressPrefixes` are one field in two spellings.
fn both(props: &Value, singular: &str, plural: &str) -> Vec<String> {
    let mut v = str_list(props.get(plural));
    if let Some(s) = props.get(singular).and_then(Value::as_str) {
        if !s.is_empty() {
            v.push(s.to_string());
        }
    }
    v
}

fn props_json(rule: &NsgRule) -> Value {
    let mut p = json!({
        "priority": rule.priority,
        "direction": rule.direction,
        "access": rule.access,
        "protocol": rule.protocol,
        "description": description(rule),
    });
    let put = |p: &mut Value, singular: &str, plural: &str, vals: &[String]| {
        if vals.len() == 1 {
            p[singular] = vals[0].clone().into();
        } else {
            p[plural] = super::json_strs(vals);
        }
    };
    put(
        &mut p,
        "sourceAddressPrefix",
        "sourceAddressPrefixes",
        &rule.source_address_prefixes,
    );
    put(
        &mut p,
        "sourcePortRange",
        "sourcePortRanges",
        &rule.source_port_ranges,
    );
    put(
        &mut p,
        "destinationAddressPrefix",
        "destinationAddressPrefixes",
        &rule.destination_address_prefixes,
    );
    put(
        &mut p,
        "destinationPortRange",
        "destinationPortRanges",
        &rule.destination_port_ranges,
    );
    p
}

fn diff(rule: &NsgRule, live: &Value) -> Vec<FieldChange> {
    let p = live.get("properties").cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    let mut scalar = |k: &str, want: Value, same: bool| {
        if !same {
            out.push(FieldChange {
                path: format!("properties.{k}"),
                before: p.get(k).cloned(),
                after: Some(want),
            });
        }
    };
    let live_prio = p.get("priority").and_then(Value::as_u64);
    scalar(
        "priority",
        rule.priority.into(),
        live_prio == Some(u64::from(rule.priority)),
    );
    for (k, want) in [
        ("direction", &rule.direction),
        ("access", &rule.access),
        ("protocol", &rule.protocol),
    ] {
        let l = p.get(k).and_then(Value::as_str).unwrap_or("");
        scalar(k, want.clone().into(), enum_eq(l, want));
    }
    // The live description is the declared one with moat's marker (a rule moat wrote), or the
    // declared one as is (the same rule written by someone else: moat adopts it as it is, with
    // no ownership-only update; not marked, it is never deleted by moat).
    let desc = description(rule);
    let live_desc = p.get("description").and_then(Value::as_str).unwrap_or("");
    let declared = rule.description.as_deref().unwrap_or("");
    scalar(
        "description",
        desc.clone().into(),
        live_desc == desc || live_desc == declared,
    );
    for (singular, plural, want) in [
        (
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            &rule.source_address_prefixes,
        ),
        (
            "sourcePortRange",
            "sourcePortRanges",
            &rule.source_port_ranges,
        ),
        (
            "destinationAddressPrefix",
            "destinationAddressPrefixes",
            &rule.destination_address_prefixes,
        ),
        (
            "destinationPortRange",
            "destinationPortRanges",
            &rule.destination_port_ranges,
        ),
    ] {
        let l = both(&p, singular, plural);
        if !set_eq_ci(&l, want) {
            out.push(FieldChange {
                path: format!("properties.{plural}"),
                before: Some(super::json_strs(&l)),
                after: Some(super::json_strs(want)),
            });
        }
    }
    out
}

/// Changes for the NSG's rules, ordered so that allow rules land before deny rules (no window in
/// which a new deny-all blocks traffic the allows are meant to let through).
pub fn plan(instance: &str, mode: Mode, spec: &Nsg, observed_nsg: Option<&Value>) -> Vec<Change> {
    let Some(nsg) = observed_nsg else {
        return vec![Change::blocked(
            format!("{instance}/nsg/{}", super::last_segment(&spec.nsg_id)),
            KIND,
            &spec.nsg_id,
            "the network security group does not exist: moat manages its rules, not the NSG itself; create it and attach it to the endpoint subnet",
            "absent".into(),
        )];
    };
    let live: Vec<Value> = get(nsg, "properties.securityRules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let find = |name: &str| {
        live.iter()
            .find(|r| get_str(r, "name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
    };
    let mut rules: Vec<&NsgRule> = spec.rules.iter().collect();
    rules.sort_by_key(|r| (r.access.eq_ignore_ascii_case("Deny"), r.priority));
    let mut out = Vec::new();
    for rule in rules {
        let id = id(&spec.nsg_id, &rule.name);
        let addr = address(instance, &spec.nsg_id, &rule.name);
        let reason = format!("NSG rule {} on the endpoint subnet (N4)", rule.name);
        // Another rule already holds this priority and direction: ARM would refuse the PUT.
        let clash = live.iter().find(|r| {
            let n = get_str(r, "name").unwrap_or("");
            !n.eq_ignore_ascii_case(&rule.name)
                && get(r, "properties.priority").and_then(Value::as_u64)
                    == Some(u64::from(rule.priority))
                && get_str(r, "properties.direction").is_some_and(|d| enum_eq(d, &rule.direction))
                && !spec.rules.iter().any(|x| x.name.eq_ignore_ascii_case(n))
        });
        if let Some(other) = clash {
            out.push(Change::blocked(
                addr,
                KIND,
                id,
                format!(
                    "priority {} ({}) is already used by rule {}, which the blueprint does not declare: pick another priority or remove that rule",
                    rule.priority,
                    rule.direction,
                    get_str(other, "name").unwrap_or("?")
                ),
                fingerprint(Some(other)),
            ));
            continue;
        }
        let observed = find(&rule.name);
        let fields = match observed {
            Some(l) => diff(rule, l),
            None => Vec::new(),
        };
        // A rule of the same name that moat did not create and that differs from the
        // blueprint's is someone else's: never overwritten (its sources would lose access
        // silently). An identical one is adopted as it is (no fields differ).
        let foreign = observed.filter(|l| {
            !get_str(l, "properties.description").is_some_and(|d| d.contains(OWNER_MARKER))
        });
        if let (Some(live_rule), true) = (foreign, !fields.is_empty() && mode == Mode::Managed) {
            let what: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
            out.push(
                Change::blocked(
                    addr,
                    KIND,
                    id,
                    format!(
                        "the NSG already has a rule named {} that moat did not create, and it differs from the blueprint's ({}): moat will not overwrite it; rename the blueprint's rule, or align or remove the existing one yourself",
                        rule.name,
                        what.join(", ")
                    ),
                    fingerprint(Some(live_rule)),
                )
                .with_fields(fields),
            );
            continue;
        }
        let action = super::outcome(mode, observed.is_some(), !fields.is_empty());
        let mut c =
            Change::new(addr, KIND, &id, action, reason, fingerprint(observed)).with_fields(fields);
        if action == Action::Create {
            c.fields = vec![FieldChange {
                path: "properties".into(),
                before: None,
                after: Some(props_json(rule)),
            }];
        }
        if matches!(action, Action::Create | Action::Update) {
            c.write = Some(Write::new(
                Method::Put,
                &id,
                API_VERSION,
                Some(json!({"properties": props_json(rule)})),
            ));
            if rule.access.eq_ignore_ascii_case("Deny") {
                c.risk = Some(format!(
                    "denies {} traffic matching {:?} on ports {:?}: sources not allowed by a higher-priority rule lose access to the endpoint",
                    rule.direction.to_ascii_lowercase(),
                    rule.source_address_prefixes,
                    rule.destination_port_ranges
                ));
            }
        }
        out.push(c);
    }
    // Undeclared rules: delete moat's own; others only on explicit opt-in.
    let mut extra: Vec<&Value> = live
        .iter()
        .filter(|r| {
            let n = get_str(r, "name").unwrap_or("");
            !spec.rules.iter().any(|x| x.name.eq_ignore_ascii_case(n))
        })
        .collect();
    extra.sort_by_key(|r| get_str(r, "name").unwrap_or("").to_ascii_lowercase());
    for r in extra {
        let name = get_str(r, "name").unwrap_or("");
        let owned = get_str(r, "properties.description").is_some_and(|d| d.contains(OWNER_MARKER));
        if !(owned || spec.remove_undeclared_rules) || mode == Mode::Verify {
            continue;
        }
        let id = id(&spec.nsg_id, name);
        let mut c = Change::new(
            address(instance, &spec.nsg_id, name),
            KIND,
            &id,
            Action::Delete,
            if owned {
                "moat created this rule and the blueprint no longer declares it"
            } else {
                "not declared, and the blueprint removes undeclared rules (removeUndeclaredRules)"
            },
            fingerprint(Some(r)),
        )
        .with_write(Write::new(Method::Delete, &id, API_VERSION, None));
        if !owned {
            c.risk = Some(format!("deletes rule {name}, which moat did not create"));
        }
        out.push(c);
    }
    out
}

pub const KIND: KindId = KindId::new("security-rule");

pub struct SecurityRuleKind;

static META: Meta = Meta {
    label: "security-rule",
    arm_type: "Microsoft.Network/networkSecurityGroups/securityRules",
    api_version: API_VERSION,
    shared: true,
    managed: &[
        "properties.priority",
        "properties.direction",
        "properties.access",
        "properties.protocol",
        "properties.sourceAddressPrefix",
        "properties.sourceAddressPrefixes",
        "properties.sourcePortRange",
        "properties.sourcePortRanges",
        "properties.destinationAddressPrefix",
        "properties.destinationAddressPrefixes",
        "properties.destinationPortRange",
        "properties.destinationPortRanges",
        "properties.description",
    ],
    read_only: &[],
    ignored: &[
        "properties.provisioningState",
        "properties.sourceApplicationSecurityGroups",
        "properties.destinationApplicationSecurityGroups",
    ],
    first_on_lock: false,
    weak: &[],
};

impl Kind for SecurityRuleKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn uses(&self, inst: &Instance) -> Vec<String> {
        inst.controls
            .nsg
            .iter()
            .flat_map(|n| n.spec.rules.iter().map(|r| id(&n.spec.nsg_id, &r.name)))
            .collect()
    }

    /// Rules moat wrote for this instance, unless something else still sits behind them; denies
    /// first, then allows, one at a time: the subnet is never left with a deny-all whose allow
    /// exceptions are already gone (that would cut off what is still behind it).
    fn destroy(&self, inst: &Instance, seen: &Reads, in_use: &InUse) -> Planned {
        let nsg = inst
            .controls
            .nsg
            .as_ref()
            .filter(|n| n.mode == Mode::Managed);
        let (Some(nsg), Some(live_nsg)) = (nsg, read(inst).and_then(|r| seen.value(&r))) else {
            return Planned::default();
        };
        let ours = inst
            .controls
            .private_endpoint
            .as_ref()
            .map(|p| super::private_endpoint::id(&p.spec));
        let others = super::subnet::read(inst)
            .and_then(|r| seen.value(&r))
            .and_then(|s| get(s, "properties.privateEndpoints"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| get_str(p, "id"))
                    .filter(|p| !ours.as_deref().is_some_and(|o| super::id_eq(p, o)))
                    .count()
            })
            .unwrap_or(0);
        let live_rules: &[Value] = get(live_nsg, "properties.securityRules")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut rules: Vec<_> = nsg.spec.rules.iter().collect();
        rules.sort_by_key(|r| (!r.access.eq_ignore_ascii_case("Deny"), r.priority));
        let mut out = Planned::default();
        for rule in rules {
            let rid = id(&nsg.spec.nsg_id, &rule.name);
            let Some(live) = live_rules
                .iter()
                .find(|r| get_str(r, "name").is_some_and(|n| n.eq_ignore_ascii_case(&rule.name)))
            else {
                continue;
            };
            let owned =
                get_str(live, "properties.description").is_some_and(|d| d.contains(OWNER_MARKER));
            let keep_why = if !owned {
                Some("moat did not create it".to_string())
            } else if in_use.contains(&super::norm_id(&rid)) {
                Some("another instance of the blueprint declares it".to_string())
            } else if others > 0 {
                Some(format!(
                    "{others} other private endpoint(s) in the subnet still sit behind it"
                ))
            } else {
                None
            };
            if let Some(why) = keep_why {
                out.notes
                    .push(format!("the NSG rule {} is kept: {why}", rule.name));
                continue;
            }
            out.changes.push((
                Stage::Firewall,
                super::delete_change(
                    address(&inst.name, &nsg.spec.nsg_id, &rule.name),
                    KIND,
                    &rid,
                    API_VERSION,
                    "the NSG rule moat created for this instance's endpoint",
                    format!(
                        "rule {} ({} {}) leaves the endpoint subnet's NSG",
                        rule.name, rule.access, rule.direction
                    ),
                    live,
                ),
            ));
        }
        out
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        read(inst).into_iter().collect()
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        let Some(nsg) = &inst.controls.nsg else {
            return Planned::default();
        };
        let live = read(inst).and_then(|r| seen.value(&r));
        Planned::of(Stage::Firewall, plan(&inst.name, nsg.mode, &nsg.spec, live))
    }

    /// Rules of one NSG are written one at a time (each write updates the NSG).
    fn lock(&self, change: &Change) -> Option<String> {
        Some(format!(
            "nsg:{}",
            super::norm_id(super::parent_id(&change.id))
        ))
    }
}

/// The NSG of the endpoint subnet, with its rules.
pub fn read(inst: &Instance) -> Option<Read> {
    inst.controls
        .nsg
        .as_ref()
        .map(|n| Read::get(n.spec.nsg_id.clone(), API_VERSION))
}
