//! Fault-injection suite (issue 8): the quickstart's brownfield state converged through moat's real
//! ARM client against the emulator while it injects faults: random 500/503 and connection resets
//! at 5 % and 20 % of requests, 429 storms with Retry-After, long-running operations that end
//! Failed or Canceled, operations slower than their budget, an etag change between plan and apply,
//! and PrincipalNotFound for minutes of (scaled) emulator time.
//!
//! For every run the same invariants are checked:
//! - apply converges (the re-plan is empty), or it stops and names the failed steps with an error
//!   that carries ARM's status/code (or the budget that ran out);
//! - every change still pending after a stopped apply is one the report names (failed, skipped
//!   or not started): nothing moat touched is left half-way without being named;
//! - no resource that existed before is gone unless the plan deleted it (data lost = 0);
//! - re-running apply (plan again, apply) converges.
//!
//! Each scenario prints a `reliability-faults:` line; `all_fault_scenarios` prints the totals that
//! docs/reliability.md quotes. Run: `cargo test --test suite reliability_faults:: -- --nocapture`.

use crate::support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moat::apply::{ApplyOptions, ApplyReport, GateOptions};
use moat::arm::{ArmApi, ConnectOptions, LroOptions, RetryPolicy};
use moat::blueprint::resolved::Blueprint;
use moat::emulator::{
    EmulatorConfig, EmulatorHandle, FailOutcome, FailRule, FaultConfig, ManualClock,
};
use moat::plan::model::{Action, Plan};
use serde_json::json;
use support::e2e::{self, TOKEN};

const SEED: &str = "examples/quickstart-seed.json";
const BLUEPRINT: &str = "examples/quickstart.yaml";

/// Figures of one scenario.
#[derive(Debug, Default, Clone)]
struct Tally {
    faults: usize,
    runs: usize,
    converged_first: usize,
    converged: usize,
    stopped_precise: usize,
    data_lost: usize,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.faults += o.faults;
        self.runs += o.runs;
        self.converged_first += o.converged_first;
        self.converged += o.converged;
        self.stopped_precise += o.stopped_precise;
        self.data_lost += o.data_lost;
    }

    fn line(&self, name: &str) -> String {
        format!(
            "reliability-faults: {name}: faults injected {}, runs {}, converged on the first apply {}, \
             stopped with a precise error {}, converged after re-runs {}/{}, data lost {}",
            self.faults,
            self.runs,
            self.converged_first,
            self.stopped_precise,
            self.converged,
            self.runs,
            self.data_lost
        )
    }
}

/// The emulator's defaults with operations of a few milliseconds.
fn fast_config() -> EmulatorConfig {
    let mut cfg = EmulatorConfig::default();
    cfg.lro.default_duration = Duration::from_millis(3);
    cfg.lro.retry_after = Duration::from_millis(2);
    cfg
}

fn client(emu: &EmulatorHandle) -> Arc<dyn ArmApi> {
    e2e::connect(emu)
}

/// A client that honours the server's Retry-After (retry-after-ms) instead of retrying at once.
fn patient_client(emu: &EmulatorHandle, principal_delay: Duration) -> Arc<dyn ArmApi> {
    let mut o = ConnectOptions::emulator(emu.base_url(), TOKEN);
    o.retry = RetryPolicy {
        max_retries: 8,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(50),
        budget: Duration::from_secs(20),
        principal_retries: 20,
        principal_delay,
        principal_budget: Duration::from_secs(20),
        ..RetryPolicy::default()
    };
    moat::arm::connect(&o).expect("connects")
}

fn client_with_lro_budget(emu: &EmulatorHandle, budget: Duration) -> Arc<dyn ArmApi> {
    let mut o = ConnectOptions::emulator(emu.base_url(), TOKEN);
    o.lro = LroOptions {
        default_interval: Duration::from_millis(2),
        min_interval: Duration::ZERO,
        max_interval: Duration::from_millis(10),
        budget,
    };
    moat::arm::connect(&o).expect("connects")
}

async fn execute(api: Arc<dyn ArmApi>, plan: &Plan) -> ApplyReport {
    moat::apply::execute(
        api,
        plan,
        ApplyOptions {
            parallelism: 16,
            gates: GateOptions {
                budget: Duration::from_secs(10),
                interval: Duration::from_millis(2),
            },
        },
        Arc::new(moat::apply::progress::Silent),
        Arc::new(AtomicBool::new(false)),
    )
    .await
}

