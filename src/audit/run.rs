//! One audit, end to end and read-only: discover the accounts of the scopes, judge the ones a
//! blueprint names against it and every other one against the strict baseline, observe and plan
//! them as `moat plan` does, and turn the plan into findings.
//!
//! Every request goes through [`ReadOnly`]: the audit is given an [`ArmApi`] and wraps it
//! itself, so no caller can hand it a client that writes.

use std::path::PathBuf;
use std::sync::Arc;

use crate::arm::{ArmApi, ArmError};
use crate::blueprint::resolved::{Blueprint, Instance};
use crate::model::Plan;

use super::discover::{self, Discovered, Scope};
use super::observed_rules;
use super::read_only::ReadOnly;
use super::{rules, Evidence, Finding};

/// The strict baseline, built into moat: accounts no blueprint names are judged against it.
const STRICT_BASELINE: &str = include_str!("../../blueprints/strict-baseline.yaml");
/// An instance of the baseline's `strict` profile. The `existing` infrastructure is a
/// placeholder the baseline needs to resolve; the controls that depend on it are dropped below.
const TEMPLATE_INSTANCE: &str = "
instances:
  - name: audit-template
    profile: strict
    subscription: 00000000-0000-0000-0000-000000000000
    resourceGroup: rg-audit
    accountName: audit-template
    location: eastus
    kind: OpenAI
    customSubdomain: audit-template
    existing:
      endpointSubnet: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet
      endpointSubnetPrefix: 10.0.0.0/24
      nsg: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg
      dnsZones:
        resourceGroup: rg
      logAnalyticsWorkspace: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law-audit
    controls:
      nsg:
        rules:
          Allow-App-Subnet: {source: 10.0.1.0/24}
          Allow-APIM-Subnet: {source: 10.0.3.0/24}
";

/// Why an audit stopped.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Arm(Box<ArmError>),
    #[error(transparent)]
    Observe(Box<crate::observe::ObserveError>),
}

impl From<ArmError> for AuditError {
    fn from(e: ArmError) -> Self {
        AuditError::Arm(Box::new(e))
    }
}

impl From<crate::observe::ObserveError> for AuditError {
    fn from(e: crate::observe::ObserveError) -> Self {
        AuditError::Observe(Box::new(e))
    }
}

/// What an audit found.
#[derive(Debug, Clone)]
pub struct Audit {
    /// Every live account audited, sorted by ARM id.
    pub accounts: Vec<Discovered>,
    /// The soft-deleted accounts of the scopes.
    pub deleted: Vec<Discovered>,
    /// Per audited instance: its name, account id, and whether the blueprint names it.
    pub instances: Vec<Audited>,
    pub findings: Vec<Finding>,
    /// The blueprint's `acknowledged:` entries in the scopes that waived no finding.
    pub stale_acknowledgements: Vec<crate::blueprint::resolved::Acknowledgement>,
    /// The instances judged: the blueprint's, then the strict baseline's for the rest.
    pub judged: Blueprint,
    /// The plan the findings were drawn from (never applied).
    pub plan: Plan,
}

/// One instance the audit judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    pub name: String,
    pub account_id: String,
    /// Named by the blueprint (else judged against the strict baseline).
    pub named: bool,
}

/// The scopes to audit: the flags, or the subscriptions of the blueprint's instances when no
/// `--subscription` is given.
pub fn scopes_for(
    subscriptions: &[String],
    resource_groups: &[String],
    blueprint: Option<&Blueprint>,
) -> Result<Vec<Scope>, AuditError> {
    let mut subs: Vec<String> = subscriptions.to_vec();
    if subs.is_empty() {
        for i in blueprint
            .map(|b| b.instances.as_slice())
            .unwrap_or_default()
        {
            if !subs.iter().any(|s| s.eq_ignore_ascii_case(&i.subscription)) {
                subs.push(i.subscription.clone());
            }
        }
    }
    if subs.is_empty() {
        return Err(AuditError::Usage(
            "nothing to audit: give --subscription ID (or a blueprint whose instances name one)"
                .into(),
        ));
    }
    Ok(discover::scopes(&subs, resource_groups))
}

/// Audit the scopes: `blueprint` judges the instances it names (those in the scopes).
pub async fn audit(
    api: Arc<dyn ArmApi>,
    scopes: &[Scope],
    blueprint: Option<&Blueprint>,
) -> Result<Audit, AuditError> {
    audit_with(api, scopes, blueprint, None).await
}

