//! The cutover order (HARDENING.md, "Order for hardening an instance that is already in use") as
//! data: the stages every change belongs to, and the edges and gates between them. The planner
//! (`plan/order.rs`) turns this table into each change's `depends_on` and `gates`, so apply
//! enforces the order by construction, not by luck:
//!
//! 1. a soft-deleted account purged, the account created (greenfield) / identity → the identity's
//!    access to the key vault, until visible → customer-managed key
//! 2. role assignments for every consumer            ─┐
//! 3. diagnostic settings (the cutover is logged)      │ in parallel
//!    action groups → alert rules (nothing waits)      │
//! 4. RAI policy → deployments, one at a time          │
//! 5. subnet policies, DNS zones → links → private endpoint (account Succeeded) → zone group
//! 6. NSG rules (allows before denies, one at a time) ─┘
//! 7. network ACLs, then public access off, gated on the private endpoint being ready
//! 8. key auth off last, gated on the role assignments being visible
//! 9. guardrails (Azure Policy assignments), after every instance in their scope is hardened: a
//!    Deny assigned earlier could refuse moat's own cutover writes; then the exemptions of the
//!    instances whose exceptions waive a guarded control; then the remediation tasks the
//!    blueprint asks for (`remediate`), for accounts of the scope that break a Modify already
//!
//! `moat destroy` walks the same stages undone (`DESTROY_ORDER`, `DESTROY_EDGES`): the
//! guardrails first (assignment, then its exemptions and its identity's grants), the account
//! last.
//!
//! A kind says which stage each of its changes is in; a new kind joins a stage (or adds one
//! here with its edges).

use crate::blueprint::resolved::Instance;

/// A change's place in the cutover. Changes are listed in stage order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// A soft-deleted account that holds the name, purged.
    Purge,
    /// The account itself: created, or checked (kind, location, subdomain).
    Create,
    /// Managed identity.
    Identity,
    /// The identity's access to the customer-managed key's vault (granted or verified).
    KeyAccess,
    /// The customer-managed key, once the identity can read it.
    Encryption,
    /// Role assignments for every consumer.
    Access,
    /// Diagnostic settings and detection: the cutover is logged.
    Logging,
    /// The action groups alert rules notify (M2).
    AlertActions,
    /// Alert rules on the account (M2). Nothing waits for them: alerting never holds up
    /// hardening.
    Alerting,
    /// The content filter.
    ContentPolicy,
    /// Model deployments, bound to the content filter.
    Models,
    /// Network policies of the endpoint subnet.
    SubnetPolicy,
    DnsZones,
    DnsLinks,
    Endpoint,
    /// The endpoint's DNS zone group (its A records).
    EndpointDns,
    /// NSG rules on the endpoint subnet.
    Firewall,
    /// The account's network ACLs and outbound restriction.
    NetworkRules,
    PublicAccess,
    KeyAuth,
    /// Azure Policy assignments (`guardrails`): after the hardening of every instance in their
    /// scope (the kind adds edges to the other instances' account writes).
    Guardrails,
    /// Policy exemptions of the instances whose exceptions waive a guarded control.
    Exemptions,
    /// `moat destroy` only: the role assignments of a Modify assignment's identity, deleted
    /// after the assignment (the cutover writes them in `Guardrails`, each with an edge to its
    /// assignment, whose identity it names).
    GuardrailGrants,
    /// Remediation tasks (`guardrails[].remediate`): after the assignment, its identity's role
    /// and the exemptions (the task skips exempted accounts).
    Remediation,
}

/// What a change waits for in an earlier stage.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Its writes finished (a dependency edge on each).
    Done,
    /// Its writes finished, and the stage's gate holds in live ARM (the kind's `gate`).
    Ready,
    /// Like `Ready`, but the gate only when the instance needs it.
    ReadyIf(fn(&Instance) -> bool),
}

/// The stages whose changes run one at a time, in the order they are listed (deployments: ARM
/// rejects concurrent deployment writes on one account; rules: allows before denies).
pub const SERIAL: &[Stage] = &[Stage::Models, Stage::Firewall];

/// Key auth goes off only after the consumers' role assignments are visible.
fn disables_key_auth(inst: &Instance) -> bool {
    inst.controls
        .local_auth
        .as_ref()
        .is_some_and(|l| l.spec.disabled)
}

