//! Golden files of `moat validate --format text|json|sarif` for blueprints with several errors
//! (tests/golden_validate/), and the SARIF checked against the official SARIF 2.1.0 schema
//! (tests/fixtures/sarif-schema-2.1.0.json, vendored; its source is in tests/fixtures/README.md).
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test suite golden_validate` and review the diff.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

const DIR: &str = "tests/golden_validate";
const FILES: [&str; 3] = [
    "tests/golden_validate/semantic.yaml",
    "tests/golden_validate/several-errors.yaml",
    "tests/golden_validate/syntax-error.yaml",
];
/// The tool version is the crate's: kept out of the golden file so a release does not touch it.
const VERSION_MARK: &str = "<moat version>";

fn validate(format: &str, cwd: &Path, files: &[String]) -> (i32, String) {
    let o = Command::cargo_bin("moat")
        .unwrap()
        .current_dir(cwd)
        .args(["validate", "--format", format])
        .args(files)
        .env_remove("NO_COLOR")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout).unwrap().replace(
        &format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        &format!("\"{VERSION_MARK}\""),
    );
    (o.status.code().unwrap_or(-1), out)
}

fn from_root(format: &str) -> (i32, String) {
    let files: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    validate(format, Path::new(env!("CARGO_MANIFEST_DIR")), &files)
}

fn check(file: &str, actual: &str) -> Option<String> {
    crate::golden::check(Path::new(DIR), file, actual)
}

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string("tests/fixtures/sarif-schema-2.1.0.json").unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft4::new(&schema).expect("the SARIF schema is valid draft-04")
}

fn schema_errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn every_format_renders_exactly_as_its_golden_file_and_exits_1() {
    let mut failures = Vec::new();
    for (format, file) in [
        ("text", "expected.txt"),
        ("json", "expected.json"),
        ("sarif", "expected.sarif"),
    ] {
        let (code, out) = from_root(format);
        assert_eq!(code, 1, "--format {format} exits 1 on errors:\n{out}");
        failures.extend(check(file, &out));
    }
    assert!(
        failures.is_empty(),
        "golden files differ (UPDATE_GOLDEN=1 to accept):\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_golden_sarif_validates_against_the_sarif_2_1_0_schema() {
    let text = std::fs::read_to_string(Path::new(DIR).join("expected.sarif")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let v = sarif_validator();
    let errors = schema_errors(&v, &doc);
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema check can fail: a result without its message is refused.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!schema_errors(&v, &broken).is_empty());
}

#[test]
fn sarif_locates_every_error_with_rules_for_the_codes_used() {
    let (_, out) = from_root("sarif");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let (_, json) = from_root("json");
    let diags: Value = serde_json::from_str(&json).unwrap();
    let diags = diags["diagnostics"].as_array().unwrap();
    let run = &doc["runs"][0];
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(run["tool"]["driver"]["name"], "moat");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), diags.len());
    assert!(results.iter().any(|r| r["level"] == "warning"));
    assert!(results.len() >= 6, "several errors: {out}");
    for (r, d) in results.iter().zip(diags) {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx], r["ruleId"].as_str().unwrap());
        assert_eq!(r["ruleId"], d["code"]);
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], d["file"]);
        assert_eq!(loc["region"]["startLine"], d["line"]);
        assert_eq!(loc["region"]["startColumn"], d["column"]);
        assert!(r["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with(d["message"].as_str().unwrap()));
    }
    // Every rule is used by some result: rules name the codes used, no more.
    for id in &rules {
        assert!(results.iter().any(|r| r["ruleId"] == *id), "{id}");
    }
}

#[test]
fn sarif_uris_are_relative_to_the_working_directory_from_any_directory() {
    // Run from tests/: the files are named ../tests/golden_validate/…, or absolutely.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let abs = root.join(FILES[1]).display().to_string();
    let (code, out) = validate(
        "sarif",
        &root.join("tests"),
        &[abs, "golden_validate/syntax-error.yaml".into()],
    );
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(schema_errors(&sarif_validator(), &doc).is_empty());
    let uris: Vec<&str> = doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        uris.contains(&"golden_validate/several-errors.yaml"),
        "{uris:?}"
    );
    assert!(
        uris.contains(&"golden_validate/syntax-error.yaml"),
        "{uris:?}"
    );
    assert!(uris
        .iter()
        .all(|u| !u.contains('\\') && !u.starts_with('/')));
}

#[test]
fn a_valid_blueprint_exits_0_in_every_format_with_no_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = vec!["examples/quickstart.yaml".to_string()];
    for format in ["text", "json", "sarif"] {
        let (code, out) = validate(format, root, &files);
        assert_eq!(code, 0, "{format}: {out}");
        if format == "sarif" {
            let doc: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(doc["runs"][0]["results"], serde_json::json!([]));
            assert!(schema_errors(&sarif_validator(), &doc).is_empty());
        }
        if format == "json" {
            let doc: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(doc["format_version"], 1);
            assert_eq!(doc["files"][0]["valid"], true);
        }
    }
}
