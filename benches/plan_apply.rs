//! moat against ARM's physical limits (issue 7): `cargo bench --bench plan_apply`.
//!
//! The emulator runs in-process on its own tokio runtime (its own threads) with Azure-like
//! latency, operation durations, Retry-After and throttling buckets, all time-scaled by one factor
//! (`MOAT_BENCH_SCALE`, default 0.25); moat runs on a second runtime with its production options
//! (poll intervals, retry delays, gate intervals, request budget) scaled by the same factor. Every
//! bound is computed in scaled time, so ratios are what they would be at scale 1.
//!
//! Cases: plan of 1/10/100/500 brownfield instances, apply of one brownfield instance, apply of a
//! 20-instance fleet in one subscription, a second apply on the converged fleet, and the CPU time
//! and peak memory of plan at 500 instances measured in a child process (this binary re-executed
//! with `--child-plan`), so that the emulator's work and memory are not counted.
//!
//! Results: `target/bench/results.json`; docs/benchmarks.md derives each bound and discusses them.
//! Environment: `MOAT_BENCH_SCALE`, `MOAT_BENCH_LATENCY_MS` (unscaled, default 100),
//! `MOAT_BENCH_PARALLELISM` (default: moat's `--parallelism` default), `MOAT_BENCH_SIZES`
//! (default `1,10,100,500`), `MOAT_BENCH_FLEET` (default 20); `MOAT_BENCH_PLAN_ONLY=1` stops after
//! the plan cases (nothing written); `MOAT_BENCH_TRACE=1` prints the emulator's request logs;
//! `MOAT_BENCH_CHILD_PREFIX="perf record -o FILE --"` runs that child under a profiler.
//! `MOAT_BENCH_CHILD_RUNTIME=current` runs the CPU-measuring child on a current-thread runtime,
//! `MOAT_BENCH_RUNTIME=current` the timed cases too (default: multi-thread, as `moat` does).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use moat::apply::{ApplyOptions, ApplyReport, GateOptions};
use moat::arm::limiter::LimiterConfig;
use moat::arm::{ArmApi, ConnectOptions, LroOptions, Method, RetryPolicy, Stats};
use moat::blueprint::resolved::Blueprint;
use moat::emulator::{EmulatorConfig, EmulatorHandle};
use moat::plan::model::{Change, Gate, Plan};

/// The quickstart instance every generated instance is cloned from.
const TEMPLATE_NAME: &str = "contoso-openai-prod";
const TEMPLATE_ROLE_ASSIGNMENT: &str = "7d2c4a8e-5b1f-4e3a-9c6d-2f8e1a4b7c90";
/// ARM's subscription buckets (ARM-PROTOCOL.md §1.7), in requests and requests per second.
const READ_CAPACITY: f64 = 250.0;
const READ_REFILL: f64 = 25.0;
const WRITE_CAPACITY: f64 = 200.0;
const WRITE_REFILL: f64 = 10.0;
/// Dependent request rounds of `observe` (round 1: everything addressable from the blueprint;
/// round 2: zones and links named by round 1's privateLinkResources).
const PLAN_ROUNDS: f64 = 2.0;

