//! `moat destroy` end to end against the emulator: only named instances, only what moat created,
//! never what another instance still uses, never VNets / subnets / NSGs / workspaces; refusals
//! for accounts moat does not own; and deletion is never implied by editing a blueprint.

use crate::support;

use std::path::Path;

use moat::blueprint::resolved::Blueprint;
use moat::plan::model::{Action, KindId, Plan};
use serde_json::json;
use support::e2e::*;

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";

/// The greenfield example as two instances sharing the subnet, NSG, zone and link.
fn two_instances() -> Blueprint {
    greenfield_instances(&["alpha", "beta"])
}

fn kinds(p: &Plan, action: Action) -> Vec<(KindId, String)> {
    p.changes()
        .filter(|c| c.action == action)
        .map(|c| (c.kind.clone(), c.address.clone()))
        .collect()
}

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{name}")
}

#[tokio::test]
async fn destroy_deletes_what_moat_created_and_keeps_what_others_still_use() {
    let emu = emulator("examples/greenfield-seed.json").await;
    let api = connect(&emu);
    let bp = two_instances();
    let p = plan(api.as_ref(), &bp).await;
    assert!(apply(api.clone(), &p).await.ok());
    let alpha = bp.instances[0].clone();
    let beta = bp.instances[1].clone();
    let zone = format!(
        "{}/providers/Microsoft.Network/privateDnsZones/privatelink.openai.azure.com",
        rg("rg-dns")
    );
    let nsg = format!(
        "{}/providers/Microsoft.Network/networkSecurityGroups/nsg-private-endpoints",
        rg("rg-network")
    );
    let pe = |n: &str| {
        format!(
            "{}/providers/Microsoft.Network/privateEndpoints/{n}-pe",
            rg("rg-ai-new")
        )
    };

    // Editing the blueprint never deletes: without alpha, the plan leaves alpha alone.
    let mut only_beta = bp.clone();
    only_beta.instances.retain(|i| i.name == beta.name);
    let p = plan(api.as_ref(), &only_beta).await;
    assert!(
        !p.has_changes(),
        "{}",
        moat::render::text::render(&p, false)
    );
    assert!(p.changes().all(|c| c.action != Action::Delete));

    // Destroy alpha: its own resources go; the shared zone, link and NSG rules stay for beta.
    let d = destroy_plan(api.as_ref(), &bp, &["contoso-openai-alpha"]).await;
    assert_eq!(d.instances.len(), 1);
    assert!(!d.is_failed());
    let deletes = kinds(&d, Action::Delete);
    let has = |k: KindId| deletes.iter().filter(|(x, _)| *x == k).count();
    assert_eq!(has(moat::resources::account::KIND), 1);
    assert_eq!(has(moat::resources::private_endpoint::KIND), 1);
    assert_eq!(has(moat::resources::dns_zone_group::KIND), 1);
    assert_eq!(has(moat::resources::role_assignment::KIND), 1);
    assert_eq!(has(moat::resources::diagnostic_setting::KIND), 1);
    assert_eq!(has(moat::resources::private_dns_zone::KIND), 0);
    assert_eq!(has(moat::resources::vnet_link::KIND), 0);
    assert_eq!(has(moat::resources::security_rule::KIND), 0);
    // M2: both activity-log and both metric rules and the log rule moat created (owner tag);
    // the baseline names no action group.
    assert_eq!(has(moat::resources::activity_log_alert::KIND), 2);
    assert_eq!(has(moat::resources::metric_alert::KIND), 2);
    assert_eq!(has(moat::resources::log_alert::KIND), 1);
    assert_eq!(deletes.len(), 10, "{deletes:?}");
    assert!(
        d.changes().all(|c| c.risk.is_some()),
        "every delete carries its risk"
    );
    let notes = d.instances[0].notes.join("\n");
    assert!(
        notes
            .contains("privatelink.openai.azure.com and its VNet links are kept: another instance"),
        "{notes}"
    );
    assert!(
        notes.contains("NSG rule Deny-All-Inbound is kept: another instance"),
        "{notes}"
    );
    // The account goes last, after its extension resources and its endpoint.
    let acct = d
        .changes()
        .find(|c| c.kind == moat::resources::account::KIND)
        .unwrap();
    for other in d
        .changes()
        .filter(|c| c.kind != moat::resources::account::KIND)
    {
        assert!(
            acct.depends_on.contains(&other.address),
            "{} before the account",
            other.address
        );
    }
    // Rendered with the same renderers as a plan.
    let text = moat::render::text::render(&d, false);
    assert!(
        text.contains("- contoso-openai-alpha/account  delete"),
        "{text}"
    );
    assert!(
        text.contains("0 to create, 0 to update, 10 to delete"),
        "{text}"
    );
    let md = moat::render::markdown::render(&d);
    assert!(md.contains("contoso-openai-alpha/account"));

    emu.clear_request_log();
    let report = apply(api.clone(), &d).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    let acct_delete = first(&log, "DELETE", "/accounts/contoso-openai-alpha").unwrap();
    assert_eq!(
        log.iter()
            .rposition(|e| e.method == "DELETE")
            .map(|i| i >= acct_delete),
        Some(true)
    );
    assert!(
        first(&log, "DELETE", "/privateEndpoints/contoso-openai-alpha-pe").unwrap() < acct_delete
    );
    assert!(emu.resource(&alpha.account_id()).is_none());
    assert!(emu
        .deleted_accounts()
        .iter()
        .any(|k| k.ends_with("/deletedaccounts/contoso-openai-alpha")));
    assert!(emu.resource(&pe("contoso-openai-alpha")).is_none());
    for rule in moat::resources::activity_log_alert::RULES {
        let id = moat::resources::activity_log_alert::rule_id(&alpha, rule);
        assert!(emu.resource(&id).is_none(), "{id} deleted");
    }
    for rule in moat::resources::metric_alert::RULES {
        let id = moat::resources::metric_alert::rule_id(&alpha, rule);
        assert!(emu.resource(&id).is_none(), "{id} deleted");
    }
    assert!(
        emu.resource(&format!("{zone}/A/contoso-openai-alpha"))
            .is_none(),
        "its A record went with the zone group"
    );
    assert!(emu
        .resource(&format!("{zone}/A/contoso-openai-beta"))
        .is_some());
    assert!(emu.resource(&zone).is_some());
    assert!(emu
        .resource(&format!("{nsg}/securityRules/Deny-All-Inbound"))
        .is_some());
    // Beta is untouched.
    let p = plan(api.as_ref(), &only_beta).await;
    assert!(
        !p.has_changes(),
        "{}",
        moat::render::text::render(&p, false)
    );

    // Destroy beta: now nothing else uses the zone, link and rules, so they go too.
    let d = destroy_plan(api.as_ref(), &bp, &["contoso-openai-beta"]).await;
    let deletes = kinds(&d, Action::Delete);
    let has = |k: KindId| deletes.iter().filter(|(x, _)| *x == k).count();
    // (alpha is not being destroyed again, but its blueprint entry still declares the zone and
    // rules: they stay. Destroying both at once frees them; see below.)
    assert_eq!(has(moat::resources::private_dns_zone::KIND), 0);
    assert_eq!(has(moat::resources::security_rule::KIND), 0);
    let d = destroy_plan(
        api.as_ref(),
        &bp,
        &["contoso-openai-alpha", "contoso-openai-beta"],
    )
    .await;
    assert!(d.instances[0]
        .notes
        .iter()
        .any(|n| n.contains("does not exist: nothing to destroy")));
    let deletes = kinds(&d, Action::Delete);
    let has = |k: KindId| deletes.iter().filter(|(x, _)| *x == k).count();
    assert_eq!(has(moat::resources::account::KIND), 1);
    assert_eq!(has(moat::resources::private_dns_zone::KIND), 1);
    assert_eq!(has(moat::resources::vnet_link::KIND), 1);
    assert_eq!(has(moat::resources::security_rule::KIND), 3);
    // Rules: the deny goes first, then the allows, one at a time, after the endpoint.
    let rules: Vec<_> = d
        .changes()
        .filter(|c| c.kind == moat::resources::security_rule::KIND)
        .collect();
    let deny = rules
        .iter()
        .find(|c| c.address.ends_with("Deny-All-Inbound"))
        .unwrap();
    assert!(deny
        .depends_on
        .iter()
        .any(|a| a.contains("/private-endpoint/")));
    for r in rules
        .iter()
        .filter(|c| !c.address.ends_with("Deny-All-Inbound"))
    {
        assert!(!r.depends_on.is_empty());
    }
    let report = apply(api.clone(), &d).await;
    assert!(report.ok(), "{report:#?}");
    assert!(emu.resource(&beta.account_id()).is_none());
    assert!(emu.resource(&zone).is_none());
    assert!(emu
        .resource(&format!("{nsg}/securityRules/Allow-App-Subnet"))
        .is_none());
    // Never VNets, subnets, NSGs or workspaces.
    for id in [
        nsg.clone(),
        format!("{}/providers/Microsoft.Network/virtualNetworks/vnet-prod", rg("rg-network")),
        format!("{}/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/snet-private-endpoints", rg("rg-network")),
        format!("{}/providers/Microsoft.OperationalInsights/workspaces/law-security", rg("rg-monitoring")),
    ] {
        assert!(emu.resource(&id).is_some(), "{id} must survive destroy");
    }
    assert_eq!(emu.deleted_accounts().len(), 2);

    // Destroy then restore: the name comes back with `softDelete: restore`.
    let mut back = only_beta.clone();
    back.instances[0].soft_delete = moat::blueprint::resolved::SoftDeleteAction::Restore;
    let p = plan(api.as_ref(), &back).await;
    assert!(!p.is_failed(), "{}", moat::render::text::render(&p, false));
    assert!(apply(api.clone(), &p).await.ok());
    assert!(emu.resource(&beta.account_id()).is_some());
    emu.shutdown().await;
}

