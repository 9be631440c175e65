//! `moat destroy FILE --instance NAME...`: the only way moat deletes an instance.
//!
//! Removing an instance from a blueprint never deletes anything: the planner only plans what the
//! blueprint lists. Destroy is explicit (named instances), planned and shown like apply (same
//! renderers, every Delete with its risk) and confirmed like apply. It refuses an account moat
//! does not own (no `managed-by: moat` tag) and deletes only what moat created for the instance:
//! the DNS zone group, the private endpoint, moat's role assignments at the account scope, the
//! diagnostic setting the blueprint names, moat's NSG rules and privatelink zones / links that
//! nothing else uses, then the account itself (ARM soft-deletes it). Never VNets, subnets, NSGs,
//! workspaces, nor a zone, link or rule another instance still uses.
//!
//! [`plan`] is pure (blueprint + observed state → plan); [`run`] does the I/O around it.

use std::collections::HashSet;

use serde_json::Value;

use crate::apply::{self, ApplyOptions};
use crate::arm::Method;
use crate::blueprint::resolved::{Blueprint, Instance, Mode};
use crate::cli::DestroyArgs;
use crate::model::{
    Action, BlueprintRef, Change, InstancePlan, KindId, Plan, Write, PLAN_FORMAT_VERSION,
};
use crate::observe::{Observed, ObservedInstance};
use crate::render;
use crate::resources::{self as res, get, get_str, id_eq, norm_id, owned_by_tag, OWNER_MARKER};

use super::{load_blueprint, MoatError, Output};

/// What other instances of the blueprint (those not destroyed) use: kept whatever else is true.
#[derive(Default)]
struct InUse {
    zones: HashSet<String>,
    rules: HashSet<String>,
}

impl InUse {
    fn of(others: &[&Instance]) -> InUse {
        let mut u = InUse::default();
        for o in others {
            if let Some(dns) = &o.controls.private_dns {
                for z in crate::plan::zone_names(o, &ObservedInstance::default()) {
                    u.zones
                        .insert(norm_id(&res::private_dns_zone::id(&dns.spec, &z)));
                }
            }
            if let Some(nsg) = &o.controls.nsg {
                for r in &nsg.spec.rules {
                    u.rules
                        .insert(norm_id(&res::security_rule::id(&nsg.spec.nsg_id, &r.name)));
                }
            }
        }
        u
    }
}

fn delete(
    address: String,
    kind: KindId,
    id: &str,
    api_version: &str,
    reason: impl Into<String>,
    risk: impl Into<String>,
    observed: &Value,
) -> Change {
    Change::new(
        address,
        kind,
        id,
        Action::Delete,
        reason,
        res::fingerprint(Some(observed)),
    )
    .with_write(Write::new(Method::Delete, id, api_version, None))
    .with_risk(Some(risk.into()))
}

/// The destroy plan for the instances named in `names` (all in `bp`), from their observed state.
pub fn plan(bp: &Blueprint, names: &[String], observed: &Observed) -> Plan {
    let others: Vec<&Instance> = bp
        .instances
        .iter()
        .filter(|i| !names.contains(&i.name))
        .collect();
    let in_use = InUse::of(&others);
    let empty = ObservedInstance::default();
    let instances = bp
        .instances
        .iter()
        .filter(|i| names.contains(&i.name))
        .map(|inst| {
            let obs = observed
                .instances
                .iter()
                .find(|o| o.name == inst.name)
                .unwrap_or(&empty);
            plan_instance(inst, obs, &in_use)
        })
        .collect::<Vec<InstancePlan>>();
    let mut instances = instances;
    for c in instances.iter_mut().flat_map(|i| i.changes.iter_mut()) {
        crate::plan::with_directives(c);
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        moat_version: env!("CARGO_PKG_VERSION").to_string(),
        blueprint: BlueprintRef {
            path: bp.source.display().to_string(),
            digest: bp.digest.clone(),
        },
        instances,
    }
}

