use serde_json::json;

use super::*;
use crate::model::{BlueprintRef, FieldChange, InstancePlan, KindId};

fn change(kind: &'static str, action: Action, fields: &[(&str, Value, Value)]) -> Change {
    let mut c = Change::new(
        format!("i/{kind}/x"),
        KindId::new(kind),
        format!("/subscriptions/s/resourceGroups/rg/x/{kind}"),
        action,
        "test",
        "absent".into(),
    );
    c.fields = fields
        .iter()
        .map(|(p, b, a)| FieldChange {
            path: p.to_string(),
            before: Some(b.clone()),
            after: Some(a.clone()),
        })
        .collect();
    c
}

fn plan_of(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: 1,
        moat_version: "test".into(),
        blueprint: BlueprintRef {
            path: "b.yaml".into(),
            digest: "d".into(),
            path_from_plan: None,
        },
        instances: vec![InstancePlan {
            name: "i".into(),
            subscription: "s".into(),
            account_id: "/subscriptions/s/resourceGroups/rg/x/account".into(),
            changes,
            notes: Vec::new(),
            exceptions: Vec::new(),
            rotation: None,
        }],
    }
}

#[test]
fn rule_ids_are_unique_and_well_formed() {
    for (i, r) in RULES.iter().enumerate() {
        assert!(r.id.starts_with("MOAT-") && r.id.len() == 11, "{}", r.id);
        assert!(
            RULES[..i].iter().all(|o| o.id != r.id),
            "duplicate {}",
            r.id
        );
        assert_eq!(rules::rule(r.id), Some(r));
    }
}

#[test]
fn account_fields_map_to_their_rules_and_group_per_rule() {
    let c = change(
        "account",
        Action::Update,
        &[
            (
                "properties.publicNetworkAccess",
                json!("Enabled"),
                json!("Disabled"),
            ),
            (
                "properties.networkAcls.defaultAction",
                json!("Allow"),
                json!("Deny"),
            ),
            ("properties.networkAcls.bypass", json!(null), json!("None")),
            ("properties.disableLocalAuth", json!(false), json!(true)),
        ],
    );
    let f = findings(&plan_of(vec![c]));
    let ids: Vec<&str> = f.iter().map(|f| f.rule.id).collect();
    assert_eq!(ids, ["MOAT-NS-001", "MOAT-NS-002", "MOAT-IM-001"]);
    assert_eq!(
        f[1].evidence.len(),
        2,
        "both networkAcls fields on one finding"
    );
    assert_eq!(f[0].evidence[0].observed, Some(json!("Enabled")));
    assert_eq!(f[0].evidence[0].expected, Some(json!("Disabled")));
    assert!(f.iter().all(|f| f.resource_id.ends_with("/account")));
}

#[test]
fn observed_state_rules_never_match_a_plan_change_and_every_kind_rule_names_a_kind() {
    // Every observed-state rule judges every live account, but the A-record rule: only an
    // instance that declares the private path says where its privatelink zones are.
    for r in RULES
        .iter()
        .filter(|r| r.kind == rules::OBSERVED && !["MOAT-NS-012", "MOAT-GV-001"].contains(&r.id))
    {
        assert!(rules::judged_by(r, &Default::default()), "{}", r.id);
    }
    let ns012 = rules::rule("MOAT-NS-012").unwrap();
    assert_eq!(ns012.kind, rules::OBSERVED);
    assert!(!rules::judged_by(ns012, &Default::default()));
    // The guardrail rule: only where a guardrail covers the instance.
    let gv = rules::rule("MOAT-GV-001").unwrap();
    assert!(!rules::judged_by(gv, &Default::default()));
    assert!(rules::rule_for(rules::OBSERVED, None).is_none());
    let labels: Vec<&str> = crate::resources::KINDS
        .iter()
        .map(|k| k.meta().label)
        .collect();
    for r in RULES.iter().filter(|r| r.kind != rules::OBSERVED) {
        assert!(
            labels.contains(&r.kind),
            "{} names no kind: {}",
            r.id,
            r.kind
        );
    }
    for (id, _, _) in rules::EQUIVALENTS {
        assert!(rules::rule(id).is_some(), "{id}");
    }
}

#[test]
fn a_path_prefix_matches_only_on_a_segment_boundary() {
    assert!(rules::rule_for("account", Some("identity.type")).is_some());
    assert!(rules::rule_for("account", Some("identityX")).is_none());
    assert!(rules::rule_for("account", Some("properties.customSubDomainName")).is_none());
}

