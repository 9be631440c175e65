//! The applier: carries out a plan's writes as a dependency graph with bounded parallelism.
//!
//! It makes no decisions of its own: order comes from the plan's edges, safety from its gates.
//! Writes to one Cognitive Services account and its children are serialised (ARM answers
//! concurrent ones with RequestConflict), as are writes to the subnets of one VNet
//! (AnotherOperationInProgress) and to the rules of one NSG. A failed step's dependents are
//! skipped and named; unrelated steps go on. Cancellation stops scheduling, lets in-flight writes
//! finish, and reports.

pub mod gates;
mod locks;
pub mod progress;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::arm::{ArmApi, ArmError, Precondition};
use crate::plan::model::{Change, Gate, Plan, ResourceKind};
use crate::resources::{norm_id, parent_id};
pub use gates::GateOptions;
pub use progress::{Event, Progress};

/// Default bound on steps in flight. A step spends nearly all its time waiting for a long-running
/// operation (a private endpoint takes about a minute), not with a request in flight: ARM requests
/// in flight are bounded by the client (`--parallelism`) and its request budget. Bounding steps by
/// the request concurrency (16) made a 20-instance fleet create its private endpoints in two
/// waves (benches/plan_apply.rs, docs/benchmarks.md).
pub const STEPS_IN_FLIGHT: usize = 64;

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Steps in flight at once.
    pub parallelism: usize,
    pub gates: GateOptions,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: STEPS_IN_FLIGHT,
            gates: GateOptions::default(),
        }
    }
}

/// What happened, step by step.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ApplyReport {
    pub applied: Vec<String>,
    /// (address, error rendered with its causes)
    pub failed: Vec<(String, String)>,
    /// (address, why)
    pub skipped: Vec<(String, String)>,
    /// Not started because apply was interrupted.
    pub not_started: Vec<String>,
    pub interrupted: bool,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
            && self.skipped.is_empty()
            && self.not_started.is_empty()
            && !self.interrupted
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Gate(#[from] gates::GateError),
    #[error("{address}")]
    Write {
        address: String,
        #[source]
        source: ArmError,
    },
}

/// The serialisation key of a step: writes sharing a key never run at once.
fn lock_key(c: &Change) -> Option<String> {
    match c.kind {
        ResourceKind::Account | ResourceKind::Deployment | ResourceKind::RaiPolicy => {
            let id = norm_id(&c.id);
            let acct = match id.find("/providers/microsoft.cognitiveservices/accounts/") {
                Some(i) => {
                    let rest = &id[i + "/providers/microsoft.cognitiveservices/accounts/".len()..];
                    let name = rest.split('/').next().unwrap_or(rest);
                    format!(
                        "{}{}",
                        &id[..i + "/providers/microsoft.cognitiveservices/accounts/".len()],
                        name
                    )
                }
                None => id,
            };
            Some(format!("account:{acct}"))
        }
        // A private endpoint being written holds its target account (ARM answers the account's
        // own writes with RequestConflict meanwhile, and refuses the endpoint while the account
        // is being updated): one lock for both.
        ResourceKind::PrivateEndpoint => endpoint_target_account(c).map(|a| format!("account:{a}")),
        ResourceKind::Subnet => Some(format!("vnet:{}", norm_id(parent_id(&c.id)))),
        ResourceKind::SecurityRule => Some(format!("nsg:{}", norm_id(parent_id(&c.id)))),
        _ => None,
    }
}

/// The Cognitive Services account a private endpoint write connects to (normalised id).
fn endpoint_target_account(c: &Change) -> Option<String> {
    let body = c.write.as_ref()?.body.as_ref()?;
    [
        "privateLinkServiceConnections",
        "manualPrivateLinkServiceConnections",
    ]
    .iter()
    .filter_map(|l| body["properties"][l].as_array())
    .flatten()
    .filter_map(|conn| conn["properties"]["privateLinkServiceId"].as_str())
    .map(norm_id)
    .find(|t| t.contains("/providers/microsoft.cognitiveservices/accounts/"))
}