fn plan_instance(inst: &Instance, obs: &ObservedInstance, in_use: &InUse) -> InstancePlan {
    let mut out = InstancePlan {
        name: inst.name.clone(),
        subscription: inst.subscription.clone(),
        account_id: inst.account_id(),
        changes: Vec::new(),
        notes: Vec::new(),
    };
    let account_id = inst.account_id();
    let Some(account) = &obs.account else {
        out.notes.push(format!(
            "the account {} does not exist: nothing to destroy",
            inst.account_name
        ));
        return out;
    };
    if !owned_by_tag(account) {
        out.changes.push(Change::blocked(
            format!("{}/account", inst.name),
            res::account::KIND,
            &account_id,
            format!(
                "refusing to destroy {}: it has no `{}: {}` tag, so moat did not create it; delete it yourself if you mean to",
                inst.account_name,
                res::OWNER_TAG,
                res::OWNER_VALUE
            ),
            res::fingerprint(Some(account)),
        ));
        return out;
    }
    let c = &inst.controls;
    let name = &inst.name;
    let mut before_account: Vec<String> = Vec::new();

    // The private path: zone group, then the endpoint, then what only it needed.
    let pe_id = c
        .private_endpoint
        .as_ref()
        .map(|p| res::private_endpoint::id(&p.spec));
    let mut group_addr = None;
    if let (Some(group), Some(pe)) = (&obs.zone_group, &pe_id) {
        let gname = get_str(group, "name").unwrap_or("default");
        let managed = c.dns_zone_group.as_ref().map(|g| g.mode) == Some(Mode::Managed);
        if managed {
            let ch = delete(
                format!("{name}/dns-zone-group/{gname}"),
                res::dns_zone_group::KIND,
                &res::dns_zone_group::id(pe, gname),
                res::dns_zone_group::API_VERSION,
                "the zone group moat created on the endpoint (its A records go with it)",
                "the account's name no longer resolves to its private IP in the privatelink zones",
                group,
            );
            group_addr = Some(ch.address.clone());
            out.changes.push(ch);
        }
    }
    let mut pe_addr = None;
    if let (Some(pe), Some(id)) = (&obs.private_endpoint, &pe_id) {
        if owned_by_tag(pe) {
            let mut ch = delete(
                format!("{name}/private-endpoint/{}", res::last_segment(id)),
                res::private_endpoint::KIND,
                id,
                res::private_endpoint::API_VERSION,
                "the private endpoint moat created for the account",
                "clients in the VNet lose their private path to the account",
                pe,
            );
            ch.depends_on.extend(group_addr.iter().cloned());
            pe_addr = Some(ch.address.clone());
            out.changes.push(ch);
        } else {
            out.notes.push(format!(
                "the private endpoint {id} is not tagged `{}: {}`: left in place",
                res::OWNER_TAG,
                res::OWNER_VALUE
            ));
        }
    }
    before_account.extend(pe_addr.iter().cloned());
    before_account.extend(group_addr.iter().cloned());

    // Privatelink zones and their links: only moat's, only when nothing else uses them.
    if let Some(dns) = c.private_dns.as_ref().filter(|d| d.mode == Mode::Managed) {
        for (zone, live) in &obs.dns_zones {
            let Some(live) = live else { continue };
            let zid = res::private_dns_zone::id(&dns.spec, zone);
            let links = obs.vnet_links.get(zone).cloned().unwrap_or_default();
            let ours_in_zone = obs.zone_group.as_ref().is_some_and(|g| {
                get(g, "properties.privateDnsZoneConfigs")
                    .and_then(Value::as_array)
                    .is_some_and(|cfgs| {
                        cfgs.iter().any(|cfg| {
                            get_str(cfg, "properties.privateDnsZoneId")
                                .is_some_and(|z| id_eq(z, &zid))
                                && get(cfg, "properties.recordSets")
                                    .and_then(Value::as_array)
                                    .is_some_and(|r| !r.is_empty())
                        })
                    })
            });
            let record_sets = get(live, "properties.numberOfRecordSets")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let foreign_records = record_sets.saturating_sub(1 + u64::from(ours_in_zone));
            let keep_why = if in_use.zones.contains(&norm_id(&zid)) {
                Some("another instance of the blueprint uses it".to_string())
            } else if foreign_records > 0 {
                Some(format!(
                    "it holds {foreign_records} record set(s) of other resources"
                ))
            } else if !owned_by_tag(live) {
                Some("moat did not create it".to_string())
            } else {
                None
            };
            if let Some(why) = keep_why {
                out.notes.push(format!(
                    "the privatelink zone {zone} and its VNet links are kept: {why}"
                ));
                continue;
            }
            let mut link_addrs = Vec::new();
            let mut foreign_links = 0;
            for l in &links {
                if !owned_by_tag(l) {
                    foreign_links += 1;
                    continue;
                }
                let lid = get_str(l, "id").unwrap_or_default().to_string();
                let vnet = get_str(l, "properties.virtualNetwork.id").unwrap_or(&lid);
                let mut ch = delete(
                    res::vnet_link::address(name, zone, vnet),
                    res::vnet_link::KIND,
                    &lid,
                    res::vnet_link::API_VERSION,
                    "the VNet link moat created; no other instance uses the zone",
                    format!(
                        "the VNet {} stops resolving {zone}",
                        res::last_segment(vnet)
                    ),
                    l,
                );
                ch.depends_on.extend(group_addr.iter().cloned());
                link_addrs.push(ch.address.clone());
                out.changes.push(ch);
            }
            if foreign_links > 0 {
                out.notes.push(format!(
                    "the privatelink zone {zone} is kept: {foreign_links} VNet link(s) moat did not create still use it"
                ));
                continue;
            }
            let mut ch = delete(
                res::private_dns_zone::address(name, zone),
                res::private_dns_zone::KIND,
                &zid,
                res::private_dns_zone::API_VERSION,
                "the privatelink zone moat created; no other instance or record uses it",
                format!("the zone {zone} and its SOA record are deleted"),
                live,
            );
            ch.depends_on.extend(group_addr.iter().cloned());
            ch.depends_on.extend(pe_addr.iter().cloned());
            ch.depends_on.extend(link_addrs);
            out.changes.push(ch);
        }
    }

    // NSG rules moat wrote for this instance, unless something else still sits behind them.
    if let (Some(nsg), Some(live_nsg)) =
        (c.nsg.as_ref().filter(|n| n.mode == Mode::Managed), &obs.nsg)
    {
        let other_endpoints: Vec<String> = obs
            .subnet
            .as_ref()
            .and_then(|s| get(s, "properties.privateEndpoints"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| get_str(p, "id"))
                    .filter(|p| !pe_id.as_deref().is_some_and(|ours| id_eq(p, ours)))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let live_rules: Vec<Value> = get(live_nsg, "properties.securityRules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Denies go first, then allows, one at a time: the subnet is never left with a deny-all
        // whose allow exceptions are already gone (that would cut off what is still behind it).
        let mut rules: Vec<_> = nsg.spec.rules.iter().collect();
        rules.sort_by_key(|r| (!r.access.eq_ignore_ascii_case("Deny"), r.priority));
        let mut previous: Vec<String> = Vec::new();
        for rule in rules {
            let rid = res::security_rule::id(&nsg.spec.nsg_id, &rule.name);
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
            } else if in_use.rules.contains(&norm_id(&rid)) {
                Some("another instance of the blueprint declares it".to_string())
            } else if !other_endpoints.is_empty() {
                Some(format!(
                    "{} other private endpoint(s) in the subnet still sit behind it",
                    other_endpoints.len()
                ))
            } else {
                None
            };
            if let Some(why) = keep_why {
                out.notes
                    .push(format!("the NSG rule {} is kept: {why}", rule.name));
                continue;
            }
            let mut ch = delete(
                res::security_rule::address(name, &nsg.spec.nsg_id, &rule.name),
                res::security_rule::KIND,
                &rid,
                res::security_rule::API_VERSION,
                "the NSG rule moat created for this instance's endpoint",
                format!(
                    "rule {} ({} {}) leaves the endpoint subnet's NSG",
                    rule.name, rule.access, rule.direction
                ),
                live,
            );
            ch.depends_on.extend(pe_addr.iter().cloned());
            ch.depends_on.append(&mut previous);
            previous.push(ch.address.clone());
            out.changes.push(ch);
        }
    }

    // Extension resources on the account go before it (they cannot be deleted afterwards).
    for a in &obs.role_assignments {
        let owned = get_str(a, "properties.description").is_some_and(|d| d.contains(OWNER_MARKER));
        let Some(rid) = get_str(a, "id") else {
            continue;
        };
        if !owned {
            continue;
        }
        let role = res::last_segment(get_str(a, "properties.roleDefinitionId").unwrap_or(""));
        let role_name = res::role_assignment::privileged_name(role)
            .map(str::to_string)
            .or_else(|| {
                c.role_assignments.as_ref().and_then(|r| {
                    r.spec
                        .assignments
                        .iter()
                        .find(|x| x.role_definition_guid.eq_ignore_ascii_case(role))
                        .map(|x| x.role_name.clone())
                })
            })
            .unwrap_or_else(|| role.to_string());
        let principal = get_str(a, "properties.principalId").unwrap_or("?");
        let ch = delete(
            res::role_assignment::address(inst, &role_name, principal),
            res::role_assignment::KIND,
            rid,
            res::role_assignment::API_VERSION,
            "a role assignment moat created on the account",
            format!("principal {principal} loses {role_name} on the account"),
            a,
        );
        before_account.push(ch.address.clone());
        out.changes.push(ch);
    }
    if let Some(d) = &c.diagnostics {
        let setting = obs
            .diagnostic_settings
            .iter()
            .find(|s| get_str(s, "name").is_some_and(|n| n.eq_ignore_ascii_case(&d.spec.name)));
        if let Some(s) = setting.filter(|_| d.mode == Mode::Managed) {
            let sid = res::diagnostic_setting::id(&account_id, &d.spec.name);
            let ch = delete(
                format!("{name}/diagnostic-setting/{}", d.spec.name),
                res::diagnostic_setting::KIND,
                &sid,
                res::diagnostic_setting::API_VERSION,
                "the diagnostic setting the blueprint names (moat created it)",
                "the account's logs and metrics stop flowing to the workspace (the workspace and the logs already sent stay)",
                s,
            );
            before_account.push(ch.address.clone());
            out.changes.push(ch);
        }
    }

    let mut acct = delete(
        format!("{name}/account"),
        res::account::KIND,
        &account_id,
        res::account::API_VERSION,
        "moat destroy: the account moat created",
        "every client of the account loses it, with its deployments and keys; ARM keeps it soft-deleted for 48 hours (bring it back with `softDelete: restore`), then it is gone",
        account,
    );
    acct.depends_on = before_account;
    acct.depends_on.sort();
    acct.depends_on.dedup();
    out.changes.push(acct);
    out
}

pub async fn run(args: DestroyArgs, out: Output) -> Result<i32, MoatError> {
    let bp = load_blueprint(&args.file)?;
    for n in &args.instances {
        if !bp.instances.iter().any(|i| &i.name == n) {
            let known: Vec<&str> = bp.instances.iter().map(|i| i.name.as_str()).collect();
            return Err(MoatError::Usage(format!(
                "--instance {n}: no such instance in {} (it has: {})",
                bp.source.display(),
                known.join(", ")
            )));
        }
    }
    let mut selected = bp.clone();
    selected
        .instances
        .retain(|i| args.instances.contains(&i.name));
    let conn = super::connect::connect(&args.connect, out).await?;
    let result = destroy_with(&conn, &bp, &selected, &args, out).await;
    conn.finish().await;
    result
}

async fn destroy_with(
    conn: &super::Connection,
    bp: &Blueprint,
    selected: &Blueprint,
    args: &DestroyArgs,
    out: Output,
) -> Result<i32, MoatError> {
    let api = conn.api.clone();
    let observed = crate::observe::observe(api.as_ref(), selected).await?;
    let plan = plan(bp, &args.instances, &observed);
    print!("{}", render::text::render(&plan, out.color));
    if plan.is_failed() {
        return Err(MoatError::DestroyRefused(
            "see the blocked instance(s) above; nothing was deleted".into(),
        ));
    }
    if !plan.has_changes() {
        return Ok(0);
    }
    let question = format!(
        "Destroy {}? This deletes the account(s) above.",
        args.instances.join(", ")
    );
    match super::approve(args.auto_approve, out, &question, "destroy plan") {
        Err(refusal) => return Err(MoatError::DestroyRefused(refusal)),
        Ok(false) => {
            eprintln!("Destroy cancelled; nothing was deleted.");
            return Ok(1);
        }
        Ok(true) => {}
    }
    let cancel = super::interrupt_flag("deletes");
    let prog = super::progress_for(out);
    let opts = ApplyOptions {
        parallelism: args.connect.parallelism,
        gates: conn.gate_options,
    };
    let report = apply::execute(api.clone(), &plan, opts, prog, cancel).await;
    println!();
    println!(
        "Deleted {} resource(s), {} failed, {} skipped.",
        report.applied.len(),
        report.failed.len(),
        report.skipped.len()
    );
    for (a, e) in &report.failed {
        println!("  failed  {a}\n{e}");
    }
    for (a, why) in &report.skipped {
        println!("  skipped {a}: {why}");
    }
    if !report.ok() {
        println!("Destroy did not finish. Run it again once the cause is fixed: it picks up where it stopped.");
        return Ok(if report.interrupted { 130 } else { 1 });
    }
    // Prove it: every destroyed account is gone (soft-deleted).
    let after = crate::observe::observe(api.as_ref(), selected).await?;
    let left: Vec<&str> = after
        .instances
        .iter()
        .filter(|o| o.account.is_some())
        .map(|o| o.name.as_str())
        .collect();
    if !left.is_empty() {
        println!("Destroy did not finish: still present: {}", left.join(", "));
        return Ok(1);
    }
    println!(
        "Destroyed {}. ARM keeps a deleted account soft-deleted for 48 hours: `softDelete: restore` brings it back, `softDelete: purge` frees the name.",
        args.instances.join(", ")
    );
    Ok(0)
}