fn ids(emu: &EmulatorHandle) -> BTreeSet<String> {
    emu.resources()
        .iter()
        .filter_map(|r| r["id"].as_str().map(|s| s.to_ascii_lowercase()))
        .collect()
}

/// Resources that existed before and are gone, not counting the ones the plan deletes.
fn lost(before: &BTreeSet<String>, after: &BTreeSet<String>, plan: &Plan) -> Vec<String> {
    let deleted: BTreeSet<String> = plan
        .changes()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.id.to_ascii_lowercase())
        .collect();
    before
        .difference(after)
        .filter(|id| !deleted.iter().any(|d| id.starts_with(d.as_str())))
        .cloned()
        .collect()
}

fn pending(p: &Plan) -> Vec<String> {
    p.changes()
        .filter(|c| c.action != Action::NoOp && c.action != Action::Verified)
        .map(|c| c.address.clone())
        .collect()
}

/// An error is precise when it names ARM's status or code, a budget, or a gate.
fn precise(err: &str) -> bool {
    let e = err.to_ascii_lowercase();
    !err.trim().is_empty()
        && (e.contains("400")
            || e.contains("409")
            || e.contains("412")
            || e.contains("429")
            || e.contains("500")
            || e.contains("503")
            || e.contains("failed")
            || e.contains("canceled")
            || e.contains("principalnotfound")
            || e.contains("budget")
            || e.contains("gave up")
            || e.contains("connection")
            || e.contains("timed out"))
}

