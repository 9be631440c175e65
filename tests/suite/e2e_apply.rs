//! The applier end to end against the emulator, beyond the quickstart
//! (tests/suite/e2e_quickstart.rs):
//! a greenfield account gating its children, a fleet of ten instances in two subscriptions, one
//! failing instance among converging ones, and every ARM conflict the emulator produces met by an
//! apply that still converges.

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moat::apply::ApplyReport;
use moat::arm::{ArmApi, ArmError, ArmRequest, ArmResponse, ConnectOptions, Method, RetryPolicy};
use moat::blueprint::resolved::Blueprint;
use moat::emulator::{
    EmulatorConfig, EmulatorHandle, FailOutcome, FailRule, FaultConfig, RequestLogEntry,
};
use moat::plan::model::{Action, Plan};
use serde_json::{json, Value};
use support::e2e::*;

const SUB1: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";
const SUB2: &str = "0b7c3d9e-8f21-4a6b-b5c4-2d9e7f1a3c68";
/// The group the fleet example grants Cognitive Services Contributor (a Group: the emulator's
/// directory lookup applies to it, unlike ServicePrincipal assignments).
const ADMINS: &str = "7a41c9e2-0f3b-4d6a-9c85-1e2b3d4f5a67";
const ACCOUNT_API: &str = "2024-10-01";

/// moat's client against the emulator with small real waits between retries (instead of zero):
/// conflicts and replication delays take the emulator milliseconds to clear, and zero-delay
/// retries would spend their whole count within them.
fn patient(h: &EmulatorHandle) -> Arc<dyn ArmApi> {
    let mut opts = ConnectOptions::emulator(h.base_url(), TOKEN);
    opts.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        principal_delay: Duration::from_millis(20),
        budget: Duration::from_secs(20),
        conflict_budget: Duration::from_secs(20),
        principal_budget: Duration::from_secs(20),
        ..RetryPolicy::default()
    };
    moat::arm::connect(&opts).expect("connects")
}

fn not_converged(p: &Plan) -> Vec<String> {
    p.changes()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect()
}

fn statuses(log: &[RequestLogEntry], status: u16) -> Vec<String> {
    log.iter()
        .filter(|e| e.status == status)
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

fn account_id(sub: &str, rg: &str, name: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}")
}

// ----- fixtures: a fleet built from the quickstart -------------------------------------------

/// A fleet blueprint (written to a temporary directory) and its brownfield seed: `per_sub`
/// quickstart-like instances in each of two subscriptions, sharing per subscription the VNet,
/// subnet, NSG, DNS zone and workspace, each with its own account, deployment and a stray
/// Contributor assignment.
struct Fleet {
    _dir: tempfile::TempDir,
    path: PathBuf,
    seed: Vec<Value>,
    names: Vec<(String, String)>,
}

fn fleet(per_sub: usize, extra_assignment: Option<(&str, &str, &str)>) -> Fleet {
    fleet_with(per_sub, extra_assignment, false)
}