#[derive(Clone, Debug)]
struct Settings {
    scale: f64,
    /// Unscaled latency per request (Azure-like default 100 ms).
    latency_unscaled: Duration,
    parallelism: usize,
    sizes: Vec<usize>,
    fleet: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let scale = var("MOAT_BENCH_SCALE")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(0.25);
        let latency_ms = var("MOAT_BENCH_LATENCY_MS")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(100);
        let parallelism = var("MOAT_BENCH_PARALLELISM")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|p| *p > 0)
            .unwrap_or(moat::arm::config::DEFAULT_PARALLELISM);
        let sizes = var("MOAT_BENCH_SIZES")
            .map(|v| {
                v.split(',')
                    .filter_map(|s| s.trim().parse::<usize>().ok())
                    .filter(|n| *n > 0)
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec![1, 10, 100, 500]);
        let fleet = var("MOAT_BENCH_FLEET")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(20);
        Settings {
            scale,
            latency_unscaled: Duration::from_millis(latency_ms),
            parallelism,
            sizes,
            fleet,
        }
    }

    fn s(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale)
    }

    fn latency(&self) -> Duration {
        self.s(self.latency_unscaled)
    }

    /// A refill rate of `per_sec` at scale 1, per second of scaled time.
    fn rate(&self, per_sec: f64) -> f64 {
        per_sec / self.scale
    }

    fn emulator_config(&self) -> EmulatorConfig {
        let mut cfg = EmulatorConfig::azure_like(self.scale);
        let r = |x: f64| self.rate(x).round().max(1.0) as u32;
        cfg.throttle.read_refill_per_sec = r(READ_REFILL);
        cfg.throttle.write_refill_per_sec = r(WRITE_REFILL);
        cfg.throttle.delete_refill_per_sec = r(WRITE_REFILL);
        cfg.faults.latency = self.latency();
        cfg
    }

    /// moat's production client options, time-scaled.
    fn connect(&self, base_url: &str, token: &str) -> Arc<dyn ArmApi> {
        let lro = LroOptions::default();
        let retry = RetryPolicy::default();
        let opts = ConnectOptions {
            parallelism: self.parallelism,
            lro: LroOptions {
                default_interval: self.s(lro.default_interval),
                min_interval: self.s(lro.min_interval),
                max_interval: self.s(lro.max_interval),
                budget: self.s(lro.budget),
            },
            retry: RetryPolicy {
                base_delay: self.s(retry.base_delay),
                max_delay: self.s(retry.max_delay),
                budget: self.s(retry.budget),
                conflict_budget: self.s(retry.conflict_budget),
                principal_delay: self.s(retry.principal_delay),
                principal_budget: self.s(retry.principal_budget),
                zero_delay: false,
                ..retry
            },
            ..ConnectOptions::emulator(base_url, token)
        };
        let limiter = LimiterConfig {
            read_capacity: READ_CAPACITY as u32,
            read_refill_per_sec: self.rate(READ_REFILL).round() as u32,
            write_capacity: WRITE_CAPACITY as u32,
            write_refill_per_sec: self.rate(WRITE_REFILL).round() as u32,
            ..LimiterConfig::default()
        };
        Arc::new(
            moat::arm::connect_http(&opts)
                .expect("client for the emulator")
                .with_limiter(limiter),
        )
    }

    fn apply_options(&self) -> ApplyOptions {
        let g = GateOptions::default();
        ApplyOptions {
            // As `moat apply` sets it (commands/apply.rs).
            parallelism: self.parallelism.max(moat::apply::STEPS_IN_FLIGHT),
            gates: GateOptions {
                budget: self.s(g.budget),
                interval: self.s(g.interval),
            },
        }
    }
}

/// One measured case, as written to results.json.
#[derive(Debug, Clone, Default)]
struct Case {
    name: String,
    wall_s: f64,
    bound_s: f64,
    requests: u64,
    writes: u64,
    polls: u64,
    peak_rss_mb: Option<f64>,
    cpu_s: Option<f64>,
    target: String,
    met: bool,
    details: Value,
}

impl Case {
    fn ratio(&self) -> Option<f64> {
        (self.bound_s > 0.0).then(|| self.wall_s / self.bound_s)
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "wall_s": round(self.wall_s, 4),
            "bound_s": round(self.bound_s, 4),
            "ratio": self.ratio().map(|r| round(r, 3)),
            "requests": self.requests,
            "writes": self.writes,
            "polls": self.polls,
            "peak_rss_mb": self.peak_rss_mb.map(|m| round(m, 1)),
            "cpu_s": self.cpu_s.map(|c| round(c, 3)),
            "target": self.target,
            "met": self.met,
            "details": self.details,
        })
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn instance_name(i: usize) -> String {
    format!("contoso-openai-{i:03}")
}

/// The quickstart blueprint with `n` instances (names and subdomains vary; subscription, VNet,
/// NSG, zones and workspace are shared).
fn fleet_blueprint(n: usize) -> String {
    let text = std::fs::read_to_string(repo("examples/quickstart.yaml")).expect("quickstart.yaml");
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("quickstart parses");
    let baseline = repo("blueprints/strict-baseline.yaml");
    doc["imports"] = serde_yaml::Value::Sequence(vec![baseline.display().to_string().into()]);
    let template = doc["instances"][0].clone();
    let instances = (0..n)
        .map(|i| {
            let mut inst = template.clone();
            let name = instance_name(i);
            inst["name"] = name.clone().into();
            inst["accountName"] = name.clone().into();
            inst["customSubdomain"] = name.into();
            inst
        })
        .collect();
    doc["instances"] = serde_yaml::Value::Sequence(instances);
    serde_yaml::to_string(&doc).expect("blueprint serialises")
}

