//! Issue 10, a name or subdomain that is not free: the soft-deleted account that holds the name
//! blocks the plan with both ways out, `softDelete: restore` brings it back and hardens it,
//! `softDelete: purge` destroys it first (a risk), and a taken custom subdomain is reported as
//! CustomDomainInUse with a hint: by plan when moat can see the holder, by apply otherwise.

use crate::support;

use std::sync::Arc;

use moat::arm::{ArmApi, Precondition};
use moat::blueprint::resolved::{Blueprint, SoftDeleteAction};
use moat::emulator::{EmulatorConfig, EmulatorHandle};
use moat::plan::model::{Action, Plan};
use moat::resources::account::API_VERSION as CS;
use serde_json::{json, Value};
use support::e2e::*;

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";
const OTHER_SUB: &str = "0b7e5d2c-8a41-4f6e-9c3d-2e1f0a9b8c7d";

fn account(sub: &str, rg: &str, name: &str, subdomain: &str) -> Value {
    json!({
        "id": format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}"),
        "name": name,
        "location": "eastus",
        "kind": "OpenAI",
        "sku": {"name": "S0"},
        "tags": {"managed-by": "moat"},
        "properties": {
            "customSubDomainName": subdomain,
            "publicNetworkAccess": "Enabled",
            "disableLocalAuth": false
        }
    })
}

async fn start(extra: Vec<Value>) -> EmulatorHandle {
    let h = EmulatorHandle::start(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    let mut seed =
        moat::emulator::load_seed_file(repo("examples/greenfield-seed.json")).expect("seed");
    seed.extend(extra);
    h.seed(&seed).expect("seed applies");
    h
}

/// The greenfield account, with a deployment the blueprint does not declare, deleted by someone:
/// ARM keeps it soft-deleted under the same name.
async fn soft_deleted_greenfield(bp: &Blueprint) -> (EmulatorHandle, Arc<dyn ArmApi>) {
    let id = bp.instances[0].account_id();
    let legacy = json!({
        "id": format!("{id}/deployments/legacy-gpt-35"),
        "sku": {"name": "Standard", "capacity": 5},
        "properties": {"model": {"format": "OpenAI", "name": "gpt-35-turbo", "version": "0125"},
                       "raiPolicyName": "Microsoft.DefaultV2"}
    });
    let emu = start(vec![
        account(SUB, "rg-ai-new", "contoso-openai-new", "contoso-openai-new"),
        legacy,
    ])
    .await;
    let api = connect(&emu);
    api.delete(&id, CS, Precondition::None)
        .await
        .expect("delete");
    assert!(emu.resource(&id).is_none());
    assert_eq!(emu.deleted_accounts().len(), 1);
    (emu, api)
}

fn change<'a>(p: &'a Plan, address: &str) -> &'a moat::plan::model::Change {
    p.changes()
        .find(|c| c.address == address)
        .unwrap_or_else(|| panic!("no {address} in {}", moat::render::text::render(p, false)))
}

fn not_converged(p: &Plan) -> Vec<String> {
    p.changes()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect()
}

#[tokio::test]
async fn a_soft_deleted_name_blocks_the_plan_with_the_two_ways_out() {
    let bp = load("examples/greenfield.yaml");
    let (emu, api) = soft_deleted_greenfield(&bp).await;
    let p = plan(api.as_ref(), &bp).await;
    assert!(p.is_failed());
    let acct = change(&p, "contoso-openai-new/account");
    assert_eq!(acct.action, Action::Blocked);
    let why = acct.blocked.as_deref().unwrap();
    assert!(
        why.contains("soft-deleted")
            && why.contains("softDelete: restore")
            && why.contains("softDelete: purge"),
        "{why}"
    );
    assert!(
        !p.has_changes(),
        "nothing else is planned for a blocked account"
    );
    // The text rendering says so too.
    let text = moat::render::text::render(&p, false);
    assert!(text.contains("softDelete: purge"), "{text}");
    emu.shutdown().await;
}

