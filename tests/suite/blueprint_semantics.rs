//! Loader behaviour that the corpus does not pin: warnings that do not fail, merge rules,
//! profile chains, verify mode, and the API's error type.

use moat::blueprint::{self, resolved::Mode, Options, Severity};

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";

fn opts() -> Options {
    Options {
        today: time::macros::date!(2026 - 11 - 22),
        expired_exceptions_are_errors: true,
    }
}

fn doc(body: &str) -> String {
    format!(
        "version: 1\nprofiles:\n  base:\n    location: eastus\n    kind: OpenAI\n    controls:\n      localAuth: {{disabled: true}}\n      outbound: {{restrict: true}}\n  derived:\n    profile: base\n    controls:\n      identity: {{type: SystemAssigned}}\ninstances:\n  - subscription: {SUB}\n    resourceGroup: rg\n    accountName: acct-one\n{body}"
    )
}

#[test]
fn an_exception_about_to_expire_is_a_warning_and_the_blueprint_loads() {
    let text = doc("    profile: base\n    controls:\n      localAuth: {disabled: false}\n    exceptions:\n      - {allows: local-auth, reason: Vendor appliance needs keys, expires: 2026-12-10}\n");
    let report = blueprint::load_str_with("w.yaml", &text, &opts());
    let inst = &report.blueprint.expect("warnings do not fail").instances[0];
    assert!(!inst.controls.local_auth.as_ref().unwrap().spec.disabled);
    assert_eq!(inst.exceptions[0].expires.as_deref(), Some("2026-12-10"));
    let msgs: Vec<String> = report
        .diagnostics
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        report
            .diagnostics
            .0
            .iter()
            .all(|d| d.severity == Severity::Warning),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("expires on 2026-12-10 (in 18 days)")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("allowed by exception `local-auth`")),
        "{msgs:?}"
    );
}

#[test]
fn profiles_chain_and_null_removes_an_inherited_control() {
    let text = doc("    profile: derived\n    controls:\n      outbound: ~\n      dnsZoneGroup: {mode: verify}\n      privateEndpoint: ~\n");
    let bp = blueprint::load_str_with("c.yaml", &text, &opts());
    // dnsZoneGroup without privateEndpoint is an error even in verify mode: it lives on the PE.
    assert!(bp.blueprint.is_none());
    let text = doc("    profile: derived\n    controls:\n      outbound: ~\n");
    let bp = blueprint::load_str_with("c.yaml", &text, &opts())
        .blueprint
        .unwrap();
    let c = &bp.instances[0].controls;
    assert!(c.outbound.is_none());
    assert!(c.local_auth.is_some(), "inherited through derived -> base");
    assert_eq!(c.identity.as_ref().unwrap().spec.r#type, "SystemAssigned");
    assert_eq!(
        bp.instances[0].name, "acct-one",
        "name defaults to accountName"
    );
}

#[test]
fn verify_mode_is_carried_to_the_resolved_control() {
    let text = doc("    profile: base\n    controls:\n      localAuth: {mode: verify}\n");
    let bp = blueprint::load_str_with("v.yaml", &text, &opts())
        .blueprint
        .unwrap();
    let la = bp.instances[0].controls.local_auth.as_ref().unwrap();
    assert_eq!(la.mode, Mode::Verify);
    assert!(
        la.spec.disabled,
        "field-level merge keeps the profile's value"
    );
}

#[test]
fn profile_cycles_are_reported() {
    let text = format!("version: 1\nprofiles:\n  a: {{profile: b}}\n  b: {{profile: a}}\ninstances:\n  - {{profile: a, subscription: {SUB}, resourceGroup: rg, accountName: acct, location: eastus, kind: OpenAI}}\n");
    let err = blueprint::load_str("cy.yaml", &text).unwrap_err();
    assert!(
        err.to_string().contains("profile cycle: a -> b -> a"),
        "{err}"
    );
}

#[test]
fn diagnostics_display_and_error_trait() {
    let err = blueprint::load_str("x.yaml", "version: 1\nbogus: 1\n").unwrap_err();
    let e: &dyn std::error::Error = &err;
    assert_eq!(e.to_string(), "x.yaml:2:1: error: unknown key `bogus` in blueprint\n  hint: valid keys here: version, imports, profiles, defaults, instances, guardrails, acknowledged");
    let d = &err.0[0];
    assert_eq!((d.file.as_str(), d.line, d.column), ("x.yaml", 2, 1));
}

#[test]
fn a_file_of_profiles_only_is_valid_and_has_no_instances() {
    let bp = blueprint::load(std::path::Path::new("blueprints/strict-baseline.yaml")).unwrap();
    assert!(bp.instances.is_empty());
    assert_eq!(
        bp.source,
        std::path::PathBuf::from("blueprints/strict-baseline.yaml")
    );
}

#[test]
fn validate_files_reports_unreadable_files() {
    let mut out = Vec::new();
    let code = blueprint::validate_files(&["does/not/exist.yaml".into()], &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 1);
    assert!(
        text.starts_with("does/not/exist.yaml:1:1: error: cannot read the file:"),
        "{text}"
    );
    assert!(text.ends_with("does/not/exist.yaml: 1 error\n"), "{text}");
}