/// The quickstart's brownfield seed with `n` accounts (each with its deployment and role
/// assignment); resource groups, VNet, NSG and workspace once.
fn fleet_seed(n: usize) -> Vec<Value> {
    let seed = moat::emulator::load_seed_file(repo("examples/quickstart-seed.json")).expect("seed");
    let marker = format!("/accounts/{TEMPLATE_NAME}").to_ascii_lowercase();
    let (per_instance, shared): (Vec<Value>, Vec<Value>) = seed.into_iter().partition(|v| {
        v["id"]
            .as_str()
            .is_some_and(|id| id.to_ascii_lowercase().contains(&marker))
    });
    let template = serde_json::to_string(&per_instance).expect("seed serialises");
    let mut out = shared;
    for i in 0..n {
        let name = instance_name(i);
        let role = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string();
        let text = template
            .replace(TEMPLATE_NAME, &name)
            .replace(TEMPLATE_ROLE_ASSIGNMENT, &role);
        let items: Vec<Value> = serde_json::from_str(&text).expect("instance seed parses");
        out.extend(items);
    }
    out
}

fn write_blueprint(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join(format!("fleet-{n}.yaml"));
    std::fs::write(&path, fleet_blueprint(n)).expect("write blueprint");
    path
}

fn load(path: &Path) -> Blueprint {
    moat::blueprint::load(path).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()))
}

fn delta(after: Stats, before: Stats) -> Stats {
    Stats {
        reads: after.reads - before.reads,
        writes: after.writes - before.writes,
        polls: after.polls - before.polls,
        retries: after.retries - before.retries,
        throttled: after.throttled - before.throttled,
    }
}

fn stats_json(s: Stats) -> Value {
    json!({"reads": s.reads, "writes": s.writes, "polls": s.polls, "retries": s.retries,
           "locally_throttled": s.throttled})
}

async fn observe_and_plan(api: &dyn ArmApi, bp: &Blueprint) -> Plan {
    let observed = moat::observe::observe(api, bp).await.expect("observe");
    moat::plan::plan(bp, &observed)
}

async fn apply(api: Arc<dyn ArmApi>, plan: &Plan, opts: ApplyOptions) -> ApplyReport {
    moat::apply::execute(
        api,
        plan,
        opts,
        Arc::new(moat::apply::progress::Silent),
        Arc::new(AtomicBool::new(false)),
    )
    .await
}

/// Lower bound of a request burst against a token bucket: the requests beyond its capacity are
/// sent no faster than it refills.
fn bucket_bound(requests: u64, capacity: f64, refill_per_sec: f64) -> f64 {
    ((requests as f64 - capacity) / refill_per_sec).max(0.0)
}

/// The canonical type whose operation duration a write waits for; `None` for synchronous writes
/// (emulator write styles, docs/emulator.md).
fn lro_type(c: &Change) -> Option<&'static str> {
    let m = c.write.as_ref()?.method;
    match c.kind.label() {
        "rai-policy" => {
            (m == Method::Delete).then_some("Microsoft.CognitiveServices/accounts/raiPolicies")
        }
        "role-assignment" | "diagnostic-setting" => None,
        "deleted-account" => Some("Microsoft.CognitiveServices/deletedAccounts"),
        _ => moat::resources::find(&c.kind).map(|k| k.meta().arm_type),
    }
}

/// Reads a gate needs at the least, counting only reads that depend on one another (the zone
/// group names the A records to read); independent reads could share one round trip.
fn gate_rounds(g: &Gate) -> u32 {
    // A private endpoint's gate with a zone group (its third id) reads the group, then its
    // A records.
    if g.kind == moat::resources::private_endpoint::KIND && g.ids.len() > 2 {
        2
    } else {
        1
    }
}