/// Role assignments adopted under another name at apply time (another writer created the same
/// (scope, role, principal) between plan and apply): moat's deterministic id → the live id.
/// Gates that wait for moat's ids look for the adopted ones instead.
type Adopted = Arc<std::sync::Mutex<HashMap<String, String>>>;

/// The gate with adopted role assignment ids substituted.
fn resolve_gate(gate: &Gate, adopted: &Adopted) -> Gate {
    match gate {
        Gate::RoleAssignmentsVisible { ids } => {
            let map = adopted.lock().expect("adopted lock");
            Gate::RoleAssignmentsVisible {
                ids: ids
                    .iter()
                    .map(|id| map.get(&norm_id(id)).cloned().unwrap_or_else(|| id.clone()))
                    .collect(),
            }
        }
        g => g.clone(),
    }
}

/// Find the live assignment for the (scope, role, principal) a role assignment change writes.
async fn find_same_tuple(api: &dyn ArmApi, change: &Change) -> Result<Option<String>, ArmError> {
    let Some(body) = change.write.as_ref().and_then(|w| w.body.as_ref()) else {
        return Ok(None);
    };
    let principal = body["properties"]["principalId"].as_str().unwrap_or("");
    let role = body["properties"]["roleDefinitionId"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or("");
    let marker = "/providers/microsoft.authorization/roleassignments/";
    let id = norm_id(&change.id);
    let Some(i) = id.find(marker) else {
        return Ok(None);
    };
    let scope = &change.id[..i];
    let all = api
        .list(
            &format!("{scope}/providers/Microsoft.Authorization/roleAssignments"),
            crate::resources::role_assignment::API_VERSION,
        )
        .await?;
    Ok(all.into_iter().find_map(|a| {
        let p = &a["properties"];
        let same = p["principalId"]
            .as_str()
            .is_some_and(|x| x.eq_ignore_ascii_case(principal))
            && p["roleDefinitionId"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .is_some_and(|g| g.eq_ignore_ascii_case(role))
            && p["scope"]
                .as_str()
                .is_some_and(|s| norm_id(s) == norm_id(scope));
        same.then(|| a["id"].as_str().map(str::to_string)).flatten()
    }))
}

/// How often a write ARM refused because its account was not Succeeded (an update by someone
/// else in flight) is re-sent after waiting for the account again.
const ACCOUNT_STATE_RESENDS: u32 = 5;

/// How a step ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Written,
    /// Apply was interrupted before the step's write started.
    NotStarted,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

struct Step {
    api: Arc<dyn ArmApi>,
    change: Change,
    instance: String,
    lock: Option<Arc<locks::KeyLock>>,
    /// A critical-path step's (private endpoint's) reservation of its lock.
    preferred: Option<locks::Preferred>,
    opts: ApplyOptions,
    progress: Arc<dyn Progress>,
    cancel: Arc<AtomicBool>,
    adopted: Adopted,
}

async fn run_step(s: Step) -> Result<Outcome, StepError> {
    let Step {
        api,
        change,
        instance,
        lock,
        preferred,
        opts,
        progress,
        cancel,
        adopted,
    } = s;
    // Interrupted while this step waited for a parallelism slot.
    if cancel.load(Ordering::SeqCst) {
        return Ok(Outcome::NotStarted);
    }
    for gate in &change.gates {
        let gate = resolve_gate(gate, &adopted);
        let what = gate.describe();
        progress.event(&instance, &change.address, Event::Waiting { gate: &what });
        // Interrupted while waiting for a gate: nothing was written, stop waiting.
        tokio::select! {
            r = gates::wait(api.as_ref(), &gate, opts.gates) => r?,
            _ = cancelled(&cancel) => return Ok(Outcome::NotStarted),
        }
    }
    let _guard = match &lock {
        Some(l) => tokio::select! {
            g = l.acquire(preferred.as_ref()) => Some(g),
            _ = cancelled(&cancel) => return Ok(Outcome::NotStarted),
        },
        None => None,
    };
    if cancel.load(Ordering::SeqCst) {
        return Ok(Outcome::NotStarted);
    }
    progress.event(&instance, &change.address, Event::Writing);
    let mut resends = 0;
    loop {
        match write_once(api.as_ref(), &change, &adopted).await {
            // The account was being updated by someone else when ARM looked at it: wait until
            // it is Succeeded again and re-send (the write did not land).
            Err(StepError::Write { source, .. })
                if source.code() == Some("AccountProvisioningStateInvalid")
                    && resends < ACCOUNT_STATE_RESENDS =>
            {
                let Some(gate) = change
                    .gates
                    .iter()
                    .find(|g| matches!(g, Gate::AccountSucceeded { .. }))
                    .cloned()
                    .or_else(|| {
                        endpoint_target_account(&change).map(|a| Gate::AccountSucceeded {
                            account_id: original_case(&change, &a),
                        })
                    })
                else {
                    return Err(StepError::Write {
                        address: change.address.clone(),
                        source,
                    });
                };
                resends += 1;
                tracing::info!(
                    "{}: {source}; waiting for the account and re-sending",
                    change.address
                );
                let what = gate.describe();
                progress.event(&instance, &change.address, Event::Waiting { gate: &what });
                gates::wait(api.as_ref(), &gate, opts.gates).await?;
                progress.event(&instance, &change.address, Event::Writing);
            }
            other => return other.map(|()| Outcome::Written),
        }
    }
}

/// The target account id as written in the change's body (ARM ids are case-insensitive; this
/// keeps messages readable).
fn original_case(change: &Change, normalised: &str) -> String {
    change
        .write
        .as_ref()
        .and_then(|w| w.body.as_ref())
        .and_then(|b| {
            [
                "privateLinkServiceConnections",
                "manualPrivateLinkServiceConnections",
            ]
            .iter()
            .filter_map(|l| b["properties"][l].as_array())
            .flatten()
            .filter_map(|c| c["properties"]["privateLinkServiceId"].as_str())
            .find(|t| norm_id(t) == normalised)
            .map(str::to_string)
        })
        .unwrap_or_else(|| normalised.to_string())
}

/// Resolves once `cancel` is set.
async fn cancelled(cancel: &AtomicBool) {
    while !cancel.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Send the change's write once (the ARM client retries transient failures, throttling and
/// conflicts itself).
async fn write_once(api: &dyn ArmApi, change: &Change, adopted: &Adopted) -> Result<(), StepError> {
    let Some(w) = &change.write else {
        return Ok(());
    };
    let pre = match (&w.if_match, w.if_none_match) {
        (Some(e), _) => Precondition::IfMatch(e.clone()),
        (None, true) => Precondition::IfNoneMatch,
        _ => Precondition::None,
    };
    let empty = serde_json::json!({});
    let body = w.body.as_ref().unwrap_or(&empty);
    let result = match w.method {
        crate::arm::Method::Put => api
            .put(&w.path, &w.api_version, body, pre.clone())
            .await
            .map(|_| ()),
        crate::arm::Method::Patch => api
            .patch(&w.path, &w.api_version, body, pre.clone())
            .await
            .map(|_| ()),
        crate::arm::Method::Delete => api.delete(&w.path, &w.api_version, pre.clone()).await,
        crate::arm::Method::Post => api
            .post(&w.path, &w.api_version, w.body.as_ref())
            .await
            .map(|_| ()),
        crate::arm::Method::Get => Ok(()),
    };
    match result {
        Ok(()) => Ok(()),
        // Another writer created the same (scope, role, principal) under another name: that is
        // the state the blueprint asks for, adopt it.
        Err(e)
            if change.kind == ResourceKind::RoleAssignment
                && e.code() == Some("RoleAssignmentExists") =>
        {
            match find_same_tuple(api, change).await {
                Ok(Some(live)) => {
                    tracing::info!(
                        "{}: the assignment already exists as {live}; adopting it",
                        change.address
                    );
                    adopted
                        .lock()
                        .expect("adopted lock")
                        .insert(norm_id(&change.id), live);
                    Ok(())
                }
                // ARM says it exists but it cannot be read back: the gates will wait for it.
                Ok(None) => Ok(()),
                Err(source) => Err(StepError::Write {
                    address: change.address.clone(),
                    source,
                }),
            }
        }
        // A create-only write that finds the resource there: someone else created it meanwhile.
        Err(e) if pre == Precondition::IfNoneMatch && e.status() == Some(412) => Ok(()),
        Err(source) => Err(StepError::Write {
            address: change.address.clone(),
            source,
        }),
    }
}

/// Every step some step in `of` depends on, directly or not.
fn ancestors<'a>(
    of: impl Iterator<Item = &'a String>,
    steps: &BTreeMap<String, (String, Change)>,
) -> HashSet<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut todo: Vec<&String> = of.collect();
    while let Some(a) = todo.pop() {
        if let Some((_, c)) = steps.get(a) {
            for d in &c.depends_on {
                if seen.insert(d.clone()) {
                    todo.push(d);
                }
            }
        }
    }
    seen
}

/// Carry out every write of the plan. `cancel` stops scheduling new steps when set.
pub async fn execute(
    api: Arc<dyn ArmApi>,
    plan: &Plan,
    opts: ApplyOptions,
    progress: Arc<dyn Progress>,
    cancel: Arc<AtomicBool>,
) -> ApplyReport {
    let mut steps: BTreeMap<String, (String, Change)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for inst in &plan.instances {
        for c in inst.changes.iter().filter(|c| c.action.is_write()) {
            order.push(c.address.clone());
            steps.insert(c.address.clone(), (inst.name.clone(), c.clone()));
        }
    }
    let mut state: HashMap<String, State> =
        order.iter().map(|a| (a.clone(), State::Pending)).collect();
    let mut locks: HashMap<String, Arc<locks::KeyLock>> = HashMap::new();
    // The private endpoint is the cutover's critical path: it goes first on its account's lock.
    // Its reservation stands from now until it holds the lock (or fails, or is skipped); the
    // steps on that account that it does not itself wait for give way meanwhile.
    let mut reserved: HashMap<String, locks::Preferred> = HashMap::new();
    for addr in &order {
        let change = &steps[addr].1;
        if change.kind == ResourceKind::PrivateEndpoint {
            if let Some(k) = lock_key(change) {
                reserved.insert(addr.clone(), locks.entry(k).or_default().prefer());
            }
        }
    }
    let prerequisites = ancestors(reserved.keys(), &steps);
    let sem = Arc::new(Semaphore::new(opts.parallelism.max(1)));
    let mut report = ApplyReport::default();
    let mut running: JoinSet<(String, Result<Outcome, StepError>)> = JoinSet::new();
    let adopted: Adopted = Arc::default();

    loop {
        // Skip what can no longer run; start what is ready.
        let mut progressed = true;
        while progressed {
            progressed = false;
            for addr in &order {
                if state[addr] != State::Pending {
                    continue;
                }
                let (inst, change) = &steps[addr];
                let deps: Vec<&String> = change
                    .depends_on
                    .iter()
                    .filter(|d| state.contains_key(*d))
                    .collect();
                if let Some(bad) = deps
                    .iter()
                    .find(|d| matches!(state[**d], State::Failed | State::Skipped))
                {
                    let why = format!("depends on {bad}, which did not apply");
                    progress.event(inst, addr, Event::Skipped { because: &why });
                    report.skipped.push((addr.clone(), why));
                    state.insert(addr.clone(), State::Skipped);
                    reserved.remove(addr);
                    progressed = true;
                    continue;
                }
                if cancel.load(Ordering::SeqCst) || !deps.iter().all(|d| state[*d] == State::Done) {
                    continue;
                }
                let lock = lock_key(change).map(|k| locks.entry(k).or_default().clone());
                let preferred = reserved.remove(addr);
                let give_way = lock
                    .clone()
                    .filter(|_| preferred.is_none() && !prerequisites.contains(addr));
                let step = Step {
                    api: api.clone(),
                    change: change.clone(),
                    instance: inst.clone(),
                    lock,
                    preferred,
                    opts: opts.clone(),
                    progress: progress.clone(),
                    cancel: cancel.clone(),
                    adopted: adopted.clone(),
                };
                let sem = sem.clone();
                let a = addr.clone();
                let stop = cancel.clone();
                running.spawn(async move {
                    // Give way before taking a slot, so that this step never keeps the
                    // preferred one from a slot (run_step notices an interruption).
                    if let Some(l) = give_way {
                        tokio::select! {
                            () = l.preferred_gone() => {}
                            () = cancelled(&stop) => {}
                        }
                    }
                    let _permit = sem.acquire_owned().await.expect("semaphore open");
                    let r = run_step(step).await;
                    (a, r)
                });
                state.insert(addr.clone(), State::Running);
                progressed = true;
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (addr, result) = match joined {
            Ok(x) => x,
            Err(e) => {
                // A panicking step: treat as failed, keep going with the rest.
                report
                    .failed
                    .push(("(unknown step)".into(), format!("step panicked: {e}")));
                continue;
            }
        };
        let inst = steps[&addr].0.clone();
        match result {
            Ok(Outcome::NotStarted) => {
                state.insert(addr, State::Pending);
            }
            Ok(Outcome::Written) => {
                progress.event(&inst, &addr, Event::Done);
                report.applied.push(addr.clone());
                state.insert(addr, State::Done);
            }
            Err(e) => {
                let msg = crate::report::render_error(&e);
                progress.event(&inst, &addr, Event::Failed { error: &msg });
                report.failed.push((addr.clone(), msg));
                state.insert(addr, State::Failed);
            }
        }
    }
    report.interrupted = cancel.load(Ordering::SeqCst);
    report.not_started = order
        .iter()
        .filter(|a| state[*a] == State::Pending)
        .cloned()
        .collect();
    progress.finish();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::{ArmRequest, ArmResponse, Method};
    use crate::plan::model::{Action, Write};
    use serde_json::json;

    const ACCT: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1";
    const VNET: &str =
        "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v";

    fn change(kind: ResourceKind, id: &str) -> Change {
        Change::new(
            format!("i/{}/{id}", kind.label()),
            kind,
            id,
            Action::Update,
            "test",
            "absent".into(),
        )
    }

    fn endpoint(target: &str) -> Change {
        change(
            ResourceKind::PrivateEndpoint,
            "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/privateEndpoints/pe",
        )
        .with_write(Write::new(
            Method::Put,
            "/x",
            "2024-05-01",
            Some(json!({"properties": {"privateLinkServiceConnections": [
                {"properties": {"privateLinkServiceId": target, "groupIds": ["account"]}}
            ]}})),
        ))
    }

    #[test]
    fn an_account_its_children_and_its_endpoint_share_one_lock() {
        let key = lock_key(&change(ResourceKind::Account, ACCT)).unwrap();
        for c in [
            change(
                ResourceKind::Deployment,
                &format!("{ACCT}/deployments/gpt-4o"),
            ),
            change(ResourceKind::RaiPolicy, &format!("{ACCT}/raiPolicies/p")),
            endpoint(&ACCT.to_ascii_uppercase()),
        ] {
            assert_eq!(lock_key(&c).as_deref(), Some(key.as_str()), "{}", c.address);
        }
        let other = ACCT.replace("/a1", "/a2");
        assert_ne!(
            lock_key(&change(ResourceKind::Account, &other)).unwrap(),
            key
        );
        // An endpoint to something that is not an account locks nothing.
        assert_eq!(
            lock_key(&endpoint(
                "/subscriptions/s/providers/Microsoft.Storage/storageAccounts/x"
            )),
            None
        );
    }

    #[test]
    fn subnets_of_one_vnet_share_a_lock_and_other_vnets_do_not() {
        let a = lock_key(&change(ResourceKind::Subnet, &format!("{VNET}/subnets/a"))).unwrap();
        let b = lock_key(&change(ResourceKind::Subnet, &format!("{VNET}/subnets/B"))).unwrap();
        let c = lock_key(&change(ResourceKind::Subnet, &format!("{VNET}2/subnets/a"))).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn role_assignment_gates_follow_adopted_ids() {
        let ours = format!("{ACCT}/providers/Microsoft.Authorization/roleAssignments/ours");
        let kept = format!("{ACCT}/providers/Microsoft.Authorization/roleAssignments/kept");
        let adopted: Adopted = Arc::default();
        adopted
            .lock()
            .unwrap()
            .insert(norm_id(&ours), "/theirs".into());
        let g = resolve_gate(
            &Gate::RoleAssignmentsVisible {
                ids: vec![ours.to_ascii_uppercase(), kept.clone()],
            },
            &adopted,
        );
        assert_eq!(
            g,
            Gate::RoleAssignmentsVisible {
                ids: vec!["/theirs".into(), kept]
            }
        );
    }

    /// Counts requests; answers every one 200 `{}`.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl ArmApi for Counting {
        async fn send(&self, _: ArmRequest) -> Result<ArmResponse, ArmError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(ArmResponse {
                status: 200,
                headers: Default::default(),
                body: Some(json!({})),
            })
        }
    }

    fn plan_of(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: 1,
            moat_version: "test".into(),
            blueprint: crate::plan::model::BlueprintRef {
                path: "b.yaml".into(),
                digest: "d".into(),
            },
            instances: vec![crate::plan::model::InstancePlan {
                name: "i".into(),
                subscription: "s".into(),
                account_id: ACCT.into(),
                changes,
                notes: vec![],
            }],
        }
    }

    #[tokio::test]
    async fn interrupted_before_start_writes_nothing_and_lists_every_step_not_started() {
        let w = |c: Change| {
            c.with_write(Write::new(
                Method::Patch,
                ACCT,
                "2024-10-01",
                Some(json!({})),
            ))
        };
        let p = plan_of(vec![
            w(change(ResourceKind::Account, ACCT)),
            w(change(
                ResourceKind::Deployment,
                &format!("{ACCT}/deployments/d"),
            )),
        ]);
        let api = Arc::new(Counting::default());
        let report = execute(
            api.clone(),
            &p,
            ApplyOptions::default(),
            Arc::new(progress::Silent),
            Arc::new(AtomicBool::new(true)),
        )
        .await;
        assert!(report.interrupted && !report.ok());
        assert_eq!(report.not_started.len(), 2);
        assert!(report.applied.is_empty());
        assert_eq!(api.0.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_step_waiting_on_a_gate_stops_waiting_when_interrupted() {
        let mut c = change(ResourceKind::Account, ACCT).with_write(Write::new(
            Method::Patch,
            ACCT,
            "2024-10-01",
            Some(json!({})),
        ));
        // The account never shows Succeeded (the fake answers `{}`): the gate would wait for
        // its whole budget.
        c.gates.push(Gate::AccountSucceeded {
            account_id: ACCT.into(),
        });
        let p = plan_of(vec![c]);
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        let opts = ApplyOptions {
            parallelism: 4,
            gates: GateOptions {
                budget: std::time::Duration::from_secs(600),
                interval: std::time::Duration::from_millis(5),
            },
        };
        let t0 = std::time::Instant::now();
        let report = execute(
            Arc::new(Counting::default()),
            &p,
            opts,
            Arc::new(progress::Silent),
            cancel,
        )
        .await;
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
        assert!(report.interrupted);
        assert_eq!(
            report.not_started,
            vec![p.instances[0].changes[0].address.clone()]
        );
        assert!(report.failed.is_empty() && report.applied.is_empty());
    }

    /// Records the writes in the order they are sent; a write to a path containing `slow`
    /// takes 100 ms, everything else answers at once.
    #[derive(Default)]
    struct Recording(std::sync::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl ArmApi for Recording {
        async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
            if req.method.is_write() {
                self.0.lock().unwrap().push(req.path.clone());
                if req.path.contains("slow") {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
            Ok(ArmResponse {
                status: 200,
                headers: Default::default(),
                body: Some(json!({})),
            })
        }
    }

    /// A RAI policy PUT (`/rai`), a deployment re-bind waiting for it (`/deployment`), and a
    /// private endpoint to the same account written to `endpoint_path`.
    fn policy_rebind_and_endpoint(endpoint_path: &str) -> (Change, Change, Change) {
        let rai = change(ResourceKind::RaiPolicy, &format!("{ACCT}/raiPolicies/p"))
            .with_write(Write::new(Method::Put, "/rai", "v", Some(json!({}))));
        let mut dep = change(ResourceKind::Deployment, &format!("{ACCT}/deployments/d"))
            .with_write(Write::new(Method::Put, "/deployment", "v", Some(json!({}))));
        dep.depends_on.push(rai.address.clone());
        let mut pe = endpoint(ACCT);
        pe.write.as_mut().unwrap().path = endpoint_path.into();
        (rai, dep, pe)
    }

    #[tokio::test]
    async fn a_deployment_ready_first_still_gives_its_account_to_the_private_endpoint() {
        // The endpoint waits for a slow subnet write; the RAI policy and the deployment re-bind
        // are ready at once. The re-bind must not take the account before the endpoint.
        let subnet = change(ResourceKind::Subnet, &format!("{VNET}/subnets/slow")).with_write(
            Write::new(Method::Put, "/subnet-slow", "v", Some(json!({}))),
        );
        let (rai, dep, mut pe) = policy_rebind_and_endpoint("/endpoint");
        pe.depends_on.push(subnet.address.clone());
        // An account PATCH the endpoint waits for: a prerequisite, it must not give way.
        let mut identity = change(ResourceKind::Account, ACCT).with_write(Write::new(
            Method::Patch,
            "/identity",
            "v",
            Some(json!({})),
        ));
        identity.depends_on.push(subnet.address.clone());
        pe.depends_on.push(identity.address.clone());
        let p = plan_of(vec![identity, rai, dep, subnet, pe]);
        let api = Arc::new(Recording::default());
        let report = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            execute(
                api.clone(),
                &p,
                ApplyOptions::default(),
                Arc::new(progress::Silent),
                Arc::new(AtomicBool::new(false)),
            ),
        )
        .await
        .expect("no deadlock between the endpoint and its prerequisites");
        assert!(report.ok(), "{report:#?}");
        let order = api.0.lock().unwrap().clone();
        let at = |p: &str| order.iter().position(|x| x == p).unwrap();
        assert!(at("/identity") < at("/endpoint"), "{order:?}");
        assert!(at("/endpoint") < at("/deployment"), "{order:?}");
    }

    #[tokio::test]
    async fn a_failed_endpoint_does_not_hold_back_the_steps_that_gave_way() {
        // The endpoint fails: the re-bind, which does not depend on it, still applies.
        let (rai, dep, mut pe) = policy_rebind_and_endpoint("/endpoint-slow");
        // Never satisfied: the fake answers `{}` (no provisioningState), so the gate times out.
        pe.gates.push(Gate::AccountSucceeded {
            account_id: ACCT.into(),
        });
        let p = plan_of(vec![rai, dep, pe]);
        let api = Arc::new(Recording::default());
        let opts = ApplyOptions {
            parallelism: 4,
            gates: GateOptions {
                budget: std::time::Duration::from_millis(200),
                interval: std::time::Duration::from_millis(10),
            },
        };
        let report = execute(
            api.clone(),
            &p,
            opts,
            Arc::new(progress::Silent),
            Arc::new(AtomicBool::new(false)),
        )
        .await;
        assert_eq!(report.failed.len(), 1, "{report:#?}");
        assert!(
            report.failed[0].0.contains("private-endpoint"),
            "{report:#?}"
        );
        assert_eq!(report.applied.len(), 2, "{report:#?}");
        assert!(!api.0.lock().unwrap().iter().any(|p| p.contains("endpoint")));
    }
}
