//! D2 Defender for AI, the first control declared by the schema table alone (a generic
//! control): table defaults, profile inheritance and `~`, its weakening and exception, unknown
//! keys, and the JSON Schema.

use moat::blueprint::resolved::{Blueprint, Control, ExceptionKind, Mode};
use moat::blueprint::{self, yaml, Options};
use serde_json::{json, Value};

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";

/// One instance of profile `base`, which turns Defender for AI on, with `body` appended (from
/// line 13).
fn doc(body: &str) -> String {
    format!(
        "version: 1\nprofiles:\n  base:\n    location: eastus\n    kind: OpenAI\n    controls:\n      defenderForAI: {{}}\ninstances:\n  - subscription: {SUB}\n    resourceGroup: rg\n    accountName: acct-one\n    profile: base\n{body}"
    )
}

/// The blueprint, when it loads, and every finding as `moat validate` prints it.
fn load(body: &str) -> (Option<Blueprint>, Vec<String>) {
    let opts = Options {
        today: time::macros::date!(2026 - 11 - 22),
        expired_exceptions_are_errors: true,
    };
    let report = blueprint::load_str_with("d.yaml", &doc(body), &opts);
    let shown = report.diagnostics.0.iter().map(ToString::to_string);
    (report.blueprint, shown.collect())
}

fn defender(bp: &Blueprint) -> Option<&Control<Value>> {
    bp.instances[0].controls.generic("defenderForAI")
}

#[test]
fn defender_for_ai_resolves_with_the_table_defaults() {
    let (bp, shown) = load("");
    let bp = bp.expect("loads");
    assert!(shown.is_empty(), "{shown:?}");
    let c = defender(&bp).expect("declared by the profile");
    assert_eq!(c.mode, Mode::Managed);
    assert_eq!(c.spec, json!({"state": "Enabled"}));
    assert_eq!(c.text("state"), Some("Enabled"));
}

#[test]
fn defender_for_ai_merges_with_its_profile_and_tilde_removes_it() {
    let (bp, _) = load("    controls:\n      defenderForAI: {mode: verify}\n");
    let c = defender(bp.as_ref().expect("loads"))
        .expect("declared")
        .clone();
    assert_eq!(c.mode, Mode::Verify);
    assert_eq!(c.spec, json!({"state": "Enabled"}));

    let (bp, shown) = load("    controls:\n      defenderForAI: ~\n");
    assert!(shown.is_empty(), "{shown:?}");
    assert_eq!(defender(&bp.expect("loads")), None);
}

#[test]
fn defender_for_ai_disabled_is_refused_without_its_exception() {
    let (bp, shown) = load("    controls:\n      defenderForAI: {state: Disabled}\n");
    assert!(bp.is_none());
    assert_eq!(
        shown,
        ["d.yaml:14:30: error: Defender for AI threat protection is off (`state: Disabled`)\n  hint: if this is intended, add to the instance `exceptions: [{allows: defender-for-ai-disabled, reason: \"...\"}]`"]
    );
}

#[test]
fn defender_for_ai_disabled_is_a_warning_with_its_exception() {
    let (bp, shown) = load("    controls:\n      defenderForAI: {state: Disabled}\n    exceptions:\n      - {allows: defender-for-ai-disabled, reason: Sentinel covers this tenant (SEC-12)}\n");
    let bp = bp.expect("the exception allows it");
    assert_eq!(
        shown,
        ["d.yaml:14:30: warning: Defender for AI threat protection is off (`state: Disabled`) (allowed by exception `defender-for-ai-disabled`: Sentinel covers this tenant (SEC-12))"]
    );
    assert_eq!(defender(&bp).unwrap().text("state"), Some("Disabled"));
    assert!(bp.instances[0].has_exception(ExceptionKind::DefenderForAiDisabled));
}

#[test]
fn an_unknown_key_in_defender_for_ai_is_reported_with_a_suggestion() {
    let (bp, shown) = load("    controls:\n      defenderForAI: {stat: Disabled}\n");
    assert!(bp.is_none());
    assert_eq!(
        shown,
        ["d.yaml:14:23: error: unknown key `stat` in defenderForAI\n  hint: did you mean `state`?"]
    );
}

