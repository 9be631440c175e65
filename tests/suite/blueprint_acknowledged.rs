//! The top-level `acknowledged:` list: what validation accepts and refuses (with positions),
//! expiry, and that the planner never reads it.

use moat::blueprint::resolved::Blueprint;
use moat::blueprint::{self, Options};

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";

fn ra(n: u8) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/0000000{n}-0000-0000-0000-000000000000")
}

/// One instance, then `acknowledged:` with `body` (its first item on line 9).
fn doc(body: &str) -> String {
    format!(
        "version: 1\ninstances:\n  - subscription: {SUB}\n    resourceGroup: rg\n    accountName: acct-one\n    location: eastus\n    kind: OpenAI\nacknowledged:\n{body}"
    )
}

fn load(body: &str) -> (Option<Blueprint>, Vec<String>) {
    let opts = Options {
        today: time::macros::date!(2026 - 12 - 04),
        expired_exceptions_are_errors: true,
    };
    let report = blueprint::load_str_with("a.yaml", &doc(body), &opts);
    let shown = report.diagnostics.0.iter().map(ToString::to_string);
    (report.blueprint, shown.collect())
}

#[test]
fn an_acknowledgement_loads_with_where_it_is_and_changes_no_plan() {
    let body = format!(
        "  - rule: MOAT-PA-002\n    resource: {}\n    reason: the subscription Owner is the break-glass account\n",
        ra(1)
    );
    let (bp, shown) = load(&body);
    let bp = bp.expect("loads");
    assert!(shown.is_empty(), "{shown:?}");
    assert_eq!(bp.acknowledged.len(), 1);
    let a = &bp.acknowledged[0];
    assert_eq!(
        (a.rule.as_str(), a.at.as_str()),
        ("MOAT-PA-002", "a.yaml:9:5")
    );
    assert!(a.covers(
        "MOAT-PA-002",
        &ra(1)
            .to_uppercase()
            .replace("/SUBSCRIPTIONS/", "/subscriptions/")
    ));
    assert!(!a.covers("MOAT-PA-003", &ra(1)));

    let (without, _) = load("  []\n");
    let observed = moat::observe::Observed::default();
    let with = moat::plan::plan(&bp, &observed);
    let none = moat::plan::plan(&without.expect("loads"), &observed);
    assert_eq!(
        serde_json::to_value(&with.instances).unwrap(),
        serde_json::to_value(&none.instances).unwrap(),
        "the planner never reads acknowledgements"
    );
}

#[test]
fn bad_entries_are_refused_at_their_line_and_column() {
    let body = format!(
        "  - rule: MOAT-IM-001\n    resource: {r1}\n    reason: keys stay on for the batch job\n  - rule: MOAT-PA-004\n    resource: roleAssignments/1\n    reason: the user is the on-call engineer\n  - rule: MOAT-PA-004\n    resource: {r2}\n    reason: short\n  - rule: MOAT-NS-011\n    resource: {r3}\n    reason: the partner's endpoint, approved next sprint\n  - rule: MOAT-NS-011\n    resource: {r3u}\n    reason: the same one, written again in capitals\n",
        r1 = ra(1),
        r2 = ra(2),
        r3 = ra(3),
        r3u = ra(3).to_uppercase().replace("/SUBSCRIPTIONS/", "/subscriptions/"),
    );
    let (bp, shown) = load(&body);
    assert!(bp.is_none(), "{shown:?}");
    let joined = shown.join("\n");
    for want in [
        "a.yaml:9:11",  // MOAT-IM-001 is waived by an exception, not acknowledged
        "a.yaml:13:15", // not an ARM id
        "a.yaml:17:13", // a reason of five characters
        "a.yaml:21:5",  // the same finding twice
    ] {
        assert!(joined.contains(want), "{want} not in:\n{joined}");
    }
    assert!(
        joined.contains("acknowledged twice (also at a.yaml:18:5)"),
        "{joined}"
    );
    assert!(joined.contains("is not an ARM resource id"), "{joined}");
    assert_eq!(shown.len(), 4, "{joined}");
}

#[test]
fn an_expired_acknowledgement_waives_nothing_and_says_so() {
    let body = format!(
        "  - rule: MOAT-PA-003\n    resource: {}\n    reason: the migration job lists keys until it moves\n    expires: 2026-12-01\n  - rule: MOAT-PA-003\n    resource: {}\n    reason: the reporting job lists keys until it moves\n    expires: 2026-12-20\n",
        ra(1),
        ra(2)
    );
    let (bp, shown) = load(&body);
    let bp = bp.expect("a warning, not an error: the instances still plan");
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown[0].contains("a.yaml:12:14")
            && shown[0].contains("expired on 2026-12-01: audit reports the finding again"),
        "{shown:?}"
    );
    assert!(
        shown[1].contains("expires on 2026-12-20 (in 16 days)"),
        "{shown:?}"
    );
    assert!(!bp.acknowledged[0].covers("MOAT-PA-003", &ra(1)));
    assert!(bp.acknowledged[1].covers("MOAT-PA-003", &ra(2)));
}

#[test]
fn import_s_placeholder_reason_is_a_warning_on_every_validate() {
    let body = format!(
        "  - rule: MOAT-PA-004\n    resource: {}\n    reason: \"{} found by import; fix it outside moat and delete this entry, or write why it stays\"\n",
        ra(1),
        moat::import::PLACEHOLDER
    );
    let (bp, shown) = load(&body);
    assert!(bp.is_some(), "{shown:?}");
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with("a.yaml:11:13: warning: MOAT-PA-004 on")
            && shown[0].contains("placeholder reason"),
        "{shown:?}"
    );
}
