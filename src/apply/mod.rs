//! The applier: carries out a plan's writes as a dependency graph with bounded parallelism.
//!
//! It makes no decisions of its own and knows no resource kind: order comes from the plan's
//! edges, safety from its gates (checked by asking the gate's kind), and every other decision
//! from the directives the planner wrote into each write: the lock it serialises on (writes
//! sharing a lock never run at once: ARM answers concurrent writes to one account, VNet or NSG
//! with a conflict), whether it goes first on that lock, which refusal it waits out and re-sends,
//! and which equal resource it adopts. A failed step's dependents are skipped and named;
//! unrelated steps go on. Cancellation stops scheduling, lets in-flight writes finish, and
//! reports.

pub mod board;
pub mod event;
pub mod events;
pub mod gates;
mod locks;
pub mod progress;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::arm::{ArmApi, ArmError, Precondition};
use crate::model::{Change, Gate, Plan, Resend};
use crate::resources::kind::adopted_id;
use crate::resources::{self, norm_id};
pub use event::{Event, Progress};
pub use gates::GateOptions;

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
    /// A value the plan binds at apply time could not be read; nothing was sent.
    #[error("{address}: {why}")]
    Bind { address: String, why: String },
}

impl StepError {
    /// ARM's request id, when ARM answered the request that failed the step.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            StepError::Write { source, .. }
            | StepError::Gate(gates::GateError::Arm { source, .. }) => source.request_id(),
            _ => None,
        }
    }
}

/// Resources adopted under another name at apply time (another writer created an equal one
/// between plan and apply): the planned id → the live id. Gates that wait for the planned ids
/// look for the adopted ones instead.
type Adopted = Arc<std::sync::Mutex<HashMap<String, String>>>;

/// The gate with adopted ids substituted.
fn resolve_gate(gate: &Gate, adopted: &Adopted) -> Gate {
    let map = adopted.lock().expect("adopted lock");
    Gate {
        kind: gate.kind.clone(),
        ids: gate
            .ids
            .iter()
            .map(|id| map.get(&norm_id(id)).cloned().unwrap_or_else(|| id.clone()))
            .collect(),
    }
}

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
        let what = resources::describe(&gate);
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
            // A refusal the plan says to wait out (the account was being updated by someone
            // else when ARM looked at it; the write did not land): wait and re-send.
            Err(StepError::Write { source, .. })
                if resend_for(&change, &source).is_some_and(|r| resends < r.times) =>
            {
                let gate = &resend_for(&change, &source).expect("matched above").gate;
                resends += 1;
                tracing::info!(
                    "{}: {source}; waiting for {} and re-sending",
                    change.address,
                    resources::describe(gate)
                );
                let what = resources::describe(gate);
                progress.event(&instance, &change.address, Event::Waiting { gate: &what });
                gates::wait(api.as_ref(), gate, opts.gates).await?;
                progress.event(&instance, &change.address, Event::Writing);
            }
            other => return other.map(|()| Outcome::Written),
        }
    }
}

