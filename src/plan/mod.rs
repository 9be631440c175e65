//! The pure, synchronous, deterministic planner: (blueprint, observed state) → plan.
//!
//! It decides everything apply will do: which resources change, the exact request bodies (built
//! from the raw observed JSON), the dependency edges and the cutover gates. Apply makes no
//! decisions.

pub use crate::model;
mod order;

use std::collections::HashMap;

use serde_json::Value;

use crate::blueprint::resolved::{Blueprint, Instance, SoftDeleteAction};
use crate::observe::{Observed, ObservedInstance};
use crate::resources::{self as res, norm_id};
use model::{Action, BlueprintRef, Change, InstancePlan, Plan, Write, PLAN_FORMAT_VERSION};

/// The privatelink zones an instance needs: the blueprint's list, else what ARM's
/// `privateLinkResources` says, else the zones for the account's kind.
pub fn zone_names(inst: &Instance, obs: &ObservedInstance) -> Vec<String> {
    let Some(dns) = &inst.controls.private_dns else {
        return Vec::new();
    };
    let mut z = if !dns.spec.zones.is_empty() {
        dns.spec.zones.clone()
    } else if !obs.required_zone_names.is_empty() {
        obs.required_zone_names.clone()
    } else {
        res::private_dns_zone::zones_for_kind(&inst.kind)
    };
    for name in z.iter_mut() {
        *name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    }
    z.sort();
    z.dedup();
    z
}

/// Plan every instance. `observed.instances` is in blueprint order.
pub fn plan(bp: &Blueprint, observed: &Observed) -> Plan {
    let mut shared: HashMap<String, String> = HashMap::new();
    let empty = ObservedInstance::default();
    let mut instances: Vec<InstancePlan> = bp
        .instances
        .iter()
        .map(|inst| {
            let obs = observed
                .instances
                .iter()
                .find(|o| o.name == inst.name)
                .unwrap_or(&empty);
            plan_instance(inst, obs, &mut shared)
        })
        .collect();
    prune_dependencies(&mut instances);
    for c in instances.iter_mut().flat_map(|i| i.changes.iter_mut()) {
        with_directives(c);
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

/// Changes for resources several instances share (zones, links, subnets, NSG rules) are emitted
/// once, by the first instance that needs them; later instances depend on that address.
struct Shared<'a> {
    seen: &'a mut HashMap<String, String>,
}

impl Shared<'_> {
    /// `Some(change)` if this instance owns it; `None` (and the owner's address) otherwise.
    fn claim(&mut self, c: Change) -> Result<Change, String> {
        let key = format!("{}|{}", c.kind.label(), norm_id(&c.id));
        match self.seen.get(&key) {
            Some(addr) => Err(addr.clone()),
            None => {
                self.seen.insert(key, c.address.clone());
                Ok(c)
            }
        }
    }
}