#[tokio::test]
async fn destroy_refuses_an_account_moat_does_not_own_and_keeps_foreign_resources() {
    let emu = emulator("examples/greenfield-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/greenfield.yaml");
    let inst = &bp.instances[0];
    let p = plan(api.as_ref(), &bp).await;
    assert!(apply(api.clone(), &p).await.ok());
    // Someone else's role assignment on the account: destroy never touches it.
    let foreign = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/0f5b1a7e-2c1d-4e3f-9a8b-7c6d5e4f3a2b",
        inst.account_id()
    );
    api.put(
        &foreign,
        "2022-04-01",
        &json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/a97b65f3-24c7-4388-baec-2e87135dc908"),
            "principalId": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901", "principalType": "ServicePrincipal"}}),
        moat::arm::Precondition::None,
    )
    .await
    .unwrap();
    let d = destroy_plan(api.as_ref(), &bp, &["contoso-openai-new"]).await;
    assert!(d.changes().all(|c| c.id != foreign));
    assert_eq!(
        d.changes()
            .filter(|c| c.kind == moat::resources::role_assignment::KIND)
            .count(),
        1,
        "only moat's own assignment"
    );

    // The same account without moat's tag: refused, nothing planned.
    let mut acct = emu.resource(&inst.account_id()).unwrap();
    acct["tags"] = json!({"owner": "someone-else"});
    api.patch(
        &inst.account_id(),
        moat::resources::account::API_VERSION,
        &json!({"tags": acct["tags"]}),
        moat::arm::Precondition::None,
    )
    .await
    .unwrap();
    let d = destroy_plan(api.as_ref(), &bp, &["contoso-openai-new"]).await;
    assert!(d.is_failed());
    assert!(!d.has_changes());
    let blocked = d.changes().find(|c| c.action == Action::Blocked).unwrap();
    assert!(
        blocked
            .blocked
            .as_deref()
            .unwrap()
            .contains("managed-by: moat"),
        "{blocked:?}"
    );
    assert!(emu.resource(&inst.account_id()).is_some());
    emu.shutdown().await;
}