/// `own_subnets`: each instance's endpoint goes into its own subnet (`snet-pe-{k}`) of the
/// subscription's VNet, so one apply writes several subnets of one VNet.
fn fleet_with(
    per_sub: usize,
    extra_assignment: Option<(&str, &str, &str)>,
    own_subnets: bool,
) -> Fleet {
    let quick: Vec<Value> = moat::emulator::load_seed_file(repo("examples/quickstart-seed.json"))
        .expect("quickstart seed");
    let is_instance_part = |v: &Value| {
        v["id"]
            .as_str()
            .is_some_and(|id| id.contains("/accounts/contoso-openai-prod"))
    };
    let baseline = repo("blueprints/strict-baseline.yaml");
    let mut yaml = format!(
        "version: 1\nimports: [{}]\ninstances:\n",
        serde_json::to_string(&baseline.display().to_string()).unwrap()
    );
    let mut seed = Vec::new();
    let mut names = Vec::new();
    for (s, sub) in [SUB1, SUB2].into_iter().enumerate() {
        let swap = |v: &Value| -> Value {
            serde_json::from_str(&serde_json::to_string(v).unwrap().replace(SUB1, sub)).unwrap()
        };
        for mut v in quick.iter().filter(|v| !is_instance_part(v)).map(swap) {
            if own_subnets && v["id"].as_str().is_some_and(|i| i.ends_with("/vnet-prod")) {
                let nsg =
                    v["properties"]["subnets"][1]["properties"]["networkSecurityGroup"].clone();
                let subnets = v["properties"]["subnets"].as_array_mut().unwrap();
                for k in 0..per_sub {
                    subnets.push(json!({"name": format!("snet-pe-{k}"), "properties": {
                        "addressPrefix": format!("10.10.{}.0/24", 10 + k),
                        "networkSecurityGroup": nsg,
                        "privateEndpointNetworkPolicies": "Disabled"
                    }}));
                }
            }
            seed.push(v);
        }
        for k in 0..per_sub {
            let name = format!("fleet-s{s}-openai-{k}");
            // The subnets share one NSG, and so its rules: their destination (defaulted from
            // `endpointSubnetPrefix`) covers every endpoint subnet.
            let (subnet, prefix) = if own_subnets {
                (format!("snet-pe-{k}"), "10.10.0.0/16".to_string())
            } else {
                (
                    "snet-private-endpoints".to_string(),
                    "10.10.2.0/24".to_string(),
                )
            };
            for v in quick.iter().filter(|v| is_instance_part(v)) {
                let mut text = serde_json::to_string(&swap(v))
                    .unwrap()
                    .replace("contoso-openai-prod", &name);
                // Role assignment names are GUIDs, one per assignment.
                text = text.replace(
                    "7d2c4a8e-5b1f-4e3a-9c6d-2f8e1a4b7c90",
                    &format!("7d2c4a8e-5b1f-4e3a-9c6d-{s:04}{k:08}"),
                );
                seed.push(serde_json::from_str(&text).unwrap());
            }
            let extra = match extra_assignment {
                Some((principal, ptype, role)) => format!(
                    "\n          - principalId: {principal}\n            principalType: {ptype}\n            role: {role}"
                ),
                None => String::new(),
            };
            yaml.push_str(&format!(
                r#"  - name: {name}
    profile: strict
    subscription: {sub}
    resourceGroup: rg-ai-prod
    accountName: {name}
    location: eastus
    kind: OpenAI
    customSubdomain: {name}
    existing:
      endpointSubnet: /subscriptions/{sub}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/{subnet}
      endpointSubnetPrefix: {prefix}
      nsg: /subscriptions/{sub}/resourceGroups/rg-network/providers/Microsoft.Network/networkSecurityGroups/nsg-private-endpoints
      dnsZones:
        resourceGroup: rg-dns
      logAnalyticsWorkspace: /subscriptions/{sub}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/workspaces/law-security
    controls:
      nsg:
        rules:
          Allow-App-Subnet: {{source: 10.10.1.0/24}}
          Allow-APIM-Subnet: {{source: 10.10.3.0/24}}
      roleAssignments:
        assignments:
          - principalId: 9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34
            principalType: ServicePrincipal
            role: Cognitive Services OpenAI User{extra}
"#
            ));
            names.push((sub.to_string(), name));
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, yaml).expect("write blueprint");
    Fleet {
        _dir: dir,
        path,
        seed,
        names,
    }
}

async fn start(config: EmulatorConfig, seed: &[Value]) -> EmulatorHandle {
    let h = EmulatorHandle::start(config)
        .await
        .expect("emulator starts");
    h.seed(seed).expect("seed applies");
    h
}

fn load_path(p: &std::path::Path) -> Blueprint {
    moat::blueprint::load(p).unwrap_or_else(|d| panic!("{}: {d}", p.display()))
}

async fn apply_with(api: Arc<dyn ArmApi>, p: &Plan) -> ApplyReport {
    moat::apply::execute(
        api,
        p,
        fast_apply(),
        Arc::new(moat::apply::progress::Silent),
        Arc::new(AtomicBool::new(false)),
    )
    .await
}

// ----- greenfield: the account gate ----------------------------------------------------------

#[tokio::test]
async fn greenfield_account_is_created_and_seen_succeeded_before_any_child_write() {
    let emu = emulator("examples/greenfield-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/greenfield.yaml");
    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed());
    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    let acct = bp.instances[0].account_id().to_ascii_lowercase();
    let create = first(&log, "PUT", "/accounts/contoso-openai-new").expect("account PUT");
    assert!(
        log[create].path.to_ascii_lowercase().ends_with(&acct),
        "the first account write is the account itself"
    );
    // Every write below or about the account (deployments, RAI policy, role assignments,
    // diagnostics, the endpoint connecting to it) comes after a read that saw it Succeeded:
    // the account's own LRO poll or the gate's GET.
    let first_child = log
        .iter()
        .position(|e| {
            is_write(e)
                && (e.path.to_ascii_lowercase().starts_with(&format!("{acct}/"))
                    || e.path.contains("/privateEndpoints/"))
        })
        .expect("child writes");
    let gate_read = log[create..first_child]
        .iter()
        .rposition(|e| e.method == "GET" && e.path.to_ascii_lowercase() == acct);
    assert!(
        gate_read.is_some(),
        "no account read between its creation and its first child write"
    );
    for d in ["gpt-4o", "text-embedding-3-large"] {
        let put = first(&log, "PUT", &format!("/deployments/{d}")).expect("deployment PUT");
        assert!(put > create);
        assert!(put > first(&log, "PUT", "/raiPolicies/").expect("RAI PUT"));
    }
    // Deployments one at a time: the second starts after the first finished.
    let d1 = first(&log, "PUT", "/deployments/").unwrap();
    let d2 = last(&log, "PUT", "/deployments/").unwrap();
    assert!(d1 < d2);
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    emu.clear_request_log();
    let report = apply(api.clone(), &again).await;
    assert!(report.ok() && report.applied.is_empty());
    assert_eq!(emu.request_log().iter().filter(|e| is_write(e)).count(), 0);
    emu.shutdown().await;
}