#[test]
fn whole_resource_kinds_give_one_finding_and_noops_none() {
    let plan = plan_of(vec![
        change("private-endpoint", Action::Create, &[]),
        change(
            "diagnostic-setting",
            Action::Drift,
            &[("properties.logs", json!([]), json!([1]))],
        ),
        change("rai-policy", Action::NoOp, &[]),
        change("defender-for-ai", Action::Verified, &[]),
        change("subnet", Action::Update, &[]),
        change("key-vault-grant", Action::Create, &[]),
        change("log-alert", Action::Create, &[]),
        change("action-group", Action::Drift, &[]),
    ]);
    let ids: Vec<&str> = findings(&plan).iter().map(|f| f.rule.id).collect();
    // Every alert kind is one rule (LT-003); a kind no rule names (the key vault grant) is none.
    assert_eq!(
        ids,
        [
            "MOAT-NS-003",
            "MOAT-LT-001",
            "MOAT-NS-010",
            "MOAT-LT-003",
            "MOAT-LT-003"
        ]
    );
}

#[test]
fn a_waived_finding_does_not_fail_and_severity_thresholds_hold() {
    let mut c = change(
        "account",
        Action::Update,
        &[("properties.disableLocalAuth", json!(false), json!(true))],
    );
    c.exception = Some("local-auth: legacy client until 2027".into());
    let waived = findings(&plan_of(vec![c]));
    assert_eq!(
        waived[0].waived_by.as_deref(),
        Some("local-auth: legacy client until 2027")
    );
    assert!(!fails(&waived, Severity::Low));

    let cmk = findings(&plan_of(vec![change(
        "account",
        Action::Update,
        &[(
            "properties.encryption.keySource",
            json!("Microsoft.CognitiveServices"),
            json!("Microsoft.KeyVault"),
        )],
    )]));
    assert_eq!(cmk[0].rule.id, "MOAT-DP-001");
    assert!(fails(&cmk, Severity::Low));
    assert!(!fails(&cmk, Severity::Medium));
    assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
    assert_eq!(Severity::parse("urgent"), None);
}

#[test]
fn the_table_and_json_draw_the_same_findings() {
    let mut waived = change(
        "account",
        Action::Update,
        &[("properties.disableLocalAuth", json!(false), json!(true))],
    );
    waived.exception = Some("local-auth: vendor appliance".into());
    let plan = plan_of(vec![
        change(
            "account",
            Action::Update,
            &[(
                "properties.publicNetworkAccess",
                json!("Enabled"),
                json!("Disabled"),
            )],
        ),
        waived,
        change("private-endpoint", Action::Create, &[]),
    ]);
    let f = findings(&plan);
    let t = render::table(&f);
    assert!(t.contains("MOAT-NS-001  high"), "{t}");
    assert!(
        t.contains("properties.publicNetworkAccess: Enabled (expected Disabled)"),
        "{t}"
    );
    assert!(
        t.contains("MOAT-IM-001  waived") && t.contains("waived by: local-auth: vendor appliance"),
        "{t}"
    );
    assert!(t.contains("missing: the resource does not exist"), "{t}");
    assert!(
        t.ends_with("3 findings: 0 critical, 1 high, 1 medium, 0 low, 1 waived.\n"),
        "{t}"
    );
    assert_eq!(render::table(&[]), "No findings.\n");

    let j = render::json(&f, Severity::High);
    assert_eq!(j["formatVersion"], AUDIT_FORMAT_VERSION);
    assert_eq!(j["failed"], true);
    assert_eq!(j["summary"]["waived"], 1);
    let ids: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["MOAT-NS-001", "MOAT-IM-001", "MOAT-NS-003"]);
    assert_eq!(
        j["findings"][0]["policyDefinitionId"],
        "/providers/Microsoft.Authorization/policyDefinitions/037eea7a-bd0a-46c5-9a66-03aea78705d3"
    );
    assert_eq!(j["findings"][1]["waivedBy"], "local-auth: vendor appliance");
    assert_eq!(render::json(&f[1..2], Severity::Low)["failed"], false);
}