#[test]
fn the_json_schema_describes_defender_for_ai_and_its_exception() {
    let schema = blueprint::json_schema();
    let instance = &schema["properties"]["instances"]["items"]["properties"];
    let d = &instance["controls"]["properties"]["defenderForAI"]["oneOf"][0];
    assert_eq!(
        d["properties"]["state"]["enum"],
        json!(["Enabled", "Disabled"])
    );
    assert_eq!(d["properties"]["state"]["x-moat-default"], "Enabled");
    let allows = &instance["exceptions"]["items"]["properties"]["allows"]["enum"];
    assert!(allows
        .as_array()
        .unwrap()
        .contains(&json!("defender-for-ai-disabled")));

    let v = jsonschema::draft7::new(&schema).unwrap();
    for (state, valid) in [("Disabled", true), ("Off", false)] {
        let text = doc(&format!(
            "    controls:\n      defenderForAI: {{state: {state}}}\n"
        ));
        let json = yaml::parse("d.yaml", &text).unwrap().to_json();
        assert_eq!(v.is_valid(&json), valid, "state: {state}");
    }
}

/// M2: `actionGroup` and `actionGroupId` together are an error where the second is written
/// (before, the id silently won); either alone loads.
#[test]
fn an_action_group_and_an_action_group_id_together_are_a_located_error() {
    let group = "      alerts:\n        actionGroup: {name: ag-sec, shortName: sec}\n";
    let id = format!(
        "        actionGroupId: /subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Insights/actionGroups/existing\n"
    );
    let (bp, shown) = load(&format!("    controls:\n{group}{id}"));
    assert!(bp.is_none(), "{shown:?}");
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0]
            .starts_with("d.yaml:16:24: error: `actionGroup` and `actionGroupId` are both given"),
        "{shown:?}"
    );
    let (bp, shown) = load(&format!("    controls:\n{group}"));
    assert!(bp.is_some() && shown.is_empty(), "{shown:?}");
    let (bp, shown) = load(&format!("    controls:\n      alerts:\n{id}"));
    assert!(bp.is_some() && shown.is_empty(), "{shown:?}");
}

/// M2: a metric rule evaluated less often than its window is refused where the frequency is
/// written (Azure Monitor refuses it too); defaults count (`window: PT1M` under the default
/// `frequency: PT1M` of contentFilter is fine, under tokenUsage's PT15M it is not).
#[test]
fn a_metric_alert_frequency_longer_than_its_window_is_a_located_error() {
    let (bp, shown) = load(
        "    controls:\n      alerts:\n        contentFilter: {window: PT5M, frequency: PT15M}\n",
    );
    assert!(bp.is_none(), "{shown:?}");
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with("d.yaml:15:50: error: ")
            && shown[0].contains(
                "`contentFilter.frequency` is PT15M, longer than `contentFilter.window` (PT5M)"
            ),
        "{shown:?}"
    );
    let (bp, shown) = load("    controls:\n      alerts:\n        tokenUsage: {window: PT5M}\n");
    assert!(bp.is_none(), "{shown:?}");
    assert!(
        shown[0].contains("`tokenUsage.frequency` is PT15M"),
        "{shown:?}"
    );
    let (bp, shown) = load("    controls:\n      alerts:\n        contentFilter: {window: PT1M}\n");
    assert!(bp.is_some() && shown.is_empty(), "{shown:?}");
}

/// M2: a webhook is `https://host/path` only; one with a query string (where tokens go) or user
/// info, or over plain HTTP, is refused where it is written, pointing at `actionGroupId`.
#[test]
fn a_webhook_with_a_query_user_info_or_plain_http_is_refused_where_written() {
    let group = |url: &str| {
        format!(
            "    controls:\n      alerts:\n        actionGroup: {{name: ag-sec, shortName: sec, webhooks: [\"{url}\"]}}\n"
        )
    };
    for bad in [
        "https://hooks.contoso.com/x?token=abc",
        "https://user:pw@hooks.contoso.com/x",
        "http://hooks.contoso.com/x",
        "https://hooks.contoso.com/x#frag",
        "https:///x",
    ] {
        let (bp, shown) = load(&group(bad));
        assert!(bp.is_none(), "{bad}: {shown:?}");
        assert!(
            shown.iter().any(|d| d.starts_with("d.yaml:15:")
                && d.contains("not a webhook moat writes")
                && d.contains("actionGroupId")),
            "{bad}: {shown:?}"
        );
    }
    for good in [
        "https://hooks.contoso.com/alerts/moat",
        "https://203.0.113.7:8443/hook",
    ] {
        let (bp, shown) = load(&group(good));
        assert!(bp.is_some() && shown.is_empty(), "{good}: {shown:?}");
    }
}
