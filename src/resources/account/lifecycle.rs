//! What the account kind reads and plans: the live account (checked, then hardened in stages),
//! or its creation — with what can stand in its way: a soft-deleted account holding the name
//! (blocked, purged or restored, as the blueprint says) and a custom subdomain in use.

use serde_json::Value;

use super::create::{create, create_body, subdomain_in_use};
use super::ids::{address, API_VERSION, KIND};
use super::stages::{
    blocked_checks, encryption_stage, identity_stage, local_auth_stage, network_stage,
    public_access_stage, repair_stage, Check,
};
use crate::arm::Method;
use crate::blueprint::resolved::{Instance, SoftDeleteAction};
use crate::model::{Action, Change, Write};
use crate::resources::kind::{Planned, Read, Reads, Stage};
use crate::resources::{
    delete_change, fingerprint, get_str, id_eq, norm_location, owned_by_tag, OWNER_TAG, OWNER_VALUE,
};

pub fn read(inst: &Instance) -> Read {
    Read::get(inst.account_id(), API_VERSION)
}

/// The soft-deleted account with the instance's name, if any.
pub fn deleted_read(inst: &Instance) -> Read {
    Read::get(
        format!(
            "/subscriptions/{}/providers/Microsoft.CognitiveServices/locations/{}/resourceGroups/{}/deletedAccounts/{}",
            inst.subscription,
            norm_location(&inst.location),
            inst.resource_group,
            inst.account_name
        ),
        API_VERSION,
    )
}

/// Every live and every soft-deleted account of the subscription (a create with a custom
/// subdomain another account uses fails with CustomDomainInUse).
pub fn subscription_reads(inst: &Instance) -> [Read; 2] {
    let cs = format!(
        "/subscriptions/{}/providers/Microsoft.CognitiveServices",
        inst.subscription
    );
    [
        Read::list(format!("{cs}/accounts"), API_VERSION),
        Read::list(format!("{cs}/deletedAccounts"), API_VERSION),
    ]
}

/// Round 1: the account. Once it is known to be absent: the soft-deleted one with its name and,
/// when moat is to create it with a custom subdomain, the subscription's accounts.
pub fn reads(inst: &Instance, seen: &Reads) -> Vec<Read> {
    let account = read(inst);
    match seen.result(&account) {
        None => vec![account],
        Some(Some(_)) => Vec::new(),
        Some(None) => {
            let mut out = vec![deleted_read(inst)];
            if inst.create_if_missing && inst.custom_subdomain.is_some() {
                out.extend(subscription_reads(inst));
            }
            out
        }
    }
}

/// A live or soft-deleted account, other than the one with our name, that uses the subdomain.
fn subdomain_holder<'a>(inst: &Instance, seen: &'a Reads) -> Option<&'a Value> {
    let sub = inst
        .custom_subdomain
        .as_deref()
        .filter(|_| inst.create_if_missing)?;
    let ours = deleted_read(inst).path;
    let [live, gone] = subscription_reads(inst);
    seen.items(&live).iter().chain(seen.items(&gone)).find(|a| {
        get_str(a, "properties.customSubDomainName").is_some_and(|s| s.eq_ignore_ascii_case(sub))
            && !get_str(a, "id").is_some_and(|id| id_eq(id, &ours))
    })
}

fn purge(inst: &Instance, deleted: &Value) -> Change {
    let id = get_str(deleted, "id").unwrap_or_default().to_string();
    let mut p = Change::new(
        format!("{}/deleted-account/{}", inst.name, inst.account_name),
        crate::resources::deleted_account::KIND,
        &id,
        Action::Delete,
        "purge the soft-deleted account that holds the name (softDelete: purge)",
        fingerprint(Some(deleted)),
    )
    .with_write(Write::new(Method::Delete, &id, API_VERSION, None));
    p.risk =
        Some("permanently destroys the soft-deleted account: it can no longer be restored".into());
    p
}

/// The account itself refused: one blocked change, and nothing else planned.
fn refused(inst: &Instance, why: String, observed: String) -> Planned {
    halted(
        vec![Change::blocked(
            address(inst, ""),
            KIND,
            inst.account_id(),
            why,
            observed,
        )],
        Vec::new(),
    )
}

fn halted(changes: Vec<Change>, notes: Vec<String>) -> Planned {
    Planned {
        changes: changes.into_iter().map(|c| (Stage::Create, c)).collect(),
        notes,
        halt: true,
    }
}

