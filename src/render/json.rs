//! JSON for pipelines and saved plans (docs/plan-format.md). The document is the plan plus its
//! summary and a digest over the plan, so a hand-edited saved plan is detected and refused.

use serde::{Deserialize, Serialize};

use crate::model::{Plan, Summary, PLAN_FORMAT_VERSION};
use crate::resources::digest_json;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanDocument {
    pub format_version: u32,
    pub summary: Summary,
    pub has_changes: bool,
    pub failed: bool,
    pub plan: Plan,
    /// sha256 of the canonical JSON of `plan`.
    pub digest: String,
}

/// [`PlanDocument`] as it is written: the same fields, the plan as the JSON value digested.
#[derive(Serialize)]
struct PlanDocumentOut {
    format_version: u32,
    summary: Summary,
    has_changes: bool,
    failed: bool,
    plan: serde_json::Value,
    digest: String,
}

/// The document to write. Secrets a server echoed into a body are redacted before the digest is
/// taken (so the file is consistent; applying it then differs from a fresh plan and is refused,
/// which is right for a plan with a token in it). Control characters need nothing here: JSON
/// strings escape them (`\u001b`).
fn document_out(plan: &Plan) -> PlanDocumentOut {
    let mut v = serde_json::to_value(plan).expect("plans serialise");
    crate::sanitize::redact_json(&mut v);
    PlanDocumentOut {
        format_version: PLAN_FORMAT_VERSION,
        summary: plan.summary(),
        has_changes: plan.has_changes(),
        failed: plan.is_failed(),
        digest: format!("sha256:{}", digest_json(&v)),
        plan: v,
    }
}

pub fn document(plan: &Plan) -> PlanDocument {
    let d = document_out(plan);
    PlanDocument {
        format_version: d.format_version,
        summary: d.summary,
        has_changes: d.has_changes,
        failed: d.failed,
        plan: serde_json::from_value(d.plan).expect("a redacted plan deserialises"),
        digest: d.digest,
    }
}

pub fn render(plan: &Plan) -> String {
    let s = serde_json::to_string_pretty(&document_out(plan)).expect("plans serialise");
    // The same JSON value, with no bidi or C1 control left raw for a terminal to act on.
    let mut s = crate::sanitize::escape_json_controls(&s).into_owned();
    s.push('\n');
    s
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path} is not a moat plan: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} was written by a moat with plan format {found}; this moat reads format {PLAN_FORMAT_VERSION}")]
    Version { path: String, found: u32 },
    #[error("{path} was modified after moat wrote it (digest mismatch): plan again instead of editing a saved plan")]
    Tampered { path: String },
    #[error(
        "{path} names a resource kind this moat does not know ({kind}): plan again with this moat"
    )]
    UnknownKind { path: String, kind: String },
}

/// Parse a saved plan and check its format version and digest.
pub fn load(path: &str, text: &str) -> Result<Plan, LoadError> {
    let raw: serde_json::Value = serde_json::from_str(text).map_err(|source| LoadError::Parse {
        path: path.into(),
        source,
    })?;
    let found = raw
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as u32;
    if found != PLAN_FORMAT_VERSION {
        return Err(LoadError::Version {
            path: path.into(),
            found,
        });
    }
    let digest = raw
        .get("digest")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let plan_value = raw.get("plan").cloned().unwrap_or_default();
    if digest != format!("sha256:{}", digest_json(&plan_value)) {
        return Err(LoadError::Tampered { path: path.into() });
    }
    let plan: Plan = serde_json::from_value(plan_value).map_err(|source| LoadError::Parse {
        path: path.into(),
        source,
    })?;
    let kinds = plan.changes().flat_map(|c| {
        std::iter::once(&c.kind)
            .chain(c.gates.iter().map(|g| &g.kind))
            .chain(
                c.write
                    .iter()
                    .flat_map(|w| w.resend.iter().map(|r| &r.gate.kind)),
            )
    });
    for k in kinds {
        if crate::resources::find(k).is_none() {
            return Err(LoadError::UnknownKind {
                path: path.into(),
                kind: k.to_string(),
            });
        }
    }
    Ok(plan)
}
