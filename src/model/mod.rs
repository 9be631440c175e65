//! The plan: plain, versioned, serialisable data. Renderers draw it; apply carries it out; nothing
//! in here talks to ARM.

pub mod observed;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arm::Method;

/// Bumped whenever the JSON shape changes incompatibly (documented in docs/plan-format.md).
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub moat_version: String,
    pub blueprint: BlueprintRef,
    pub instances: Vec<InstancePlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintRef {
    /// The blueprint as the command line named it (relative to the working directory then).
    pub path: String,
    /// The blueprint relative to the directory of the saved plan file, `/`-separated (`plan
    /// --out` writes it; `apply --plan` resolves it, so it works from any directory). Absent in
    /// plans printed to stdout and in older saved plans: `path` is used then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_from_plan: Option<String>,
    /// sha256 of the blueprint bytes (and imports): a saved plan is refused for another blueprint.
    pub digest: String,
}

impl InstancePlan {
    /// True when this instance must not be applied: a blocked change or drift on a
    /// verify-only control. Apply holds its writes back (and what depends on them), not the
    /// fleet's.
    pub fn is_failed(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c.action, Action::Blocked | Action::Drift))
            || self.exceptions.iter().any(StandingException::expired)
            || self
                .rotation
                .as_ref()
                .is_some_and(|r| r.status == RotationStatus::Refused)
    }

    /// Why apply holds this instance back, when it does.
    pub fn held_back(&self) -> Option<String> {
        let count = |a: Action| self.changes.iter().filter(|c| c.action == a).count();
        let (blocked, drift) = (count(Action::Blocked), count(Action::Drift));
        let expired: Vec<&str> = self
            .exceptions
            .iter()
            .filter(|e| e.expired())
            .map(|e| e.allows.as_str())
            .collect();
        let mut why = format!(
            "held back: instance {} has {blocked} blocked change(s) and {drift} drift(s) on verify-only controls",
            self.name
        );
        if !expired.is_empty() {
            why.push_str(&format!(
                ", and expired exception(s): {}",
                expired.join(", ")
            ));
        }
        if let Some(r) = self
            .rotation
            .as_ref()
            .filter(|r| r.status == RotationStatus::Refused)
        {
            why.push_str(&format!(", and keyRotation: {}", r.detail));
        }
        self.is_failed().then_some(why)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancePlan {
    /// The instance's logical name in the blueprint.
    pub name: String,
    pub subscription: String,
    pub account_id: String,
    /// Every resource moat looked at for this instance, no-ops included (renderers hide them).
    pub changes: Vec<Change>,
    /// Findings that are not changes (e.g. a privileged role moat leaves alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The blueprint's standing exceptions for this instance, shown in every rendering.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<StandingException>,
    /// With `keyRotation`: the rotation `moat rotate` has due or scheduled. Never a change:
    /// apply does not rotate (it breaks clients still on the old key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationDue>,
}

/// The next step of an instance's key rotation, as plan shows it (`moat rotate` performs it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationDue {
    /// The Key Vault's ARM id and the secret's name.
    pub vault: String,
    pub secret: String,
    pub status: RotationStatus,
    /// The key the next step regenerates (`Key1` / `Key2`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `due`: since when (absent: never rotated); `scheduled`: when it becomes due (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// What the step is, or why plan could not tell, in a sentence.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationStatus {
    /// `moat rotate` would act now.
    Due,
    /// Nothing to do before `at`.
    Scheduled,
    /// The secret could not be read (e.g. 403): plan does not know, and does not fail.
    Unknown,
    /// The blueprint is wrong (no such vault, a secret moat did not write): the plan fails.
    Refused,
}

impl RotationDue {
    pub fn status_word(&self) -> &'static str {
        match self.status {
            RotationStatus::Due => "due",
            RotationStatus::Scheduled => "scheduled",
            RotationStatus::Unknown => "unknown",
            RotationStatus::Refused => "refused",
        }
    }

    /// One line: which key, since or until when, and what.
    pub fn describe(&self) -> String {
        let mut s = format!("{} ({}", self.secret, self.status_word());
        if let Some(k) = &self.key {
            s.push_str(&format!(", regenerates {k}"));
        }
        match (&self.at, self.status) {
            (Some(at), RotationStatus::Due) => s.push_str(&format!(", since {at}")),
            (Some(at), _) => s.push_str(&format!(", from {at}")),
            (None, _) => {}
        }
        s.push_str(&format!("): {}", self.detail));
        s
    }
}

/// How many days before its expiry an exception is flagged in every plan.
pub const EXCEPTION_WARNING_DAYS: i64 = 30;

