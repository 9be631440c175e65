//! What the M2 alert-rule kinds share (activity-log rules, metric rules): the rule's words in
//! plans, how a rule is turned off (a weakening that needs the `alert-disabled` exception), the
//! write (tags carried over, `If-Match` / `If-None-Match: *`), destroy of the rules moat
//! created, and the comparisons that see through the server's rewrites (scopes without their
//! leading `/`, lower-cased ids, numbers that come back as floats).

use serde_json::{json, Value};

use super::kind::{Planned, Read, Reads, Stage};
use super::{fingerprint, get, get_str, norm_id, OWNER_TAG, OWNER_VALUE};
use crate::arm::Method;
use crate::blueprint::resolved::{ExceptionKind, Instance, Mode};
use crate::model::{Change, FieldChange, KindId, Write};

/// A rule's words: the suffix of its name (`{account}-{suffix}`), why moat keeps it and what
/// is lost when it is off.
pub struct Words {
    pub suffix: &'static str,
    pub reason: &'static str,
    pub lost: &'static str,
}

/// One row of an alert kind's rule table.
pub trait Row: Sync + 'static {
    /// Its field in `controls.alerts`.
    fn key(&self) -> &'static str;
    fn words(&self) -> &Words;
    /// Its ARM id for `inst`.
    fn id(&self, inst: &Instance) -> String;
}

/// `Row` for a kind's rule struct with `key` and `words` fields and a `rule_id(inst, rule)`.
macro_rules! row {
    ($rule:ty, $id:path) => {
        impl $crate::resources::alert_rule::Row for $rule {
            fn key(&self) -> &'static str {
                self.key
            }
            fn words(&self) -> &$crate::resources::alert_rule::Words {
                &self.words
            }
            fn id(&self, inst: &Instance) -> String {
                $id(inst, self)
            }
        }
    };
}
pub(crate) use row;

/// A rule `inst` declares: the row, the control's mode, the rule's fields and its read.
pub struct Declared<'i, R: 'static> {
    pub rule: &'static R,
    pub mode: Mode,
    pub spec: &'i Value,
    pub read: Read,
}

/// The rules of `rules` that `inst` declares (an object under their key in `controls.alerts`).
pub fn declared<'i, R: Row>(
    inst: &'i Instance,
    rules: &[&'static R],
    api_version: &'static str,
) -> Vec<Declared<'i, R>> {
    let Some(ctl) = inst.controls.generic(super::action_group::CONTROL) else {
        return Vec::new();
    };
    rules
        .iter()
        .copied()
        .filter_map(|rule| {
            let spec = ctl.spec.get(rule.key()).filter(|r| r.is_object())?;
            Some(Declared {
                rule,
                mode: ctl.mode,
                spec,
                read: Read::get(rule.id(inst), api_version),
            })
        })
        .collect()
}

/// The reads of the declared rules.
pub fn reads<R: Row>(declared: &[Declared<'_, R>]) -> Vec<Read> {
    declared.iter().map(|d| d.read.clone()).collect()
}

/// Whether a rule that is off and does not exist is left alone (nothing to plan), noting it when
/// the rule is on by default (its exception allows it off).
pub fn off_and_absent(
    out: &mut Planned,
    inst: &Instance,
    words: &Words,
    (enabled, on_by_default): (bool, bool),
    live: Option<&Value>,
) -> bool {
    if enabled || live.is_some() {
        return false;
    }
    if on_by_default {
        out.notes.push(format!(
            "{}: the {} alert is off (its exception allows it) and does not exist",
            inst.name, words.suffix
        ));
    }
    true
}

/// One rule as a kind planned it: the body it wants and the managed fields that differ.
pub struct Draft<'a> {
    pub inst: &'a Instance,
    pub kind: KindId,
    pub id: String,
    pub api_version: &'static str,
    pub mode: Mode,
    pub enabled: bool,
    pub words: &'a Words,
    /// The body without tags (carried over from the live rule, or moat's owner tag).
    pub want: Value,
    pub fields: Vec<FieldChange>,
    pub live: Option<&'a Value>,
}

/// The address of a rule in plans: `{instance}/{kind}/{suffix}`.
pub fn address(inst: &Instance, kind: &KindId, words: &Words) -> String {
    format!("{}/{}/{}", inst.name, kind, words.suffix)
}

/// Scopes as the server means them: ids without case or a leading `/`, sorted.
pub fn canon_scopes(scopes: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = scopes
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(norm_id)
        .collect();
    out.sort();
    out
}

/// A criterion's dimensions as the server means them: names and operators without case, values
/// (without case too: deployment names are case-insensitive in ARM) and the list sorted.
pub fn canon_dimensions(dimensions: &Value) -> Vec<(String, String, Vec<String>)> {
    let low = |d: &Value, k: &str| get_str(d, k).unwrap_or_default().to_ascii_lowercase();
    let mut dims: Vec<(String, String, Vec<String>)> = dimensions
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let mut values: Vec<String> = d["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect();
            values.sort();
            (low(d, "name"), low(d, "operator"), values)
        })
        .collect();
    dims.sort();
    dims
}

