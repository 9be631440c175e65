//! Golden files of the five renderings of `moat audit` on the example (examples/audit.yaml over
//! examples/audit-seed.json, one account soft-deleted), in tests/golden_audit/; the SARIF
//! checked against the vendored SARIF 2.1.0 schema and the JUnit XML checked for
//! well-formedness and the elements Azure DevOps reads. Regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test suite golden_audit` and review the diff.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::e2e_audit::{audit_emulator, moat_audit};

const DIR: &str = "tests/golden_audit";
const VERSION_MARK: &str = "<moat version>";
const FORMATS: [(&str, &str); 5] = [
    ("table", "audit.txt"),
    ("json", "audit.json"),
    ("sarif", "audit.sarif"),
    ("junit", "audit.junit.xml"),
    ("markdown", "audit.md"),
];

fn check(file: &str, actual: &str) -> Option<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR);
    crate::golden::check(&dir, file, actual)
}

/// Every rendering of the example, by format (exit code 3 each: the example has findings).
async fn render_all() -> BTreeMap<&'static str, String> {
    let emu = audit_emulator().await;
    let mut out = BTreeMap::new();
    for (format, _) in FORMATS {
        let mut c = moat_audit(
            &emu.base_url(),
            &["examples/audit.yaml", "--format", format],
        );
        let o = tokio::task::spawn_blocking(move || c.output().expect("moat runs"))
            .await
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(3),
            "--format {format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8(o.stdout).unwrap().replace(
            &format!("\"{}\"", env!("CARGO_PKG_VERSION")),
            &format!("\"{VERSION_MARK}\""),
        );
        out.insert(format, text);
    }
    out
}

#[tokio::test]
async fn every_audit_rendering_matches_its_golden_file() {
    let all = render_all().await;
    let failures: Vec<String> = FORMATS
        .iter()
        .filter_map(|(format, file)| check(file, &all[format]))
        .collect();
    assert!(
        failures.is_empty(),
        "golden files differ (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n")
    );
}

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif-schema-2.1.0.json"),
    )
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft4::new(&schema).expect("the SARIF schema is valid draft-04")
}

fn golden(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR).join(file)).unwrap()
}

#[test]
fn the_audit_sarif_validates_and_points_named_instances_at_the_blueprint() {
    let doc: Value = serde_json::from_str(&golden("audit.sarif")).unwrap();
    let v = sarif_validator();
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = "severe".into();
    assert!(
        v.iter_errors(&broken).next().is_some(),
        "the check can fail"
    );

    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), crate::e2e_audit::PLANTED.len());
    for r in results {
        let id = r["properties"]["armId"].as_str().unwrap();
        assert!(id.starts_with("/subscriptions/"), "{r}");
        let instance = r["properties"]["instance"].as_str().unwrap();
        let named = ["openai-legacy", "openai-private"].contains(&instance);
        let physical = &r["locations"][0]["physicalLocation"];
        if named {
            // examples/audit.yaml declares the instance at `- name: <instance>`.
            let line = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/audit.yaml"),
            )
            .unwrap()
            .lines()
            .position(|l| l.trim() == format!("- name: {instance}"))
            .unwrap()
                + 1;
            assert_eq!(physical["artifactLocation"]["uri"], "examples/audit.yaml");
            assert_eq!(physical["region"]["startLine"], line);
            // `  - name: <instance>`: the entry's mapping starts at column 5.
            assert_eq!(physical["region"]["startColumn"], 5);
        }
        if instance == "openai-legacy" {
            assert_eq!(r["suppressions"][0]["kind"], "external");
            assert!(r["suppressions"][0]["justification"]
                .as_str()
                .unwrap()
                .contains("Vendor appliance"));
        } else if !named {
            assert!(physical.is_null(), "no blueprint line for {id}");
            assert_eq!(
                r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
                id
            );
        }
    }
}

/// A minimal XML reader: well-formedness (nesting, quoted attributes, known entities) into a
/// tree of (name, attributes, children).
#[derive(Debug)]
struct El {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<El>,
}

