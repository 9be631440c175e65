//! M2 alerts end to end against the emulator: the shipped example (`examples/alerts.yaml` on
//! `examples/alerts-seed.json`, a hand-made action group of the same name already there)
//! converges in one apply, and a fleet whose instances name the same action group writes it once.

use crate::support;

use moat::blueprint::resolved::Blueprint;
use moat::plan::model::{Action, Plan};
use moat::resources::{action_group, activity_log_alert, log_alert, metric_alert};
use serde_json::Value;
use support::e2e::*;

const WEBHOOK: &str = "https://alerts.contoso.com/hooks/moat-m2";
const GROUP: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-prod/providers/Microsoft.Insights/actionGroups/ag-ai-security";

fn writes(p: &Plan) -> Vec<String> {
    p.changes()
        .filter(|c| c.action.is_write() || c.action == Action::Blocked)
        .map(|c| format!("{:?} {}", c.action, c.address))
        .collect()
}

/// The live activity-log rules of instance `inst` of `bp`.
async fn assert_activity_rules(api: &dyn moat::arm::ArmApi, bp: &Blueprint, inst: usize) {
    assert_rule(api, bp, inst, &activity_log_alert::KEY_ACCESS, "Sev1").await;
    assert_rule(api, bp, inst, &activity_log_alert::CONFIG_CHANGE, "Sev3").await;
}

/// One live activity-log rule of instance `inst`, checked against what moat means by it.
async fn assert_rule(
    api: &dyn moat::arm::ArmApi,
    bp: &Blueprint,
    inst: usize,
    rule: &activity_log_alert::Rule,
    severity: &str,
) {
    let i = &bp.instances[inst];
    let alert = api
        .get(
            &activity_log_alert::rule_id(i, rule),
            activity_log_alert::API_VERSION,
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("the {} rule exists", rule.words.suffix));
    let p = &alert["properties"];
    let scopes: Vec<&str> = p["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(scopes.len(), 1, "{alert:#}");
    assert!(
        scopes[0].eq_ignore_ascii_case(i.account_id().trim_start_matches('/')),
        "scoped to the account: {alert:#}"
    );
    assert_eq!(p["enabled"], true);
    let all = p["condition"]["allOf"].as_array().unwrap();
    assert!(
        all.iter().any(|l| l["field"]
            .as_str()
            .is_some_and(|f| f.eq_ignore_ascii_case("category"))
            && l["equals"] == "Administrative"),
        "{alert:#}"
    );
    let ops: Vec<&str> = all
        .iter()
        .filter_map(|l| l["anyOf"].as_array())
        .flatten()
        .filter_map(|l| l["equals"].as_str())
        .collect();
    assert_eq!(ops, rule.operations, "{alert:#}");
    let groups = p["actions"]["actionGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{alert:#}");
    assert!(groups[0]["actionGroupId"]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case(GROUP));
    assert_eq!(groups[0]["webhookProperties"]["severity"], severity);
}

/// The live metric rules of instance `inst`: scoped to the account, the rule's metric split by
/// deployment over the blueprint's threshold, window and frequency, notifying the group.
async fn assert_metric_rules(api: &dyn moat::arm::ArmApi, bp: &Blueprint, inst: usize) {
    let i = &bp.instances[inst];
    for rule in metric_alert::RULES {
        let alert = api
            .get(&metric_alert::rule_id(i, rule), metric_alert::API_VERSION)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the {} rule exists", rule.words.suffix));
        let p = &alert["properties"];
        assert!(p["scopes"][0]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(&i.account_id())));
        assert_eq!(p["severity"], rule.severity, "{alert:#}");
        assert_eq!(p["windowSize"], rule.window, "{alert:#}");
        assert_eq!(p["evaluationFrequency"], rule.frequency, "{alert:#}");
        let c = &p["criteria"]["allOf"][0];
        assert_eq!(c["metricName"], rule.metric);
        assert_eq!(c["timeAggregation"], "Total");
        assert_eq!(c["threshold"].as_f64(), Some(rule.threshold as f64));
        assert_eq!(c["dimensions"][0]["name"], metric_alert::DIMENSION);
        assert_eq!(
            p["targetResourceType"],
            "Microsoft.CognitiveServices/accounts"
        );
        assert!(p["actions"][0]["actionGroupId"]
            .as_str()
            .is_some_and(|g| g.eq_ignore_ascii_case(GROUP)));
    }
}

/// The live log rule of instance `inst`: scoped to its diagnostics workspace, its query over
/// the account's rows of `AzureDiagnostics`, notifying the group.
async fn assert_log_rule(api: &dyn moat::arm::ArmApi, bp: &Blueprint, inst: usize) {
    let i = &bp.instances[inst];
    let rule = &log_alert::NEW_CALLER_PREFIX;
    let alert = api
        .get(&log_alert::rule_id(i, rule), log_alert::API_VERSION)
        .await
        .unwrap()
        .expect("the new-caller-prefix rule exists");
    let p = &alert["properties"];
    let workspace = &i.controls.diagnostics.as_ref().unwrap().spec.workspace_id;
    assert!(p["scopes"][0]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case(workspace)));
    let query = p["criteria"]["allOf"][0]["query"].as_str().unwrap();
    assert!(
        query.contains(&format!("_ResourceId =~ \"{}\"", i.account_id())),
        "{query}"
    );
    assert!(query.contains("CallerPrefix !in (known)"), "{query}");
    assert_eq!(p["windowSize"], rule.window);
    assert_eq!(p["overrideQueryTimeRange"], "P2D");
    assert!(p["actions"]["actionGroups"][0]
        .as_str()
        .is_some_and(|g| g.eq_ignore_ascii_case(GROUP)));
    assert!(
        api.get(
            &log_alert::rule_id(i, &log_alert::KEY_AUTH_REQUESTS),
            log_alert::API_VERSION
        )
        .await
        .unwrap()
        .is_none(),
        "the key-auth rule is opt-in and needs keys on"
    );
}