/// [`audit`], and with `vault` the secret of every instance with `keyRotation` is read for
/// MOAT-IM-003 (keys older than the period).
pub async fn audit_with(
    api: Arc<dyn ArmApi>,
    scopes: &[Scope],
    blueprint: Option<&Blueprint>,
    vault: Option<&crate::arm::vault::VaultOptions<'_>>,
) -> Result<Audit, AuditError> {
    // Read-only, and remembering ARM's clock (the activity log window of MOAT-IM-003).
    let api = super::key_age::Clocked::new(Arc::new(ReadOnly(api)));
    // Both lists at once: neither depends on the other.
    let (accounts, deleted) = futures::try_join!(
        discover::discover(&api, scopes),
        discover::discover_deleted(&api, scopes)
    )?;
    let bp = judged(&accounts, scopes, blueprint)?;
    let named = |inst: &Instance| {
        blueprint.is_some_and(|b| b.instances.iter().any(|n| n.name == inst.name))
    };
    let instances: Vec<Audited> = bp
        .instances
        .iter()
        .map(|i| Audited {
            name: i.name.clone(),
            account_id: i.account_id(),
            named: named(i),
        })
        .collect();
    let mut observed = crate::observe::observe(&api, &bp).await?;
    if let Some(v) = vault {
        crate::rotate::due::observe(&api, &bp, v, &mut observed).await;
    }
    let plan = crate::plan::plan(&bp, &observed);
    let mut findings = super::findings(&plan);
    push_key_age(&bp, &observed, &mut findings);
    push_standing_exceptions(&plan, &mut findings);
    let mut cache = super::cache::Cache::default();
    findings.extend(observed_rules::findings(&api, &bp, &observed, &plan, &mut cache).await?);
    findings.extend(super::key_age::findings(&api, &bp, &observed, api.now()).await?);
    findings.extend(super::guardrails::findings(&api, &bp, &plan, &mut cache).await?);
    for d in &deleted {
        findings.push(deleted_finding(d));
    }
    let acks = blueprint
        .map(|b| b.acknowledged.as_slice())
        .unwrap_or_default();
    let stale_acknowledgements = super::acknowledged::apply(acks, scopes, &mut findings);
    Ok(Audit {
        accounts,
        deleted,
        instances,
        findings,
        stale_acknowledgements,
        judged: bp,
        plan,
    })
}

fn in_scope(scopes: &[Scope], subscription: &str, resource_group: &str) -> bool {
    scopes.iter().any(|s| {
        s.subscription.eq_ignore_ascii_case(subscription)
            && s.resource_group
                .as_ref()
                .is_none_or(|rg| rg.eq_ignore_ascii_case(resource_group))
    })
}

/// The blueprint the audit plans: the named instances in the scopes, then one strict-baseline
/// instance per discovered account none of them names.
fn judged(
    accounts: &[Discovered],
    scopes: &[Scope],
    blueprint: Option<&Blueprint>,
) -> Result<Blueprint, AuditError> {
    let mut instances: Vec<Instance> = blueprint
        .map(|b| b.instances.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|i| in_scope(scopes, &i.subscription, &i.resource_group))
        .collect();
    let unnamed: Vec<&Discovered> = accounts
        .iter()
        .filter(|d| {
            !instances
                .iter()
                .any(|i| i.account_id().eq_ignore_ascii_case(&d.id))
        })
        .collect();
    if !unnamed.is_empty() {
        let template = strict_template()?;
        for d in unnamed {
            let clash = instances.iter().any(|i| i.name == d.name);
            instances.push(baseline_instance(&template, d, clash));
        }
    }
    Ok(Blueprint {
        source: blueprint.map_or_else(|| PathBuf::from("strict-baseline"), |b| b.source.clone()),
        digest: blueprint.map(|b| b.digest.clone()).unwrap_or_default(),
        instances,
        acknowledged: blueprint
            .map(|b| b.acknowledged.clone())
            .unwrap_or_default(),
    })
}