/// One attempt: observe, plan, apply; then check the invariants. Returns (converged, the report's
/// failure text when it stopped). Panics when an invariant breaks.
async fn attempt(
    emu: &EmulatorHandle,
    api: Arc<dyn ArmApi>,
    bp: &Blueprint,
    tally: &mut Tally,
    label: &str,
) -> bool {
    let before = ids(emu);
    let observed = match moat::observe::observe(api.as_ref(), bp).await {
        Ok(o) => o,
        Err(e) => {
            // Reading failed for good: nothing was written. The error must say why.
            let msg = format!("{e:#}");
            let chain = error_chain(&e);
            assert!(
                precise(&chain),
                "{label}: observe stopped without a precise error: {msg} / {chain}"
            );
            tally.stopped_precise += 1;
            return false;
        }
    };
    let plan = moat::plan::plan(bp, &observed);
    assert!(!plan.is_failed(), "{label}: the plan is blocked");
    let report = execute(api.clone(), &plan).await;
    let after = ids(emu);
    let gone = lost(&before, &after, &plan);
    tally.data_lost += gone.len();
    assert!(gone.is_empty(), "{label}: resources lost: {gone:#?}");
    // Re-read with a client that sees no faults of its own making (the emulator's faults are
    // still on, so read until it answers).
    let check = client(emu);
    let replan = loop {
        if let Ok(o) = moat::observe::observe(check.as_ref(), bp).await {
            break moat::plan::plan(bp, &o);
        }
    };
    let left = pending(&replan);
    if report.ok() {
        assert!(
            left.is_empty(),
            "{label}: apply reported success but did not converge: {left:#?}"
        );
        return true;
    }
    // Stopped: every failure is precise, and whatever is left is named by the report.
    for (addr, err) in &report.failed {
        assert!(
            precise(err),
            "{label}: {addr} failed without a precise error: {err}"
        );
    }
    let named: BTreeSet<&str> = report
        .failed
        .iter()
        .map(|(a, _)| a.as_str())
        .chain(report.skipped.iter().map(|(a, _)| a.as_str()))
        .chain(report.not_started.iter().map(String::as_str))
        .collect();
    for a in &left {
        assert!(
            named.contains(a.as_str()),
            "{label}: {a} is not converged but the report does not name it: {report:#?}"
        );
    }
    assert!(
        !report.failed.is_empty(),
        "{label}: stopped with no failure named: {report:#?}"
    );
    for (a, e) in &report.failed {
        println!(
            "reliability-faults:   {label}: stopped: {a}: {}",
            e.replace('\n', " / ")
        );
    }
    tally.stopped_precise += 1;
    false
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Converge with the faults still on (up to `tries` applies), then, if needed, once more with the
/// faults off; the instance must end converged. Returns the tally of this run.
async fn run_until_converged(
    emu: &EmulatorHandle,
    api: Arc<dyn ArmApi>,
    bp: &Blueprint,
    tries: usize,
    label: &str,
) -> Tally {
    let mut t = Tally {
        runs: 1,
        ..Tally::default()
    };
    for i in 0..tries {
        if attempt(emu, api.clone(), bp, &mut t, label).await {
            if i == 0 {
                t.converged_first += 1;
            }
            t.converged += 1;
            return t;
        }
    }
    emu.set_fault(FaultConfig::default());
    let ok = attempt(emu, client(emu), bp, &mut t, label).await;
    assert!(ok, "{label}: a re-run without faults did not converge");
    t.converged += 1;
    t
}

fn injected(emu: &EmulatorHandle) -> usize {
    emu.request_log()
        .iter()
        .filter(|e| matches!(e.status, 0 | 500 | 503 | 429))
        .count()
}

fn assert_hardened(emu: &EmulatorHandle, bp: &Blueprint) {
    let acct = emu
        .resource(&bp.instances[0].account_id())
        .expect("account exists");
    assert_eq!(acct["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(acct["properties"]["disableLocalAuth"], true);
    // No duplicates: one endpoint connection, one moat diagnostic setting, one assignment per
    // (role, principal).
    let all = emu.resources();
    let pes = all
        .iter()
        .filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Network/privateEndpoints"))
        })
        .count();
    assert_eq!(pes, 1, "exactly one private endpoint");
    let mut pairs = BTreeSet::new();
    for r in all.iter().filter(|r| {
        r["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Authorization/roleAssignments"))
    }) {
        let p = &r["properties"];
        let key = format!(
            "{}|{}|{}",
            p["scope"].as_str().unwrap_or_default().to_ascii_lowercase(),
            p["roleDefinitionId"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            p["principalId"].as_str().unwrap_or_default()
        );
        assert!(pairs.insert(key.clone()), "duplicate role assignment {key}");
    }
}

async fn random_faults(error_rate: f64, reset_rate: f64, seed: u64) -> Tally {
    let emu = e2e::emulator_with(fast_config(), SEED).await;
    let bp = e2e::load(BLUEPRINT);
    emu.clear_request_log();
    emu.set_fault(FaultConfig {
        error_rate,
        reset_rate,
        seed: Some(seed),
        ..FaultConfig::default()
    });
    let label = format!("random faults {error_rate}+{reset_rate} seed {seed}");
    let mut t = run_until_converged(&emu, client(&emu), &bp, 3, &label).await;
    t.faults = injected(&emu);
    assert_hardened(&emu, &bp);
    emu.shutdown().await;
    t
}

async fn scenario_random(total: f64) -> Tally {
    let mut t = Tally::default();
    for seed in 1..=5u64 {
        t.add(
            &random_faults(
                total / 2.0,
                total / 2.0,
                seed * 7919 + (total * 100.0) as u64,
            )
            .await,
        );
    }
    println!(
        "{}",
        t.line(&format!("500/503 + resets at {:.0}%", total * 100.0))
    );
    t
}

async fn scenario_throttle_storm() -> Tally {
    let mut cfg = fast_config();
    // A storm: two writes and five reads of credit, refilled slowly enough that nearly every burst
    // meets a 429 with Retry-After.
    cfg.throttle.read_capacity = 2;
    cfg.throttle.read_refill_per_sec = 100;
    cfg.throttle.write_capacity = 1;
    cfg.throttle.write_refill_per_sec = 25;
    cfg.throttle.delete_capacity = 1;
    cfg.throttle.delete_refill_per_sec = 25;
    let emu = e2e::emulator_with(cfg, SEED).await;
    let bp = e2e::load(BLUEPRINT);
    emu.clear_request_log();
    let api = patient_client(&emu, Duration::from_millis(5));
    let mut t = run_until_converged(&emu, api, &bp, 3, "429 storm").await;
    let log = emu.request_log();
    t.faults = log.iter().filter(|e| e.status == 429).count();
    // How many depends on the machine's speed (buckets refill in real time); at least one 429
    // must have been answered and honoured.
    assert!(
        t.faults >= 1,
        "the storm must throttle (saw {} 429s)",
        t.faults
    );
    assert_hardened(&emu, &bp);
    emu.shutdown().await;
    println!("{}", t.line("429 storms with Retry-After"));
    t
}

async fn scenario_lro_outcome(outcome: FailOutcome, method: &str, fragment: &str) -> Tally {
    let emu = e2e::emulator_with(fast_config(), SEED).await;
    let bp = e2e::load(BLUEPRINT);
    emu.set_fault(FaultConfig {
        fail_operations: vec![FailRule {
            method: Some(method.into()),
            path_contains: fragment.into(),
            outcome,
            code: "InjectedFailure".into(),
            message: "the operation was made to end this way by the test".into(),
            times: Some(1),
        }],
        ..FaultConfig::default()
    });
    let label = format!("LRO {outcome:?} on {method} {fragment}");
    let mut t = Tally {
        runs: 1,
        faults: 1,
        ..Tally::default()
    };
    let first = attempt(&emu, client(&emu), &bp, &mut t, &label).await;
    assert!(
        !first,
        "{label}: the injected {outcome:?} operation must stop apply"
    );
    // Re-run: the rule is used up, apply converges.
    assert!(
        attempt(&emu, client(&emu), &bp, &mut t, &label).await,
        "{label}: re-run"
    );
    t.converged += 1;
    assert_hardened(&emu, &bp);
    emu.shutdown().await;
    println!("{}", t.line(&label));
    t
}

/// A manual emulator clock moved forward by a background task at `rate` emulated nanoseconds per
/// real millisecond ("minutes" pass in milliseconds); the rate can be changed while it runs.
struct ScaledClock {
    clock: ManualClock,
    rate: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl ScaledClock {
    fn start(rate: Duration) -> ScaledClock {
        let clock = ManualClock::new();
        let r = Arc::new(AtomicU64::new(rate.as_nanos() as u64));
        let (c, rr) = (clock.clone(), r.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            loop {
                tick.tick().await;
                c.advance(Duration::from_nanos(rr.load(Ordering::SeqCst)));
            }
        });
        ScaledClock {
            clock,
            rate: r,
            task,
        }
    }
}

/// Delegates to a client; the first time a role assignment is written, speeds the emulator's
/// clock up (so the "minutes" of directory replication start at that write, whatever the load
/// on the machine running the test).
struct SpeedUpAtRoleWrite {
    inner: Arc<dyn ArmApi>,
    rate: Arc<AtomicU64>,
    fast: Duration,
}

#[async_trait::async_trait]
impl ArmApi for SpeedUpAtRoleWrite {
    async fn send(
        &self,
        req: moat::arm::ArmRequest,
    ) -> Result<moat::arm::ArmResponse, moat::arm::ArmError> {
        if req.method == moat::arm::Method::Put && req.path.contains("/roleAssignments/") {
            self.rate
                .store(self.fast.as_nanos() as u64, Ordering::SeqCst);
        }
        self.inner.send(req).await
    }
    fn lro_options(&self) -> LroOptions {
        self.inner.lro_options()
    }
    fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry_policy()
    }
    fn on_poll(&self) {
        self.inner.on_poll()
    }
    fn stats(&self) -> moat::arm::Stats {
        self.inner.stats()
    }
}