#[tokio::test]
async fn the_alerts_example_converges_and_keeps_the_hand_made_receivers() {
    let emu = emulator("examples/alerts-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/alerts.yaml");
    let inst = &bp.instances[0];
    assert_eq!(action_group::id(inst).as_deref(), Some(GROUP));

    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed(), "{:#?}", writes(&p));
    let group = p
        .changes()
        .find(|c| c.kind == action_group::KIND)
        .expect("action group planned");
    // The seed's group has another short name and no e-mail receiver: updated in place.
    assert_eq!(
        (group.address.as_str(), group.action),
        (
            "contoso-openai-prod/action-group/ag-ai-security",
            Action::Update
        )
    );
    let body = group.write.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(
        body["properties"]["smsReceivers"][0]["name"],
        "secops-oncall"
    );
    // The declared webhook is written in full, but the plan shows only its host and a
    // fingerprint (webhook paths often carry a token).
    let hooks = body["properties"]["webhookReceivers"].as_array().unwrap();
    assert!(hooks
        .iter()
        .any(|h| h["serviceUri"] == WEBHOOK && h["useCommonAlertSchema"] == true));
    let shown = moat::render::text::render(&p, false);
    assert!(
        shown.contains("https://alerts.contoso.com/… (sha256:"),
        "{shown}"
    );
    assert!(
        !shown.contains("moat-m2"),
        "the webhook's path is not shown: {shown}"
    );
    let alerts: Vec<_> = p
        .changes()
        .filter(|c| c.kind == activity_log_alert::KIND)
        .collect();
    assert_eq!(alerts.len(), activity_log_alert::RULES.len(), "{alerts:#?}");
    assert!(alerts
        .iter()
        .all(|a| a.action == Action::Create && a.risk.is_none()));

    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");

    let live = api
        .get(GROUP, action_group::API_VERSION)
        .await
        .unwrap()
        .expect("the action group exists");
    let props = &live["properties"];
    assert_eq!(props["groupShortName"], "ai-secops");
    assert_eq!(props["enabled"], true);
    let emails: Vec<&str> = props["emailReceivers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["emailAddress"].as_str())
        .collect();
    assert_eq!(emails, ["secops@contoso.com"]);
    assert!(props["webhookReceivers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["serviceUri"] == WEBHOOK));
    assert_eq!(props["emailReceivers"][0]["useCommonAlertSchema"], true);
    // The SMS receiver someone added by hand is carried over, and so are the group's tags.
    assert_eq!(props["smsReceivers"][0]["name"], "secops-oncall");
    assert_eq!(live["tags"]["owner"], "secops");
    assert_activity_rules(api.as_ref(), &bp, 0).await;
    assert_metric_rules(api.as_ref(), &bp, 0).await;
    assert_log_rule(api.as_ref(), &bp, 0).await;

    let again = plan(api.as_ref(), &bp).await;
    assert!(
        !again.has_changes() && !again.is_failed(),
        "{:#?}",
        writes(&again)
    );
    // A second apply on the converged instance writes nothing at all.
    emu.clear_request_log();
    let report = apply(api.clone(), &again).await;
    assert!(report.ok() && report.applied.is_empty(), "{report:#?}");
    assert_eq!(emu.request_log().iter().filter(|e| is_write(e)).count(), 0);
    emu.shutdown().await;
}

/// The example's instance and `extra` more accounts in the same resource group, all naming the
/// same action group.
fn fleet(dir: &std::path::Path, extra: usize) -> Blueprint {
    let text = std::fs::read_to_string(repo("examples/alerts.yaml")).unwrap();
    let (head, prod) = text.split_once("instances:\n").unwrap();
    let baseline = repo("blueprints/strict-baseline.yaml");
    let head = head.replace(
        "../blueprints/strict-baseline.yaml",
        &baseline.display().to_string(),
    );
    let mut body = prod.to_string();
    for n in 1..=extra {
        let other = prod.replace("contoso-openai-prod", &format!("contoso-openai-b{n:02}"));
        assert!(other.contains("name: ag-ai-security"));
        body.push_str(&other);
    }
    let path = dir.join("alerts-fleet.yaml");
    std::fs::write(&path, format!("{head}instances:\n{body}")).unwrap();
    moat::blueprint::load(&path).unwrap_or_else(|d| panic!("{d}"))
}

/// The quickstart seed (no action group yet) with `extra` more accounts, each with its own
/// identity.
fn fleet_seed(extra: usize) -> Vec<Value> {
    let quick = moat::emulator::load_seed_file(repo("examples/quickstart-seed.json")).unwrap();
    let mut seed = Vec::new();
    for v in quick {
        let id = v["id"].as_str().unwrap_or("");
        if id.contains("/accounts/contoso-openai-prod") {
            for n in 1..=extra {
                let text = serde_json::to_string(&v)
                    .unwrap()
                    .replace("contoso-openai-prod", &format!("contoso-openai-b{n:02}"))
                    .replace(
                        "7d2c4a8e-5b1f-4e3a-9c6d-2f8e1a4b7c90",
                        &format!("7d2c4a8e-5b1f-4e3a-9c6d-2f8e1a4b7d{n:02}"),
                    );
                seed.push(serde_json::from_str(&text).unwrap());
            }
        }
        seed.push(v);
    }
    seed
}

#[tokio::test]
async fn a_fleet_of_ten_naming_one_action_group_creates_it_once_and_converges() {
    const FLEET: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let bp = fleet(dir.path(), FLEET - 1);
    assert_eq!(bp.instances.len(), FLEET);
    assert!(bp
        .instances
        .iter()
        .all(|i| action_group::id(i) == action_group::id(&bp.instances[0])));
    let emu = moat::emulator::EmulatorHandle::start(moat::emulator::EmulatorConfig::default())
        .await
        .expect("emulator starts");
    emu.seed(&fleet_seed(FLEET - 1)).expect("seed applies");
    let api = connect(&emu);

    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed(), "{:#?}", writes(&p));
    let groups: Vec<_> = p
        .changes()
        .filter(|c| c.kind == action_group::KIND)
        .collect();
    // The shared kind: one change, owned by the first instance naming it.
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(
        (groups[0].address.as_str(), groups[0].action),
        (
            "contoso-openai-prod/action-group/ag-ai-security",
            Action::Create
        )
    );
    assert!(groups[0].id.eq_ignore_ascii_case(GROUP));
    // Each activity-log and metric rule once per account.
    let alerts: Vec<_> = p
        .changes()
        .filter(|c| c.kind == activity_log_alert::KIND || c.kind == metric_alert::KIND)
        .collect();
    assert_eq!(
        alerts.len(),
        FLEET * (activity_log_alert::RULES.len() + metric_alert::RULES.len()),
        "{alerts:#?}"
    );
    assert!(alerts.iter().all(|c| c.action == Action::Create));

    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let puts = emu
        .request_log()
        .iter()
        .filter(|e| e.method == "PUT" && e.path.eq_ignore_ascii_case(GROUP))
        .count();
    assert_eq!(puts, 1, "the shared group is written once");
    for i in 0..FLEET {
        assert_activity_rules(api.as_ref(), &bp, i).await;
        assert_metric_rules(api.as_ref(), &bp, i).await;
        assert_log_rule(api.as_ref(), &bp, i).await;
    }

    let again = plan(api.as_ref(), &bp).await;
    assert!(
        !again.has_changes() && !again.is_failed(),
        "{:#?}",
        writes(&again)
    );
    emu.shutdown().await;
}

/// An alert rule that cannot be created fails alone: the example's configuration-change rule
/// is refused (an injected fault: its PUT made long-running and ended Failed), and every
/// hardening change, the action group and the other rule are applied; nothing is skipped,
/// because nothing waits for alert rules. (The emulator keeps the body of a failed long-running
/// PUT, so the plan after it is not checked here: on Azure a refused rule does not exist.)
#[tokio::test]
async fn an_alert_rule_that_cannot_be_created_fails_alone_and_hardening_goes_on() {
    use moat::emulator::{EmulatorConfig, FailOutcome, FailRule, FaultConfig, LroStyle};
    let mut config = EmulatorConfig::default();
    config.lro.styles.insert(
        "PUT Microsoft.Insights/activityLogAlerts".into(),
        LroStyle::AsyncBody,
    );
    config.faults = FaultConfig {
        fail_operations: vec![FailRule {
            method: Some("PUT".into()),
            path_contains: "/activityLogAlerts/contoso-openai-prod-config-change".into(),
            outcome: FailOutcome::Failed,
            code: "BadRequest".into(),
            message: "The alert rule could not be created (injected).".into(),
            times: None,
        }],
        ..FaultConfig::default()
    };
    let emu = emulator_with(config, "examples/alerts-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/alerts.yaml");
    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed(), "{:#?}", writes(&p));
    let report = apply(api.clone(), &p).await;
    let failed: Vec<&str> = report.failed.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        failed,
        ["contoso-openai-prod/activity-log-alert/config-change"],
        "{report:#?}"
    );
    assert!(report.failed[0].1.contains("injected"), "{report:#?}");
    assert!(report.skipped.is_empty(), "{report:#?}");
    let acct = emu
        .resource(&bp.instances[0].account_id())
        .expect("account exists");
    assert_eq!(acct["properties"]["disableLocalAuth"], true);
    assert_eq!(acct["properties"]["publicNetworkAccess"], "Disabled");
    assert_rule(
        api.as_ref(),
        &bp,
        0,
        &activity_log_alert::KEY_ACCESS,
        "Sev1",
    )
    .await;

    emu.shutdown().await;
}