/// The critical path through the plan's dependency graph: each write costs one latency (sync) or
/// one latency + its operation's duration + one status read (long-running), plus one latency per
/// dependent gate read. Returns the length and the path (addresses, first to last).
fn critical_path(plan: &Plan, cfg: &EmulatorConfig, latency: Duration) -> (f64, Vec<String>) {
    let writes: HashMap<&str, &Change> = plan
        .changes()
        .filter(|c| c.action.is_write())
        .map(|c| (c.address.as_str(), c))
        .collect();
    let lat = latency.as_secs_f64();
    let cost = |c: &Change| {
        let gates: u32 = c.gates.iter().map(gate_rounds).sum();
        let write = match lro_type(c) {
            Some(t) => 2.0 * lat + cfg.lro_duration(t).as_secs_f64(),
            None => lat,
        };
        f64::from(gates) * lat + write
    };
    fn finish<'a>(
        a: &'a str,
        writes: &HashMap<&'a str, &'a Change>,
        cost: &dyn Fn(&Change) -> f64,
        memo: &mut HashMap<&'a str, (f64, Option<&'a str>)>,
    ) -> f64 {
        if let Some((f, _)) = memo.get(a) {
            return *f;
        }
        let c = writes[a];
        let mut best = (0.0, None);
        for d in &c.depends_on {
            if let Some((k, _)) = writes.get_key_value(d.as_str()) {
                let f = finish(k, writes, cost, memo);
                if f > best.0 {
                    best = (f, Some(*k));
                }
            }
        }
        let f = best.0 + cost(c);
        memo.insert(a, (f, best.1));
        f
    }
    let mut memo = HashMap::new();
    let mut end: (f64, Option<&str>) = (0.0, None);
    let keys: Vec<&str> = writes.keys().copied().collect();
    for a in keys {
        let f = finish(a, &writes, &cost, &mut memo);
        if f > end.0 {
            end = (f, Some(a));
        }
    }
    let mut path = Vec::new();
    let mut at = end.1;
    while let Some(a) = at {
        path.push(a.to_string());
        at = memo[a].1;
    }
    path.reverse();
    (end.0, path)
}

/// `MOAT_BENCH_TRACE=1`: the emulator's request log of each case on stderr (for diagnosis).
fn trace(case: &str, log: &[moat::emulator::RequestLogEntry]) {
    if std::env::var_os("MOAT_BENCH_TRACE").is_none() {
        return;
    }
    for e in log {
        let path = e.path.rsplit("/providers/").next().unwrap_or(&e.path);
        eprintln!(
            "{case} {} {} {} {:.1}ms {path}",
            e.time, e.method, e.status, e.duration_ms
        );
    }
}

fn writes_in(plan: &Plan) -> usize {
    plan.changes().filter(|c| c.action.is_write()).count()
}

fn ok_or_die(report: &ApplyReport, what: &str) {
    assert!(report.ok(), "{what} did not converge: {report:#?}");
}

/// A read-only case (plan, audit): met when nothing was written and wall <= 1.2 x bound.
fn read_case(name: String, wall: f64, bound: f64, s: Stats, details: Value) -> Case {
    let mut c = Case {
        name,
        wall_s: wall,
        bound_s: bound,
        requests: s.reads + s.writes,
        writes: s.writes,
        polls: s.polls,
        target: "wall <= 1.2 x max(rounds x latency, (requests - 250) / read refill)".into(),
        details,
        ..Case::default()
    };
    c.met = s.writes == 0 && c.ratio().is_some_and(|r| r <= 1.2);
    c
}

/// Case 1: plan of `n` brownfield instances.
async fn bench_plan(
    set: &Settings,
    emu: &EmulatorHandle,
    dir: &Path,
    n: usize,
    first_size: &mut Option<(usize, u64)>,
) -> Case {
    let bp = load(&write_blueprint(dir, n));
    let api = set.connect(&emu.base_url(), &format!("bench-plan-{n}"));
    emu.clear_request_log();
    let before = api.stats();
    let t = Instant::now();
    let plan = observe_and_plan(api.as_ref(), &bp).await;
    let wall = t.elapsed().as_secs_f64();
    let s = delta(api.stats(), before);
    let log = emu.request_log();
    trace(&format!("plan/{n}"), &log);
    let logged = log.len() as u64;
    assert!(!plan.is_failed(), "plan of {n} failed");
    let requests = s.reads + s.writes;
    let bound_rounds = PLAN_ROUNDS * set.latency().as_secs_f64();
    let bound_bucket = bucket_bound(requests, READ_CAPACITY, set.rate(READ_REFILL));
    let bound = bound_rounds.max(bound_bucket);
    // Requests every instance makes on its own, and the shared ones read once per run: from the
    // first (smallest) size and this one (`requests = per_instance x n + shared`). A read ARM
    // answered 429 and moat re-sent counts twice, so larger sizes may show a fraction more.
    let first = *first_size.get_or_insert((n, requests));
    let (per_instance, shared) = if n > first.0 {
        let per = (requests as f64 - first.1 as f64) / (n - first.0) as f64;
        (
            Some(round(per, 3)),
            Some(round(first.1 as f64 - per * first.0 as f64, 1)),
        )
    } else {
        (None, None)
    };
    read_case(
        format!("plan/{n}"),
        wall,
        bound,
        s,
        json!({
            "instances": n,
            "requests_logged_by_emulator": logged,
            "requests_per_instance": per_instance,
            "shared_requests": shared,
            "bound_rounds_s": round(bound_rounds, 4),
            "bound_read_bucket_s": round(bound_bucket, 4),
            "changes_planned": writes_in(&plan),
            "client": stats_json(s),
        }),
    )
}

