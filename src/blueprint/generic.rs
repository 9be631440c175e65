//! Controls resolved from the schema table alone (`GENERIC_CONTROLS` in schema_controls.rs): a
//! new control of that kind needs no field in `resolved::Controls` and no code here.

use serde_json::{Map, Value};

use super::context::{declared, mode, val, value_at, Ctx};
use super::resolved::{Control, Instance};
use super::schema::{Obj, Ty, Weakening, CONTROLS, GENERIC_CONTROLS};
use super::yaml::{self, Node};

/// Resolves every generic control the instance declares into `inst.controls.generic`.
pub fn resolve(ctx: &mut Ctx, inst: &mut Instance, controls: &Node) {
    for g in GENERIC_CONTROLS {
        let (Some(node), Some(obj)) = (declared(controls, g.key), obj_of(g.key)) else {
            continue;
        };
        let resolved = control(ctx, node, obj, g.weak_when);
        exclusive(ctx, node, obj, g.exclusive);
        not_longer(ctx, node, &resolved.spec, g.not_longer);
        inst.controls.generic.insert(g.key, resolved);
    }
}

/// The `Obj` of the control `key` in `controls:`.
fn obj_of(key: &str) -> Option<&'static Obj> {
    match CONTROLS.field(key)?.ty {
        Ty::Obj(obj) => Some(obj),
        _ => None,
    }
}

fn control(ctx: &mut Ctx, node: &Node, obj: &Obj, weak_when: &[Weakening]) -> Control<Value> {
    let spec = spec_of(node, obj);
    for w in weak_when {
        let written = w.field.split('.').try_fold(&spec, |v, k| v.get(k));
        if written.and_then(scalar_text).as_deref() == Some(w.value) {
            ctx.weak(w.allows, &loc_at(node, w.field), w.message.into(), None);
        }
    }
    Control {
        mode: mode(node, obj),
        spec,
    }
}

/// Each pair of fields that may not both be given, reported where the second is written.
fn exclusive(ctx: &mut Ctx, node: &Node, obj: &Obj, pairs: &[(&str, &str)]) {
    for (a, b) in pairs {
        if val(node, obj, a).is_some() && val(node, obj, b).is_some() {
            ctx.error(
                &value_at(node, b),
                format!("`{a}` and `{b}` are both given: say which one moat uses"),
                Some(format!("remove `{a}` or `{b}`")),
            );
        }
    }
}

/// Each pair of durations where the first may not be longer than the second (defaults
/// included), reported where the first is written.
fn not_longer(ctx: &mut Ctx, node: &Node, spec: &Value, pairs: &[(&str, &str)]) {
    let at = |path: &str| path.split('.').try_fold(spec, |v, k| v.get(k))?.as_str();
    for (a, b) in pairs {
        let (Some(x), Some(y)) = (at(a), at(b)) else {
            continue;
        };
        if let (Some(mx), Some(my)) = (minutes(x), minutes(y)) {
            if mx > my {
                ctx.error(
                    &loc_at(node, a),
                    format!("`{a}` is {x}, longer than `{b}` ({y}): Azure Monitor refuses a rule evaluated less often than its window"),
                    Some(format!("make `{a}` at most {y}, or `{b}` longer")),
                );
            }
        }
    }
}

/// An ISO 8601 duration of days, hours and minutes (`P1D`, `PT1H`, `PT15M`) in minutes.
fn minutes(d: &str) -> Option<u64> {
    let rest = d.strip_prefix('P')?;
    let (days, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = 0u64;
    if !days.is_empty() {
        total += days.strip_suffix('D')?.parse::<u64>().ok()? * 1440;
    }
    let mut num = String::new();
    for c in time.chars() {
        match c {
            '0'..='9' => num.push(c),
            'H' | 'M' => {
                let n: u64 = std::mem::take(&mut num).parse().ok()?;
                total += if c == 'H' { n * 60 } else { n };
            }
            _ => return None,
        }
    }
    num.is_empty().then_some(total)
}

/// The fields of `node` as JSON (without `mode`), with the table's defaults for the fields not
/// written, also inside nested objects (`keyAccess: {}` gets `enabled: true`).
fn spec_of(node: &Node, obj: &Obj) -> Value {
    let mut spec = Map::new();
    for field in obj.fields.iter().filter(|f| f.name != "mode") {
        let default = field.default.and_then(|d| yaml::parse("default", d).ok());
        let Some(v) = val(node, obj, field.name).or(default.as_ref()) else {
            continue;
        };
        let value = match (field.ty, &v.kind) {
            (Ty::Obj(inner), yaml::Kind::Map(_)) => spec_of(v, inner),
            _ => v.to_json(),
        };
        spec.insert(field.name.into(), value);
    }
    Value::Object(spec)
}

/// Where a dotted field is written, or the nearest enclosing node that is.
fn loc_at(node: &Node, path: &str) -> yaml::Loc {
    match path.split_once('.') {
        Some((head, rest)) => match node.get(head) {
            Some(inner) => loc_at(inner, rest),
            None => node.loc.clone(),
        },
        None => value_at(node, path),
    }
}

/// The field a dotted path names (`keyAccess.enabled`), through nested objects.
#[cfg(test)]
fn field_at(obj: &Obj, path: &str) -> Option<&'static super::schema::Field> {
    match path.split_once('.') {
        Some((head, rest)) => match obj.field(head)?.ty {
            Ty::Obj(inner) => field_at(inner, rest),
            _ => None,
        },
        None => obj.field(path),
    }
}

