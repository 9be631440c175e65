//! D2, Defender for AI, end to end against the emulator: turned back on when someone turned it
//! off, off only with its exception (and then a risk), converged either way.

use crate::support;

use moat::arm::Precondition;
use moat::blueprint::resolved::{Exception, ExceptionKind};
use moat::plan::model::Action;
use serde_json::json;
use support::e2e::*;

const ADDRESS: &str = "contoso-openai-prod/defender-for-ai/Default";

fn setting_id(bp: &moat::blueprint::resolved::Blueprint) -> String {
    format!(
        "{}/defenderForAISettings/Default",
        bp.instances[0].account_id()
    )
}

#[tokio::test]
async fn defender_switched_off_by_hand_is_switched_back_on_and_stays_converged() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/quickstart.yaml");
    // Harden everything first, then someone turns Defender off by hand.
    assert!(apply(api.clone(), &plan(api.as_ref(), &bp).await)
        .await
        .ok());
    let id = setting_id(&bp);
    let v = moat::resources::defender_for_ai::API_VERSION;
    api.put(
        &id,
        v,
        &json!({"properties": {"state": "Disabled"}}),
        Precondition::None,
    )
    .await
    .unwrap();

    let p = plan(api.as_ref(), &bp).await;
    let writes: Vec<_> = p.changes().filter(|c| c.action.is_write()).collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let c = writes[0];
    assert_eq!((c.address.as_str(), c.action), (ADDRESS, Action::Update));
    assert!(c.risk.is_none(), "turning protection on is no risk");
    let w = c.write.as_ref().unwrap();
    assert_eq!(w.body, Some(json!({"properties": {"state": "Enabled"}})));
    assert!(
        w.if_match.is_some(),
        "the update is conditional on the observed etag"
    );
    assert!(w.lock.as_deref().unwrap().starts_with("account:"));

    assert!(apply(api.clone(), &p).await.ok());
    let live = api.get(&id, v).await.unwrap().unwrap();
    assert_eq!(live["properties"]["state"], "Enabled");
    let again = plan(api.as_ref(), &bp).await;
    assert!(!again.has_changes() && !again.is_failed());
    emu.shutdown().await;
}

#[tokio::test]
async fn defender_goes_off_only_with_its_exception_and_then_as_a_risk() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let api = connect(&emu);
    let mut bp = load("examples/quickstart.yaml");
    assert!(apply(api.clone(), &plan(api.as_ref(), &bp).await)
        .await
        .ok());
    let inst = &mut bp.instances[0];
    inst.controls.generic.get_mut("defenderForAI").unwrap().spec["state"] = "Disabled".into();

    // Without the exception: blocked, nothing written.
    let p = plan(api.as_ref(), &bp).await;
    assert!(p.is_failed());
    let c = p.changes().find(|c| c.address == ADDRESS).unwrap();
    assert_eq!(c.action, Action::Blocked);
    assert!(c
        .blocked
        .as_deref()
        .unwrap()
        .contains("defender-for-ai-disabled"));

    // With it: an update that says it weakens security and quotes the exception.
    bp.instances[0].exceptions.push(Exception {
        allows: ExceptionKind::DefenderForAiDisabled,
        reason: "load test against a sandbox; SOC informed".into(),
        expires: None,
        days_left: None,
    });
    let p = plan(api.as_ref(), &bp).await;
    let c = p.changes().find(|c| c.address == ADDRESS).unwrap();
    assert_eq!(c.action, Action::Update);
    assert!(c.risk.as_deref().unwrap().starts_with("weakens security"));
    assert!(c.exception.as_deref().unwrap().contains("SOC informed"));
    assert!(apply(api.clone(), &p).await.ok());
    let live = api
        .get(
            &setting_id(&bp),
            moat::resources::defender_for_ai::API_VERSION,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live["properties"]["state"], "Disabled");
    assert!(!plan(api.as_ref(), &bp).await.has_changes());
    emu.shutdown().await;
}
