//! End-to-end helpers: an in-process emulator seeded from a file, moat's real ARM client pointed
//! at it, and the pipeline (observe → plan → apply) with test-speed gates.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use moat::apply::{ApplyOptions, ApplyReport, GateOptions};
use moat::arm::{ArmApi, ConnectOptions};
use moat::blueprint::resolved::Blueprint;
use moat::emulator::{EmulatorConfig, EmulatorHandle, RequestLogEntry};
use moat::plan::model::Plan;

pub const TOKEN: &str = "e2e-test-token";

pub fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn load(path: &str) -> Blueprint {
    moat::blueprint::load(&repo(path)).unwrap_or_else(|d| panic!("{path}: {d}"))
}

/// An emulator with the default (test-speed) configuration, seeded from a repository file.
pub async fn emulator(seed: &str) -> EmulatorHandle {
    emulator_with(EmulatorConfig::default(), seed).await
}

pub async fn emulator_with(config: EmulatorConfig, seed: &str) -> EmulatorHandle {
    let h = EmulatorHandle::start(config)
        .await
        .expect("emulator starts");
    let resources = moat::emulator::load_seed_file(repo(seed)).expect("seed loads");
    h.seed(&resources).expect("seed applies");
    h
}

pub fn connect(h: &EmulatorHandle) -> Arc<dyn ArmApi> {
    moat::arm::connect(&ConnectOptions::emulator(h.base_url(), TOKEN)).expect("connects")
}

pub async fn plan(api: &dyn ArmApi, bp: &Blueprint) -> Plan {
    let observed = moat::observe::observe(api, bp).await.expect("observe");
    moat::plan::plan(bp, &observed)
}

pub fn fast_apply() -> ApplyOptions {
    ApplyOptions {
        parallelism: 16,
        gates: GateOptions {
            budget: Duration::from_secs(20),
            interval: Duration::from_millis(5),
        },
    }
}

pub async fn apply(api: Arc<dyn ArmApi>, plan: &Plan) -> ApplyReport {
    moat::apply::execute(
        api,
        plan,
        fast_apply(),
        Arc::new(moat::apply::progress::Silent),
        Arc::new(AtomicBool::new(false)),
    )
    .await
}

/// Apply `plan` (every step must succeed), then plan `bp` again: it must hold no change and no
/// failure (the converged state is quiet).
pub async fn apply_and_converge(api: Arc<dyn ArmApi>, plan: &Plan, bp: &Blueprint) {
    let report = apply(api.clone(), plan).await;
    assert!(report.ok(), "{report:#?}");
    let again = self::plan(api.as_ref(), bp).await;
    let left: Vec<_> = again
        .changes()
        .filter(|c| c.action != moat::plan::model::Action::NoOp)
        .collect();
    assert!(!again.has_changes() && !again.is_failed(), "{left:#?}");
}

pub fn is_write(e: &RequestLogEntry) -> bool {
    e.method != "GET"
}

/// Index of the first request matching method and a path fragment (case-insensitive).
pub fn first(log: &[RequestLogEntry], method: &str, fragment: &str) -> Option<usize> {
    let f = fragment.to_ascii_lowercase();
    log.iter()
        .position(|e| e.method == method && e.path.to_ascii_lowercase().contains(&f))
}

/// Index of the last request matching method and a path fragment (case-insensitive).
pub fn last(log: &[RequestLogEntry], method: &str, fragment: &str) -> Option<usize> {
    let f = fragment.to_ascii_lowercase();
    log.iter()
        .rposition(|e| e.method == method && e.path.to_ascii_lowercase().contains(&f))
}

/// The quickstart's seed plus a second brownfield account `name`: a copy of the first, its role
/// assignment under another id (fleets of two in the end-to-end tests).
pub fn quickstart_seed_with(name: &str) -> Vec<serde_json::Value> {
    let quick = moat::emulator::load_seed_file(repo("examples/quickstart-seed.json")).unwrap();
    let mut seed = Vec::new();
    for v in quick {
        let id = v["id"].as_str().unwrap_or("");
        if id.contains("/accounts/contoso-openai-prod") {
            let text = serde_json::to_string(&v)
                .unwrap()
                .replace("contoso-openai-prod", name)
                .replace(
                    "7d2c4a8e-5b1f-4e3a-9c6d-2f8e1a4b7c90",
                    "7d2c4a8e-5b1f-4e3a-9c6d-2f8e1a4b7c91",
                );
            seed.push(serde_json::from_str(&text).unwrap());
        }
        seed.push(v);
    }
    seed
}

/// Copy the files (not the subdirectories) of `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The destroy plan for the instances named in `names` (all in `bp`), from their observed state.
pub async fn destroy_plan(
    api: &dyn moat::arm::ArmApi,
    bp: &moat::blueprint::resolved::Blueprint,
    names: &[&str],
) -> moat::plan::model::Plan {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut selected = bp.clone();
    selected.instances.retain(|i| names.contains(&i.name));
    let observed = moat::observe::observe(api, &selected)
        .await
        .expect("observe");
    moat::plan::destroy::plan(bp, &names, &observed)
}

/// The greenfield example as one instance per name (`contoso-openai-{name}`, its own endpoint),
/// sharing the subnet, NSG, zone and link.
pub fn greenfield_instances(names: &[&str]) -> moat::blueprint::resolved::Blueprint {
    let mut bp = load("examples/greenfield.yaml");
    let template = bp.instances[0].clone();
    bp.instances = names
        .iter()
        .map(|n| {
            let mut inst = template.clone();
            let name = format!("contoso-openai-{n}");
            inst.name = name.clone();
            inst.account_name = name.clone();
            inst.custom_subdomain = Some(name.clone());
            if let Some(pe) = inst.controls.private_endpoint.as_mut() {
                pe.spec.name = format!("{name}-pe");
            }
            inst
        })
        .collect();
    bp
}

/// An emulator seeded from a repository file whose accounts carry moat's owner tag, as if moat
/// had created them: `moat destroy` deletes only accounts moat created, so the flows that
/// destroy what a brownfield example applied (guardrails) start from this.
pub async fn emulator_owned(seed: &str) -> EmulatorHandle {
    let h = EmulatorHandle::start(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    let mut resources = moat::emulator::load_seed_file(repo(seed)).expect("seed loads");
    for r in &mut resources {
        if r["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.CognitiveServices/accounts"))
        {
            r["tags"][moat::resources::OWNER_TAG] = moat::resources::OWNER_VALUE.into();
        }
    }
    h.seed(&resources).expect("seed applies");
    h
}

/// The ARM id of the account named `name` in the blueprint.
pub fn account(bp: &Blueprint, name: &str) -> String {
    bp.instances
        .iter()
        .find(|i| i.account_name == name)
        .unwrap()
        .account_id()
}
