//! Kind conformance (issue 14): each registered kind's `managed`, `read_only` and `ignored` lists
//! (its declared paths), held to Microsoft's own example bodies for its ARM type. Every kind in
//! `moat::resources::KINDS` is checked without being named here, so a kind merged later is held
//! to the same rules:
//! - it has at least one example body in `emulator_arm_examples/` (add Microsoft's file there);
//! - every property path of those bodies is covered by a declared path (a declared path covers
//!   itself and everything below it), apart from the envelope (`id`, `name`, `type`, …);
//! - a declared path no example shows is reported (printed, not failed: the examples show one
//!   shape of a resource, and a kind may rightly declare a property they leave out).
//!
//! A body is matched to a kind by its resource type, compared case-insensitively with the
//! kind's `arm_type`: its `type` field, or, where it has none (Microsoft's network and RAI
//! examples), the type its `id` names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use moat::resources::kind::Kind;
use moat::resources::KINDS;
use serde_json::Value;

/// Fields every ARM resource has; no kind needs to declare them.
const ENVELOPE: &[&str] = &["id", "name", "type", "etag", "systemData"];

/// Files whose bodies do not say plainly what they are: a `type` the id contradicts, or no
/// usable `type` and an id of another type. Microsoft's files are kept byte-exact, so the type
/// of the resource the operation returns is given here, with why.
const QUIRKS: &[(&str, &str, &str)] = &[
    (
        "Microsoft.CognitiveServices__GetDeletedAccount.json",
        "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts",
        "DeletedAccounts_Get: `type` says accounts, the id is a deletedAccounts id",
    ),
    (
        "Microsoft.Network__PrivateEndpointDnsZoneGroupGet.json",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        "PrivateDnsZoneGroups_Get: no `type`, and the id puts the group under privateLinkServices",
    ),
    (
        "Microsoft.Insights__createOrUpdateDiagnosticSettingCategory.json",
        "Microsoft.Insights/diagnosticSettings",
        "DiagnosticSettings_CreateOrUpdate: `type` is empty, the id lacks providers/microsoft.insights",
    ),
];

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/emulator_arm_examples")
}

/// One resource body of an example file.
struct Body {
    file: String,
    /// Where in the file (`responses.200.body`, `parameters.account`).
    place: String,
    value: Value,
}

/// The resource type an ARM id names: the namespace after its last `/providers/` and every
/// other segment after that (`…/providers/NS/a/x/b/y` → `NS/a/b`).
fn type_of_id(id: &str) -> Option<String> {
    let lower = id.to_ascii_lowercase();
    let at = lower.rfind("/providers/")? + "/providers/".len();
    let mut segs = id[at..].split('/').filter(|s| !s.is_empty());
    let ns = segs.next()?;
    let types: Vec<&str> = segs.step_by(2).collect();
    (!types.is_empty()).then(|| format!("{ns}/{}", types.join("/")))
}

/// A body's resource type: the file's entry in [`QUIRKS`], else its `type` field and its `id`,
/// which must agree when both are there (a disagreement is a new quirk to explain).
fn type_of(file: &str, body: &Value, errors: &mut Vec<String>) -> Option<String> {
    if body.get("id").is_none() && body.get("type").is_none() {
        return None; // a list's wrapper, keys, an empty answer
    }
    if let Some((_, ty, _)) = QUIRKS.iter().find(|(f, _, _)| *f == file) {
        return Some(ty.to_string());
    }
    let field = body["type"].as_str().filter(|t| !t.is_empty());
    let from_id = body["id"].as_str().and_then(type_of_id);
    match (field, from_id) {
        (Some(f), Some(i)) if !f.eq_ignore_ascii_case(&i) => {
            errors.push(format!(
                "{file}: a body says `type` {f} but its id is a {i} id; add the file to QUIRKS with the operation's real type"
            ));
            None
        }
        (Some(f), _) => Some(f.to_string()),
        (None, i) => i,
    }
}