/// Dependent request rounds of `moat audit` before it observes: the subscription's account list
/// and its soft-deleted accounts, listed at the same time (one page each in the emulator).
const AUDIT_DISCOVERY_ROUNDS: f64 = 1.0;

/// Case 6: audit of every account of a subscription (no blueprint: each is judged against the
/// strict baseline). Same bound as a plan: max(rounds x latency, (requests - 250) / read refill).
async fn bench_audit(set: &Settings, emu: &EmulatorHandle, subscription: &str, n: usize) -> Case {
    let api = set.connect(&emu.base_url(), &format!("bench-audit-{n}"));
    emu.clear_request_log();
    let before = api.stats();
    let scopes = moat::audit::discover::scopes(&[subscription.to_string()], &[]);
    let t = Instant::now();
    let report = moat::audit::run::audit(api.clone(), &scopes, None)
        .await
        .expect("audit");
    let wall = t.elapsed().as_secs_f64();
    let s = delta(api.stats(), before);
    let log = emu.request_log();
    trace(&format!("audit/{n}"), &log);
    assert_eq!(report.accounts.len(), n, "audit discovers every account");
    let non_get = log.iter().filter(|e| e.method != "GET").count();
    assert_eq!(non_get, 0, "audit sent a request that is not a GET");
    let requests = s.reads + s.writes;
    // observe's rounds: a second one only for instances with a private endpoint (its zones and
    // links are named by the first round's privateLinkResources); baseline instances have none.
    let observe_rounds = if report
        .judged
        .instances
        .iter()
        .any(|i| i.controls.private_endpoint.is_some())
    {
        PLAN_ROUNDS
    } else {
        1.0
    };
    let rounds = AUDIT_DISCOVERY_ROUNDS + observe_rounds;
    let bound_rounds = rounds * set.latency().as_secs_f64();
    let bound_bucket = bucket_bound(requests, READ_CAPACITY, set.rate(READ_REFILL));
    let bound = bound_rounds.max(bound_bucket);
    read_case(
        format!("audit/{n}"),
        wall,
        bound,
        s,
        json!({
            "accounts": n,
            "requests_logged_by_emulator": log.len(),
            "requests_per_account": round(requests as f64 / n as f64, 3),
            "findings": report.findings.len(),
            "bound_rounds_s": round(bound_rounds, 4),
            "bound_read_bucket_s": round(bound_bucket, 4),
            "client": stats_json(s),
        }),
    )
}