/// The binary: refusals and a confirmed destroy, as a user sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_destroy_needs_named_instances_confirmation_and_ownership() {
    let emu = emulator("examples/greenfield-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/greenfield.yaml");
    let p = plan(api.as_ref(), &bp).await;
    assert!(apply(api.clone(), &p).await.ok());
    let url = emu.base_url();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let run = move |args: Vec<String>| {
        let root = root.clone();
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let o = assert_cmd::Command::cargo_bin("moat")
                    .unwrap()
                    .current_dir(&root)
                    .env("NO_COLOR", "1")
                    .env("MOAT_ACCESS_TOKEN", TOKEN)
                    .env("MOAT_ARM_ENDPOINT", &url)
                    .args(&args)
                    .write_stdin("")
                    .output()
                    .unwrap();
                (
                    o.status.code(),
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                    String::from_utf8_lossy(&o.stderr).into_owned(),
                )
            })
            .await
            .unwrap()
        }
    };
    let args = |extra: &[&str]| {
        let mut v = vec![
            "destroy".to_string(),
            "examples/greenfield.yaml".to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // No instance named: refused by the command line itself (a usage error: exit 1).
    let (code, _, err) = run(args(&[])).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--instance"), "{err}");
    // An unknown instance.
    let (code, _, err) = run(args(&["--instance", "nope"])).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("no such instance"), "{err}");
    // No terminal and no --auto-approve: the plan is shown, nothing is deleted.
    let (code, out, err) = run(args(&["--instance", "contoso-openai-new"])).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains("- contoso-openai-new/account  delete"),
        "{out}"
    );
    assert!(out.contains("risk:"), "{out}");
    assert!(err.contains("--auto-approve"), "{err}");
    assert!(emu.resource(&bp.instances[0].account_id()).is_some());
    // An account without moat's tag: refused even with --auto-approve.
    let id = bp.instances[0].account_id();
    let cs = moat::resources::account::API_VERSION;
    let pre = || moat::arm::Precondition::None;
    api.patch(&id, cs, &json!({"tags": {"owner": "platform-team"}}), pre())
        .await
        .unwrap();
    let (code, out, err) = run(args(&[
        "--instance",
        "contoso-openai-new",
        "--auto-approve",
    ]))
    .await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains("x contoso-openai-new/account  blocked"),
        "{out}"
    );
    assert!(err.contains("destroy refused"), "{err}");
    assert!(emu.resource(&id).is_some());
    api.patch(&id, cs, &json!({"tags": {"managed-by": "moat"}}), pre())
        .await
        .unwrap();
    // Confirmed: destroyed, and said so.
    let (code, out, err) = run(args(&[
        "--instance",
        "contoso-openai-new",
        "--auto-approve",
    ]))
    .await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("Destroyed contoso-openai-new"), "{out}");
    assert!(emu.resource(&bp.instances[0].account_id()).is_none());
    // Again: nothing left to destroy.
    let (code, out, _) = run(args(&[
        "--instance",
        "contoso-openai-new",
        "--auto-approve",
    ]))
    .await;
    assert_eq!(code, Some(0));
    assert!(out.contains("nothing to destroy"), "{out}");
    emu.shutdown().await;
}