/// Every resource body of every example file, by resource type (lower-cased): each response
/// body, each item of a list response's `value`, and each request body parameter, which has
/// no `type` and is the type of its file's responses.
fn bodies_by_type(errors: &mut Vec<String>) -> BTreeMap<String, Vec<Body>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for (quirk, _, _) in QUIRKS {
        if !files.iter().any(|f| f.ends_with(quirk)) {
            errors.push(format!(
                "QUIRKS names {quirk}, which is not in the examples"
            ));
        }
    }
    let mut out: BTreeMap<String, Vec<Body>> = BTreeMap::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let ex: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut found: Vec<(String, Value)> = Vec::new();
        for (status, resp) in ex["responses"].as_object().into_iter().flatten() {
            let Some(body) = resp.get("body") else {
                continue;
            };
            found.push((format!("responses.{status}.body"), body.clone()));
            for (i, item) in body["value"].as_array().into_iter().flatten().enumerate() {
                found.push((format!("responses.{status}.body.value[{i}]"), item.clone()));
            }
        }
        let mut file_type = None;
        for (place, value) in found {
            if let Some(ty) = type_of(&file, &value, errors) {
                file_type.get_or_insert_with(|| ty.clone());
                out.entry(ty.to_ascii_lowercase()).or_default().push(Body {
                    file: file.clone(),
                    place,
                    value,
                });
            }
        }
        // Path and query parameters are strings; the body parameter is the object. (A stray
        // object parameter with a `type` of its own, like PrivateEndpointCreate's
        // extendedLocation, is not the body.)
        let params = ex["parameters"].as_object().into_iter().flatten();
        for (name, value) in params.filter(|(_, v)| v.is_object() && v.get("type").is_none()) {
            if let Some(ty) = &file_type {
                out.entry(ty.to_ascii_lowercase()).or_default().push(Body {
                    file: file.clone(),
                    place: format!("parameters.{name}"),
                    value: value.clone(),
                });
            }
        }
    }
    out
}

/// Every property path of a body: objects recurse (`a.b`), arrays become `[]` and recurse into
/// their elements (`a[].b`); a leaf is a scalar or an empty object or array.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    let child = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&child(k), x, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for x in a {
                flatten(&format!("{prefix}[]"), x, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// `path` is `decl` or lies below it (`decl` is a prefix ending on a segment boundary).
fn below(path: &str, decl: &str) -> bool {
    path.strip_prefix(decl)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

fn envelope(path: &str) -> bool {
    ENVELOPE.iter().any(|e| below(path, e))
}

/// Every path `kind` declares: managed, read-only (ignored, and left out of the bodies it writes)
/// and ignored.
fn declared(kind: &dyn Kind) -> impl Iterator<Item = &'static str> {
    let meta = kind.meta();
    meta.managed
        .iter()
        .chain(meta.read_only)
        .chain(meta.ignored)
        .copied()
}

/// What `kind` leaves uncovered in `paths` (an empty container counts as covered when a
/// declared path lies inside it: it has nothing else to declare).
fn uncovered<'a>(kind: &dyn Kind, paths: &'a BTreeSet<String>) -> Vec<&'a str> {
    let declared: Vec<&str> = declared(kind).collect();
    paths
        .iter()
        .map(String::as_str)
        .filter(|p| !envelope(p))
        .filter(|p| !declared.iter().any(|d| below(p, d) || below(d, p)))
        .collect()
}

