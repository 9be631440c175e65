//! `guardrails:` in the loader: which instances a guard covers, and located errors for what the
//! built-ins cannot do (unknown controls, effects a built-in does not offer, bad scopes, a
//! control guarded twice).

use moat::blueprint::{self, Options};

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";

fn opts() -> Options {
    Options {
        today: time::macros::date!(2026 - 12 - 01),
        expired_exceptions_are_errors: true,
    }
}

fn doc(guardrails: &str) -> String {
    format!(
        "version: 1\ndefaults:\n  subscription: {SUB}\n  location: eastus\n  kind: OpenAI\n  controls:\n    localAuth: {{disabled: true}}\ninstances:\n  - {{resourceGroup: rg-a, accountName: acct-one}}\n  - {{resourceGroup: rg-b, accountName: acct-two}}\nguardrails:\n{guardrails}"
    )
}

fn errors(guardrails: &str) -> Vec<String> {
    let report = blueprint::load_str_with("g.yaml", &doc(guardrails), &opts());
    report
        .diagnostics
        .0
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_resource_group_guard_covers_only_its_instances_and_a_subscription_guard_all() {
    let text = doc(&format!(
        "  - scope: /subscriptions/{SUB}/resourceGroups/rg-a\n    controls: {{localAuth: deny}}\n  - scope: {SUB}\n    controls: {{networkAccess: audit}}\n"
    ));
    let bp = blueprint::load_str_with("g.yaml", &text, &opts())
        .blueprint
        .expect("loads");
    let guards = |i: usize| -> Vec<(String, String, Vec<String>)> {
        bp.instances[i]
            .guardrails
            .iter()
            .map(|g| (g.control.clone(), g.effect.clone(), g.members.clone()))
            .collect()
    };
    assert_eq!(
        guards(0),
        vec![
            (
                "localAuth".into(),
                "Deny".into(),
                vec!["acct-one".to_string()]
            ),
            (
                "networkAccess".into(),
                "Audit".into(),
                vec!["acct-one".to_string(), "acct-two".to_string()]
            ),
        ]
    );
    assert_eq!(guards(1).len(), 1);
    assert_eq!(
        bp.instances[1].guardrails[0].scope,
        format!("/subscriptions/{SUB}")
    );
}

#[test]
fn unknown_controls_and_effects_a_built_in_does_not_offer_are_located_errors() {
    let e = errors(&format!(
        "  - scope: {SUB}\n    controls:\n      contentFilter: deny\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.starts_with("g.yaml:14:7: error: unknown key `contentFilter`")),
        "{e:#?}"
    );
    // The diagnostics built-ins offer AuditIfNotExists / DeployIfNotExists, never Deny.
    let e = errors(&format!(
        "  - scope: {SUB}\n    controls:\n      diagnostics: deny\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.starts_with("g.yaml:14:20: error:") && m.contains("deny")),
        "{e:#?}"
    );
    let e = errors(&format!(
        "  - scope: {SUB}\n    controls:\n      localAuth: deployIfNotExists\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.starts_with("g.yaml:14:18: error:") && m.contains("deployIfNotExists")),
        "{e:#?}"
    );
}

#[test]
fn a_bad_scope_and_a_control_guarded_twice_are_errors() {
    let e = errors("  - scope: rg-a\n    controls: {localAuth: deny}\n");
    assert!(
        e.iter()
            .any(|m| m.starts_with("g.yaml:12:12: error: guardrail scope `rg-a`")),
        "{e:#?}"
    );
    let e = errors(&format!(
        "  - scope: {SUB}\n    controls: {{localAuth: deny}}\n  - scope: /subscriptions/{SUB}\n    controls: {{localAuth: audit}}\n"
    ));
    assert!(
        e.iter().any(|m| m.contains("`localAuth` is guarded twice")),
        "{e:#?}"
    );
}

#[test]
fn a_scope_without_instances_is_a_warning() {
    let report = blueprint::load_str_with(
        "g.yaml",
        &doc("  - scope: 00000000-0000-0000-0000-000000000001\n    controls: {localAuth: deny}\n"),
        &opts(),
    );
    assert!(report.blueprint.is_some());
    assert!(report
        .diagnostics
        .0
        .iter()
        .any(|d| !d.is_error() && d.message.contains("no instance of the blueprint")));
}

/// Two instances in one resource group, each with its own workspace and setting name.
fn logged(second_workspace: &str, second_name: &str) -> String {
    let ws = |n: &str| {
        format!("/subscriptions/{SUB}/resourceGroups/rg-mon/providers/Microsoft.OperationalInsights/workspaces/{n}")
    };
    format!(
        "version: 1\ndefaults:\n  subscription: {SUB}\n  resourceGroup: rg-a\n  location: eastus\n  kind: OpenAI\n  controls:\n    diagnostics: {{logCategoryGroups: [allLogs]}}\ninstances:\n  - accountName: acct-one\n    existing: {{logAnalyticsWorkspace: {}}}\n  - accountName: acct-two\n    existing: {{logAnalyticsWorkspace: {}}}\n    controls:\n      diagnostics: {{name: {second_name}, logCategoryGroups: [allLogs]}}\nguardrails:\n  - scope: /subscriptions/{SUB}/resourceGroups/rg-a\n    controls:\n      diagnostics: deployIfNotExists\n",
        ws("law-a"),
        ws(second_workspace)
    )
}

#[test]
fn a_deploy_if_not_exists_takes_its_parameters_from_the_instances_which_must_agree() {
    let report = blueprint::load_str_with("g.yaml", &logged("law-a", "moat-security"), &opts());
    let bp = report.blueprint.expect("loads");
    let g = &bp.instances[1].guardrails[0];
    assert_eq!(g.effect, "DeployIfNotExists");
    assert_eq!(g.parameters["categoryGroup"], "allLogs");
    assert_eq!(g.parameters["diagnosticSettingName"], "moat-security");
    assert!(g.parameters["logAnalytics"]
        .as_str()
        .unwrap()
        .ends_with("/workspaces/law-a"));

    for (text, what) in [
        (logged("law-b", "moat-security"), "workspaceId"),
        (logged("law-a", "other-name"), "name"),
    ] {
        let report = blueprint::load_str_with("g.yaml", &text, &opts());
        let e: Vec<String> = report
            .diagnostics
            .0
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(
            e.iter().any(|m| m.starts_with("g.yaml:19:7: error:")
                && m.contains(&format!("disagree on controls.diagnostics {what}"))),
            "{e:#?}"
        );
    }
    // Without any instance declaring diagnostics there is no workspace to deploy to.
    let e = errors(&format!(
        "  - scope: {SUB}\n    controls:\n      diagnostics: deployIfNotExists\n"
    ));
    assert!(
        e.iter().any(|m| m.starts_with("g.yaml:14:7: error:")
            && m.contains("no instance in its scope declares one")),
        "{e:#?}"
    );
}

#[test]
fn remediate_names_modify_controls_of_its_guardrail_and_anything_else_is_a_located_error() {
    let text = doc(&format!(
        "  - scope: {SUB}\n    controls: {{localAuth: modify, networkAccess: deny}}\n    remediate: [localAuth]\n"
    ));
    let bp = blueprint::load_str_with("g.yaml", &text, &opts())
        .blueprint
        .expect("loads");
    let flags: Vec<(String, bool)> = bp.instances[0]
        .guardrails
        .iter()
        .map(|g| (g.control.clone(), g.remediate))
        .collect();
    assert_eq!(
        flags,
        vec![("localAuth".into(), true), ("networkAccess".into(), false)]
    );
    assert_eq!(
        bp.instances[0].guardrails[0].accounts.len(),
        2,
        "the accounts the plan hardens itself"
    );

    // A Deny cannot change existing accounts: the entry's position is reported.
    let e = errors(&format!(
        "  - scope: {SUB}\n    controls: {{localAuth: modify, networkAccess: deny}}\n    remediate: [localAuth, networkAccess]\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.starts_with("g.yaml:14:28: error: `networkAccess: deny` cannot remediate")),
        "{e:#?}"
    );
    // A control the guardrail does not guard.
    let e = errors(&format!(
        "  - scope: {SUB}\n    controls: {{localAuth: modify}}\n    remediate:\n      - networkAccess\n"
    ));
    assert!(
        e.iter().any(|m| m.starts_with("g.yaml:15:9: error: `remediate` names `networkAccess`, which this guardrail does not guard")),
        "{e:#?}"
    );
    // Not a control at all: the schema's enum.
    let e = errors(&format!(
        "  - scope: {SUB}\n    controls: {{localAuth: modify}}\n    remediate: [diagnostics]\n"
    ));
    assert!(
        e.iter()
            .any(|m| m.starts_with("g.yaml:14:17: error:") && m.contains("diagnostics")),
        "{e:#?}"
    );
}