async fn scenario_slow_operation() -> Tally {
    // Emulated time runs at real pace; the private endpoint takes an hour of it, the client's
    // LRO budget is 300 ms: apply must give up on that step, name it, and start nothing that
    // depends on it (public access stays as it was).
    let sc = ScaledClock::start(Duration::from_millis(1));
    let mut cfg = EmulatorConfig {
        clock: Arc::new(sc.clock.clone()),
        ..EmulatorConfig::default()
    };
    cfg.lro.durations.insert(
        "Microsoft.Network/privateEndpoints".into(),
        Duration::from_secs(3600),
    );
    let emu = e2e::emulator_with(cfg, SEED).await;
    let bp = e2e::load(BLUEPRINT);
    let label = "slow private endpoint over its budget";
    let mut t = Tally {
        runs: 1,
        faults: 1,
        ..Tally::default()
    };
    let api = client_with_lro_budget(&emu, Duration::from_millis(300));
    assert!(
        !attempt(&emu, api, &bp, &mut t, label).await,
        "{label}: must stop"
    );
    let acct = emu.resource(&bp.instances[0].account_id()).unwrap();
    assert_eq!(
        acct["properties"]["publicNetworkAccess"], "Enabled",
        "public access must not go off while the private path is not ready"
    );
    // The operation finishes an (emulated) hour later; a re-run converges.
    sc.clock.advance(Duration::from_secs(2 * 3600));
    assert!(
        attempt(&emu, client(&emu), &bp, &mut t, label).await,
        "{label}: re-run"
    );
    t.converged += 1;
    assert_hardened(&emu, &bp);
    sc.task.abort();
    emu.shutdown().await;
    println!("{}", t.line(label));
    t
}