/// The plan's re-send rule for this refusal, if it has one.
fn resend_for<'a>(change: &'a Change, e: &ArmError) -> Option<&'a Resend> {
    let r = change.write.as_ref()?.resend.as_ref()?;
    (e.code() == Some(r.code.as_str())).then_some(r)
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
    let bound = bind(api, change).await?;
    let body = bound.as_ref().or(w.body.as_ref()).unwrap_or(&empty);
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
        // Another writer created an equal resource under another name: that is the state the
        // blueprint asks for, adopt it.
        Err(e)
            if w.adopt
                .as_ref()
                .is_some_and(|a| e.code() == Some(a.code.as_str())) =>
        {
            let rule = w.adopt.as_ref().expect("matched above");
            match api.list(&rule.list, &rule.api_version).await {
                Ok(items) => {
                    if let Some(live) = adopted_id(rule, &items) {
                        tracing::info!(
                            "{}: it already exists as {live}; adopting it",
                            change.address
                        );
                        adopted
                            .lock()
                            .expect("adopted lock")
                            .insert(norm_id(&change.id), live);
                    }
                    // ARM says it exists but it cannot be read back: the gates will wait for it.
                    Ok(())
                }
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

/// The write's body with the plan's bound values filled in (`None`: it binds nothing). Each
/// value is read from live ARM just before sending: it did not exist when the plan was made.
async fn bind(api: &dyn ArmApi, change: &Change) -> Result<Option<serde_json::Value>, StepError> {
    let Some(w) = change.write.as_ref().filter(|w| !w.bind.is_empty()) else {
        return Ok(None);
    };
    let mut body = w.body.clone().unwrap_or_else(|| serde_json::json!({}));
    for b in &w.bind {
        let failed = |why: String| StepError::Bind {
            address: change.address.clone(),
            why,
        };
        let live = api
            .get(&b.from, &b.api_version)
            .await
            .map_err(|e| failed(format!("reading {} for {}: {e}", b.from, b.path)))?;
        let value = live
            .as_ref()
            .and_then(|v| resources::get_str(v, &b.field))
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                failed(format!(
                    "{} has no {} to write at {}",
                    b.from, b.field, b.path
                ))
            })?;
        resources::set(&mut body, &b.path, value.into());
    }
    Ok(Some(body))
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
    let listed: Vec<(&str, &str)> = order
        .iter()
        .map(|a| (steps[a].0.as_str(), a.as_str()))
        .collect();
    progress.start(&listed);
    let mut state: HashMap<String, State> =
        order.iter().map(|a| (a.clone(), State::Pending)).collect();
    let mut report = ApplyReport::default();
    // An instance with a blocked change or verify-only drift is held back whole: none of its
    // writes start, and what depends on them is skipped; the rest of the fleet goes on.
    for inst in plan.instances.iter() {
        let Some(why) = inst.held_back() else {
            continue;
        };
        for c in inst.changes.iter().filter(|c| c.action.is_write()) {
            progress.event(&inst.name, &c.address, Event::Skipped { because: &why });
            report.skipped.push((c.address.clone(), why.clone()));
            state.insert(c.address.clone(), State::Skipped);
        }
    }
    let mut locks: HashMap<String, Arc<locks::KeyLock>> = HashMap::new();
    // The private endpoint is the cutover's critical path: it goes first on its account's lock.
    // Its reservation stands from now until it holds the lock (or fails, or is skipped); the
    // steps on that account that it does not itself wait for give way meanwhile.
    let mut reserved: HashMap<String, locks::Preferred> = HashMap::new();
    for addr in order.iter().filter(|a| state[*a] == State::Pending) {
        let change = &steps[addr].1;
        if let Some(w) = change.write.as_ref().filter(|w| w.first_on_lock) {
            if let Some(k) = &w.lock {
                reserved.insert(addr.clone(), locks.entry(k.clone()).or_default().prefer());
            }
        }
    }
    let prerequisites = ancestors(reserved.keys(), &steps);
    let sem = Arc::new(Semaphore::new(opts.parallelism.max(1)));
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
                let lock = change
                    .write
                    .as_ref()
                    .and_then(|w| w.lock.clone())
                    .map(|k| locks.entry(k).or_default().clone());
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
                let request_id = e.request_id();
                progress.event(
                    &inst,
                    &addr,
                    Event::Failed {
                        error: &msg,
                        request_id,
                    },
                );
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
    use crate::model::KindId;

    #[test]
    fn gates_follow_adopted_ids() {
        let adopted: Adopted = Arc::default();
        adopted
            .lock()
            .unwrap()
            .insert(norm_id("/Planned/A"), "/live/x".into());
        let gate = Gate {
            kind: KindId::new("any"),
            ids: vec!["/planned/a".into(), "/kept".into()],
        };
        let g = resolve_gate(&gate, &adopted);
        assert_eq!(g.ids, vec!["/live/x".to_string(), "/kept".into()]);
        assert_eq!(g.kind, gate.kind);
    }
}
