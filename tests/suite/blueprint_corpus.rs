//! The broken-blueprint corpus: each `tests/blueprints/broken/NAME.yaml` must fail validation
//! with exactly the output in `NAME.expected` (messages, positions, hints, summary line) and
//! exit code 1. `MOAT_BLESS=1 cargo test --test suite blueprint_corpus::` rewrites the expected
//! files; review the diff before committing.

use std::path::PathBuf;

use moat::blueprint::{self, Options};

fn options() -> Options {
    Options {
        today: time::macros::date!(2026 - 11 - 22),
        expired_exceptions_are_errors: true,
    }
}

#[test]
fn every_broken_blueprint_gets_its_exact_diagnostics() {
    let dir = PathBuf::from("tests/blueprints/broken");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let bless = std::env::var_os("MOAT_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let mut out = Vec::new();
        let code = blueprint::validate_files_with(std::slice::from_ref(case), &mut out, &options());
        let got = String::from_utf8(out).unwrap();
        let expected_path = case.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if code != 1 {
            failures.push(format!(
                "{}: exit code {code}, expected 1\n{got}",
                case.display()
            ));
        } else if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                case.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn load_str_reports_the_same_errors_as_load() {
    let text = std::fs::read_to_string("tests/blueprints/broken/bad-cidr.yaml").unwrap();
    let from_str = blueprint::load_str("bad-cidr.yaml", &text).unwrap_err();
    let from_file = blueprint::load(std::path::Path::new(
        "tests/blueprints/broken/bad-cidr.yaml",
    ))
    .unwrap_err();
    let strip = |d: &blueprint::Diagnostics| {
        d.0.iter()
            .map(|d| (d.line, d.column, d.message.clone()))
            .collect::<Vec<_>>()
    };
    // load_str resolves imports against the current directory, so the import fails there too;
    // the CIDR finding itself must be identical.
    assert!(strip(&from_str)
        .iter()
        .any(|x| strip(&from_file).contains(x)));
    assert!(from_file.to_string().contains("tests/blueprints/broken/bad-cidr.yaml:25:21: error: `10.10.1.0/33` is not an IP address or CIDR range"), "{from_file}");
}