async fn scenario_principal_not_found(minutes: u64, expect_first_ok: bool) -> Tally {
    // Emulated time runs at real pace until the role assignment is first written, then one real
    // millisecond is one emulated second: "minutes" of directory replication pass in a fraction
    // of a second while the client backs off as it would against Azure.
    let sc = ScaledClock::start(Duration::from_millis(1));
    let mut cfg = EmulatorConfig {
        clock: Arc::new(sc.clock.clone()),
        ..EmulatorConfig::default()
    };
    // Make the lookup happen even for principalType ServicePrincipal.
    cfg.conflicts.principal_type_skips_lookup = false;
    let emu = e2e::emulator_with(cfg, SEED).await;
    let bp = e2e::load(BLUEPRINT);
    let principal = &bp.instances[0]
        .controls
        .role_assignments
        .as_ref()
        .unwrap()
        .spec
        .assignments[0]
        .principal_id;
    emu.mark_principal_new(principal, Duration::from_secs(minutes * 60));
    let label = format!("PrincipalNotFound for {minutes} emulated minutes");
    let mut t = Tally {
        runs: 1,
        ..Tally::default()
    };
    let api: Arc<dyn ArmApi> = Arc::new(SpeedUpAtRoleWrite {
        inner: patient_client(&emu, Duration::from_millis(10)),
        rate: sc.rate.clone(),
        fast: Duration::from_secs(1),
    });
    let first = attempt(&emu, api.clone(), &bp, &mut t, &label).await;
    t.faults = emu
        .request_log()
        .iter()
        .filter(|e| e.status == 400 && e.path.contains("roleAssignments"))
        .count();
    assert!(
        t.faults >= 1,
        "{label}: the directory must have refused the principal"
    );
    assert_eq!(first, expect_first_ok, "{label}");
    if first {
        t.converged_first += 1;
    } else {
        // Key auth must still be on: it depends on the role assignment.
        let acct = emu.resource(&bp.instances[0].account_id()).unwrap();
        assert_eq!(acct["properties"]["disableLocalAuth"], false, "{label}");
        sc.clock.advance(Duration::from_secs(minutes * 60));
        assert!(
            attempt(&emu, api, &bp, &mut t, &label).await,
            "{label}: re-run"
        );
    }
    t.converged += 1;
    assert_hardened(&emu, &bp);
    sc.task.abort();
    emu.shutdown().await;
    println!("{}", t.line(&label));
    t
}