/// The account's changes: checks or creation, then its stages.
pub fn changes(inst: &Instance, seen: &Reads) -> Planned {
    let mut out = Planned::default();
    // The account itself: existing (checked), to create, or blocked.
    let assumed = match seen.value(&read(inst)) {
        Some(acct) => {
            let checks: Vec<Change> = blocked_checks(inst, acct)
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            if checks.iter().any(|c| c.action == Action::Blocked) {
                // Nothing else is safe to plan against an account moat refuses to touch.
                return halted(checks, Vec::new());
            }
            out.changes
                .extend(checks.into_iter().map(|c| (Stage::Create, c)));
            acct.clone()
        }
        None => {
            let deleted = seen.value(&deleted_read(inst));
            let mut restored: Option<Value> = None;
            let restore = match (deleted, inst.soft_delete) {
                (Some(d), SoftDeleteAction::Block) => {
                    let when = get_str(d, "properties.deletionDate").unwrap_or("recently");
                    return refused(
                        inst,
                        format!(
                            "the name {} is held by a soft-deleted account (deleted {when}); choose one way out in the blueprint: `softDelete: restore` brings it back (with its keys, deployments and settings, then hardened), or `softDelete: purge` destroys it for good and creates a new one",
                            inst.account_name
                        ),
                        "absent".into(),
                    );
                }
                (Some(d), SoftDeleteAction::Purge) => {
                    out.changes.push((Stage::Purge, purge(inst, d)));
                    false
                }
                (Some(d), SoftDeleteAction::Restore) => {
                    // The restored account must be the one the blueprint describes.
                    // (A deleted record that shows no subdomain is not refused: the restore
                    // PUT carries the blueprint's.)
                    let shows_sub = get_str(d, "properties.customSubDomainName").is_some();
                    let wrong: Vec<Change> = blocked_checks(inst, d)
                        .into_iter()
                        .filter(|(check, _)| shows_sub || *check != Check::CustomSubdomain)
                        .map(|(_, c)| c)
                        .collect();
                    if !wrong.is_empty() {
                        return halted(wrong, Vec::new());
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
            if let Some(holder) = subdomain_holder(inst, seen).filter(|_| !restore) {
                return halted(vec![subdomain_in_use(inst, holder)], out.notes);
            }
            let create = create(inst, restore);
            if create.action == Action::Blocked {
                return halted(vec![create], out.notes);
            }
            out.changes.push((Stage::Create, create));
            // A created account is exactly its hardened body. A restored one may come back with
            // the settings it had when deleted (whether ARM applies the rest of a restore PUT is
            // not documented), so the stages are planned against those: every weaker value is
            // fixed again, in the no-lockout order, and nothing is assumed.
            restored.unwrap_or_else(|| create_body(inst, restore))
        }
    };
    let creating = out
        .changes
        .iter()
        .any(|(s, c)| *s == Stage::Create && c.action.is_write());
    let mut identity = identity_stage(inst, &assumed);
    if !creating && !identity.as_ref().is_some_and(|c| c.action.is_write()) {
        if let Some(repair) = repair_stage(inst, &assumed) {
            identity = Some(repair);
        }
    }
    out.changes.extend(identity.map(|c| (Stage::Identity, c)));
    out.changes
        .extend(encryption_stage(inst, &assumed).map(|c| (Stage::Encryption, c)));
    out.changes
        .extend(network_stage(inst, &assumed).map(|c| (Stage::NetworkRules, c)));
    out.changes
        .extend(public_access_stage(inst, &assumed).map(|c| (Stage::PublicAccess, c)));
    out.changes
        .extend(local_auth_stage(inst, &assumed).map(|c| (Stage::KeyAuth, c)));
    out
}

/// `moat destroy`: the account, last, and only when moat created it (its ownership tag); an
/// account moat did not create stops the whole instance's destroy.
pub fn destroy(inst: &Instance, seen: &Reads) -> Planned {
    let Some(account) = seen.value(&read(inst)) else {
        return Planned {
            notes: vec![format!(
                "the account {} does not exist: nothing to destroy",
                inst.account_name
            )],
            halt: true,
            ..Planned::default()
        };
    };
    if !owned_by_tag(account) {
        return refused(
            inst,
            format!(
                "refusing to destroy {}: it has no `{OWNER_TAG}: {OWNER_VALUE}` tag, so moat did not create it; delete it yourself if you mean to",
                inst.account_name
            ),
            fingerprint(Some(account)),
        );
    }
    Planned::of(
        Stage::Create,
        [delete_change(
            address(inst, ""),
            KIND,
            &inst.account_id(),
            API_VERSION,
            "moat destroy: the account moat created",
            "every client of the account loses it, with its deployments and keys; ARM keeps it soft-deleted for 48 hours (bring it back with `softDelete: restore`), then it is gone",
            account,
        )],
    )
}