#[tokio::test]
async fn restore_brings_the_account_back_hardened_and_rebinds_its_old_deployments() {
    let mut bp = load("examples/greenfield.yaml");
    bp.instances[0].soft_delete = SoftDeleteAction::Restore;
    let (emu, api) = soft_deleted_greenfield(&bp).await;
    let id = bp.instances[0].account_id();

    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed(), "{}", moat::render::text::render(&p, false));
    let restore = change(&p, "contoso-openai-new/account");
    assert_eq!(restore.action, Action::Create);
    let body = restore.write.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(body["properties"]["restore"], true);
    // Never a weaker value than the blueprint's, even in the restore request.
    assert_eq!(body["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(body["properties"]["disableLocalAuth"], true);
    // The restored account may come back as it was (public, keys on): the plan fixes that in
    // the no-lockout order rather than assuming the restore applied the blueprint.
    assert_eq!(
        change(&p, "contoso-openai-new/account/local-auth").action,
        Action::Update
    );
    assert_eq!(
        change(&p, "contoso-openai-new/account/public-network-access").action,
        Action::Update
    );
    assert!(p.instances[0]
        .notes
        .iter()
        .any(|n| n.contains("run `moat plan` again")));

    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    assert!(emu.deleted_accounts().is_empty());
    let acct = emu.resource(&id).expect("restored");
    assert_eq!(acct["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(acct["properties"]["disableLocalAuth"], true);
    assert_eq!(acct["properties"]["networkAcls"]["defaultAction"], "Deny");
    // Its old deployment came back with it, still on the default filter.
    let legacy = emu
        .resource(&format!("{id}/deployments/legacy-gpt-35"))
        .expect("the old deployment is back");
    assert_eq!(legacy["properties"]["raiPolicyName"], "Microsoft.DefaultV2");

    // The next plan sees it: undeclared, left alone except for the policy binding.
    let again = plan(api.as_ref(), &bp).await;
    assert_eq!(
        not_converged(&again),
        vec!["contoso-openai-new/deployment/legacy-gpt-35 Update".to_string()]
    );
    let rebind = change(&again, "contoso-openai-new/deployment/legacy-gpt-35");
    assert_eq!(
        rebind
            .fields
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        vec!["properties.raiPolicyName"]
    );
    let report = apply(api.clone(), &again).await;
    assert!(report.ok(), "{report:#?}");
    let legacy = emu
        .resource(&format!("{id}/deployments/legacy-gpt-35"))
        .unwrap();
    assert_eq!(
        legacy["properties"]["raiPolicyName"],
        "strict-production-filter"
    );
    assert_eq!(legacy["sku"]["capacity"], 5, "its own settings are kept");
    let last = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&last).is_empty(),
        "{:?}",
        not_converged(&last)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn purge_destroys_the_deleted_account_first_then_creates_a_new_one() {
    let mut bp = load("examples/greenfield.yaml");
    bp.instances[0].soft_delete = SoftDeleteAction::Purge;
    let (emu, api) = soft_deleted_greenfield(&bp).await;
    let id = bp.instances[0].account_id();

    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed(), "{}", moat::render::text::render(&p, false));
    let purge = change(&p, "contoso-openai-new/deleted-account/contoso-openai-new");
    assert_eq!(
        (purge.kind.clone(), purge.action),
        (moat::resources::deleted_account::KIND, Action::Delete)
    );
    assert!(purge.risk.as_deref().unwrap().contains("permanently"));
    assert!(purge.id.contains("/deletedAccounts/contoso-openai-new"));
    let create = change(&p, "contoso-openai-new/account");
    assert_eq!(create.action, Action::Create);
    assert!(create.depends_on.contains(&purge.address));
    assert!(p.summary().risks >= 1);

    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    let purged = first(&log, "DELETE", "/deletedAccounts/contoso-openai-new").expect("purged");
    let created = first(&log, "PUT", "/accounts/contoso-openai-new").expect("created");
    assert!(purged < created);
    assert!(emu.deleted_accounts().is_empty());
    // A new account: hardened, and without the old account's deployment.
    let acct = emu.resource(&id).unwrap();
    assert_eq!(acct["properties"]["disableLocalAuth"], true);
    assert!(emu
        .resource(&format!("{id}/deployments/legacy-gpt-35"))
        .is_none());
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:?}",
        not_converged(&again)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn purge_needs_a_documented_exception_in_the_blueprint() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("examples/greenfield.yaml"))
        .unwrap()
        .replace("softDelete: block", "softDelete: purge")
        .replace(
            "[../blueprints/strict-baseline.yaml]",
            &format!("[{}]", repo("blueprints/strict-baseline.yaml").display()),
        );
    let path = dir.path().join("purge.yaml");
    std::fs::write(&path, &text).unwrap();
    let err = moat::blueprint::load(&path).expect_err("purge without an exception is refused");
    assert!(err.to_string().contains("soft-delete-purge"), "{err}");
    let with_exception = text.replace(
        "    controls:\n",
        "    exceptions:\n      - allows: soft-delete-purge\n        reason: the old account held test data only\n    controls:\n",
    );
    std::fs::write(&path, with_exception).unwrap();
    let bp = moat::blueprint::load(&path).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(bp.instances[0].soft_delete, SoftDeleteAction::Purge);
}

