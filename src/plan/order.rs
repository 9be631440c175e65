//! The cutover order (HARDENING.md, "Order for hardening an instance that is already in use") as
//! dependency edges and gates, so apply enforces it by construction, not by luck:
//!
//! 1. account created (greenfield) / identity and CMK
//! 2. role assignments for every consumer            ─┐
//! 3. diagnostic settings (the cutover is logged)      │ in parallel
//! 4. RAI policy → deployments, one at a time          │
//! 5. subnet policies, DNS zones → links → private endpoint (account Succeeded) → zone group
//! 6. NSG rules (allows before denies)                ─┘
//! 7. network ACLs, then public access off, gated on the private endpoint being ready
//! 8. key auth off last, gated on the role assignments being visible

use crate::blueprint::resolved::Instance;
use crate::model::{Action, Change};
use crate::resources as res;

/// The changes of one instance, by role in the cutover.
#[derive(Default)]
pub struct Parts {
    pub account_create: Option<String>,
    pub identity: Option<Change>,
    pub roles: Vec<Change>,
    pub diagnostics: Vec<Change>,
    pub rai: Option<Change>,
    pub deployments: Vec<Change>,
    pub subnet: Option<Change>,
    pub zones: Vec<Change>,
    pub links: Vec<Change>,
    pub endpoint: Option<Change>,
    pub zone_group: Option<Change>,
    pub rules: Vec<Change>,
    pub network: Option<Change>,
    pub public_access: Option<Change>,
    pub local_auth: Option<Change>,
}

/// Addresses of shared changes another instance owns, that this instance still waits for.
#[derive(Default)]
pub struct External {
    pub subnet: Vec<String>,
    pub zones: Vec<String>,
    pub links: Vec<String>,
    pub rules: Vec<String>,
}

fn addrs(cs: &[Change]) -> Vec<String> {
    cs.iter()
        .filter(|c| c.action.is_write())
        .map(|c| c.address.clone())
        .collect()
}

fn addr(c: &Option<Change>) -> Vec<String> {
    c.iter()
        .filter(|c| c.action.is_write())
        .map(|c| c.address.clone())
        .collect()
}