async fn scenario_etag_change() -> Tally {
    // Someone changes the account and the NSG between plan and apply. Apply writes only the
    // fields moat manages (PATCH of the account, rules as children), so the other writer's
    // change survives and the instance converges.
    let emu = e2e::emulator(SEED).await;
    let bp = e2e::load(BLUEPRINT);
    let api = client(&emu);
    let plan = e2e::plan(api.as_ref(), &bp).await;
    let acct_id = bp.instances[0].account_id();
    let etag_before = emu.resource(&acct_id).unwrap()["etag"].clone();
    api.patch(
        &acct_id,
        moat::resources::account::API_VERSION,
        &json!({"tags": {"cost-center": "cc-4711"}}),
        moat::arm::Precondition::None,
    )
    .await
    .expect("out-of-band PATCH");
    let etag_after = emu.resource(&acct_id).unwrap()["etag"].clone();
    assert_ne!(etag_before, etag_after, "the etag must change");
    let mut t = Tally {
        runs: 1,
        faults: 1,
        ..Tally::default()
    };
    let before = ids(&emu);
    let report = execute(api.clone(), &plan).await;
    let gone = lost(&before, &ids(&emu), &plan);
    t.data_lost += gone.len();
    assert!(gone.is_empty(), "{gone:#?}");
    if report.ok() {
        t.converged_first += 1;
    } else {
        for (a, e) in &report.failed {
            assert!(precise(e), "{a}: {e}");
        }
        t.stopped_precise += 1;
        assert!(attempt(&emu, api.clone(), &bp, &mut t, "etag change").await);
    }
    let again = e2e::plan(api.as_ref(), &bp).await;
    assert!(pending(&again).is_empty(), "{:#?}", pending(&again));
    t.converged += 1;
    let acct = emu.resource(&acct_id).unwrap();
    assert_eq!(
        acct["tags"]["cost-center"], "cc-4711",
        "the other writer's tag must survive apply"
    );
    assert_hardened(&emu, &bp);
    emu.shutdown().await;
    println!("{}", t.line("etag change between plan and apply (library)"));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_fault_scenarios() {
    let started = std::time::Instant::now();
    // Three independent groups at once (each scenario has its own emulator); scenarios within a
    // group run one after the other.
    let random = async {
        let mut t = scenario_random(0.05).await;
        t.add(&scenario_random(0.20).await);
        t
    };
    let operations = async {
        let mut t = scenario_lro_outcome(FailOutcome::Failed, "PUT", "/privateEndpoints/").await;
        t.add(
            &scenario_lro_outcome(
                FailOutcome::Canceled,
                "PATCH",
                "/accounts/contoso-openai-prod",
            )
            .await,
        );
        t.add(&scenario_lro_outcome(FailOutcome::Failed, "PUT", "/deployments/gpt-4o").await);
        t.add(&scenario_slow_operation().await);
        t.add(&scenario_etag_change().await);
        t
    };
    let waiting = async {
        let mut t = scenario_throttle_storm().await;
        t.add(&scenario_principal_not_found(3, true).await);
        t.add(&scenario_principal_not_found(600, false).await);
        t
    };
    let (a, b, c) = tokio::join!(random, operations, waiting);
    let mut total = Tally::default();
    for t in [&a, &b, &c] {
        total.add(t);
    }
    println!("{}", total.line("TOTAL"));
    println!(
        "reliability-faults: TOTAL took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(total.data_lost, 0);
    assert_eq!(
        total.converged, total.runs,
        "every run converged in the end"
    );
}

/// Regression (found by this suite): an endpoint whose operation ended Failed was a no-op in the
/// plan, so the cutover gate waited for it forever; the planner now re-sends its PUT.
#[test]
fn a_failed_private_endpoint_is_written_again() {
    let inst = support::strict_instance();
    let mut obs = support::hardened_observed(&inst);
    support::live(&mut obs, moat::resources::private_endpoint::read(&inst))["properties"]
        ["provisioningState"] = "Failed".into();
    let plan = moat::plan::plan(&support::blueprint(vec![inst]), &observed(obs));
    let pe = plan
        .changes()
        .find(|c| c.kind == moat::resources::private_endpoint::KIND)
        .unwrap();
    assert_eq!(pe.action, Action::Update);
    assert_eq!(pe.write.as_ref().unwrap().method, moat::arm::Method::Put);
}

/// Regression (found by this suite): an account left Canceled by its last PATCH made every gate
/// that waits for `Succeeded` time out; the planner now re-drives it with a no-change PATCH.
#[test]
fn a_canceled_account_is_re_driven_before_the_cutover() {
    let inst = support::strict_instance();
    let mut obs = support::hardened_observed(&inst);
    support::live(&mut obs, Some(moat::resources::account::read(&inst)))["properties"]
        ["provisioningState"] = "Canceled".into();
    let plan = moat::plan::plan(&support::blueprint(vec![inst.clone()]), &observed(obs));
    let writes: Vec<_> = plan.changes().filter(|c| c.action.is_write()).collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].address, "quickstart/account/identity");
    let w = writes[0].write.as_ref().unwrap();
    assert_eq!(w.method, moat::arm::Method::Patch);
    assert!(w.body.as_ref().unwrap().get("tags").is_some());
    // A Succeeded account gets no such write.
    let plan = moat::plan::plan(
        &support::blueprint(vec![inst.clone()]),
        &observed(support::hardened_observed(&inst)),
    );
    assert!(!plan.has_changes());
}

fn observed(o: moat::observe::ObservedInstance) -> moat::observe::Observed {
    moat::observe::Observed { instances: vec![o] }
}