// ----- fleets --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_of_ten_in_two_subscriptions_converges_and_a_second_apply_writes_nothing() {
    let f = fleet(5, None);
    let emu = start(EmulatorConfig::default(), &f.seed).await;
    let api = patient(&emu);
    let bp = load_path(&f.path);
    assert_eq!(bp.instances.len(), 10);
    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed());
    let writes = p.changes().filter(|c| c.action.is_write()).count();
    emu.clear_request_log();
    let t0 = Instant::now();
    let report = apply_with(api.clone(), &p).await;
    let took = t0.elapsed();
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.applied.len(), writes);
    let log = emu.request_log();
    eprintln!(
        "fleet of 10: {writes} changes applied in {took:?} with {} requests ({} 409, {} 429)",
        log.len(),
        statuses(&log, 409).len(),
        statuses(&log, 429).len()
    );
    // Writes to one account and its children (and the endpoint connecting to it), and to the
    // subnets of one VNet, were serialised: ARM never had to answer a conflict.
    assert!(
        statuses(&log, 409).is_empty(),
        "moat's own writes conflicted: {:#?}",
        statuses(&log, 409)
    );
    // Shared resources were written once per subscription, not once per instance.
    for sub in [SUB1, SUB2] {
        let zone_puts = log
            .iter()
            .filter(|e| {
                e.method == "PUT"
                    && e.path.contains(sub)
                    && e.path
                        .ends_with("/privateDnsZones/privatelink.openai.azure.com")
            })
            .count();
        assert_eq!(zone_puts, 1, "zone PUTs in {sub}");
    }
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    for (sub, name) in &f.names {
        let a = emu
            .resource(&account_id(sub, "rg-ai-prod", name))
            .expect("account");
        assert_eq!(a["properties"]["publicNetworkAccess"], "Disabled", "{name}");
        assert_eq!(a["properties"]["disableLocalAuth"], true, "{name}");
    }
    // One endpoint per instance, one A record per instance and subscription zone.
    let endpoints = emu
        .resources()
        .iter()
        .filter(|r| r["type"] == "Microsoft.Network/privateEndpoints")
        .count();
    assert_eq!(endpoints, 10);
    emu.clear_request_log();
    let report = apply_with(api.clone(), &again).await;
    assert!(report.ok() && report.applied.is_empty());
    assert_eq!(emu.request_log().iter().filter(|e| is_write(e)).count(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_instance_skips_its_dependents_by_name_and_the_others_converge() {
    let f = fleet(2, None);
    let emu = start(EmulatorConfig::default(), &f.seed).await;
    let api = patient(&emu);
    let bp = load_path(&f.path);
    let victim = f.names[3].1.clone(); // the second instance of subscription 2
    emu.set_fault(FaultConfig {
        fail_operations: vec![FailRule {
            method: Some("PUT".into()),
            path_contains: format!("/privateEndpoints/{victim}-pe"),
            outcome: FailOutcome::Failed,
            code: "InternalServerError".into(),
            message: "The endpoint could not be provisioned (injected).".into(),
            times: None,
        }],
        ..FaultConfig::default()
    });
    let p = plan(api.as_ref(), &bp).await;
    let report = apply_with(api.clone(), &p).await;
    assert!(!report.ok());
    let failed: Vec<&str> = report.failed.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(failed, [format!("{victim}/private-endpoint/{victim}-pe")]);
    assert!(report.failed[0].1.contains("injected"), "{report:#?}");
    let skipped: BTreeMap<&str, &str> = report
        .skipped
        .iter()
        .map(|(a, w)| (a.as_str(), w.as_str()))
        .collect();
    for dependent in [
        format!("{victim}/dns-zone-group/default"),
        format!("{victim}/account/network"),
        format!("{victim}/account/public-network-access"),
        format!("{victim}/account/local-auth"),
    ] {
        let why = skipped
            .get(dependent.as_str())
            .unwrap_or_else(|| panic!("{dependent} not skipped: {report:#?}"));
        assert!(why.contains("depends on"), "{dependent}: {why}");
    }
    assert!(
        skipped.keys().all(|a| a.starts_with(&format!("{victim}/"))),
        "only the failing instance's steps are skipped: {skipped:#?}"
    );
    // The failing instance's independent steps still ran.
    assert!(report
        .applied
        .contains(&format!("{victim}/rai-policy/strict-production-filter")));
    let after = plan(api.as_ref(), &bp).await;
    // The endpoint's operation ended Failed: a gate waiting for it gives up at once instead of
    // spending its budget, and the next plan re-sends the endpoint to repair it.
    let victim_plan = after.instances.iter().find(|i| i.name == victim).unwrap();
    let pe = victim_plan
        .changes
        .iter()
        .find(|c| {
            c.address
                .ends_with(&format!("/private-endpoint/{victim}-pe"))
        })
        .unwrap();
    assert_eq!(pe.action, Action::Update, "{pe:#?}");
    assert!(pe.reason.contains("Failed"), "{}", pe.reason);
    let gate = moat::resources::private_endpoint::ready_gate(&pe.id, &victim_plan.account_id, None);
    let t0 = Instant::now();
    let waited = moat::apply::gates::wait(api.as_ref(), &gate, fast_apply().gates).await;
    assert!(
        matches!(waited, Err(moat::apply::gates::GateError::Never { .. })),
        "{waited:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    for inst in &after.instances {
        let left: Vec<_> = inst
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .map(|c| c.address.clone())
            .collect();
        if inst.name == victim {
            assert!(!left.is_empty());
            // Key auth was not turned off and public access stays on: no lockout.
            let a = emu.resource(&inst.account_id).unwrap();
            assert_eq!(a["properties"]["publicNetworkAccess"], "Enabled");
            assert_eq!(a["properties"]["disableLocalAuth"], false);
        } else {
            assert!(left.is_empty(), "{}: {left:#?}", inst.name);
        }
    }
    // The cause is fixed: the next apply converges from there.
    emu.set_fault(FaultConfig::default());
    let report = apply_with(api.clone(), &after).await;
    assert!(report.ok(), "{report:#?}");
    let done = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&done).is_empty(),
        "{:#?}",
        not_converged(&done)
    );
    emu.shutdown().await;
}