#[test]
fn docs_audit_md_lists_every_rule_with_its_mcsb_and_policy() {
    let doc = include_str!("../../docs/audit.md");
    for r in RULES {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", r.id)))
            .unwrap_or_else(|| panic!("docs/audit.md has no row for {}", r.id));
        assert!(row.contains(&format!("| {} |", r.title)), "{row}");
        assert!(
            row.contains(&format!("| {} |", r.severity.label())),
            "{row}"
        );
        match r.policy {
            Some(p) => assert!(row.contains(p), "{row}"),
            None => assert!(row.ends_with("| — |"), "{row}"),
        }
        let (psrule, checkov) = rules::equivalents(r);
        for (name, what) in [(psrule, "PSRule"), (checkov, "Checkov")] {
            let cell = format!(
                "| {} |",
                name.map_or("none".to_string(), |n| format!("`{n}`"))
            );
            assert!(row.contains(&cell), "{row}: {what} should be {cell}");
        }
        if r.mcsb.len() <= 5 {
            assert!(row.contains(&format!("| {} |", r.mcsb)), "{row}");
        }
    }
    let rows = doc.lines().filter(|l| l.starts_with("| MOAT-")).count();
    assert_eq!(
        rows,
        RULES.len(),
        "docs/audit.md has rows for rules that do not exist"
    );
}

#[test]
fn every_waivable_exception_name_is_a_real_exception_kind() {
    use crate::blueprint::resolved::ExceptionKind;
    let mut mapped = 0;
    for name in ExceptionKind::NAMES {
        if let Some(rule) = rules::rule_waived_by(name) {
            assert!(rules::rule(rule.id).is_some());
            mapped += 1;
        }
    }
    assert!(mapped >= 9, "the rules' exceptions are mapped: {mapped}");
    assert!(rules::rule_waived_by("no-such-exception").is_none());
}

#[test]
fn a_baseline_instance_is_the_strict_profile_for_the_discovered_account() {
    let template = run::strict_template().expect("the built-in baseline resolves");
    let d = discover::Discovered {
        id: "/subscriptions/s1/resourceGroups/rg-x/providers/Microsoft.CognitiveServices/accounts/acct".into(),
        subscription: "s1".into(),
        resource_group: "rg-x".into(),
        name: "acct".into(),
        location: "swedencentral".into(),
        kind: "AIServices".into(),
    };
    let i = run::baseline_instance(&template, &d, false);
    assert_eq!(i.account_id(), d.id);
    assert_eq!(
        (i.name.as_str(), i.location.as_str(), i.kind.as_str()),
        ("acct", "swedencentral", "AIServices")
    );
    assert!(i.custom_subdomain.is_none() && i.exceptions.is_empty());
    let c = &i.controls;
    // What needs a blueprint's infrastructure is dropped; the rest of `strict` is judged.
    assert!(c.private_endpoint.is_none() && c.nsg.is_none() && c.diagnostics.is_none());
    assert!(c.private_dns.is_none() && c.dns_zone_group.is_none() && c.generic("alerts").is_none());
    assert_eq!(
        c.network_access
            .as_ref()
            .unwrap()
            .spec
            .public_network_access,
        "Disabled"
    );
    assert!(c.local_auth.as_ref().unwrap().spec.disabled);
    assert!(
        c.rai_policy.is_some() && c.deployments.is_some() && c.generic("defenderForAI").is_some()
    );
    assert!(
        c.role_assignments
            .as_ref()
            .unwrap()
            .spec
            .remove_undeclared_privileged
    );
    assert_eq!(
        run::baseline_instance(&template, &d, true).name,
        "rg-x/acct"
    );
}

#[test]
fn audit_scopes_come_from_the_flags_or_the_blueprint_and_none_is_an_error() {
    assert!(matches!(
        run::scopes_for(&[], &[], None),
        Err(run::AuditError::Usage(_))
    ));
    let s = run::scopes_for(&["a".into()], &["rg1".into(), "rg2".into()], None).unwrap();
    assert_eq!(s.len(), 2);
    assert!(s
        .iter()
        .all(|s| s.subscription == "a" && s.resource_group.is_some()));
}

#[test]
fn the_acknowledgeable_rules_are_exactly_the_observed_state_ones() {
    let observed: Vec<&str> = RULES
        .iter()
        .filter(|r| [rules::OBSERVED, rules::DELETED_ACCOUNT].contains(&r.kind))
        .map(|r| r.id)
        // Judged on observed state, but fixed by moat: `guardrails:` (and its exemptions), and
        // `moat rotate` (never waived: rotation is what keeps keys acceptable).
        .filter(|id| !["MOAT-GV-001", "MOAT-IM-003"].contains(id))
        .collect();
    let mut a = crate::blueprint::schema::ACKNOWLEDGEABLE.to_vec();
    let mut b = observed.clone();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(
        a, b,
        "a rule a blueprint field changes is waived by an exception"
    );
}
