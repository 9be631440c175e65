//! `moat schema --plan`: the JSON Schema (draft 2020-12) of the plan document that `moat plan
//! --format json` prints and `--out` saves (docs/plan-format.md). It is versioned with the
//! document (`$id` ends in the plan format version; `format_version` is a constant), strict
//! (every object closed with `additionalProperties: false`, every field moat always writes
//! required, enums for actions, kinds, methods and comparisons), and the one place the meaning of
//! `failed`, `has_changes` and the summary counts is written down.
//!
//! tests/suite/plan_schema.rs validates every golden plan against it and a plan with every
//! optional field set, so a field added to the model without the schema fails there.

use serde_json::{json, Map, Value};

use crate::model::PLAN_FORMAT_VERSION;

/// An object schema with exactly these properties: `(name, required, schema)`, closed to others.
pub(crate) fn object(description: &str, props: &[(&str, bool, Value)]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, req, schema) in props {
        properties.insert((*name).to_string(), schema.clone());
        if *req {
            required.push(Value::String((*name).to_string()));
        }
    }
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn count(description: &str) -> Value {
    json!({"type": "integer", "minimum": 0, "description": description})
}

fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/$defs/{name}")})
}

/// The labels of every registered kind: a saved plan naming another is refused when loaded.
pub(crate) fn kind_labels() -> Vec<&'static str> {
    crate::resources::KINDS
        .iter()
        .map(|k| k.meta().label)
        .collect()
}

