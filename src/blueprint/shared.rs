//! Resources several instances share are declared once across the blueprint.
//!
//! The planner emits a shared resource once, by the first instance that needs it, and a plan
//! restricted to some instances (`--instance`, `--subscription`) plans only theirs. Two instances
//! declaring one shared resource differently would let the first silently win in a fleet plan
//! and flip it back and forth in per-instance plans. So once every instance is resolved, and
//! before any sharding, the loader merges the declarations of the whole blueprint:
//! - NSG rules (NSG + rule name): every property the rule declares must agree (prefixes and
//!   ports as sets). Every instance that uses the NSG then gets the union of the rules the
//!   blueprint declares on it, so any shard plans them all identically and
//!   `removeUndeclaredRules` never deletes a rule another instance declares. Two rules of one
//!   NSG may not hold the same priority and direction.
//! - `removeUndeclaredRules` (per NSG): the instances that set it must agree; the value then
//!   holds for every instance that uses the NSG.
//! - VNet links (zone + VNet): the link name must agree.
//! - privatelink zones are keyed by their id alone: there is nothing to disagree about.

use std::collections::BTreeMap;

use super::diag::{Code, Diagnostic};
use super::formats::VNET_PLACEHOLDER;
use super::resolved::{Instance, NsgRule};
use super::yaml::{Kind, Loc, Node};

/// Where a declaration was written, and by which instance (index in the blueprint).
#[derive(Clone)]
struct Decl {
    inst: usize,
    loc: Loc,
}

/// One rule of a shared NSG as the blueprint declares it, and every instance that does.
struct Rule {
    rule: NsgRule,
    first: Decl,
    by: Vec<usize>,
}

/// A VNet link as one instance declares it, keyed by (zone subscription, zone resource group,
/// VNet): its explicit zones (empty: the account's), its name, where the name was set.
struct Link {
    zones: Vec<String>,
    name: String,
    at: Decl,
}

#[derive(Default)]
struct SharedNsg {
    rules: Vec<Rule>,
    /// The first explicit `removeUndeclaredRules`.
    remove_undeclared: Option<(bool, Decl)>,
    users: Vec<usize>,
}

/// Merges the shared declarations of `instances` (each with the merged YAML it was resolved
/// from, for positions), reporting conflicts into `out`.
pub fn merge(instances: &mut [Instance], nodes: &[Node], out: &mut Vec<Diagnostic>) {
    let mut report = Findings {
        names: instances.iter().map(|i| i.name.clone()).collect(),
        out,
    };
    let mut nsgs: BTreeMap<String, SharedNsg> = BTreeMap::new();
    for (i, (inst, node)) in instances.iter().zip(nodes).enumerate() {
        let Some(nsg) = &inst.controls.nsg else {
            continue;
        };
        let nsg_node = path(node, &["controls", "nsg"]);
        let nsg_name = last_segment(&nsg.spec.nsg_id);
        let shared = nsgs
            .entry(nsg.spec.nsg_id.to_ascii_lowercase())
            .or_default();
        shared.users.push(i);
        for rule in &nsg.spec.rules {
            let loc = nsg_node
                .and_then(|n| n.get("rules"))
                .map_or_else(|| node.loc.clone(), |r| r.key_loc(&rule.name).clone());
            let here = Decl { inst: i, loc };
            match shared
                .rules
                .iter_mut()
                .find(|r| r.rule.name.eq_ignore_ascii_case(&rule.name))
            {
                Some(known) => {
                    let diff = differences(rule, &known.rule);
                    if diff.is_empty() {
                        known.by.push(i);
                    } else {
                        report.conflict(
                            &here,
                            &known.first,
                            |this, first, first_at| format!(
                                "NSG rule `{}` on NSG `{nsg_name}` is declared differently by instance `{this}` and by instance `{first}` at {first_at}: {}",
                                rule.name,
                                diff.join("; ")
                            ),
                            "the rules of a shared NSG are declared once for the whole blueprint (every instance that uses the NSG gets them all): declare the rule the same way everywhere, e.g. in a profile or `defaults`, or give one of them another name and priority",
                        );
                    }
                }
                None => shared.rules.push(Rule {
                    rule: rule.clone(),
                    first: here,
                    by: vec![i],
                }),
            }
        }
        let flag = nsg_node.and_then(|n| n.get("removeUndeclaredRules"));
        if let Some(Node {
            kind: Kind::Bool(value),
            loc,
        }) = flag
        {
            let here = Decl {
                inst: i,
                loc: loc.clone(),
            };
            match &shared.remove_undeclared {
                Some((first_value, at)) if first_value != value => report.conflict(
                    &here,
                    at,
                    |this, first, first_at| format!("instance `{this}` sets `removeUndeclaredRules: {value}` on NSG `{nsg_name}`, instance `{first}` sets it to {first_value} at {first_at}"),
                    "`removeUndeclaredRules` holds for the whole NSG: set it the same way in every instance that uses the NSG, or in one of them only",
                ),
                Some(_) => {}
                None => shared.remove_undeclared = Some((*value, here)),
            }
        }
    }
    for (id, shared) in &nsgs {
        priorities(last_segment(id), shared, &mut report);
    }
    for shared in nsgs.values() {
        let mut rules: Vec<NsgRule> = shared.rules.iter().map(|r| r.rule.clone()).collect();
        rules.sort_by(|a, b| (&a.direction, a.priority).cmp(&(&b.direction, b.priority)));
        for &i in &shared.users {
            if let Some(nsg) = instances[i].controls.nsg.as_mut() {
                nsg.spec.rules = rules.clone();
                if let Some((value, _)) = &shared.remove_undeclared {
                    nsg.spec.remove_undeclared_rules = *value;
                }
            }
        }
    }
    links(instances, nodes, &mut report);
}

