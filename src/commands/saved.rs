//! Saved plans (`moat plan --out`): reading one back, finding its blueprint, and saying, field by
//! field, how it differs from the plan moat would make now.
//!
//! Everything in a plan file is untrusted (anyone who can write the artifact can write it), so
//! every string from it is [`clean`]ed before it is printed.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::model::{Change, FieldChange, Plan};
use crate::sanitize::clean;

use super::MoatError;

/// The largest saved plan moat reads: 64 MiB (one brownfield instance renders about 50 KiB of
/// JSON, so a fleet of 1,200 fits).
pub const MAX_SAVED_PLAN_BYTES: u64 = 64 * 1024 * 1024;

/// A value from a plan file is shown on one line and at most this many characters.
const MAX_VALUE_CHARS: usize = 120;

/// Read a saved plan: a regular file of bounded size (never a device or a FIFO), its format
/// version, digest and kinds checked.
pub fn read(path: &Path) -> Result<Plan, MoatError> {
    let text = crate::blueprint::read_bounded(path, MAX_SAVED_PLAN_BYTES)
        .map_err(|e| MoatError::SavedPlanUnreadable(format!("{}: {e}", path.display())))?;
    Ok(crate::render::json::load(
        &path.display().to_string(),
        &text,
    )?)
}

/// The blueprint a saved plan was made from: `path_from_plan` resolved against the plan file's
/// directory, so `apply --plan` works from any working directory. Plans written before moat
/// recorded it name the blueprint relative to the working directory they were made in.
pub fn blueprint_path(plan_file: &Path, plan: &Plan) -> PathBuf {
    match &plan.blueprint.path_from_plan {
        Some(rel) => plan_file
            .parent()
            .unwrap_or(Path::new(""))
            .join(Path::new(rel)),
        None => PathBuf::from(&plan.blueprint.path),
    }
}

/// `blueprint` relative to the directory `plan_file` is written to, `/`-separated; `None` when
/// either cannot be resolved (the plan then records only the path as given).
pub fn path_from_plan(plan_file: &Path, blueprint: &Path) -> Option<String> {
    let dir = match plan_file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).ok()?;
    let bp = std::fs::canonicalize(blueprint).ok()?;
    let (d, b): (Vec<Component>, Vec<Component>) =
        (dir.components().collect(), bp.components().collect());
    let common = d.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        // Different roots (drives): no relative path exists.
        return None;
    }
    let mut parts: Vec<String> = vec!["..".to_string(); d.len() - common];
    for c in &b[common..] {
        parts.push(c.as_os_str().to_str()?.to_string());
    }
    Some(parts.join("/"))
}