#[test]
fn every_kind_declares_every_property_of_microsofts_examples() {
    let mut errors = Vec::new();
    let bodies = bodies_by_type(&mut errors);
    let mut unseen = Vec::new();
    for kind in KINDS {
        let meta = kind.meta();
        let Some(mine) = bodies.get(&meta.arm_type.to_ascii_lowercase()) else {
            errors.push(format!(
                "{}: no example body of type {} in tests/emulator_arm_examples (add Microsoft's example for it)",
                meta.label, meta.arm_type
            ));
            continue;
        };
        let mut all = BTreeSet::new();
        for body in mine {
            let mut paths = BTreeSet::new();
            flatten("", &body.value, &mut paths);
            for p in uncovered(*kind, &paths) {
                errors.push(format!(
                    "{}: {} {}: `{p}` is neither managed nor ignored",
                    meta.label, body.file, body.place
                ));
            }
            all.extend(paths);
        }
        for d in declared(*kind) {
            if !all.iter().any(|p| below(p, d) || below(d, p)) {
                unseen.push(format!("{}: `{d}`", meta.label));
            }
        }
    }
    if !unseen.is_empty() {
        eprintln!(
            "declared paths no example body shows (beyond the examples, or stale):\n  {}",
            unseen.join("\n  ")
        );
    }
    assert!(
        errors.is_empty(),
        "kind conformance failures:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_coverage_rules_follow_segment_boundaries() {
    assert!(below(
        "properties.networkAcls.ipRules[].value",
        "properties.networkAcls"
    ));
    assert!(below("properties.a[].b", "properties.a"));
    assert!(below("properties.a[].b", "properties.a[]"));
    assert!(!below("properties.networkAclsX", "properties.networkAcls"));
    assert!(!below("properties", "properties.a"));
    let mut paths = BTreeSet::new();
    flatten(
        "",
        &serde_json::json!({"id": "x", "systemData": {"createdBy": "y"}, "properties": {
            "a": [{"b": 1}, {"c": true}], "empty": [], "none": {}, "s": "v"}}),
        &mut paths,
    );
    let want = [
        "id",
        "properties.a[].b",
        "properties.a[].c",
        "properties.empty",
        "properties.none",
        "properties.s",
        "systemData.createdBy",
    ];
    assert_eq!(paths.iter().map(String::as_str).collect::<Vec<_>>(), want);
    assert_eq!(
        type_of_id("/subscriptions/s/providers/Microsoft.CognitiveServices/locations/l/resourceGroups/r/deletedAccounts/a").as_deref(),
        Some("Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts")
    );
    assert_eq!(
        type_of_id("/subscriptions/s/resourceGroups/r/providers/Microsoft.X/dbs/d/providers/Microsoft.Authorization/roleAssignments/g").as_deref(),
        Some("Microsoft.Authorization/roleAssignments")
    );
}

fn shipped_blueprints() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    out.sort();
    out
}

fn api_version_shape(v: &str) -> bool {
    let (date, rest) = v.split_at(v.len().min(10));
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    date.len() == 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (rest.is_empty() || rest == "-preview")
}

#[test]
fn every_kind_has_a_unique_label_an_arm_type_and_an_api_version() {
    let mut labels = BTreeSet::new();
    for kind in KINDS {
        let m = kind.meta();
        assert!(labels.insert(m.label), "label {} twice", m.label);
        assert!(
            m.arm_type.starts_with("Microsoft."),
            "{}: arm_type {}",
            m.label,
            m.arm_type
        );
        assert!(
            api_version_shape(m.api_version),
            "{}: api_version {} is not YYYY-MM-DD(-preview)",
            m.label,
            m.api_version
        );
    }
    assert!(api_version_shape("2021-05-01-preview") && !api_version_shape("2021-5-01"));

    // The shipped examples planned against nothing observed: every change names a registered
    // kind (apply finds its directives by that label), and a kind that plans changes names
    // itself in them (its `KIND` is its label; the account may also plan a `deleted-account`
    // purge, so not every change of a kind carries its own label).
    let seen = moat::resources::kind::Reads::default();
    let mut unregistered = Vec::new();
    let mut check = |by: &str, c: &moat::model::Change| {
        if !labels.contains(c.kind.label()) {
            unregistered.push(format!("{by}: {} has the kind {}", c.address, c.kind));
        }
    };
    let mut planning = BTreeSet::new();
    let mut named_self = BTreeSet::new();
    for path in shipped_blueprints() {
        let bp = moat::blueprint::load(&path).unwrap_or_else(|d| panic!("{}: {d}", path.display()));
        for inst in &bp.instances {
            for kind in KINDS {
                let label = kind.meta().label;
                for (_, c) in kind.changes(inst, &seen).changes {
                    check(&format!("{} ({label})", path.display()), &c);
                    planning.insert(label);
                    if c.kind.label() == label {
                        named_self.insert(label);
                    }
                }
            }
        }
        let plan = moat::plan::plan(&bp, &moat::observe::Observed::default());
        for c in plan.instances.iter().flat_map(|i| &i.changes) {
            check(&format!("{} (plan)", path.display()), c);
        }
    }
    assert!(
        unregistered.is_empty(),
        "unregistered kinds:\n{}",
        unregistered.join("\n")
    );
    assert!(
        !planning.is_empty(),
        "the shipped examples planned no changes"
    );
    assert_eq!(
        planning, named_self,
        "kinds whose changes never carry their own label"
    );
}