/// Two rules of one NSG declared by different instances may not share a priority and direction
/// (ARM refuses the second). Rules one instance declares together are checked when it is
/// resolved.
fn priorities(nsg: &str, shared: &SharedNsg, report: &mut Findings) {
    for (k, later) in shared.rules.iter().enumerate() {
        let clash = shared.rules[..k].iter().find(|r| {
            r.rule.priority == later.rule.priority
                && r.rule.direction.eq_ignore_ascii_case(&later.rule.direction)
                && !r.by.iter().any(|i| later.by.contains(i))
        });
        if let Some(earlier) = clash {
            report.conflict(
                &later.first,
                &earlier.first,
                |this, first, first_at| format!(
                    "NSG rule `{}` of instance `{this}` and rule `{}` of instance `{first}` at {first_at} both hold priority {} ({}) on NSG `{nsg}`",
                    later.rule.name, earlier.rule.name, later.rule.priority, later.rule.direction
                ),
                "every instance that uses a shared NSG gets the rules of all of them, and priorities must be unique per direction on the NSG: pick another priority",
            );
        }
    }
}

/// A VNet can be linked to a zone once: instances linking the same zones to the same VNet must
/// name the link alike. Zones left to the account (`zones` empty) always include the OpenAI
/// zone, so they overlap with any other list.
fn links(instances: &[Instance], nodes: &[Node], report: &mut Findings) {
    let mut seen: BTreeMap<(String, String, String), Vec<Link>> = BTreeMap::new();
    for (i, (inst, node)) in instances.iter().zip(nodes).enumerate() {
        let Some(dns) = &inst.controls.private_dns else {
            continue;
        };
        let dns_node = path(node, &["controls"]).map(|c| (c, c.get("privateDns")));
        let loc = match dns_node {
            Some((_, Some(d))) if d.get("linkName").is_some() => d.key_loc("linkName").clone(),
            Some((c, _)) => c.key_loc("privateDns").clone(),
            None => node.loc.clone(),
        };
        let zones: Vec<String> = dns.spec.zones.iter().map(|z| z.to_lowercase()).collect();
        for vnet in &dns.spec.vnet_links {
            let name = dns
                .spec
                .link_name
                .replace(VNET_PLACEHOLDER, last_segment(vnet));
            let key = (
                dns.spec.subscription.to_lowercase(),
                dns.spec.resource_group.to_lowercase(),
                vnet.to_lowercase(),
            );
            let here = Decl {
                inst: i,
                loc: loc.clone(),
            };
            let known = seen.entry(key).or_default();
            let overlap = |other: &[String]| {
                zones.is_empty() || other.is_empty() || zones.iter().any(|z| other.contains(z))
            };
            if let Some(Link {
                name: other_name,
                at: first,
                ..
            }) = known
                .iter()
                .find(|l| overlap(&l.zones) && !l.name.eq_ignore_ascii_case(&name))
            {
                report.conflict(
                    &here,
                    first,
                    |this, first, first_at| format!(
                        "instance `{this}` names the link from the privatelink zones in `{}` to VNet `{}` `{name}`, instance `{first}` names it `{other_name}` at {first_at}",
                        dns.spec.resource_group,
                        last_segment(vnet)
                    ),
                    "a VNet is linked to a zone once, and the instances that share the zone share the link: give `linkName` the same value in each",
                );
                continue;
            }
            known.push(Link {
                zones: zones.clone(),
                name,
                at: here,
            });
        }
    }
}