/// Live use outside the blueprint keeps shared pieces: a record another resource wrote into the
/// zone keeps the zone and its link; another private endpoint in the subnet keeps the NSG rules.
#[tokio::test]
async fn destroy_keeps_a_zone_with_foreign_records_and_rules_other_endpoints_sit_behind() {
    let emu = emulator("examples/greenfield-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/greenfield.yaml");
    let p = plan(api.as_ref(), &bp).await;
    assert!(apply(api.clone(), &p).await.ok());
    let zone = format!(
        "{}/providers/Microsoft.Network/privateDnsZones/privatelink.openai.azure.com",
        rg("rg-dns")
    );
    api.put(
        &format!("{zone}/A/someone-elses-app"),
        "2024-06-01",
        &json!({"properties": {"ttl": 10, "aRecords": [{"ipv4Address": "10.10.2.99"}]}}),
        moat::arm::Precondition::None,
    )
    .await
    .unwrap();
    let names = vec!["contoso-openai-new".to_string()];
    let mut observed = moat::observe::observe(api.as_ref(), &bp).await.unwrap();
    let d = moat::plan::destroy::plan(&bp, &names, &observed);
    assert!(d
        .changes()
        .all(|c| c.kind != moat::resources::private_dns_zone::KIND
            && c.kind != moat::resources::vnet_link::KIND));
    let notes = d.instances[0].notes.join("\n");
    assert!(
        notes.contains("holds 1 record set(s) of other resources"),
        "{notes}"
    );
    assert_eq!(
        d.changes()
            .filter(|c| c.kind == moat::resources::security_rule::KIND)
            .count(),
        3,
        "nothing else in the subnet yet: moat's rules go"
    );

    // Another endpoint in the subnet (not in the blueprint): the rules stay for it.
    let subnet = observed.instances[0]
        .reads
        .value_mut(&moat::resources::subnet::read(&bp.instances[0]).unwrap())
        .unwrap();
    subnet["properties"]["privateEndpoints"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": format!("{}/providers/Microsoft.Network/privateEndpoints/other-pe", rg("rg-apps"))}));
    let d = moat::plan::destroy::plan(&bp, &names, &observed);
    assert_eq!(
        d.changes()
            .filter(|c| c.kind == moat::resources::security_rule::KIND)
            .count(),
        0
    );
    assert!(d.instances[0]
        .notes
        .iter()
        .any(|n| n.contains("1 other private endpoint(s) in the subnet still sit behind it")));
    let report = apply(api.clone(), &d).await;
    assert!(report.ok(), "{report:#?}");
    assert!(emu.resource(&zone).is_some());
    assert!(emu
        .resource(&format!("{zone}/A/someone-elses-app"))
        .is_some());
    emu.shutdown().await;
}