/// A scalar as YAML writes it, to compare with `Weakening::value`.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::check::fits;
    use crate::blueprint::diag::Diagnostic;
    use crate::blueprint::schema::{ExceptionKind, Field};
    use crate::blueprint::shape::{f, BOOL, MODE, MODE_DOC, TEXT};

    /// The table promises what `control` relies on: each generic control is a mapping in
    /// `controls:`, its defaults are literal values of its fields' types, and each weakening
    /// names a field of it with a value that field can hold.
    #[test]
    fn generic_controls_are_consistent_with_their_tables() {
        for g in GENERIC_CONTROLS {
            let obj = obj_of(g.key).unwrap_or_else(|| panic!("`{}` is not in CONTROLS", g.key));
            for field in obj.fields {
                if let Some(d) = field.default {
                    let node = yaml::parse("default", d).unwrap();
                    assert!(
                        fits(&node, field.ty),
                        "{}.{}: default `{d}`",
                        g.key,
                        field.name
                    );
                }
            }
            for w in g.weak_when {
                let field: &Field = field_at(obj, w.field).unwrap();
                let node = yaml::parse("weak", w.value).unwrap();
                assert!(
                    fits(&node, field.ty),
                    "{}.{}: `{}`",
                    g.key,
                    w.field,
                    w.value
                );
            }
        }
    }

    static PROBE: Obj = Obj {
        title: "probe",
        doc: "A control for these tests.",
        nullable: false,
        fields: &[
            f("mode", &MODE, MODE_DOC).def("managed"),
            f("on", &BOOL, "Whether it is on.").def("true"),
            f("note", &TEXT, "Free text."),
        ],
    };
    const OFF: &[Weakening] = &[Weakening {
        field: "on",
        value: "false",
        allows: ExceptionKind::LocalAuth,
        message: "the probe is off",
    }];

    /// `f` run on the probe document `text`, with a context collecting its findings.
    fn on_probe<R>(text: &str, f: impl FnOnce(&mut Ctx, &Node) -> R) -> (R, Vec<Diagnostic>) {
        let node = yaml::parse("probe.yaml", text).unwrap();
        let mut out = Vec::new();
        let mut ctx = Ctx {
            out: &mut out,
            today: time::macros::date!(2026 - 01 - 01),
            expired_are_errors: true,
            instance: "probe".into(),
            at: node.loc.clone(),
            granted: Vec::new(),
            bad_existing: Vec::new(),
        };
        let r = f(&mut ctx, &node);
        (r, out)
    }

    fn resolve_probe(text: &str) -> (Control<Value>, Vec<Diagnostic>) {
        on_probe(text, |ctx, node| control(ctx, node, &PROBE, OFF))
    }

    #[test]
    fn defaults_fill_what_is_not_written_and_mode_is_taken_out() {
        let (c, out) = resolve_probe("mode: verify\n");
        assert_eq!(c.mode, crate::blueprint::resolved::Mode::Verify);
        assert_eq!(c.spec, serde_json::json!({"on": true}));
        assert!(out.is_empty(), "{out:?}");
        let (c, _) = resolve_probe("note: hello\n");
        assert_eq!(c.mode, crate::blueprint::resolved::Mode::Managed);
        assert_eq!(c.spec, serde_json::json!({"on": true, "note": "hello"}));
    }

    #[test]
    fn durations_read_in_minutes() {
        assert_eq!(minutes("PT1M"), Some(1));
        assert_eq!(minutes("PT15M"), Some(15));
        assert_eq!(minutes("PT1H"), Some(60));
        assert_eq!(minutes("PT1H30M"), Some(90));
        assert_eq!(minutes("P1D"), Some(1440));
        assert_eq!(minutes("1H"), None);
        assert_eq!(minutes("PT5"), None);
    }

    #[test]
    fn two_exclusive_fields_are_a_located_error_and_one_is_not() {
        let run = |text: &str| {
            let ((), out) = on_probe(text, |ctx, node| {
                exclusive(ctx, node, &PROBE, &[("on", "note")])
            });
            out.iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        let out = run("on: true\nnote: x\n");
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].starts_with("probe.yaml:2:7: error: `on` and `note` are both given"),
            "{}",
            out[0]
        );
        assert!(run("note: x\n").is_empty());
        assert!(run("on: ~\nnote: x\n").is_empty());
    }

    #[test]
    fn a_weak_value_is_refused_where_it_is_written() {
        let (c, out) = resolve_probe("note: x\non: false\n");
        assert_eq!(c.spec["on"], false);
        assert_eq!(out.len(), 1, "{out:?}");
        let shown = out[0].to_string();
        assert!(
            shown.starts_with("probe.yaml:2:5: error: the probe is off"),
            "{shown}"
        );
        assert!(shown.contains("allows: local-auth"), "{shown}");
    }
}
