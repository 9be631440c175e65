//! The applier: carries out a plan's writes as a dependency graph with bounded parallelism.
//!
//! It makes no decisions of its own: order comes from the plan's edges, safety from its gates.
//! Writes to one Cognitive Services account and its children are serialised (ARM answers
//! concurrent ones with RequestConflict), as are writes to the subnets of one VNet
//! (AnotherOperationInProgress) and to the rules of one NSG. A failed step's dependents are
//! skipped and named; unrelated steps go on. Cancellation stops scheduling, lets in-flight writes
//! finish, and reports.

pub mod gates;
pub mod progress;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;

use crate::arm::{ArmApi, ArmError, Precondition};
use crate::plan::model::{Change, Plan, ResourceKind};
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
        // ARM locks the target account while a private endpoint to it is written: concurrent
        // writes to the account or its children get RequestConflict, so share its lock.
        ResourceKind::PrivateEndpoint => c
            .write
            .as_ref()
            .and_then(|w| w.body.as_ref())
            .and_then(|b| {
                b.pointer(
                    "/properties/privateLinkServiceConnections/0/properties/privateLinkServiceId",
                )
            })
            .and_then(serde_json::Value::as_str)
            .map(|acct| format!("account:{}", norm_id(acct))),
        ResourceKind::Subnet => Some(format!("vnet:{}", norm_id(parent_id(&c.id)))),
        ResourceKind::SecurityRule => Some(format!("nsg:{}", norm_id(parent_id(&c.id)))),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

async fn run_step(
    api: Arc<dyn ArmApi>,
    change: Change,
    instance: String,
    lock: Option<Arc<Mutex<()>>>,
    opts: ApplyOptions,
    progress: Arc<dyn Progress>,
) -> Result<(), StepError> {
    for gate in &change.gates {
        let what = gate.describe();
        progress.event(&instance, &change.address, Event::Waiting { gate: &what });
        gates::wait(api.as_ref(), gate, opts.gates).await?;
    }
    let _guard = match &lock {
        Some(l) => Some(l.lock().await),
        None => None,
    };
    progress.event(&instance, &change.address, Event::Writing);
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
            Ok(())
        }
        // A create-only write that finds the resource there: someone else created it meanwhile.
        Err(e) if pre == Precondition::IfNoneMatch && e.status() == Some(412) => Ok(()),
        Err(source) => Err(StepError::Write {
            address: change.address.clone(),
            source,
        }),
    }
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
    let mut locks: HashMap<String, Arc<Mutex<()>>> = HashMap::new();
    let sem = Arc::new(Semaphore::new(opts.parallelism.max(1)));
    let mut report = ApplyReport::default();
    let mut running: JoinSet<(String, Result<(), StepError>)> = JoinSet::new();

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
                    progressed = true;
                    continue;
                }
                if cancel.load(Ordering::SeqCst) || !deps.iter().all(|d| state[*d] == State::Done) {
                    continue;
                }
                let lock = lock_key(change).map(|k| locks.entry(k).or_default().clone());
                let api = api.clone();
                let change = change.clone();
                let inst = inst.clone();
                let sem = sem.clone();
                let opts = opts.clone();
                let progress = progress.clone();
                let a = addr.clone();
                running.spawn(async move {
                    let _permit = sem.acquire_owned().await.expect("semaphore open");
                    let r = run_step(api, change, inst, lock, opts, progress).await;
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
            Ok(()) => {
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