/// Case 2/3: apply a brownfield plan; bound = max(critical path, write bucket, read bucket).
async fn bench_apply(
    set: &Settings,
    cfg: &EmulatorConfig,
    emu: &EmulatorHandle,
    bp: &Blueprint,
    name: &str,
    target_ratio: f64,
) -> (Case, Plan) {
    let planner = set.connect(&emu.base_url(), &format!("bench-{name}-plan"));
    let plan = observe_and_plan(planner.as_ref(), bp).await;
    assert!(!plan.is_failed(), "{name}: plan failed");
    let (cp, path) = critical_path(&plan, cfg, set.latency());
    // A fresh principal (fresh buckets on both sides) for the apply itself.
    let api = set.connect(&emu.base_url(), &format!("bench-{name}-apply"));
    emu.clear_request_log();
    let t = Instant::now();
    let report = apply(api.clone(), &plan, set.apply_options()).await;
    let wall = t.elapsed().as_secs_f64();
    ok_or_die(&report, name);
    let s = api.stats();
    let write_bucket = bucket_bound(s.writes, WRITE_CAPACITY, set.rate(WRITE_REFILL));
    let read_bucket = bucket_bound(s.reads, READ_CAPACITY, set.rate(READ_REFILL));
    let bound = cp.max(write_bucket).max(read_bucket);
    let log = emu.request_log();
    trace(name, &log);
    let throttled_by_arm = log.iter().filter(|e| e.status == 429).count();
    let conflicts = log.iter().filter(|e| e.status == 409).count();
    let mut c = Case {
        name: name.into(),
        wall_s: wall,
        bound_s: bound,
        requests: s.reads + s.writes,
        writes: s.writes,
        polls: s.polls,
        target: format!("wall <= {target_ratio} x max(critical path, write bucket, read bucket)"),
        details: json!({
            "instances": plan.instances.len(),
            "changes_applied": report.applied.len(),
            "critical_path_s": round(cp, 4),
            "critical_path": path,
            "bound_write_bucket_s": round(write_bucket, 4),
            "bound_read_bucket_s": round(read_bucket, 4),
            "arm_429s": throttled_by_arm,
            "arm_409s": conflicts,
            "client": stats_json(s),
        }),
        ..Case::default()
    };
    c.met = c.ratio().is_some_and(|r| r <= target_ratio);
    (c, plan)
}

/// Case 4: plan + apply again on a converged fleet.
async fn bench_reapply(set: &Settings, emu: &EmulatorHandle, bp: &Blueprint, name: &str) -> Case {
    let api = set.connect(&emu.base_url(), &format!("bench-{name}"));
    emu.clear_request_log();
    let t = Instant::now();
    let plan = observe_and_plan(api.as_ref(), bp).await;
    let report = apply(api.clone(), &plan, set.apply_options()).await;
    let wall = t.elapsed().as_secs_f64();
    ok_or_die(&report, name);
    let s = api.stats();
    let logged_writes = emu
        .request_log()
        .iter()
        .filter(|e| e.method != "GET")
        .count();
    let requests = s.reads + s.writes;
    let bound = (PLAN_ROUNDS * set.latency().as_secs_f64()).max(bucket_bound(
        requests,
        READ_CAPACITY,
        set.rate(READ_REFILL),
    ));
    Case {
        name: name.into(),
        wall_s: wall,
        bound_s: bound,
        requests,
        writes: s.writes,
        polls: s.polls,
        target: "0 writes".into(),
        met: s.writes == 0 && logged_writes == 0 && report.applied.is_empty(),
        details: json!({
            "instances": plan.instances.len(),
            "changes_planned": writes_in(&plan),
            "writes_logged_by_emulator": logged_writes,
            "client": stats_json(s),
        }),
        ..Case::default()
    }
}