/// A documented weakening the blueprint grants an instance, as every plan shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandingException {
    /// The exception kind (`local-auth`, `content-filter`, …).
    pub allows: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Days left on the day the blueprint was read (negative: expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
}

impl StandingException {
    pub fn expired(&self) -> bool {
        self.days_left.is_some_and(|d| d < 0)
    }

    /// Expires within [`EXCEPTION_WARNING_DAYS`] (and has not yet).
    pub fn expiring(&self) -> bool {
        self.days_left
            .is_some_and(|d| (0..=EXCEPTION_WARNING_DAYS).contains(&d))
    }

    /// One line: kind, reason and expiry.
    pub fn describe(&self) -> String {
        let when = match (&self.expires, self.days_left) {
            (Some(date), Some(d)) if d < 0 => {
                format!(" (EXPIRED on {date}: this instance is held back until it is renewed)")
            }
            (Some(date), Some(d)) if d <= EXCEPTION_WARNING_DAYS => {
                format!(
                    " (expires on {date}, in {d} day(s): renew it or remove the setting it allows)"
                )
            }
            (Some(date), Some(d)) => format!(" (expires on {date}, in {d} days)"),
            (Some(date), None) => format!(" (expires on {date})"),
            (None, _) => " (no expiry)".to_string(),
        };
        format!("{}: {}{when}", self.allows, self.reason)
    }
}

/// What apply will do to one resource (or one group of fields of a resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// Live state matches the blueprint.
    NoOp,
    /// A `verify`-mode control whose live state differs: reported, never written, fails the plan.
    Drift,
    /// A `verify`-mode control that matches.
    Verified,
    /// A change moat will not make (reason in `blocked`): fails the plan.
    Blocked,
}

impl Action {
    /// Whether the change will write to ARM.
    pub fn is_write(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Delete)
    }

    /// `+`, `~`, `-`, ... — the one place the markers come from.
    pub fn marker(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::NoOp | Action::Verified => " ",
            Action::Drift => "!",
            Action::Blocked => "x",
        }
    }
}

/// A resource kind's identity: its label (`vnet-link`), as in plans and renderings. What the
/// kind is and does is in `src/resources/` (`registry::kind` finds it); a saved plan naming a
/// kind moat does not know is refused when it is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindId(Cow<'static, str>);

impl KindId {
    pub const fn new(label: &'static str) -> KindId {
        KindId(Cow::Borrowed(label))
    }

    pub fn label(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KindId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for KindId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KindId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<KindId, D::Error> {
        Ok(KindId(Cow::Owned(String::deserialize(d)?)))
    }
}

/// One managed field's value before and after (JSON, normalised for display).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path in the ARM body, e.g. `properties.publicNetworkAccess`.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// The ARM request apply sends for a change. Built by the planner from the raw observed JSON, so
/// fields moat does not manage are carried over untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    pub method: Method,
    pub path: String,
    pub api_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// `If-Match` etag, where the resource type honours it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_match: Option<String>,
    /// `If-None-Match: *` (create only), where the type honours it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub if_none_match: bool,
    /// Serialisation key: writes sharing it never run at once (one account, VNet or NSG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// Goes before the other writes on its lock that it does not itself wait for (the
    /// cutover's critical path).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_on_lock: bool,
    /// A refusal apply waits out and re-sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resend: Option<Resend>,
    /// Adoption of an equal resource that exists under another name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<Adopt>,
    /// Values of the body that are not known when planning (the principal of an identity the
    /// same apply creates): apply reads each just before sending and writes it into the body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bind: Vec<Bind>,
}

/// One value of a write's body that apply fills in just before sending: the string at `field`
/// (a dotted path) of the resource `from`, read with `api_version`, written at `path` (a dotted
/// path in the body). A missing value fails the write; nothing is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bind {
    pub path: String,
    pub from: String,
    pub api_version: String,
    pub field: String,
}

/// A condition apply must see true in live ARM before starting a change (the cutover gates).
/// The gate's kind decides whether it holds (`Kind::ready`): the account Succeeded, a role
/// assignment visible, a private endpoint ready, a RAI policy present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub kind: KindId,
    /// The resources the condition is about, as the kind reads them (the subject first).
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Stable address, unique in the plan: `{instance}/{kind}/{name}`.
    pub address: String,
    pub kind: KindId,
    /// The ARM id of the resource.
    pub id: String,
    pub action: Action,
    /// Managed fields that differ (empty for no-ops).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why moat wants this change (explains only; never drives apply).
    pub reason: String,
    /// What running clients will notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<String>,
    /// Why moat will not make this change (action `blocked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// The blueprint exception that allows a weakening, quoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// Addresses of changes that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Conditions awaited in live ARM before this change starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
    /// Fingerprint of the observed resource this change was computed from (etag when ARM has one,
    /// else a digest of the observed managed fields); `absent` when it did not exist.
    pub observed: String,
    /// An update that puts back what the blueprint already declares: a managed field's live
    /// value is weaker than any the blueprint allows (drift since the last apply, or an instance
    /// not hardened yet). Set by the planner from the kind's `weak` values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regression: bool,
    /// The request apply sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write: Option<Write>,
}