/// Add edges and gates; return the changes in cutover order.
pub fn wire(inst: &Instance, mut p: Parts, ext: &External) -> Vec<Change> {
    let account_id = inst.account_id();
    let created: Vec<String> = p.account_create.iter().cloned().collect();
    let account_ready = res::account::succeeded_gate(&account_id);
    let after_create = |c: &mut Change| {
        c.depends_on.extend(created.iter().cloned());
        if !created.is_empty() {
            c.gates.push(account_ready.clone());
        }
    };

    // 1. identity / CMK
    if let Some(c) = p.identity.as_mut() {
        after_create(c);
    }
    let identity = addr(&p.identity);

    // 2. role assignments
    for c in p.roles.iter_mut() {
        after_create(c);
    }
    // 3. diagnostics
    for c in p.diagnostics.iter_mut() {
        after_create(c);
    }
    // 4. RAI policy, then deployments one at a time, each waiting for the policy to exist.
    if let Some(c) = p.rai.as_mut() {
        after_create(c);
    }
    let rai = addr(&p.rai);
    let rai_gate = p
        .rai
        .as_ref()
        .filter(|r| r.action.is_write())
        .map(|r| res::rai_policy::exists_gate(&r.id));
    let mut previous: Vec<String> = Vec::new();
    for c in p.deployments.iter_mut() {
        after_create(c);
        c.depends_on.extend(rai.iter().cloned());
        c.depends_on.extend(previous.iter().cloned());
        if let Some(g) = &rai_gate {
            c.gates.push(g.clone());
        }
        if c.action.is_write() {
            previous = vec![c.address.clone()];
        }
    }
    // 5. private path
    let subnet: Vec<String> = addr(&p.subnet)
        .into_iter()
        .chain(ext.subnet.iter().cloned())
        .collect();
    let zones: Vec<String> = addrs(&p.zones)
        .into_iter()
        .chain(ext.zones.iter().cloned())
        .collect();
    for c in p.links.iter_mut() {
        c.depends_on.extend(zones.iter().cloned());
    }
    let links: Vec<String> = addrs(&p.links)
        .into_iter()
        .chain(ext.links.iter().cloned())
        .collect();
    if let Some(c) = p.endpoint.as_mut() {
        after_create(c);
        c.depends_on.extend(subnet.iter().cloned());
        c.depends_on.extend(identity.iter().cloned());
        // ARM refuses an endpoint on an account that is not Succeeded (AccountProvisioningStateInvalid).
        if !c.gates.contains(&account_ready) {
            c.gates.push(account_ready.clone());
        }
    }
    let endpoint = addr(&p.endpoint);
    if let Some(c) = p.zone_group.as_mut() {
        c.depends_on.extend(endpoint.iter().cloned());
        c.depends_on.extend(zones.iter().cloned());
        c.depends_on.extend(links.iter().cloned());
    }
    let zone_group = addr(&p.zone_group);
    // 6. NSG rules, one at a time per NSG (allows first: they are sorted that way).
    let mut previous: Vec<String> = ext.rules.clone();
    for c in p.rules.iter_mut() {
        c.depends_on.extend(subnet.iter().cloned());
        c.depends_on.extend(previous.iter().cloned());
        if c.action.is_write() {
            previous = vec![c.address.clone()];
        }
    }
    let rules: Vec<String> = addrs(&p.rules)
        .into_iter()
        .chain(ext.rules.iter().cloned())
        .collect();

    // 7. network tightening, gated on a working private path.
    let pe_ready = inst.controls.private_endpoint.as_ref().map(|pe| {
        let endpoint = res::private_endpoint::id(&pe.spec);
        let group = inst
            .controls
            .dns_zone_group
            .as_ref()
            .map(|g| res::dns_zone_group::id(&endpoint, &g.spec.name));
        res::private_endpoint::ready_gate(&endpoint, &account_id, group)
    });
    let private_path: Vec<String> = endpoint
        .iter()
        .chain(zone_group.iter())
        .chain(links.iter())
        .chain(rules.iter())
        .cloned()
        .collect();
    if let Some(c) = p.network.as_mut() {
        after_create(c);
        c.depends_on.extend(private_path.iter().cloned());
        c.depends_on.extend(identity.iter().cloned());
        if let Some(g) = &pe_ready {
            c.gates.push(g.clone());
        }
    }
    let network = addr(&p.network);
    if let Some(c) = p.public_access.as_mut() {
        after_create(c);
        c.depends_on.extend(private_path.iter().cloned());
        c.depends_on.extend(network.iter().cloned());
        c.depends_on.extend(identity.iter().cloned());
        if let Some(g) = &pe_ready {
            c.gates.push(g.clone());
        }
    }
    let public = addr(&p.public_access);

    // 8. key auth off last of all.
    let declared_roles: Vec<String> = p
        .roles
        .iter()
        .filter(|c| c.action != Action::Delete)
        .map(|c| c.id.clone())
        .collect();
    if let Some(c) = p.local_auth.as_mut() {
        after_create(c);
        c.depends_on.extend(addrs(&p.roles));
        c.depends_on.extend(addrs(&p.diagnostics));
        c.depends_on.extend(addrs(&p.deployments));
        c.depends_on.extend(public.iter().cloned());
        c.depends_on.extend(network.iter().cloned());
        c.depends_on.extend(identity.iter().cloned());
        // Only turning key auth off needs the consumers' role assignments in place.
        let disabling = inst
            .controls
            .local_auth
            .as_ref()
            .is_some_and(|l| l.spec.disabled);
        if disabling && !declared_roles.is_empty() {
            c.gates
                .push(res::role_assignment::visible_gate(declared_roles));
        }
    }

    let mut out = Vec::new();
    out.extend(p.identity);
    out.extend(p.roles);
    out.extend(p.diagnostics);
    out.extend(p.rai);
    out.extend(p.deployments);
    out.extend(p.subnet);
    out.extend(p.zones);
    out.extend(p.links);
    out.extend(p.endpoint);
    out.extend(p.zone_group);
    out.extend(p.rules);
    out.extend(p.network);
    out.extend(p.public_access);
    out.extend(p.local_auth);
    out
}