/// Case 5: re-run this binary as `--child-plan` against the running emulator and read back its
/// wall time, CPU time (getrusage of the child: moat alone) and peak RSS.
fn bench_plan_cpu(set: &Settings, emu: &EmulatorHandle, dir: &Path, n: usize) -> Case {
    let bp = write_blueprint(dir, n);
    let exe = std::env::current_exe().expect("own path");
    // `MOAT_BENCH_CHILD_PREFIX="perf record -g -o /tmp/perf.data --"`: run the child under a
    // profiler (split on spaces; the child's own getrusage then includes nothing of the tool's).
    let prefix: Vec<String> = std::env::var("MOAT_BENCH_CHILD_PREFIX")
        .map(|p| p.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut cmd = match prefix.split_first() {
        Some((tool, args)) => {
            let mut c = std::process::Command::new(tool);
            c.args(args).arg(&exe);
            c
        }
        None => std::process::Command::new(&exe),
    };
    let out = cmd
        .arg("--child-plan")
        .arg(emu.base_url())
        .arg(&bp)
        .arg(format!("bench-cpu-{n}"))
        .env("MOAT_BENCH_SCALE", set.scale.to_string())
        .env(
            "MOAT_BENCH_LATENCY_MS",
            set.latency_unscaled.as_millis().to_string(),
        )
        .env("MOAT_BENCH_PARALLELISM", set.parallelism.to_string())
        .output()
        .expect("child runs");
    assert!(
        out.status.success(),
        "child plan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("child prints JSON");
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let cpu = f("cpu_s");
    let rss = f("peak_rss_mb");
    Case {
        name: format!("plan-cpu-memory/{n}"),
        wall_s: f("wall_s"),
        bound_s: 0.0,
        requests: v["requests"].as_u64().unwrap_or(0),
        writes: v["writes"].as_u64().unwrap_or(0),
        polls: v["polls"].as_u64().unwrap_or(0),
        peak_rss_mb: Some(rss),
        cpu_s: Some(cpu),
        target: "cpu < 2 s, peak RSS < 300 MB (child process: moat only)".into(),
        met: cpu < 2.0 && rss < 300.0,
        details: v,
    }
}

fn rusage() -> (f64, f64) {
    // SAFETY: getrusage fills the struct it is given; a zeroed rusage is a valid initial value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    // ru_maxrss is in kilobytes on Linux.
    (
        tv(ru.ru_utime) + tv(ru.ru_stime),
        ru.ru_maxrss as f64 / 1024.0,
    )
}

fn vm_hwm_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The child side of case 5: load, observe, plan (what `moat plan` does), then report.
fn child_plan(base_url: &str, blueprint: &str, token: &str) {
    let set = Settings::from_env();
    // `MOAT_BENCH_CHILD_RUNTIME=current`: a current-thread runtime instead of the CLI's
    // multi-threaded one (to see how much CPU goes into waking worker threads).
    let rt = if std::env::var("MOAT_BENCH_CHILD_RUNTIME").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .expect("runtime");
    let t = Instant::now();
    // CPU after each phase: load, observe (HTTP + JSON), plan, render.
    let mut marks = Vec::new();
    let (plan, stats) = rt.block_on(async {
        let bp = load(Path::new(blueprint));
        marks.push(("load", rusage().0));
        let api = set.connect(base_url, token);
        let observed = moat::observe::observe(api.as_ref(), &bp)
            .await
            .expect("observe");
        marks.push(("observe", rusage().0));
        let plan = moat::plan::plan(&bp, &observed);
        marks.push(("plan", rusage().0));
        // Render it as `moat plan` would, so the measured work is the command's.
        let text = moat::render::json::render(&plan);
        assert!(!text.is_empty());
        marks.push(("render_json", rusage().0));
        (plan, api.stats())
    });
    let mut phases = serde_json::Map::new();
    let mut prev = 0.0;
    for (name, cpu) in marks {
        phases.insert(format!("cpu_{name}_s"), json!(round(cpu - prev, 3)));
        prev = cpu;
    }
    let wall = t.elapsed().as_secs_f64();
    let (cpu, maxrss) = rusage();
    let hwm = vm_hwm_mb().unwrap_or(maxrss);
    println!(
        "{}",
        json!({
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_rss_mb": hwm.max(maxrss),
            "requests": stats.reads + stats.writes,
            "writes": stats.writes,
            "polls": stats.polls,
            "instances": plan.instances.len(),
            "changes": plan.changes().count(),
            "cpu_by_phase": phases,
            "method": "getrusage(RUSAGE_SELF) user+system and ru_maxrss / VmHWM of a child process that runs only moat; the emulator stays in the parent",
        })
    );
    drop(rt);
}

/// moat's runtime, as `moat` builds it (src/main.rs), or a current-thread one with
/// `MOAT_BENCH_RUNTIME=current`.
fn moat_runtime() -> tokio::runtime::Runtime {
    if std::env::var("MOAT_BENCH_RUNTIME").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .expect("moat runtime")
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| round(kb / 1024.0 / 1024.0, 1));
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu_model": model,
        "mem_total_gb": mem_gb,
        "loadavg": loadavg(),
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn print_case(c: &Case) {
    let ratio = c
        .ratio()
        .map(|r| format!("{r:.3}"))
        .unwrap_or_else(|| "-".into());
    let extra = match (c.cpu_s, c.peak_rss_mb) {
        (Some(cpu), Some(mb)) => format!(" cpu {cpu:.3}s peak {mb:.1}MB"),
        _ => String::new(),
    };
    println!(
        "{:<24} wall {:>8.3}s bound {:>8.3}s ratio {:>6} requests {:>6} writes {:>4} polls {:>4}{} [{}]",
        c.name,
        c.wall_s,
        c.bound_s,
        ratio,
        c.requests,
        c.writes,
        c.polls,
        extra,
        if c.met { "met" } else { "MISSED" }
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child-plan") {
        let arg = |k: usize| args.get(i + k).expect("--child-plan URL BLUEPRINT TOKEN");
        child_plan(arg(1), arg(2), arg(3));
        return;
    }
    let set = Settings::from_env();
    let started = Instant::now();
    let load_before = loadavg();
    println!(
        "moat plan/apply benchmark: time scale {}, latency {:?} per request (scaled), parallelism {}",
        set.scale,
        set.latency(),
        set.parallelism
    );
    // The emulator on its own runtime (its own threads); moat on another.
    let emu_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("emulator")
        .enable_all()
        .build()
        .expect("emulator runtime");
    let rt = moat_runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = set.emulator_config();
    let start = |n: usize| {
        let emu = emu_rt
            .block_on(EmulatorHandle::start(cfg.clone()))
            .expect("emulator starts");
        emu.seed(&fleet_seed(n)).expect("seed applies");
        emu
    };
    let mut cases: Vec<Case> = Vec::new();

    // 1. plan at each size, against one emulator holding the largest fleet.
    let largest = set.sizes.iter().copied().max().unwrap_or(1);
    let emu = start(largest);
    let mut shared = None;
    for &n in &set.sizes {
        let c = rt.block_on(bench_plan(&set, &emu, dir.path(), n, &mut shared));
        print_case(&c);
        cases.push(c);
    }
    // 5. CPU and memory of plan at the largest size, in a child process.
    let c = bench_plan_cpu(&set, &emu, dir.path(), largest);
    print_case(&c);
    cases.push(c);
    // 6. audit of the whole subscription (the same accounts, no blueprint).
    let subscription = load(&repo("examples/quickstart.yaml")).instances[0]
        .subscription
        .clone();
    let c = rt.block_on(bench_audit(&set, &emu, &subscription, largest));
    print_case(&c);
    cases.push(c);
    emu_rt.block_on(emu.shutdown());

    if std::env::var_os("MOAT_BENCH_PLAN_ONLY").is_some() {
        emu_rt.shutdown_background();
        return;
    }

    // 2. apply of one brownfield instance (the quickstart itself).
    let emu = start(0);
    emu.seed(&moat::emulator::load_seed_file(repo("examples/quickstart-seed.json")).expect("seed"))
        .expect("seed applies");
    let bp = load(&repo("examples/quickstart.yaml"));
    let (c, _) = rt.block_on(bench_apply(&set, &cfg, &emu, &bp, "apply/1", 1.1));
    print_case(&c);
    cases.push(c);
    emu_rt.block_on(emu.shutdown());

    // 3. apply of a fleet in one subscription, then 4. apply again on the converged fleet.
    let emu = start(set.fleet);
    let bp = load(&write_blueprint(dir.path(), set.fleet));
    let name = format!("apply-fleet/{}", set.fleet);
    let (c, plan) = rt.block_on(bench_apply(&set, &cfg, &emu, &bp, &name, 1.25));
    print_case(&c);
    cases.push(c);
    assert!(plan.has_changes());
    let c = rt.block_on(bench_reapply(
        &set,
        &emu,
        &bp,
        &format!("reapply-converged/{}", set.fleet),
    ));
    print_case(&c);
    cases.push(c);
    emu_rt.block_on(emu.shutdown());

    let total = started.elapsed().as_secs_f64();
    let results = json!({
        "command": "cargo bench --bench plan_apply",
        "settings": {
            "time_scale": set.scale,
            "latency_ms_unscaled": set.latency_unscaled.as_millis() as u64,
            "latency_ms_scaled": round(set.latency().as_secs_f64() * 1000.0, 3),
            "parallelism": set.parallelism,
            "read_bucket": format!("{READ_CAPACITY} + {}/s (scaled time)", set.rate(READ_REFILL)),
            "write_bucket": format!("{WRITE_CAPACITY} + {}/s (scaled time)", set.rate(WRITE_REFILL)),
        },
        "machine": machine(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "total_run_s": round(total, 2),
        "cases": cases.iter().map(Case::to_json).collect::<Vec<_>>(),
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("target"));
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir).expect("target/bench");
    let out = out_dir.join("results.json");
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&results).expect("results serialise") + "\n",
    )
    .expect("write results");
    println!("total {total:.1}s; results in {}", out.display());
    drop(rt);
    emu_rt.shutdown_background();
}