// ----- ARM conflicts: apply converges through each --------------------------------------------

/// Start an update of the account from a second client without waiting for it (the emulator's
/// account operations take `account_ms`).
async fn touch_account(other: &dyn ArmApi, id: &str) {
    let mut req = ArmRequest::new(Method::Patch, id, ACCOUNT_API);
    req.body = Some(json!({"tags": {"touched-by": "another-client"}}));
    let resp = other.send(req).await.expect("second client PATCH");
    assert!(resp.is_success(), "{}", resp.status);
}

fn slow_accounts(ms: u64) -> EmulatorConfig {
    let mut c = EmulatorConfig::default();
    c.lro.durations.insert(
        "Microsoft.CognitiveServices/accounts".into(),
        Duration::from_millis(ms),
    );
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_conflict_from_a_concurrent_writer_is_waited_out() {
    let emu = emulator_with(slow_accounts(300), "examples/quickstart-seed.json").await;
    let api = patient(&emu);
    let bp = load("examples/quickstart.yaml");
    let p = plan(api.as_ref(), &bp).await;
    emu.clear_request_log();
    let other = connect(&emu);
    touch_account(other.as_ref(), &bp.instances[0].account_id()).await;
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    let conflicts = statuses(&log, 409);
    assert!(
        !conflicts.is_empty(),
        "the concurrent update never conflicted"
    );
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    // The other writer's change survived (moat does not manage these tags).
    let a = emu.resource(&bp.instances[0].account_id()).unwrap();
    assert_eq!(a["tags"]["touched-by"], "another-client");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_operation_in_progress_on_the_vnet_is_waited_out() {
    let mut cfg = EmulatorConfig::default();
    cfg.lro.durations.insert(
        "Microsoft.Network/virtualNetworks/subnets".into(),
        Duration::from_millis(300),
    );
    let emu = emulator_with(cfg, "examples/quickstart-seed.json").await;
    let api = patient(&emu);
    let bp = load("examples/quickstart.yaml");
    let p = plan(api.as_ref(), &bp).await;
    let subnet_write = p
        .changes()
        .find(|c| c.address.contains("/subnet/") && c.action.is_write())
        .expect("the quickstart changes the endpoint subnet");
    // A second client changes another subnet of the same VNet just before apply.
    let other = connect(&emu);
    let apps = subnet_write
        .id
        .replace("snet-private-endpoints", "snet-apps");
    let mut req = ArmRequest::new(Method::Put, &apps, "2024-05-01");
    req.body = Some(json!({"properties": {"addressPrefix": "10.10.1.0/24"}}));
    let resp = other.send(req).await.expect("second client PUT");
    assert!(resp.is_success(), "{} {:?}", resp.status, resp.body);
    emu.clear_request_log();
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    assert!(
        log.iter()
            .any(|e| e.status == 409 && e.path.ends_with("/subnets/snet-private-endpoints")),
        "no AnotherOperationInProgress met: {:#?}",
        statuses(&log, 409)
    );
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    emu.shutdown().await;
}

/// Delegates to moat's client, but the first time a private endpoint is written it first starts
/// an update of `account` from another client: ARM then refuses the endpoint with
/// AccountProvisioningStateInvalid (the account is not Succeeded), after every gate passed.
struct AccountRacer {
    inner: Arc<dyn ArmApi>,
    other: Arc<dyn ArmApi>,
    account: String,
    raced: AtomicU32,
}

#[async_trait]
impl ArmApi for AccountRacer {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        if req.method == Method::Put
            && req.path.contains("/privateEndpoints/")
            && !req.path.contains("/privateDnsZoneGroups/")
            && self.raced.fetch_add(1, Ordering::SeqCst) == 0
        {
            touch_account(self.other.as_ref(), &self.account).await;
        }
        self.inner.send(req).await
    }
    fn lro_options(&self) -> moat::arm::LroOptions {
        self.inner.lro_options()
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry_policy()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_provisioning_state_invalid_waits_for_the_account_and_resends() {
    let emu = emulator_with(slow_accounts(200), "examples/quickstart-seed.json").await;
    let bp = load("examples/quickstart.yaml");
    let account = bp.instances[0].account_id();
    let api: Arc<dyn ArmApi> = Arc::new(AccountRacer {
        inner: patient(&emu),
        other: connect(&emu),
        account: account.clone(),
        raced: AtomicU32::new(0),
    });
    let p = plan(api.as_ref(), &bp).await;
    emu.clear_request_log();
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    let pe_puts: Vec<&RequestLogEntry> = log
        .iter()
        .filter(|e| {
            e.method == "PUT" && e.path.ends_with("/privateEndpoints/contoso-openai-prod-pe")
        })
        .collect();
    assert_eq!(
        pe_puts.first().map(|e| e.status),
        Some(409),
        "the race did not happen: {pe_puts:#?}"
    );
    assert!(
        pe_puts.last().is_some_and(|e| e.status < 300),
        "{pe_puts:#?}"
    );
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_left_updating_for_a_while_holds_the_endpoint_until_succeeded() {
    let emu = emulator_with(slow_accounts(400), "examples/quickstart-seed.json").await;
    let api = patient(&emu);
    let bp = load("examples/quickstart.yaml");
    let account = bp.instances[0].account_id();
    let p = plan(api.as_ref(), &bp).await;
    emu.clear_request_log();
    touch_account(connect(&emu).as_ref(), &account).await;
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    // The endpoint was never refused for the account's state: its gate held it back.
    let pe_puts: Vec<u16> = log
        .iter()
        .filter(|e| {
            e.method == "PUT" && e.path.ends_with("/privateEndpoints/contoso-openai-prod-pe")
        })
        .map(|e| e.status)
        .collect();
    assert!(
        pe_puts.iter().all(|s| *s < 300),
        "endpoint PUT answers {pe_puts:?}"
    );
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_assignment_created_meanwhile_under_another_name_is_adopted() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let api = patient(&emu);
    let bp = load("examples/quickstart.yaml");
    let account = bp.instances[0].account_id();
    let p = plan(api.as_ref(), &bp).await;
    let planned = p
        .changes()
        .find(|c| c.address.contains("/role-assignment/") && c.action == Action::Create)
        .expect("the quickstart creates a role assignment");
    // Between plan and apply, someone else grants the same role to the same principal.
    let body = planned.write.as_ref().unwrap().body.clone().unwrap();
    let theirs = format!(
        "{account}/providers/Microsoft.Authorization/roleAssignments/0b5e7c3a-1d2f-4e6a-8b9c-0d1e2f3a4b5c"
    );
    let mut req = ArmRequest::new(Method::Put, &theirs, "2022-04-01");
    req.body = Some(json!({"properties": {
        "roleDefinitionId": body["properties"]["roleDefinitionId"],
        "principalId": body["properties"]["principalId"],
        "principalType": "ServicePrincipal",
    }}));
    let resp = connect(&emu).send(req).await.unwrap();
    assert!(resp.is_success(), "{:?}", resp.body);
    emu.clear_request_log();
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    assert!(
        log.iter()
            .any(|e| e.status == 409 && e.path.contains("roleAssignments")),
        "RoleAssignmentExists never met"
    );
    // No duplicate: one assignment for the tuple, theirs.
    let same: Vec<String> = emu
        .resources()
        .iter()
        .filter(|r| {
            r["type"] == "Microsoft.Authorization/roleAssignments"
                && r["properties"]["principalId"] == body["properties"]["principalId"]
        })
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(same.len(), 1, "{same:#?}");
    assert!(same[0].ends_with("0b5e7c3a-1d2f-4e6a-8b9c-0d1e2f3a4b5c"));
    // Key auth went off (its gate found the adopted assignment) and nothing is left to do.
    let a = emu.resource(&account).unwrap();
    assert_eq!(a["properties"]["disableLocalAuth"], true);
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principal_not_found_while_a_new_group_replicates_is_retried() {
    let f = fleet(
        1,
        Some((ADMINS, "Group", "Cognitive Services OpenAI Contributor")),
    );
    let emu = start(EmulatorConfig::default(), &f.seed).await;
    let api = patient(&emu);
    let bp = load_path(&f.path);
    let p = plan(api.as_ref(), &bp).await;
    emu.clear_request_log();
    // The group is new from now on (not from before the plan: a slow plan on a loaded machine
    // would otherwise use up the replication window before apply starts).
    emu.mark_principal_new(ADMINS, Duration::from_millis(400));
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    assert!(
        log.iter()
            .any(|e| e.status == 400 && e.method == "PUT" && e.path.contains("roleAssignments")),
        "PrincipalNotFound never met"
    );
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    let granted = emu.resources().iter().any(|r| {
        r["type"] == "Microsoft.Authorization/roleAssignments"
            && r["properties"]["principalId"].as_str() == Some(ADMINS)
    });
    assert!(granted);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_with_tiny_buckets_slows_apply_down_but_it_converges() {
    let f = fleet(2, None);
    let mut cfg = EmulatorConfig::default();
    cfg.throttle.write_capacity = 4;
    cfg.throttle.write_refill_per_sec = 100;
    cfg.throttle.read_capacity = 20;
    cfg.throttle.read_refill_per_sec = 400;
    let emu = start(cfg, &f.seed).await;
    let api = patient(&emu);
    let bp = load_path(&f.path);
    let p = plan(api.as_ref(), &bp).await;
    emu.clear_request_log();
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    eprintln!(
        "tiny buckets: {} requests, {} answered 429, client-side waits {}",
        log.len(),
        statuses(&log, 429).len(),
        api.stats().throttled
    );
    assert!(
        !statuses(&log, 429).is_empty() || api.stats().throttled > 0,
        "the buckets never ran dry"
    );
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_causes_no_conflict_of_moats_own_making() {
    // A slow endpoint (as in Azure, where it takes a minute): the deployment re-bind and the
    // account updates of the same instance wait for it instead of being refused.
    let mut cfg = EmulatorConfig::default();
    cfg.lro.durations.insert(
        "Microsoft.Network/privateEndpoints".into(),
        Duration::from_millis(300),
    );
    let emu = emulator_with(cfg, "examples/quickstart-seed.json").await;
    let api = patient(&emu);
    let bp = load("examples/quickstart.yaml");
    let p = plan(api.as_ref(), &bp).await;
    emu.clear_request_log();
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    assert!(
        statuses(&log, 409).is_empty(),
        "moat's own writes conflicted: {:#?}",
        statuses(&log, 409)
    );
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subnets_of_one_vnet_are_written_one_at_a_time() {
    let f = fleet_with(3, None, true);
    let mut cfg = EmulatorConfig::default();
    cfg.lro.durations.insert(
        "Microsoft.Network/virtualNetworks/subnets".into(),
        Duration::from_millis(100),
    );
    let emu = start(cfg, &f.seed).await;
    let api = patient(&emu);
    let bp = load_path(&f.path);
    let p = plan(api.as_ref(), &bp).await;
    let subnet_writes = p
        .changes()
        .filter(|c| c.address.contains("/subnet/") && c.action.is_write())
        .count();
    assert_eq!(subnet_writes, 6, "three subnets per VNet are written");
    emu.clear_request_log();
    let report = apply_with(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    // Each subnet write takes 100 ms; sent together, ARM would answer AnotherOperationInProgress.
    assert!(
        statuses(&log, 409).is_empty(),
        "subnet writes overlapped: {:#?}",
        statuses(&log, 409)
    );
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        not_converged(&again).is_empty(),
        "{:#?}",
        not_converged(&again)
    );
    emu.shutdown().await;
}