#[tokio::test]
async fn a_subdomain_used_in_the_subscription_is_custom_domain_in_use_at_plan_time() {
    let bp = load("examples/greenfield.yaml");
    // A live account elsewhere in the subscription already has the subdomain.
    let emu = start(vec![account(
        SUB,
        "rg-ai-new",
        "someone-else",
        "contoso-openai-new",
    )])
    .await;
    let api = connect(&emu);
    let p = plan(api.as_ref(), &bp).await;
    let c = change(&p, "contoso-openai-new/account");
    assert_eq!(c.action, Action::Blocked);
    let why = c.blocked.as_deref().unwrap();
    assert!(
        why.contains("CustomDomainInUse")
            && why.contains("/accounts/someone-else")
            && why.contains("hint:"),
        "{why}"
    );
    assert!(!p.has_changes());
    emu.shutdown().await;

    // A soft-deleted account of another name holds it: the hint says how to purge that one.
    let emu = start(vec![account(
        SUB,
        "rg-ai-new",
        "old-name",
        "contoso-openai-new",
    )])
    .await;
    let api = connect(&emu);
    api.delete(
        "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-new/providers/Microsoft.CognitiveServices/accounts/old-name",
        CS,
        Precondition::None,
    )
    .await
    .unwrap();
    let p = plan(api.as_ref(), &bp).await;
    let why = change(&p, "contoso-openai-new/account")
        .blocked
        .clone()
        .expect("blocked");
    assert!(
        why.contains("soft-deleted")
            && why.contains("az cognitiveservices account purge --name old-name --resource-group rg-ai-new --location eastus"),
        "{why}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_subdomain_taken_outside_the_subscription_fails_apply_with_a_hint() {
    let bp = load("examples/greenfield.yaml");
    let emu = start(vec![
        json!({"id": format!("/subscriptions/{OTHER_SUB}/resourceGroups/rg-elsewhere"), "name": "rg-elsewhere", "location": "eastus"}),
        account(OTHER_SUB, "rg-elsewhere", "not-ours", "contoso-openai-new"),
    ])
    .await;
    let api = connect(&emu);
    // moat cannot see other subscriptions: the plan creates, ARM refuses.
    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed());
    let report = apply(api.clone(), &p).await;
    let (addr, err) = report
        .failed
        .iter()
        .find(|(a, _)| a == "contoso-openai-new/account")
        .expect("the create fails");
    assert!(err.contains("CustomDomainInUse"), "{addr}: {err}");
    assert!(err.contains("hint:") && err.contains("subdomain"), "{err}");
    // Everything that needs the account is skipped, naming what it waited for; the writes
    // that do not need it (DNS zone, link, subnet, NSG rules) went ahead.
    let skipped = |addr: &str| {
        report
            .skipped
            .iter()
            .find(|(a, _)| a == addr)
            .map(|(_, why)| why.clone())
            .unwrap_or_else(|| panic!("{addr} not skipped: {report:#?}"))
    };
    for a in [
        "contoso-openai-new/rai-policy/strict-production-filter",
        "contoso-openai-new/private-endpoint/contoso-openai-new-pe",
    ] {
        assert!(
            skipped(a).contains("depends on contoso-openai-new/account"),
            "{a}"
        );
    }
    assert!(skipped("contoso-openai-new/deployment/gpt-4o").contains("which did not apply"));
    assert!(report
        .applied
        .iter()
        .any(|a| a == "contoso-openai-new/private-dns-zone/privatelink.openai.azure.com"));
    assert!(emu.resource(&bp.instances[0].account_id()).is_none());
    emu.shutdown().await;
}