/// The log rule's workspace is gone (deleted after the blueprint was written): Azure refuses the
/// rule, and it fails alone — no step waits for an alert rule, so nothing is skipped because of
/// it, and the other alert rules are created.
#[tokio::test]
async fn a_log_alert_on_a_missing_workspace_fails_alone() {
    let seed: Vec<Value> = moat::emulator::load_seed_file(repo("examples/alerts-seed.json"))
        .unwrap()
        .into_iter()
        .filter(|v| {
            !v["id"]
                .as_str()
                .unwrap_or("")
                .contains("/workspaces/law-security")
        })
        .collect();
    let emu = moat::emulator::EmulatorHandle::start(moat::emulator::EmulatorConfig::default())
        .await
        .expect("emulator starts");
    emu.seed(&seed).expect("seed applies");
    let api = connect(&emu);
    let bp = load("examples/alerts.yaml");
    let p = plan(api.as_ref(), &bp).await;
    let report = apply(api.clone(), &p).await;
    let log_rule = "contoso-openai-prod/log-alert/new-caller-prefix";
    let failed: Vec<&str> = report.failed.iter().map(|(a, _)| a.as_str()).collect();
    assert!(failed.contains(&log_rule), "{report:#?}");
    let why = &report.failed.iter().find(|(a, _)| a == log_rule).unwrap().1;
    assert!(why.contains("could not be found"), "{why}");
    assert!(
        report
            .skipped
            .iter()
            .all(|(_, because)| !because.contains(log_rule)),
        "nothing waits for an alert rule: {report:#?}"
    );
    assert_metric_rules(api.as_ref(), &bp, 0).await;
    emu.shutdown().await;
}