fn plan_instance(
    inst: &Instance,
    obs: &ObservedInstance,
    seen: &mut HashMap<String, String>,
) -> InstancePlan {
    let mut shared = Shared { seen };
    let mut out = InstancePlan {
        name: inst.name.clone(),
        subscription: inst.subscription.clone(),
        account_id: inst.account_id(),
        changes: Vec::new(),
        notes: Vec::new(),
    };
    let c = &inst.controls;

    // The account itself: existing (checked), to create, or blocked.
    let (assumed, account_create) = match &obs.account {
        Some(acct) => {
            out.changes.extend(res::account::blocked_checks(inst, acct));
            (acct.clone(), None)
        }
        None => {
            let mut pre = Vec::new();
            let mut restored: Option<Value> = None;
            let restore = match (&obs.deleted_account, inst.soft_delete) {
                (Some(d), SoftDeleteAction::Block) => {
                    let when = res::get_str(d, "properties.deletionDate").unwrap_or("recently");
                    out.changes.push(Change::blocked(
                        res::account::address(inst, ""),
                        res::account::KIND,
                        inst.account_id(),
                        format!(
                            "the name {} is held by a soft-deleted account (deleted {when}); choose one way out in the blueprint: `softDelete: restore` brings it back (with its keys, deployments and settings, then hardened), or `softDelete: purge` destroys it for good and creates a new one",
                            inst.account_name
                        ),
                        "absent".into(),
                    ));
                    return out;
                }
                (Some(d), SoftDeleteAction::Purge) => {
                    let id = res::get_str(d, "id").unwrap_or_default().to_string();
                    let mut p = Change::new(
                        format!("{}/deleted-account/{}", inst.name, inst.account_name),
                        res::deleted_account::KIND,
                        &id,
                        Action::Delete,
                        "purge the soft-deleted account that holds the name (softDelete: purge)",
                        res::fingerprint(Some(d)),
                    )
                    .with_write(Write::new(
                        crate::arm::Method::Delete,
                        &id,
                        res::account::API_VERSION,
                        None,
                    ));
                    p.risk = Some("permanently destroys the soft-deleted account: it can no longer be restored".into());
                    pre.push(p);
                    false
                }
                (Some(d), SoftDeleteAction::Restore) => {
                    // The restored account must be the one the blueprint describes.
                    // (A deleted record that shows no subdomain is not refused: the restore
                    // PUT carries the blueprint's.)
                    let shows_sub = res::get_str(d, "properties.customSubDomainName").is_some();
                    let wrong: Vec<Change> = res::account::blocked_checks(inst, d)
                        .into_iter()
                        .filter(|c| shows_sub || !c.address.ends_with("/custom-subdomain"))
                        .collect();
                    if !wrong.is_empty() {
                        out.changes.extend(wrong);
                        return out;
                    }
                    restored = Some(d.clone());
                    out.notes.push(format!(
                        "restoring {} brings back its deployments, RAI policies and keys as they were when it was deleted; \
                         they are not readable until it is restored, so run `moat plan` again after this apply to bind them",
                        inst.account_name
                    ));
                    true
                }
                (None, _) => false,
            };
            if let Some(holder) = obs.subdomain_holder.as_ref().filter(|_| !restore) {
                out.changes
                    .push(res::account::subdomain_in_use(inst, holder));
                return out;
            }
            let mut create = res::account::create(inst, restore);
            if create.action == Action::Blocked {
                out.changes.push(create);
                return out;
            }
            create.depends_on = pre.iter().map(|p| p.address.clone()).collect();
            let addr = create.address.clone();
            out.changes.extend(pre);
            out.changes.push(create);
            // A created account is exactly its hardened body. A restored one may come back with
            // the settings it had when deleted (whether ARM applies the rest of a restore PUT is
            // not documented), so the stages are planned against those: every weaker value is
            // fixed again, in the no-lockout order, and nothing is assumed.
            let assumed = restored.unwrap_or_else(|| res::account::create_body(inst, restore));
            (assumed, Some(addr))
        }
    };
    if out
        .changes
        .iter()
        .any(|c| c.action == Action::Blocked && c.kind == res::account::KIND)
    {
        // Nothing else is safe to plan against an account moat refuses to touch.
        return out;
    }

    let mut p = order::Parts {
        account_create,
        ..Default::default()
    };
    p.identity = res::account::identity_stage(inst, &assumed);
    if p.account_create.is_none() && !p.identity.as_ref().is_some_and(|c| c.action.is_write()) {
        if let Some(repair) = res::account::repair_stage(inst, &assumed) {
            p.identity = Some(repair);
        }
    }
    let (roles, notes) = res::role_assignment::plan(inst, &obs.role_assignments);
    p.roles = roles;
    out.notes.extend(notes);
    p.diagnostics = res::diagnostic_setting::plan(inst, &obs.diagnostic_settings);
    p.rai = res::rai_policy::plan(inst, obs.rai_policy.as_ref());
    p.deployments = res::deployment::plan(inst, &obs.deployments);

    // Private path: subnet policies, zones and links, endpoint, zone group, NSG rules.
    let mut external = order::External::default();
    if let Some(pe) = &c.private_endpoint {
        let mode = pe.mode;
        if let Some(s) = res::subnet::plan(
            &inst.name,
            mode,
            &pe.spec.subnet_id,
            pe.spec.subnet_network_policies.as_deref(),
            obs.subnet.as_ref(),
        ) {
            match shared.claim(s) {
                Ok(s) => p.subnet = Some(s),
                Err(owner) => external.subnet.push(owner),
            }
        }
    }
    let zones = zone_names(inst, obs);
    let mut zone_ids = Vec::new();
    if let Some(dns) = &c.private_dns {
        let vnets: Vec<String> = if dns.spec.vnet_links.is_empty() {
            c.private_endpoint
                .iter()
                .map(|p| p.spec.vnet_id.clone())
                .collect()
        } else {
            dns.spec.vnet_links.clone()
        };
        for z in &zones {
            zone_ids.push(res::private_dns_zone::id(&dns.spec, z));
            let zc = res::private_dns_zone::plan(
                &inst.name,
                dns.mode,
                &dns.spec,
                z,
                obs.dns_zones.get(z).and_then(Option::as_ref),
            );
            match shared.claim(zc) {
                Ok(zc) => p.zones.push(zc),
                Err(owner) => external.zones.push(owner),
            }
            let links = obs.vnet_links.get(z).map(Vec::as_slice).unwrap_or(&[]);
            for v in &vnets {
                let lc = res::vnet_link::plan(&inst.name, dns.mode, &dns.spec, z, v, links);
                match shared.claim(lc) {
                    Ok(lc) => p.links.push(lc),
                    Err(owner) => external.links.push(owner),
                }
            }
        }
    }
    p.endpoint = res::private_endpoint::plan(inst, obs.private_endpoint.as_ref());
    if let Some(pe) = &c.private_endpoint {
        let pe_id = res::private_endpoint::id(&pe.spec);
        p.zone_group = res::dns_zone_group::plan(inst, &pe_id, &zone_ids, obs.zone_group.as_ref());
    }
    if let Some(nsg) = &c.nsg {
        for r in res::security_rule::plan(&inst.name, nsg.mode, &nsg.spec, obs.nsg.as_ref()) {
            match shared.claim(r) {
                Ok(r) => p.rules.push(r),
                Err(owner) => external.rules.push(owner),
            }
        }
    }
    p.network = res::account::network_stage(inst, &assumed);
    p.public_access = res::account::public_access_stage(inst, &assumed);
    p.local_auth = res::account::local_auth_stage(inst, &assumed);

    out.changes.extend(order::wire(inst, p, &external));
    out
}

/// Write the apply directives the change's kind decides into its write: the lock it serialises
/// on, whether it goes first on that lock, the refusal it waits out and re-sends, and the
/// adoption of an equal resource under another name. Apply decides none of these itself.
pub fn with_directives(c: &mut Change) {
    let Some(kind) = crate::resources::registry::kind(&c.kind) else {
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