fn parse_xml(text: &str) -> Result<El, String> {
    let body = text
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .ok_or("no XML declaration")?;
    let mut stack: Vec<El> = vec![El {
        name: String::new(),
        attrs: BTreeMap::new(),
        children: Vec::new(),
    }];
    let mut rest = body;
    while let Some(i) = rest.find('<') {
        check_text(&rest[..i])?;
        let end = rest[i..].find('>').ok_or("unclosed tag")? + i;
        let tag = &rest[i + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let el = stack.pop().ok_or("close without open")?;
            if el.name != name {
                return Err(format!("</{name}> closes <{}>", el.name));
            }
            stack.last_mut().ok_or("extra close")?.children.push(el);
            continue;
        }
        let empty = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs_text) = tag.split_once(' ').unwrap_or((tag, ""));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("bad element name {name:?}"));
        }
        let mut attrs = BTreeMap::new();
        loop {
            attrs_text = attrs_text.trim_start();
            if attrs_text.is_empty() {
                break;
            }
            let (k, v) = attrs_text
                .split_once("=\"")
                .ok_or(format!("unquoted attribute in <{name}>"))?;
            let close = v.find('"').ok_or("unterminated attribute")?;
            check_text(&v[..close])?;
            if attrs
                .insert(k.to_string(), v[..close].to_string())
                .is_some()
            {
                return Err(format!("duplicate attribute {k}"));
            }
            attrs_text = &v[close + 1..];
        }
        let el = El {
            name: name.to_string(),
            attrs,
            children: Vec::new(),
        };
        if empty {
            stack.last_mut().unwrap().children.push(el);
        } else {
            stack.push(el);
        }
    }
    check_text(rest)?;
    let mut root = stack.pop().ok_or("no root")?;
    if !stack.is_empty() || root.children.len() != 1 {
        return Err("unbalanced, or not exactly one root element".into());
    }
    Ok(root.children.remove(0))
}

fn check_text(t: &str) -> Result<(), String> {
    if t.contains('<') {
        return Err("stray <".into());
    }
    let mut rest = t;
    while let Some(i) = rest.find('&') {
        let end = rest[i..].find(';').ok_or("bare &")? + i;
        let ent = &rest[i + 1..end];
        if !matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos") {
            return Err(format!("unknown entity &{ent};"));
        }
        rest = &rest[end + 1..];
    }
    Ok(())
}

fn count(el: &El, attr: &str) -> usize {
    el.attrs[attr].parse().unwrap()
}

#[test]
fn the_audit_junit_is_well_formed_junit_with_a_suite_per_account() {
    let root = parse_xml(&golden("audit.junit.xml")).unwrap();
    assert_eq!(root.name, "testsuites");
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    let mut failed_cases = Vec::new();
    for s in &root.children {
        assert_eq!(s.name, "testsuite");
        for a in ["name", "tests", "failures", "errors", "skipped"] {
            assert!(s.attrs.contains_key(a), "testsuite without {a}");
        }
        let cases: Vec<&El> = s.children.iter().filter(|c| c.name == "testcase").collect();
        assert_eq!(count(s, "tests"), cases.len());
        let fails = cases
            .iter()
            .filter(|c| c.children.iter().any(|x| x.name == "failure"))
            .count();
        assert_eq!(count(s, "failures"), fails);
        let skips = cases
            .iter()
            .filter(|c| c.children.iter().any(|x| x.name == "skipped"))
            .count();
        assert_eq!(count(s, "skipped"), skips);
        for c in &cases {
            assert!(c.attrs.contains_key("name") && c.attrs.contains_key("classname"));
            for x in &c.children {
                assert!(x.name == "failure" || x.name == "skipped", "{x:?}");
                assert!(x.attrs.contains_key("message"));
                if x.name == "failure" {
                    let rule = c.attrs["name"].split(' ').next().unwrap().to_string();
                    failed_cases.push((rule, s.attrs["name"].clone()));
                }
            }
        }
        tests += cases.len();
        failures += fails;
        skipped += skips;
    }
    assert_eq!(count(&root, "tests"), tests);
    assert_eq!(count(&root, "failures"), failures);
    assert_eq!(count(&root, "skipped"), skipped);
    assert!(root.children.len() >= 20, "a suite per account");

    // A failure per unwaived planted weakness; the waived one is skipped, not failed.
    failed_cases.sort();
    let mut want: Vec<(String, String)> = crate::e2e_audit::PLANTED
        .iter()
        .filter(|p| !p.2)
        .map(|(r, i, _)| {
            let suite = if r == &"MOAT-DP-002" {
                format!("{i} (soft-deleted)")
            } else {
                i.to_string()
            };
            (r.to_string(), suite)
        })
        .collect();
    want.sort();
    assert_eq!(failed_cases, want);

    assert!(parse_xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a><b></a></b>").is_err());
    assert!(parse_xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a x=\"&bad;\"/>").is_err());
}

#[test]
fn the_audit_json_validates_against_the_published_schema() {
    let schema = moat::audit::schema::schema();
    let v = jsonschema::draft202012::new(&schema).expect("a valid draft 2020-12 schema");
    let doc: Value = serde_json::from_str(&golden("audit.json")).unwrap();
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = doc.clone();
    broken["findings"][0]["ruleId"] = "MOAT-XX-999".into();
    assert!(
        v.iter_errors(&broken).next().is_some(),
        "an unknown rule id is refused"
    );
    let mut extra = doc.clone();
    extra["findings"][0]["unexpected"] = true.into();
    assert!(v.iter_errors(&extra).next().is_some(), "objects are closed");

    let o = assert_cmd::Command::cargo_bin("moat")
        .unwrap()
        .args(["schema", "--audit"])
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed, schema);
}