/// The edges: each stage with what it waits for, in the order gates are listed. A stage that is
/// not here waits for nothing.
pub static EDGES: &[(Stage, &[(Stage, Wait)])] = {
    use Stage::*;
    use Wait::*;
    &[
        (Create, &[(Purge, Done)]),
        (Identity, &[(Create, Ready)]),
        (KeyAccess, &[(Create, Ready), (Identity, Done)]),
        (
            Encryption,
            &[(Create, Ready), (Identity, Done), (KeyAccess, Ready)],
        ),
        (Access, &[(Create, Ready)]),
        (Logging, &[(Create, Ready)]),
        (Alerting, &[(Create, Ready), (AlertActions, Done)]),
        (ContentPolicy, &[(Create, Ready)]),
        (Models, &[(Create, Ready), (ContentPolicy, Ready)]),
        (DnsLinks, &[(DnsZones, Done)]),
        (
            Endpoint,
            &[
                (Create, Ready),
                (SubnetPolicy, Done),
                (Identity, Done),
                (Encryption, Done),
            ],
        ),
        (
            EndpointDns,
            &[(Endpoint, Done), (DnsZones, Done), (DnsLinks, Done)],
        ),
        (Firewall, &[(SubnetPolicy, Done)]),
        (
            NetworkRules,
            &[
                (Create, Ready),
                (EndpointDns, Done),
                (DnsLinks, Done),
                (Firewall, Done),
                (Identity, Done),
                (Encryption, Done),
                (Endpoint, Ready),
            ],
        ),
        (
            PublicAccess,
            &[
                (Create, Ready),
                (EndpointDns, Done),
                (DnsLinks, Done),
                (Firewall, Done),
                (NetworkRules, Done),
                (Identity, Done),
                (Encryption, Done),
                (Endpoint, Ready),
            ],
        ),
        (
            KeyAuth,
            &[
                (Create, Ready),
                (Logging, Done),
                (Models, Done),
                (PublicAccess, Done),
                (NetworkRules, Done),
                (Identity, Done),
                (Encryption, Done),
                (Access, ReadyIf(disables_key_auth)),
            ],
        ),
        (
            Guardrails,
            &[
                (Create, Done),
                (Identity, Done),
                (Encryption, Done),
                (NetworkRules, Done),
                (PublicAccess, Done),
                (KeyAuth, Done),
            ],
        ),
        (Exemptions, &[(Guardrails, Done)]),
        (Remediation, &[(Guardrails, Done), (Exemptions, Done)]),
    ]
};

/// `moat destroy` undoes the cutover in reverse: the guardrails first (they were assigned last):
/// the policy assignment before its exemptions (an exemption deleted while its Deny is still
/// assigned would deny the exempted account in between), the role assignments of the
/// assignment's identity after it (Azure Policy acts as that identity while it exists); then the
/// alert rules moat created, then their action group, the zone group, then the endpoint, then
/// the links and zones only it needed; NSG rules after the endpoint, one at a time (denies
/// first); role assignments, diagnostic settings and exemptions (extension resources) before the
/// account, which goes last. Destroy's changes are listed in this order.
pub const DESTROY_ORDER: &[Stage] = &[
    Stage::Guardrails,
    Stage::Exemptions,
    Stage::GuardrailGrants,
    Stage::Alerting,
    Stage::AlertActions,
    Stage::EndpointDns,
    Stage::Endpoint,
    Stage::DnsLinks,
    Stage::DnsZones,
    Stage::Firewall,
    Stage::Access,
    Stage::Logging,
    Stage::Create,
];

/// What each destroy stage waits for (all `Done`: destroy has no gates).
pub static DESTROY_EDGES: &[(Stage, &[(Stage, Wait)])] = {
    use Stage::*;
    use Wait::*;
    &[
        (Exemptions, &[(Guardrails, Done)]),
        (GuardrailGrants, &[(Guardrails, Done)]),
        (AlertActions, &[(Alerting, Done)]),
        (Endpoint, &[(EndpointDns, Done)]),
        (DnsLinks, &[(EndpointDns, Done)]),
        (
            DnsZones,
            &[(EndpointDns, Done), (Endpoint, Done), (DnsLinks, Done)],
        ),
        (Firewall, &[(Endpoint, Done)]),
        (
            Create,
            &[
                (Endpoint, Done),
                (EndpointDns, Done),
                (Access, Done),
                (Logging, Done),
                (Alerting, Done),
                (AlertActions, Done),
                (Guardrails, Done),
                (Exemptions, Done),
            ],
        ),
    ]
};

/// Destroy's serial stages: rules one at a time.
pub const DESTROY_SERIAL: &[Stage] = &[Stage::Firewall];

/// An order: the edges per stage and the stages that run one at a time.
pub struct Order {
    pub edges: &'static [(Stage, &'static [(Stage, Wait)])],
    pub serial: &'static [Stage],
}

/// Hardening: the cutover.
pub static CUTOVER: Order = Order {
    edges: EDGES,
    serial: SERIAL,
};

/// Destroy: the cutover undone.
pub static DESTROY: Order = Order {
    edges: DESTROY_EDGES,
    serial: DESTROY_SERIAL,
};

impl Order {
    /// What `stage` waits for.
    pub fn edges(&self, stage: Stage) -> &'static [(Stage, Wait)] {
        self.edges
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, e)| *e)
            .unwrap_or(&[])
    }
}