/// Collects the conflicts, each reported where the later declaration is written and naming
/// the earlier one's instance and position.
struct Findings<'a> {
    names: Vec<String>,
    out: &'a mut Vec<Diagnostic>,
}

impl Findings<'_> {
    fn conflict(
        &mut self,
        at: &Decl,
        first: &Decl,
        message: impl FnOnce(&str, &str, &str) -> String,
        hint: &str,
    ) {
        let text = message(
            &self.names[at.inst],
            &self.names[first.inst],
            &shown(&first.loc),
        );
        self.out
            .push(Diagnostic::error(&at.loc, text, Some(hint.into())).with_code(Code::Conflict));
    }
}

/// What differs between two declarations of one rule, as `field: A vs B` (YAML names).
fn differences(a: &NsgRule, b: &NsgRule) -> Vec<String> {
    let mut out = Vec::new();
    let mut scalar = |field: &str, x: String, y: String, same: bool| {
        if !same {
            out.push(format!("{field}: {x} vs {y}"));
        }
    };
    scalar(
        "priority",
        a.priority.to_string(),
        b.priority.to_string(),
        a.priority == b.priority,
    );
    for (field, x, y) in [
        ("direction", &a.direction, &b.direction),
        ("access", &a.access, &b.access),
        ("protocol", &a.protocol, &b.protocol),
    ] {
        scalar(field, x.clone(), y.clone(), x.eq_ignore_ascii_case(y));
    }
    for (field, x, y) in [
        (
            "source",
            &a.source_address_prefixes,
            &b.source_address_prefixes,
        ),
        ("sourcePorts", &a.source_port_ranges, &b.source_port_ranges),
        (
            "destination",
            &a.destination_address_prefixes,
            &b.destination_address_prefixes,
        ),
        (
            "ports",
            &a.destination_port_ranges,
            &b.destination_port_ranges,
        ),
    ] {
        scalar(field, x.join(", "), y.join(", "), set(x) == set(y));
    }
    let text = |d: &Option<String>| d.as_deref().map_or("none".into(), |d| format!("\"{d}\""));
    scalar(
        "description",
        text(&a.description),
        text(&b.description),
        a.description == b.description,
    );
    out
}

fn set(v: &[String]) -> Vec<String> {
    let mut s: Vec<String> = v.iter().map(|x| x.to_ascii_lowercase()).collect();
    s.sort();
    s.dedup();
    s
}

fn path<'n>(node: &'n Node, keys: &[&str]) -> Option<&'n Node> {
    keys.iter().try_fold(node, |n, k| n.get(k))
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn shown(loc: &Loc) -> String {
    format!("{}:{}:{}", loc.file, loc.line, loc.column)
}
