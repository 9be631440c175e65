//! M2 and `moat destroy`: the alert rules go with their instance; the action group moat created
//! goes only when no instance the destroy keeps still names it; a group moat did not create
//! (no owner tag) is never deleted.

use crate::support;

use moat::blueprint::resolved::Blueprint;
use moat::plan::model::{Action, Plan};
use moat::resources::{activity_log_alert, log_alert, metric_alert};
use support::e2e::*;

fn deleted(p: &Plan) -> Vec<String> {
    p.changes()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.clone())
        .collect()
}

const GROUP: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-new/providers/Microsoft.Insights/actionGroups/ag-ai-security";

/// The greenfield example (accounts moat creates, so destroy may delete them) as `names`, each
/// naming the same action group.
fn greenfield(names: &[&str]) -> Blueprint {
    let mut bp = greenfield_instances(names);
    for inst in &mut bp.instances {
        let alerts = inst
            .controls
            .generic
            .get_mut("alerts")
            .expect("baseline alerts");
        alerts.spec["actionGroup"] = serde_json::json!({
            "name": "ag-ai-security", "shortName": "ai-secops", "emails": ["secops@contoso.com"]
        });
    }
    bp
}

/// Every alert rule of `inst`, as ids.
fn rule_ids(bp: &Blueprint, inst: usize) -> Vec<String> {
    let i = &bp.instances[inst];
    let mut ids: Vec<String> = activity_log_alert::RULES
        .iter()
        .map(|r| activity_log_alert::rule_id(i, r))
        .collect();
    ids.extend(
        metric_alert::RULES
            .iter()
            .map(|r| metric_alert::rule_id(i, r)),
    );
    ids.push(log_alert::rule_id(i, &log_alert::NEW_CALLER_PREFIX));
    ids
}

#[tokio::test]
async fn destroy_deletes_the_group_moat_created_only_when_no_kept_instance_names_it() {
    let bp = greenfield(&["alpha", "beta"]);
    let emu = emulator("examples/greenfield-seed.json").await;
    let api = connect(&emu);
    let p = plan(api.as_ref(), &bp).await;
    assert!(apply(api.clone(), &p).await.ok());
    let group = emu.resource(GROUP).expect("moat created the group");
    assert!(moat::resources::owned_by_tag(&group), "{group:#}");

    // One of the two: its rules go, the group stays (the other instance names it).
    let d = destroy_plan(api.as_ref(), &bp, &["contoso-openai-beta"]).await;
    let gone = deleted(&d);
    assert!(
        gone.iter().all(|a| !a.contains("/action-group/")),
        "{gone:#?}"
    );
    assert!(d.instances[0].notes.iter().any(|n| n.contains(
        "action group ag-ai-security is kept: another instance of the blueprint uses it"
    )));
    assert_eq!(
        gone.iter().filter(|a| a.contains("-alert/")).count(),
        rule_ids(&bp, 1).len(),
        "{gone:#?}"
    );

    // Both: the group goes too, after every rule that names it.
    let d = destroy_plan(
        api.as_ref(),
        &bp,
        &["contoso-openai-alpha", "contoso-openai-beta"],
    )
    .await;
    let groups: Vec<_> = d
        .changes()
        .filter(|c| c.action == Action::Delete && c.address.contains("/action-group/"))
        .collect();
    assert_eq!(groups.len(), 1, "the shared group is deleted once");
    assert!(groups[0].address.ends_with("/action-group/ag-ai-security"));
    // Planned by the first instance, it waits for the second one's rules too.
    for rule in d.instances[1]
        .changes
        .iter()
        .filter(|c| c.address.contains("-alert/"))
    {
        assert!(
            groups[0].depends_on.contains(&rule.address),
            "{} before the group",
            rule.address
        );
    }
    emu.clear_request_log();
    let report = apply(api.clone(), &d).await;
    assert!(report.ok(), "{report:#?}");
    assert!(
        emu.resource(GROUP).is_none(),
        "the group moat created is deleted"
    );
    for i in 0..2 {
        for id in rule_ids(&bp, i) {
            assert!(emu.resource(&id).is_none(), "{id} deleted");
        }
    }
    let log = emu.request_log();
    let group_delete = log
        .iter()
        .position(|e| e.method == "DELETE" && e.path.eq_ignore_ascii_case(GROUP))
        .expect("the group's DELETE");
    assert!(
        log.iter()
            .enumerate()
            .filter(|(_, e)| e.method == "DELETE" && e.path.contains("Alerts/"))
            .all(|(k, _)| k < group_delete),
        "rules are deleted before their group"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn destroy_keeps_an_action_group_moat_did_not_create() {
    let emu = emulator("examples/greenfield-seed.json").await;
    // A group someone made by hand where the blueprint names one (no owner tag).
    emu.seed(&[serde_json::json!({
        "id": GROUP, "location": "Global", "tags": {"owner": "secops"},
        "properties": {"groupShortName": "secops", "enabled": true, "emailReceivers": []}
    })])
    .expect("seed the group");
    let api = connect(&emu);
    let bp = greenfield(&["alpha"]);
    let p = plan(api.as_ref(), &bp).await;
    assert!(apply(api.clone(), &p).await.ok());
    // The hand-made group was updated in place, its tags (no owner tag) carried over.
    let group = emu.resource(GROUP).expect("the group exists");
    assert!(!moat::resources::owned_by_tag(&group), "{group:#}");

    let d = destroy_plan(api.as_ref(), &bp, &["contoso-openai-alpha"]).await;
    assert!(deleted(&d).iter().all(|a| !a.contains("/action-group/")));
    assert!(d.instances[0]
        .notes
        .iter()
        .any(|n| n.contains("action group ag-ai-security is kept: moat did not create it")));
    let report = apply(api.clone(), &d).await;
    assert!(report.ok(), "{report:#?}");
    assert!(
        emu.resource(GROUP).is_some(),
        "someone else's group survives"
    );
    emu.shutdown().await;
}