impl Plan {
    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.instances.iter().flat_map(|i| i.changes.iter())
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in self.changes() {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Delete => s.delete += 1,
                Action::Drift => s.drift += 1,
                Action::Blocked => s.blocked += 1,
                Action::NoOp | Action::Verified => s.unchanged += 1,
            }
            if c.risk.is_some() && c.action.is_write() {
                s.risks += 1;
            }
            if c.regression {
                s.regressions += 1;
            }
        }
        s
    }

    /// True when apply has something to write.
    pub fn has_changes(&self) -> bool {
        self.changes().any(|c| c.action.is_write())
    }

    /// True when the plan must fail (blocked changes, drift on verify-only controls).
    pub fn is_failed(&self) -> bool {
        self.instances.iter().any(InstancePlan::is_failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub drift: usize,
    pub blocked: usize,
    pub unchanged: usize,
    pub risks: usize,
    /// Updates that are regressions (`Change::regression`).
    #[serde(default)]
    pub regressions: usize,
}

impl Change {
    /// A change with no fields, dependencies or write yet.
    pub fn new(
        address: impl Into<String>,
        kind: KindId,
        id: impl Into<String>,
        action: Action,
        reason: impl Into<String>,
        observed: String,
    ) -> Change {
        Change {
            address: address.into(),
            kind,
            id: id.into(),
            action,
            fields: Vec::new(),
            reason: reason.into(),
            risk: None,
            blocked: None,
            exception: None,
            depends_on: Vec::new(),
            gates: Vec::new(),
            observed,
            regression: false,
            write: None,
        }
    }

    /// A change moat will not make.
    pub fn blocked(
        address: impl Into<String>,
        kind: KindId,
        id: impl Into<String>,
        why: impl Into<String>,
        observed: String,
    ) -> Change {
        let why = why.into();
        let mut c = Change::new(address, kind, id, Action::Blocked, why.clone(), observed);
        c.blocked = Some(why);
        c
    }

    pub fn with_write(mut self, write: Write) -> Change {
        self.write = Some(write);
        self
    }

    pub fn with_fields(mut self, fields: Vec<FieldChange>) -> Change {
        self.fields = fields;
        self
    }

    pub fn with_risk(mut self, risk: Option<String>) -> Change {
        self.risk = risk;
        self
    }
}

impl Write {
    pub fn new(
        method: Method,
        path: impl Into<String>,
        api_version: &str,
        body: Option<Value>,
    ) -> Write {
        Write {
            method,
            path: path.into(),
            api_version: api_version.to_string(),
            body,
            if_match: None,
            if_none_match: false,
            lock: None,
            first_on_lock: false,
            resend: None,
            adopt: None,
            bind: Vec::new(),
        }
    }

    /// Send `If-Match: <etag of observed>` (when it has one): for full-replace PUTs built from
    /// the observed body, so a change made by someone else since the plan fails with 412
    /// instead of being overwritten.
    pub fn if_match(mut self, observed: &Value) -> Write {
        self.if_match = observed
            .get("etag")
            .and_then(Value::as_str)
            .map(str::to_string);
        self
    }
}

/// Re-send a write that ARM refused with `code` (the write did not land) after `gate` holds,
/// at most `times` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resend {
    pub code: String,
    pub gate: Gate,
    pub times: u32,
}

/// How a value in a live item is compared with the one a write sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compare {
    /// Case-insensitive text.
    Text,
    /// ARM ids (case-insensitive, leading and trailing slashes ignored).
    Id,
    /// The last segment of an id (a role definition GUID at any scope).
    LastSegment,
}

/// One field an adopted item must share with the write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub path: String,
    pub value: String,
    pub compare: Compare,
}

/// When ARM refuses a create with `code` because an equal resource exists under another name,
/// the item of `list` matching every field is the state the blueprint asks for: apply adopts it
/// (gates waiting for the planned id wait for the adopted one instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adopt {
    pub code: String,
    pub list: String,
    pub api_version: String,
    pub matches: Vec<Match>,
}
