//! `moat apply --format json`: the apply as a stream of JSON lines on stdout, for pipelines. One
//! object per step event, as the executor reports it (the same events the terminal progress
//! draws), then one summary line. Its schema is [`schema`] (`moat schema --apply-events`,
//! docs/apply.md).
//!
//! Every string is redacted (a token a server echoed never reaches the stream) and the line is
//! JSON-escaped, bidi and C1 controls included, as the plan's JSON is.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use super::progress::{Event, Progress};
use super::ApplyReport;
use crate::model::{Action, KindId, Plan};
use crate::render::schema::{kind_labels, object, with_header};
use crate::sanitize::redact;

/// The version of the stream's shape, in its schema's `$id`: bumped when a line changes
/// incompatibly (a new optional field or enum value is not).
pub const EVENTS_FORMAT_VERSION: u32 = 1;

/// What happened to a step, as the stream names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Started,
    Waiting,
    Done,
    Failed,
    Skipped,
}

impl StepState {
    pub const ALL: [StepState; 5] = [
        StepState::Started,
        StepState::Waiting,
        StepState::Done,
        StepState::Failed,
        StepState::Skipped,
    ];
}

/// How the apply ended, in the summary line (one meaning each; docs/apply.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every write done and a fresh plan has no changes (exit 0).
    Converged,
    /// The plan had nothing to write (exit 0).
    NoChanges,
    /// The other instances converged; some were held back (blocked, verify-only drift, expired
    /// exception) (exit 1).
    HeldBack,
    /// A step failed, was skipped or was not started (exit 1).
    Incomplete,
    /// Every write done, but live state still differs from the blueprint (exit 1).
    NotConverged,
    /// Ctrl-C: in-flight writes finished, no new one started (exit 130).
    Interrupted,
    /// The confirmation was answered with something else than `yes` (exit 1).
    Cancelled,
    /// An error or a refusal before, during or after the writes; `message` says which (exit 1).
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Converged,
        Outcome::NoChanges,
        Outcome::HeldBack,
        Outcome::Incomplete,
        Outcome::NotConverged,
        Outcome::Interrupted,
        Outcome::Cancelled,
        Outcome::Error,
    ];
}

#[derive(Serialize)]
struct StepLine<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    state: StepState,
    instance: &'a str,
    address: &'a str,
    kind: &'a str,
    action: Action,
    elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// The last line: how apply ended and what it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub outcome: Outcome,
    /// Steps written.
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Not started because apply was interrupted.
    pub not_started: usize,
    /// Instances held back (their writes are counted as skipped).
    pub held_back: Vec<String>,
    /// What went wrong, for `error`.
    pub message: Option<String>,
}

impl Summary {
    pub fn new(outcome: Outcome) -> Summary {
        Summary {
            outcome,
            applied: 0,
            failed: 0,
            skipped: 0,
            not_started: 0,
            held_back: Vec::new(),
            message: None,
        }
    }

    /// The counts of an executed apply.
    pub fn count(&mut self, report: &ApplyReport) {
        self.applied = report.applied.len();
        self.failed = report.failed.len();
        self.skipped = report.skipped.len();
        self.not_started = report.not_started.len();
    }
}

/// The JSON-lines sink: a [`Progress`] that writes one line per event.
pub struct JsonLines {
    start: Instant,
    out: Mutex<Box<dyn Write + Send>>,
    steps: Mutex<HashMap<String, (KindId, Action)>>,
}

impl JsonLines {
    /// Lines to `out`; `elapsed_ms` counts from `start` (the command's start).
    pub fn new(start: Instant, out: Box<dyn Write + Send>) -> JsonLines {
        JsonLines {
            start,
            out: Mutex::new(out),
            steps: Mutex::new(HashMap::new()),
        }
    }

    pub fn stdout(start: Instant) -> JsonLines {
        JsonLines::new(start, Box::new(std::io::stdout()))
    }

    /// The plan being applied: each step event names its change's kind and action.
    pub fn know(&self, plan: &Plan) {
        let mut steps = self.steps.lock().expect("events lock");
        for c in plan.changes() {
            steps.insert(c.address.clone(), (c.kind.clone(), c.action));
        }
    }