/// Two JSON numbers equal as numbers (`20` and `20.0`).
pub fn same_number(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Two strings equal without case (enums, durations).
pub fn same_text(a: &Value, b: &Value) -> bool {
    a.as_str()
        .zip(b.as_str())
        .is_some_and(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Two booleans equal.
pub fn same_bool(a: &Value, b: &Value) -> bool {
    a.as_bool().is_some() && a.as_bool() == b.as_bool()
}

/// Two scope lists equal as the server means them.
pub fn same_scopes(a: &Value, b: &Value) -> bool {
    canon_scopes(Some(a)) == canon_scopes(Some(b))
}

/// The managed fields of a rule that differ between the live body and the wanted one.
pub struct Diff<'a> {
    live: Option<&'a Value>,
    want: &'a Value,
    pub fields: Vec<FieldChange>,
}

impl<'a> Diff<'a> {
    pub fn new(live: Option<&'a Value>, want: &'a Value) -> Diff<'a> {
        Diff {
            live,
            want,
            fields: Vec::new(),
        }
    }

    /// The live and wanted values at a dotted path (`null` when absent).
    pub fn values(&self, path: &str) -> (Value, Value) {
        let at = |v: Option<&Value>| v.and_then(|v| get(v, path)).cloned().unwrap_or(Value::Null);
        (at(self.live), at(Some(self.want)))
    }

    /// A change at `path` unless `same` says the values are equal; shown as they are.
    pub fn field(&mut self, path: &str, same: fn(&Value, &Value) -> bool) {
        let (l, w) = self.values(path);
        let same = same(&l, &w);
        self.push(path, same, l, w);
    }

    /// A change at `path` unless `same`, each side shown in one line by `show`.
    pub fn shown(
        &mut self,
        path: &str,
        same: fn(&Value, &Value) -> bool,
        show: fn(&Value) -> String,
    ) {
        let (l, w) = self.values(path);
        let same = same(&l, &w);
        let line = |v: Value| {
            if v.is_null() {
                v
            } else {
                Value::from(show(&v))
            }
        };
        self.push(path, same, line(l), line(w));
    }

    fn push(&mut self, path: &str, same: bool, before: Value, after: Value) {
        if !same {
            self.fields.push(FieldChange {
                path: path.into(),
                before: (!before.is_null()).then_some(before),
                after: (!after.is_null()).then_some(after),
            });
        }
    }
}

/// The rule's change: create, update, nothing, or blocked when the blueprint turns it off
/// without the `alert-disabled` exception.
pub fn finish(d: Draft<'_>) -> Change {
    let Draft {
        inst,
        kind,
        id,
        api_version,
        mode,
        enabled,
        words,
        want,
        mut fields,
        live,
    } = d;
    let address = address(inst, &kind, words);
    if live.is_none() {
        fields.clear();
    }
    let differs = live.is_none() || !fields.is_empty();
    let action = super::outcome(mode, live.is_some(), differs);
    let live_enabled = live.and_then(|l| get(l, "properties.enabled"));
    let turning_off = !enabled && live_enabled.and_then(Value::as_bool) != Some(false);
    let exception = inst
        .exceptions
        .iter()
        .find(|e| e.allows == ExceptionKind::AlertDisabled);
    if turning_off && action.is_write() && exception.is_none() {
        let why = format!(
            "refusing to weaken security: the {} alert off, and the blueprint has no `alert-disabled` exception",
            words.suffix
        );
        return Change::blocked(address, kind, &id, &why, fingerprint(live));
    }
    let reason = if enabled {
        words.reason.to_string()
    } else {
        format!(
            "the {} alert off, as the blueprint's exception allows (M2)",
            words.suffix
        )
    };
    let mut c = Change::new(address, kind, &id, action, &reason, fingerprint(live));
    c.fields = fields;
    if action.is_write() {
        let mut body = want;
        body["tags"] = live
            .and_then(|l| l.get("tags"))
            .filter(|t| t.is_object())
            .map(without_hidden_links)
            .unwrap_or_else(|| json!({OWNER_TAG: OWNER_VALUE}));
        let mut w = Write::new(Method::Put, &id, api_version, Some(body));
        match live {
            Some(l) => w = w.if_match(l),
            None => w.if_none_match = true,
        }
        c.write = Some(w);
        if turning_off {
            c.risk = Some(format!("weakens security: {}", words.lost));
            c.exception = exception.map(|e| format!("{}: {}", e.allows, e.reason));
        }
    }
    c
}

/// Tags without the `hidden-link:` ones Azure adds to metric rules (it adds them again).
fn without_hidden_links(tags: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in tags.as_object().into_iter().flatten() {
        if !k.to_ascii_lowercase().starts_with("hidden-link:") {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Destroy of the declared rules of a kind: each one deleted when moat created it (its owner
/// tag) in a managed control, kept with a note otherwise.
pub fn destroy<R: Row>(
    inst: &Instance,
    kind: &KindId,
    declared: &[Declared<'_, R>],
    seen: &Reads,
) -> Planned {
    let mut out = Planned::default();
    for d in declared.iter().filter(|d| d.mode == Mode::Managed) {
        let words = d.rule.words();
        destroy_one(&mut out, inst, kind, words, &d.read, seen.value(&d.read));
    }
    out
}

fn destroy_one(
    out: &mut Planned,
    inst: &Instance,
    kind: &KindId,
    words: &Words,
    read: &Read,
    live: Option<&Value>,
) {
    let (id, api_version) = (read.path.as_str(), read.api_version);
    let Some(live) = live else { return };
    if !super::owned_by_tag(live) {
        out.notes.push(format!(
            "the {} alert rule is kept: moat did not create it (no owner tag)",
            words.suffix
        ));
        return;
    }
    let change = super::delete_change(
        address(inst, kind, words),
        kind.clone(),
        id,
        api_version,
        format!("the {} alert rule moat created", words.suffix),
        format!("weakens security: {}", words.lost),
        live,
    );
    out.changes.push((Stage::Alerting, change));
}
