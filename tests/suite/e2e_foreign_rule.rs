//! A same-named NSG rule moat did not create is never overwritten (issue 21): it differs from
//! the blueprint's, so the plan blocks naming it, apply holds the instance back, and the rule is
//! left untouched — proven from the emulator's request log.

use crate::support;

use moat::arm::Precondition;
use moat::plan::model::Action;
use serde_json::json;
use support::e2e::*;

#[tokio::test]
async fn a_foreign_same_named_rule_is_blocked_and_left_untouched() {
    let emu = emulator("examples/quickstart-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/quickstart.yaml");
    let nsg = bp.instances[0]
        .controls
        .nsg
        .as_ref()
        .unwrap()
        .spec
        .nsg_id
        .clone();
    let rule = format!("{nsg}/securityRules/Allow-App-Subnet");
    // Someone else's rule of the same name: another source, no moat marker.
    let foreign = json!({"properties": {
        "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "10.99.0.0/16", "sourcePortRange": "*",
        "destinationAddressPrefix": "10.10.2.0/24", "destinationPortRange": "443",
        "description": "Fabrikam batch hosts"}});
    api.put(
        &rule,
        moat::resources::security_rule::API_VERSION,
        &foreign,
        Precondition::None,
    )
    .await
    .unwrap();

    let p = plan(api.as_ref(), &bp).await;
    let c = p
        .changes()
        .find(|c| {
            c.address
                .ends_with("/security-rule/nsg-private-endpoints/Allow-App-Subnet")
        })
        .unwrap();
    assert_eq!(c.action, Action::Blocked, "{c:#?}");
    let why = c.blocked.as_deref().unwrap();
    assert!(
        why.contains("named Allow-App-Subnet that moat did not create"),
        "{why}"
    );
    assert!(p.is_failed());

    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(report.applied.is_empty(), "{report:#?}");
    assert!(
        !emu.request_log().iter().any(is_write),
        "nothing is written for a held-back instance"
    );
    let live = api
        .get(&rule, moat::resources::security_rule::API_VERSION)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live["properties"]["sourceAddressPrefix"], "10.99.0.0/16");
    assert_eq!(live["properties"]["description"], "Fabrikam batch hosts");
    emu.shutdown().await;
}