    /// Write the summary line (`exit_code` is what the process exits with).
    pub fn summary(&self, s: &Summary, exit_code: i32) {
        self.emit(|elapsed_ms| {
            let mut v = json!({
                "type": "summary",
                "outcome": s.outcome,
                "ok": exit_code == 0,
                "exit_code": exit_code,
                "applied": s.applied,
                "failed": s.failed,
                "skipped": s.skipped,
                "not_started": s.not_started,
                "held_back": s.held_back.iter().map(|h| redact(h)).collect::<Vec<_>>(),
                "elapsed_ms": elapsed_ms,
            });
            if let Some(m) = &s.message {
                v["message"] = json!(redact(m.trim_end()));
            }
            serde_json::to_string(&v)
        });
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// One line, written and flushed whole (a pipeline reads it as it comes). The time is taken
    /// under the lock, so lines come out in the order of their `elapsed_ms`.
    fn emit(&self, line: impl FnOnce(u64) -> serde_json::Result<String>) {
        let mut out = self.out.lock().expect("events lock");
        let line = line(self.elapsed_ms()).expect("events serialise");
        let line = crate::sanitize::escape_json_controls(&line);
        // A closed stdout (the reader went away) must not stop the apply.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

impl Progress for JsonLines {
    fn event(&self, instance: &str, address: &str, event: Event<'_>) {
        let (state, message, request_id) = match event {
            Event::Waiting { gate } => (StepState::Waiting, Some(gate), None),
            Event::Writing => (StepState::Started, None, None),
            Event::Done => (StepState::Done, None, None),
            Event::Failed { error, request_id } => (StepState::Failed, Some(error), request_id),
            Event::Skipped { because } => (StepState::Skipped, Some(because), None),
        };
        // Apply reports only the steps of the plan `know` was given; a line without its kind
        // would break the schema, and a progress sink must never stop an apply.
        let Some((kind, action)) = self
            .steps
            .lock()
            .expect("events lock")
            .get(address)
            .cloned()
        else {
            tracing::warn!("apply event for {address}, which is not in the plan: not streamed");
            return;
        };
        let message = message.map(|m| redact(m.trim_end()));
        let (instance, address) = (redact(instance), redact(address));
        let request_id = request_id.map(redact);
        self.emit(|elapsed_ms| {
            serde_json::to_string(&StepLine {
                ty: "step",
                state,
                instance: &instance,
                address: &address,
                kind: kind.label(),
                action,
                elapsed_ms,
                message: message.as_deref(),
                request_id: request_id.as_deref(),
            })
        });
    }
}

fn values<T: Serialize>(all: &[T]) -> Vec<Value> {
    all.iter()
        .map(|v| serde_json::to_value(v).expect("serialises"))
        .collect()
}

/// The JSON Schema (draft 2020-12) of one line of `moat apply --format json`.
pub fn schema() -> Value {
    let text = |d: &str| json!({"type": "string", "description": d});
    let ms = json!({"type": "integer", "minimum": 0,
                    "description": "Milliseconds since the command started."});
    let count = |d: &str| json!({"type": "integer", "minimum": 0, "description": d});
    let step = object(
        "A step (one write of the plan) changed state. A step goes waiting (once per gate) -> \
         started -> done or failed; it may wait and start again when the plan says to re-send a \
         refused write; a step that cannot run is skipped (no other event).",
        &[
            ("type", true, json!({"const": "step"})),
            ("state", true, json!({"enum": values(&StepState::ALL)})),
            (
                "instance",
                true,
                text("The instance's name in the blueprint."),
            ),
            (
                "address",
                true,
                text("The change's address in the plan (`INSTANCE/KIND/NAME`)."),
            ),
            (
                "kind",
                true,
                json!({"enum": kind_labels(), "description": "The change's resource kind."}),
            ),
            (
                "action",
                true,
                json!({"enum": ["create", "update", "delete"], "description": "The change's action."}),
            ),
            ("elapsed_ms", true, ms.clone()),
            (
                "message",
                false,
                text(
                    "waiting: the condition awaited; failed: the error with its causes; \
                     skipped: why.",
                ),
            ),
            (
                "request_id",
                false,
                text("failed: ARM's request id, when ARM answered (what Azure support asks for)."),
            ),
        ],
    );
    let summary = object(
        "The last line: how apply ended. Exactly one per run that got past argument parsing.",
        &[
            ("type", true, json!({"const": "summary"})),
            (
                "outcome",
                true,
                json!({"enum": values(&Outcome::ALL),
                       "description": "converged, no-changes: exit 0; held-back, incomplete, not-converged, \
                                       cancelled, error: exit 1; interrupted: exit 130."}),
            ),
            (
                "ok",
                true,
                json!({"type": "boolean", "description": "exit_code == 0."}),
            ),
            (
                "exit_code",
                true,
                json!({"enum": [0, 1, 130], "description": "What moat exits with."}),
            ),
            ("applied", true, count("Steps written.")),
            ("failed", true, count("Steps that failed.")),
            (
                "skipped",
                true,
                count("Steps skipped: a held-back instance's, or depending on one that did not apply."),
            ),
            (
                "not_started",
                true,
                count("Steps not started because apply was interrupted."),
            ),
            (
                "held_back",
                true,
                json!({"type": "array", "items": {"type": "string"},
                       "description": "Instances held back (blocked change, verify-only drift, expired exception)."}),
            ),
            ("elapsed_ms", true, ms),
            (
                "message",
                false,
                text("error: the error as moat prints it on stderr."),
            ),
        ],
    );
    with_header(
        &format!("urn:moat:apply-events:v{EVENTS_FORMAT_VERSION}"),
        "moat apply --format json: one line",
        json!({
            "oneOf": [{"$ref": "#/$defs/step"}, {"$ref": "#/$defs/summary"}],
            "$defs": {"step": step, "summary": summary},
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_redacted_escaped_and_valid() {
        crate::sanitize::register_secret("events-test-secret-4711");
        let kind = KindId::new(kind_labels()[0]);
        let mut plan = Plan {
            format_version: crate::model::PLAN_FORMAT_VERSION,
            moat_version: "t".into(),
            blueprint: crate::model::BlueprintRef {
                path: "b.yaml".into(),
                path_from_plan: None,
                digest: String::new(),
            },
            instances: Vec::new(),
        };
        plan.instances.push(crate::model::InstancePlan {
            name: "i".into(),
            subscription: "s".into(),
            account_id: "/a".into(),
            changes: vec![crate::model::Change::new(
                "i/x/1",
                kind,
                "/a/x/1",
                Action::Create,
                "r",
                "absent".into(),
            )],
            notes: Vec::new(),
            exceptions: Vec::new(),
            rotation: None,
        });
        let buf = Buf::default();
        let sink = JsonLines::new(Instant::now(), Box::new(buf.clone()));
        sink.know(&plan);
        sink.event("i", "i/x/1", Event::Writing);
        sink.event(
            "i",
            "i/x/1",
            Event::Failed {
                error: "token events-test-secret-4711 \u{202e}txet\n",
                request_id: Some("req-1"),
            },
        );
        let mut summary = Summary::new(Outcome::Incomplete);
        summary.failed = 1;
        sink.summary(&summary, 1);
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(!out.contains("events-test-secret-4711"), "{out}");
        assert!(
            !out.contains('\u{202e}') && out.contains("\\u202e"),
            "{out}"
        );
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["message"], "token [redacted] \u{202e}txet");
        assert_eq!(lines[1]["request_id"], "req-1");
        assert_eq!(lines[2]["outcome"], "incomplete");
        let v = jsonschema::draft202012::new(&schema()).unwrap();
        for l in &lines {
            assert!(v.is_valid(l), "{l}");
        }
        // The schema is strict: an unknown field, state or outcome fails.
        let mut bad = lines[0].clone();
        bad["extra"] = json!(1);
        assert!(!v.is_valid(&bad));
        let mut bad = lines[0].clone();
        bad["state"] = json!("pending");
        assert!(!v.is_valid(&bad));
        let mut bad = lines[2].clone();
        bad["outcome"] = json!("fine");
        assert!(!v.is_valid(&bad));
        let mut bad = lines[2].clone();
        bad.as_object_mut().unwrap().remove("ok");
        assert!(!v.is_valid(&bad));
    }
}
