//! The terminal progress board as plain data: one line per instance (its current step and state,
//! done/total, how long the running operation has taken), drawn by pure functions of the state,
//! the terminal width and "now". The terminal sink (`progress::Live`) owns the clock and the
//! cursor; tests drive a board with scripted events and a fake clock.

use std::collections::BTreeSet;
use std::time::Duration;

use super::event::Event;
use crate::sanitize::{clean, clean_output};

/// What a running step is doing.
#[derive(Debug, Clone, PartialEq)]
enum Doing {
    Waiting(String),
    Writing,
}

#[derive(Debug, Clone)]
struct Running {
    address: String,
    doing: Doing,
    /// When it started doing that (waiting for a gate, or its write).
    since: Duration,
}

#[derive(Debug, Clone, Default)]
struct Instance {
    name: String,
    steps: BTreeSet<String>,
    done: usize,
    failed: usize,
    skipped: usize,
    running: Vec<Running>,
    started: Option<Duration>,
    ended: Option<Duration>,
    settled: bool,
}

impl Instance {
    fn finished(&self) -> usize {
        self.done + self.failed + self.skipped
    }

    fn complete(&self) -> bool {
        self.running.is_empty() && self.finished() >= self.steps.len()
    }
}

/// Every instance's progress, in the order apply first named them.
#[derive(Debug, Clone, Default)]
pub struct Board {
    instances: Vec<Instance>,
    /// Lines to print once above the live lines: failures and skips, as they happen.
    notes: Vec<String>,
}

impl Board {
    pub fn new() -> Board {
        Board::default()
    }

    fn instance(&mut self, name: &str) -> &mut Instance {
        let i = match self.instances.iter().position(|i| i.name == name) {
            Some(i) => i,
            None => {
                self.instances.push(Instance {
                    name: name.to_string(),
                    ..Instance::default()
                });
                self.instances.len() - 1
            }
        };
        &mut self.instances[i]
    }

    /// The steps apply will carry out, `(instance, address)`: the totals of the counts.
    pub fn start(&mut self, steps: &[(&str, &str)]) {
        for (inst, addr) in steps {
            self.instance(inst).steps.insert(addr.to_string());
        }
    }

    /// Record `event` of step `address` of `instance` at `now` (time since apply started).
    pub fn event(&mut self, instance: &str, address: &str, event: &Event<'_>, now: Duration) {
        let inst = self.instance(instance);
        inst.steps.insert(address.to_string());
        inst.started.get_or_insert(now);
        let at = inst.running.iter().position(|r| r.address == address);
        let doing = match event {
            Event::Waiting { gate } => Some(Doing::Waiting(gate.to_string())),
            Event::Writing => Some(Doing::Writing),
            _ => None,
        };
        match (doing, at) {
            (Some(d), Some(i)) if inst.running[i].doing != d => {
                inst.running[i].doing = d;
                inst.running[i].since = now;
            }
            (Some(_), Some(_)) => {}
            (Some(doing), None) => inst.running.push(Running {
                address: address.to_string(),
                doing,
                since: now,
            }),
            (None, at) => {
                if let Some(i) = at {
                    inst.running.remove(i);
                }
                match event {
                    Event::Done => inst.done += 1,
                    Event::Failed { .. } => inst.failed += 1,
                    _ => inst.skipped += 1,
                }
            }
        }
        if inst.complete() {
            inst.ended = Some(now);
        }
        let note = match event {
            Event::Failed { error, .. } => Some(format!(
                "✗ {}: {}",
                clean(address),
                clean_output(error.trim_end())
            )),
            Event::Skipped { because } => Some(format!(
                "- {}: skipped ({})",
                clean(address),
                clean(because)
            )),
            _ => None,
        };
        self.notes.extend(note);
    }

    /// Lines to print once, above the live ones: the notes since the last call, then the final
    /// line of every instance that finished since (all of them when `all`, at the end of apply).
    pub fn take_settled(&mut self, width: usize, now: Duration, all: bool) -> Vec<String> {
        let mut out: Vec<String> = self.notes.drain(..).collect();
        for inst in &mut self.instances {
            if !inst.settled && (all || inst.complete()) {
                inst.settled = true;
                out.push(fit(&line(inst, now), width));
            }
        }
        out
    }

    /// The live lines: one per instance not settled yet, then the whole apply's counts.
    pub fn live(&self, width: usize, now: Duration) -> Vec<String> {
        let mut out: Vec<String> = self
            .instances
            .iter()
            .filter(|i| !i.settled)
            .map(|i| fit(&line(i, now), width))
            .collect();
        if !out.is_empty() {
            out.push(fit(&self.total(now), width));
        }
        out
    }

    fn total(&self, now: Duration) -> String {
        let sum = |f: fn(&Instance) -> usize| self.instances.iter().map(f).sum::<usize>();
        let (total, done) = (sum(|i| i.steps.len()), sum(Instance::finished));
        let running = sum(|i| i.running.len());
        let failed = sum(|i| i.failed);
        format!(
            "  {done}/{total} steps, {running} running, {failed} failed, {}",
            elapsed(now)
        )
    }
}

/// One instance's line: `~ NAME [done/total] ELAPSED STEP: STATE` while it runs, a static
/// `✓ NAME [done/total] done in ELAPSED` (or `✗ … N failed, M skipped`) once it is finished.
fn line(inst: &Instance, now: Duration) -> String {
    let name = clean(&inst.name);
    let counts = format!("[{}/{}]", inst.finished(), inst.steps.len());
    if inst.complete() || inst.settled && inst.running.is_empty() {
        let took = elapsed(
            inst.ended
                .unwrap_or(now)
                .saturating_sub(inst.started.unwrap_or_default()),
        );
        let pending = inst.steps.len().saturating_sub(inst.finished());
        if inst.failed == 0 && inst.skipped == 0 && pending == 0 {
            return format!("✓ {name} {counts} done in {took}");
        }
        let mut parts = Vec::new();
        if inst.failed > 0 {
            parts.push(format!("{} failed", inst.failed));
        }
        if inst.skipped > 0 {
            parts.push(format!("{} skipped", inst.skipped));
        }
        if pending > 0 {
            parts.push(format!("{pending} not started"));
        }
        return format!("✗ {name} {counts} {} in {took}", parts.join(", "));
    }
    // The step running longest: what the instance is waiting on.
    let Some(r) = inst.running.iter().min_by_key(|r| r.since) else {
        return format!("~ {name} {counts} waiting for earlier steps");
    };
    let doing = match &r.doing {
        Doing::Waiting(gate) => format!("waiting for {}", clean(gate)),
        Doing::Writing => "applying".to_string(),
    };
    let more = match inst.running.len() {
        1 => String::new(),
        n => format!(" (+{} more)", n - 1),
    };
    // The elapsed time first and the instance's name once: a narrow terminal cuts the tail.
    let step = r
        .address
        .strip_prefix(inst.name.as_str())
        .and_then(|a| a.strip_prefix('/'))
        .unwrap_or(&r.address);
    format!(
        "~ {name} {counts} {} {}: {doing}{more}",
        elapsed(now.saturating_sub(r.since)),
        clean(step)
    )
}

/// `0.4s`, `12.0s`, `1m 05s`, `1h 02m`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    }
}

/// At most `width - 1` characters (a line that fills the last column wraps on some terminals,
/// and a wrapped line breaks the redraw), cut with `…`.
pub fn fit(s: &str, width: usize) -> String {
    let max = width.saturating_sub(1).max(8);
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}