/// The `strict` profile of the built-in baseline, resolved once.
pub fn strict_template() -> Result<Instance, AuditError> {
    let text = format!("{STRICT_BASELINE}{TEMPLATE_INSTANCE}");
    let bp = crate::blueprint::load_str("strict-baseline.yaml", &text)
        .map_err(|d| AuditError::Usage(format!("the built-in strict baseline is invalid: {d}")))?;
    bp.instances
        .into_iter()
        .next()
        .ok_or_else(|| AuditError::Usage("the built-in strict baseline has no instance".into()))
}

/// An instance of the strict baseline for a discovered account. The controls that need the
/// infrastructure a blueprint names (endpoint subnet, NSG, zones, workspace, action group) are
/// dropped: without a blueprint there is nothing to compare them with. Undeclared privileged
/// role assignments are findings (the baseline declares none, and audit never removes them).
pub fn baseline_instance(template: &Instance, d: &Discovered, clash: bool) -> Instance {
    let mut i = template.clone();
    i.name = if clash {
        format!("{}/{}", d.resource_group, d.name)
    } else {
        d.name.clone()
    };
    i.subscription = d.subscription.clone();
    i.resource_group = d.resource_group.clone();
    i.account_name = d.name.clone();
    i.location = d.location.clone();
    i.kind = d.kind.clone();
    i.custom_subdomain = None;
    i.exceptions.clear();
    let c = &mut i.controls;
    c.private_endpoint = None;
    c.private_dns = None;
    c.dns_zone_group = None;
    c.nsg = None;
    c.diagnostics = None;
    c.generic.remove("alerts");
    if let Some(ra) = &mut c.role_assignments {
        ra.spec.remove_undeclared_privileged = true;
    }
    i
}

/// A waived finding for each exception the blueprint grants that no finding carries yet: the
/// plan is a no-op where the blueprint already declares the weaker value live state has.
fn push_standing_exceptions(plan: &Plan, out: &mut Vec<Finding>) {
    for inst in &plan.instances {
        for e in &inst.exceptions {
            let Some(rule) = rules::rule_waived_by(&e.allows) else {
                continue;
            };
            let shown = out
                .iter()
                .any(|f| f.instance == inst.name && f.rule.id == rule.id);
            if shown {
                continue;
            }
            out.push(Finding {
                rule,
                instance: inst.name.clone(),
                resource_id: inst.account_id.clone(),
                address: format!("{}/exception/{}", inst.name, e.allows),
                evidence: Vec::new(),
                waived_by: Some(e.describe()),
            });
        }
    }
}

/// MOAT-IM-003 for each instance with `keyRotation` whose secret says its keys are older than
/// the period (the instances without it are judged from the activity log: `key_age`). Never
/// waived: rotation is what the `local-auth` exception is kept with.
fn push_key_age(bp: &Blueprint, observed: &crate::observe::Observed, out: &mut Vec<Finding>) {
    let rule = rules::rule("MOAT-IM-003").expect("the key age rule exists");
    for inst in &bp.instances {
        let (Some(kr), Some(seen)) = (
            &inst.key_rotation,
            &crate::plan::observed_of(observed, inst).rotation,
        ) else {
            continue;
        };
        let account = inst.account_id();
        if let Some(why) = crate::rotate::due::overdue(kr, &account, seen) {
            out.push(Finding {
                rule,
                instance: inst.name.clone(),
                resource_id: account,
                address: format!("{}/key-rotation/{}", inst.name, kr.secret),
                evidence: vec![Evidence {
                    path: "keyRotation".into(),
                    observed: Some(
                        format!("from Key Vault secret {} (keyRotation): {why}", kr.secret).into(),
                    ),
                    expected: Some(
                        format!(
                            "rotated within {}",
                            crate::rotate::state::span(kr.every_secs as i64)
                        )
                        .into(),
                    ),
                }],
                waived_by: None,
            });
        }
    }
}

fn deleted_finding(d: &Discovered) -> Finding {
    let rule = rules::rule("MOAT-DP-002").expect("the soft-delete rule exists");
    Finding {
        rule,
        instance: d.name.clone(),
        resource_id: d.id.clone(),
        address: format!("{}/{}", d.name, rules::DELETED_ACCOUNT),
        evidence: vec![Evidence {
            path: "deletedAccount".into(),
            observed: Some(serde_json::Value::String(format!(
                "soft-deleted in {}",
                d.location
            ))),
            expected: None,
        }],
        waived_by: None,
    }
}