/// The JSON Schema of the plan document.
pub fn plan_schema() -> Value {
    let sha256 = json!({"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"});
    let summary = object(
        "Counts of the plan's changes by action. Every change is counted exactly once in one of \
         create, update, delete, drift, blocked and unchanged, so their sum is the number of \
         changes (no-ops included). They count changes, not resources: an account written as \
         several PATCHes counts once per change.",
        &[
            ("create", true, count("Changes with action `create`.")),
            ("update", true, count("Changes with action `update`.")),
            ("delete", true, count("Changes with action `delete`.")),
            (
                "drift",
                true,
                count("Changes with action `drift` (a verify-only control differs)."),
            ),
            (
                "blocked",
                true,
                count("Changes with action `blocked` (moat refuses to make them)."),
            ),
            (
                "unchanged",
                true,
                count("Changes with action `no-op` or `verified`."),
            ),
            (
                "risks",
                true,
                count("Writes (create, update, delete) that carry a `risk` for running clients."),
            ),
            (
                "regressions",
                true,
                count(
                    "Updates that are regressions: a managed field's live value is weaker than \
                     the blueprint declares (drift since the last apply, or not hardened yet).",
                ),
            ),
        ],
    );
    let blueprint = object(
        "The blueprint the plan was made from.",
        &[
            (
                "path",
                true,
                string("The blueprint as the command line named it."),
            ),
            (
                "path_from_plan",
                false,
                string(
                    "The blueprint relative to the saved plan's directory, `/`-separated (only \
                     in plans saved with `--out`).",
                ),
            ),
            (
                "digest",
                true,
                json!({"type": "string", "pattern": "^[0-9a-f]{64}$",
                       "description": "sha256 of the blueprint bytes and its imports."}),
            ),
        ],
    );
    let exception = object(
        "A standing exception the blueprint grants the instance.",
        &[
            (
                "allows",
                true,
                string("The exception kind (`local-auth`, `content-filter`, ...)."),
            ),
            ("reason", true, string("Why, as the blueprint says.")),
            ("expires", false, string("Expiry date (YYYY-MM-DD).")),
            (
                "days_left",
                false,
                json!({"type": "integer",
                       "description": "Days left when the blueprint was read; negative: expired (the instance is held back)."}),
            ),
        ],
    );
    let rotation = object(
        "With `keyRotation`: what `moat rotate` would do next. Not a change: apply never rotates, and it does not count towards has_changes or the exit code.",
        &[
            ("vault", true, string("The Key Vault's ARM id.")),
            ("secret", true, string("The secret that holds the key clients use.")),
            (
                "status",
                true,
                json!({"enum": ["due", "scheduled", "unknown", "refused"],
                       "description": "due: rotate acts now; scheduled: from `at`; unknown: the secret could not be read (the plan goes on); refused: the blueprint is wrong (the instance is held back)."}),
            ),
            ("key", false, json!({"enum": ["Key1", "Key2"], "description": "The key the next step regenerates."})),
            (
                "at",
                false,
                string("RFC 3339: due since (absent: never rotated), or scheduled from."),
            ),
            ("detail", true, string("The step, or why plan could not tell, in a sentence.")),
        ],
    );
    let instance = object(
        "One instance of the blueprint.",
        &[
            (
                "name",
                true,
                string("The instance's name in the blueprint."),
            ),
            ("subscription", true, string("Its subscription id.")),
            ("account_id", true, string("The ARM id of its account.")),
            (
                "changes",
                true,
                json!({"type": "array", "items": reference("change"),
                       "description": "Every resource moat looked at, no-ops included."}),
            ),
            (
                "notes",
                false,
                strings("Findings that are not changes (a privileged role moat leaves alone)."),
            ),
            (
                "exceptions",
                false,
                json!({"type": "array", "items": reference("exception")}),
            ),
            ("rotation", false, reference("rotation")),
        ],
    );
    let field = object(
        "A managed field that differs; an absent side is omitted.",
        &[
            (
                "path",
                true,
                string("Dotted path in the ARM body, e.g. `properties.publicNetworkAccess`."),
            ),
            (
                "before",
                false,
                json!({"description": "Live value (any JSON)."}),
            ),
            (
                "after",
                false,
                json!({"description": "Planned value (any JSON)."}),
            ),
        ],
    );
    let gate = object(
        "A condition apply waits to see in live ARM; the gate's kind decides whether it holds.",
        &[
            ("kind", true, reference("kind")),
            (
                "ids",
                true,
                strings("The resources the condition is about, the subject first."),
            ),
        ],
    );
    let change = object(
        "What apply will do to one resource (or one group of fields of it).",
        &[
            (
                "address",
                true,
                string("Stable and unique in the plan: `INSTANCE/KIND/NAME`."),
            ),
            ("kind", true, reference("kind")),
            ("id", true, string("The ARM id of the resource.")),
            ("action", true, reference("action")),
            (
                "fields",
                false,
                json!({"type": "array", "items": reference("field")}),
            ),
            (
                "reason",
                true,
                string("Why moat wants the change (explains only, never drives apply)."),
            ),
            (
                "risk",
                false,
                string(
                    "What running clients will notice; weakenings start with `weakens security:`.",
                ),
            ),
            (
                "blocked",
                false,
                string("Why moat will not make the change (action `blocked`)."),
            ),
            (
                "exception",
                false,
                string("The blueprint exception that allows a weakening, quoted."),
            ),
            (
                "depends_on",
                false,
                strings("Addresses of changes that must succeed first."),
            ),
            (
                "gates",
                false,
                json!({"type": "array", "items": reference("gate")}),
            ),
            (
                "observed",
                true,
                json!({"type": "string", "pattern": "^(absent|etag:.+|sha256:[0-9a-f]{64})$",
                       "description": "Fingerprint of the live resource the change was computed from."}),
            ),
            (
                "regression",
                false,
                json!({"type": "boolean", "const": true,
                       "description": "Present (true) on an update that puts back what the blueprint already declares: a managed field's live value is weaker than any the blueprint allows. Absent otherwise."}),
            ),
            ("write", false, reference("write")),
        ],
    );
    let write = object(
        "The exact request apply sends, and the planner's directives for sending it.",
        &[
            (
                "method",
                true,
                json!({"enum": ["GET", "PUT", "PATCH", "DELETE", "POST"]}),
            ),
            ("path", true, string("The ARM id (path) written.")),
            ("api_version", true, string("The api-version sent.")),
            (
                "body",
                false,
                json!({"type": "object", "description": "The request body (any JSON object)."}),
            ),
            (
                "if_match",
                false,
                string("`If-Match` etag: the observed one."),
            ),
            (
                "if_none_match",
                false,
                json!({"type": "boolean", "description": "`If-None-Match: *` (create only)."}),
            ),
            (
                "lock",
                false,
                string("Serialisation key: writes sharing it never run at once."),
            ),
            (
                "first_on_lock",
                false,
                json!({"type": "boolean",
                       "description": "Goes before the other writes on its lock that it does not wait for."}),
            ),
            ("resend", false, reference("resend")),
            ("adopt", false, reference("adopt")),
            (
                "bind",
                false,
                json!({"type": "array", "items": reference("bind")}),
            ),
        ],
    );
    let resend = object(
        "A refusal apply waits out (for `gate`) and sends again, at most `times` times.",
        &[
            ("code", true, string("The ARM error code.")),
            ("gate", true, reference("gate")),
            ("times", true, count("At most this many re-sends.")),
        ],
    );
    let matcher = object(
        "One field an adopted item must share with the write.",
        &[
            ("path", true, string("Dotted path in the listed item.")),
            ("value", true, string("The value the write sends.")),
            (
                "compare",
                true,
                json!({"enum": ["text", "id", "last-segment"]}),
            ),
        ],
    );
    let adopt = object(
        "Adoption of an equal resource that exists under another name.",
        &[
            ("code", true, string("The ARM error code of the refusal.")),
            (
                "list",
                true,
                string("The list read to find the equal item."),
            ),
            ("api_version", true, string("The api-version of the list.")),
            (
                "matches",
                true,
                json!({"type": "array", "items": reference("match")}),
            ),
        ],
    );
    let bind = object(
        "A value of the body read from live ARM just before sending.",
        &[
            ("path", true, string("Dotted path in the body written.")),
            ("from", true, string("The resource read.")),
            ("api_version", true, string("The api-version of the read.")),
            ("field", true, string("Dotted path of the string read.")),
        ],
    );
    let plan = object(
        "The plan: plain data, the whole contract between planner and apply.",
        &[
            (
                "format_version",
                true,
                json!({"const": PLAN_FORMAT_VERSION}),
            ),
            ("moat_version", true, string("The moat that made the plan.")),
            ("blueprint", true, reference("blueprint")),
            (
                "instances",
                true,
                json!({"type": "array", "items": reference("instance")}),
            ),
        ],
    );
    let mut doc = object(
        "A moat plan as `moat plan --format json` prints it and `moat plan --out` saves it.",
        &[
            (
                "format_version",
                true,
                json!({"const": PLAN_FORMAT_VERSION,
                       "description": "Bumped when the shape changes incompatibly; apply refuses another."}),
            ),
            ("summary", true, reference("summary")),
            (
                "has_changes",
                true,
                json!({"type": "boolean",
                       "description": "True when some change is a write (create, update or delete; \
                                       summary.create + summary.update + summary.delete > 0), held-back \
                                       instances included. `moat plan --detailed-exitcode` exits 2 on it \
                                       when the plan has not failed."}),
            ),
            (
                "failed",
                true,
                json!({"type": "boolean",
                       "description": "True when some instance must be held back: a blocked change, drift \
                                       on a verify-only control (summary.blocked + summary.drift > 0) or an \
                                       expired standing exception (days_left < 0). `moat plan` exits 1; \
                                       apply writes nothing of that instance."}),
            ),
            ("plan", true, reference("plan")),
            (
                "digest",
                true,
                json!({"allOf": [sha256],
                       "description": "sha256 of the canonical JSON of `plan` (keys sorted): an edited file is refused."}),
            ),
        ],
    );
    doc["$defs"] = json!({
        "summary": summary,
        "plan": plan,
        "blueprint": blueprint,
        "instance": instance,
        "exception": exception,
        "rotation": rotation,
        "change": change,
        "field": field,
        "gate": gate,
        "write": write,
        "resend": resend,
        "adopt": adopt,
        "match": matcher,
        "bind": bind,
        "kind": {"enum": kind_labels(), "description": "A resource kind this moat knows (src/resources/mod.rs)."},
        "action": {
            "enum": ["create", "update", "delete", "no-op", "drift", "verified", "blocked"],
            "description": "create, update and delete write; no-op and verified match; drift (a verify-only \
                            control differs) and blocked (a change moat refuses) fail the plan."
        },
    });
    with_header(
        &format!("urn:moat:plan:v{PLAN_FORMAT_VERSION}"),
        &format!("moat plan, format version {PLAN_FORMAT_VERSION}"),
        doc,
    )
}

/// `schema` with `$schema` (draft 2020-12), `$id` and `title` first.
pub(crate) fn with_header(id: &str, title: &str, schema: Value) -> Value {
    let mut out = Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert("$id".into(), json!(id));
    out.insert("title".into(), json!(title));
    if let Value::Object(rest) = schema {
        out.extend(rest);
    }
    Value::Object(out)
}