/// Compare a saved plan with a fresh one made from live state now: every resource must have the
/// fingerprint (etag or digest) it had at planning time. Each difference is named by address and
/// field: the values the reviewer saw, and the values now.
pub fn stale_differences(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for s in saved.changes() {
        match fresh.changes().find(|f| f.address == s.address) {
            None => out.push(format!(
                "  {}: no longer part of the plan",
                clean(&s.address)
            )),
            Some(f) if f.observed != s.observed => {
                let before = out.len();
                if s.action != f.action {
                    out.push(format!(
                        "  {}: {} in the saved plan, {} now",
                        clean(&s.address),
                        action(s),
                        action(f)
                    ));
                }
                out.extend(field_lines(&s.address, &s.fields, &f.fields));
                if out.len() == before {
                    out.extend(body_lines(s, f));
                }
                if out.len() == before {
                    out.push(format!(
                        "  {}: changed in Azure since the plan, outside the fields it changes",
                        clean(&s.address)
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for f in fresh.changes().filter(|f| f.action.is_write()) {
        if !saved.changes().any(|s| s.address == f.address) {
            out.push(format!(
                "  {}: new change not in the saved plan ({})",
                clean(&f.address),
                action(f)
            ));
            out.extend(field_lines(&f.address, &[], &f.fields));
        }
    }
    out
}

/// A saved plan is the reviewer's approval of one change set, not a program: apply plans afresh
/// from the blueprint and live state, and applies the fresh plan only when every one of its
/// changes is the approved one — same action, same fields before and after, same write (method,
/// target, body, preconditions and directives). Nothing from the plan file is sent to ARM, so a
/// plan edited and re-digested (the digest is a checksum, not a signature) cannot make apply do
/// anything the reviewer did not see.
pub fn approval_differences(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for f in fresh.changes() {
        let Some(s) = saved.changes().find(|s| s.address == f.address) else {
            continue;
        };
        let mut what = Vec::new();
        if s.action != f.action {
            what.push(format!("{} approved, {} now", action(s), action(f)));
        }
        if s.id != f.id {
            what.push(format!("target {} approved, {} now", clean(&s.id), f.id));
        }
        if s.write != f.write {
            let target = |c: &Change| {
                c.write
                    .as_ref()
                    .map(|w| format!("{} {}", w.method.as_str(), clean(&w.path)))
                    .unwrap_or_else(|| "no write".into())
            };
            what.push(format!(
                "the write differs from the approved one (approved: {}; now: {})",
                target(s),
                target(f)
            ));
        }
        if !what.is_empty() {
            out.push(format!("  {}: {}", f.address, what.join("; ")));
        }
        out.extend(field_lines(&f.address, &s.fields, &f.fields));
    }
    out
}

/// One line per managed field whose planned change differs between the saved plan and now:
/// `ADDRESS: PATH: saved plan BEFORE → AFTER, now BEFORE → AFTER`.
fn field_lines(address: &str, saved: &[FieldChange], now: &[FieldChange]) -> Vec<String> {
    let mut paths: Vec<&str> = saved.iter().map(|f| f.path.as_str()).collect();
    for f in now {
        if !paths.contains(&f.path.as_str()) {
            paths.push(&f.path);
        }
    }
    let find = |fs: &[FieldChange], p: &str| fs.iter().find(|f| f.path == p).cloned();
    let side = |f: &Option<FieldChange>| match f {
        Some(f) => format!("{} → {}", show(&f.before), show(&f.after)),
        None => "no change".to_string(),
    };
    paths
        .into_iter()
        .filter_map(|p| {
            let (s, n) = (find(saved, p), find(now, p));
            (s != n).then(|| {
                format!(
                    "  {}: {}: saved plan {}, now {}",
                    clean(address),
                    clean(p),
                    side(&s),
                    side(&n)
                )
            })
        })
        .collect()
}

/// A write body holds every property the live resource had, managed or not (full PUTs carry
/// what moat does not manage over untouched): when the managed fields are the same, the
/// properties that changed in Azure show here. One line per differing leaf, at most
/// [`MAX_BODY_LINES`]; `etag` is left out (it always differs, and says nothing to a reviewer).
fn body_lines(saved: &Change, now: &Change) -> Vec<String> {
    let body = |c: &Change| c.write.as_ref().and_then(|w| w.body.clone());
    let (Some(s), Some(n)) = (body(saved), body(now)) else {
        return Vec::new();
    };
    let mut diffs = Vec::new();
    leaf_differences("", Some(&s), Some(&n), &mut diffs);
    diffs.retain(|(p, _, _)| p != "etag");
    let total = diffs.len();
    let mut out: Vec<String> = diffs
        .into_iter()
        .take(MAX_BODY_LINES)
        .map(|(p, a, b)| {
            format!(
                "  {}: {}: saved plan {}, now {} (in the body apply sends)",
                clean(&saved.address),
                clean(&p),
                show(&a),
                show(&b)
            )
        })
        .collect();
    if total > MAX_BODY_LINES {
        out.push(format!(
            "  {}: … and {} more difference(s) in the body",
            clean(&saved.address),
            total - MAX_BODY_LINES
        ));
    }
    out
}

/// At most this many body differences are listed per change.
const MAX_BODY_LINES: usize = 10;

/// The dotted paths where `a` and `b` differ, with both values (objects compared key by key,
/// arrays of the same length item by item, anything else whole).
fn leaf_differences(
    path: &str,
    a: Option<&Value>,
    b: Option<&Value>,
    out: &mut Vec<(String, Option<Value>, Option<Value>)>,
) {
    if a == b {
        return;
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                leaf_differences(&join(k), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                leaf_differences(&format!("{path}[{i}]"), Some(u), Some(v), out);
            }
        }
        _ => out.push((path.to_string(), a.cloned(), b.cloned())),
    }
}

fn action(c: &Change) -> &'static str {
    crate::render::action_word(c.action)
}

/// A value on one line, cleaned and cut to [`MAX_VALUE_CHARS`].
fn show(v: &Option<Value>) -> String {
    let s = match v {
        None => "(absent)".to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    };
    let s = clean(&s);
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, BlueprintRef, InstancePlan};
    use serde_json::json;

    fn change(address: &str, action: Action, observed: &str) -> Change {
        Change::new(
            address,
            crate::model::KindId::new("test"),
            "/a",
            action,
            "test",
            observed.into(),
        )
    }

    fn field(path: &str, before: Value, after: Value) -> FieldChange {
        FieldChange {
            path: path.into(),
            before: Some(before),
            after: Some(after),
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: 1,
            moat_version: "test".into(),
            blueprint: BlueprintRef {
                path: "b.yaml".into(),
                path_from_plan: None,
                digest: "d".into(),
            },
            instances: vec![InstancePlan {
                name: "i".into(),
                subscription: "s".into(),
                account_id: "/a".into(),
                changes,
                notes: vec![],
                exceptions: vec![],
                rotation: None,
            }],
        }
    }

    #[test]
    fn stale_differences_name_each_changed_field_missing_and_new_change() {
        let saved = plan(vec![
            change("i/a/1", Action::Update, "etag-1"),
            change("i/b/2", Action::Update, "etag-2").with_fields(vec![field(
                "sku.capacity",
                json!(10),
                json!(30),
            )]),
            change("i/c/3", Action::Create, "absent"),
            change("i/d/4", Action::NoOp, "digest-1"),
            change("i/g/7", Action::Update, "etag-7"),
        ]);
        assert!(stale_differences(&saved, &saved).is_empty());
        let fresh = plan(vec![
            change("i/a/1", Action::Update, "etag-1"),
            change("i/b/2", Action::Update, "etag-3").with_fields(vec![field(
                "sku.capacity",
                json!(20),
                json!(30),
            )]),
            change("i/d/4", Action::NoOp, "digest-1"),
            change("i/e/5", Action::Create, "absent").with_fields(vec![field(
                "properties.x",
                json!(null),
                json!("y"),
            )]),
            change("i/f/6", Action::NoOp, "digest-9"),
            change("i/g/7", Action::NoOp, "etag-8"),
        ]);
        let d = stale_differences(&saved, &fresh);
        assert_eq!(
            d,
            [
                "  i/b/2: sku.capacity: saved plan 10 → 30, now 20 → 30",
                "  i/c/3: no longer part of the plan",
                "  i/g/7: update in the saved plan, no change now",
                "  i/e/5: new change not in the saved plan (create)",
                "  i/e/5: properties.x: saved plan no change, now null → \"y\"",
            ]
        );
        // No etag is named: the fingerprints are how moat notices, not what the reviewer reads.
        assert!(d.iter().all(|l| !l.contains("etag")), "{d:#?}");
    }

    #[test]
    fn a_fingerprint_change_outside_the_managed_fields_is_still_named() {
        let saved = plan(vec![change("i/a/1", Action::Update, "etag-1")]);
        let fresh = plan(vec![change("i/a/1", Action::Update, "etag-2")]);
        assert_eq!(
            stale_differences(&saved, &fresh),
            ["  i/a/1: changed in Azure since the plan, outside the fields it changes"]
        );
    }

    #[test]
    fn a_property_changed_outside_the_managed_fields_is_named_from_the_write_bodies() {
        let with_body = |etag: &str, capacity: u32| {
            change("i/a/1", Action::Update, etag).with_write(crate::model::Write::new(
                crate::arm::Method::Put,
                "/a",
                "v",
                Some(json!({"etag": etag, "sku": {"capacity": capacity}, "tags": ["x", "y"]})),
            ))
        };
        let saved = plan(vec![with_body("e1", 10)]);
        let fresh = plan(vec![with_body("e2", 20)]);
        assert_eq!(
            stale_differences(&saved, &fresh),
            ["  i/a/1: sku.capacity: saved plan 10, now 20 (in the body apply sends)"]
        );
    }

    #[test]
    fn strings_from_the_plan_file_are_escaped_and_cut() {
        let long = "x".repeat(500);
        let saved = plan(vec![change("i/a/1\u{1b}[2J", Action::Update, "e1")
            .with_fields(vec![field("p\nq", json!(long), json!("\u{202e}b"))])]);
        let fresh = plan(vec![change("i/a/1\u{1b}[2J", Action::Update, "e2")]);
        let d = stale_differences(&saved, &fresh);
        assert_eq!(d.len(), 1, "{d:#?}");
        let line = &d[0];
        assert!(!line.contains('\u{1b}') && !line.contains('\n'), "{line:?}");
        assert!(!line.contains('\u{202e}'), "{line:?}");
        assert!(line.contains(&format!("\"{}…", "x".repeat(119))), "{line}");
        assert!(line.len() < 400, "{line}");
    }

    #[test]
    fn approval_differences_name_the_fields_that_differ() {
        let saved = plan(vec![change("i/a/1", Action::Update, "e").with_fields(
            vec![field(
                "properties.publicNetworkAccess",
                json!("Enabled"),
                json!("Disabled"),
            )],
        )]);
        let fresh = plan(vec![change("i/a/1", Action::Update, "e").with_fields(
            vec![field(
                "properties.publicNetworkAccess",
                json!("Enabled"),
                json!("Enabled"),
            )],
        )]);
        assert!(approval_differences(&saved, &saved).is_empty());
        assert_eq!(
            approval_differences(&saved, &fresh),
            ["  i/a/1: properties.publicNetworkAccess: saved plan \"Enabled\" → \"Disabled\", now \"Enabled\" → \"Enabled\""]
        );
    }

    #[test]
    fn the_blueprint_is_found_relative_to_the_plan_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b/c"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let bp = b.join("bp.yaml");
        std::fs::write(&bp, "x").unwrap();
        let plan_file = a.join("plan.json");
        let rel = path_from_plan(&plan_file, &bp).expect("a relative path");
        assert_eq!(rel, "../b/c/bp.yaml");
        let mut p = plan(vec![]);
        p.blueprint.path_from_plan = Some(rel);
        let found = blueprint_path(&plan_file, &p);
        assert_eq!(
            std::fs::canonicalize(found).unwrap(),
            std::fs::canonicalize(&bp).unwrap()
        );
        // Older plans: the path as given, relative to the working directory.
        p.blueprint.path_from_plan = None;
        assert_eq!(blueprint_path(&plan_file, &p), PathBuf::from("b.yaml"));
    }
}
