//! `examples/fleet.yaml` on its seed (`examples/fleet-seed.json`: two subscriptions, four
//! brownfield accounts, one of them AIServices, two with customer-managed keys): the shipped
//! fleet example plans, applies and converges, and a second plan is empty.

use crate::support;

use support::e2e::*;

#[tokio::test]
async fn the_fleet_example_converges_on_its_seed() {
    let emu = emulator("examples/fleet-seed.json").await;
    let api = connect(&emu);
    let bp = load("examples/fleet.yaml");
    assert_eq!(bp.instances.len(), 4);
    let p = plan(api.as_ref(), &bp).await;
    assert!(!p.is_failed(), "{}", moat::render::text::render(&p, false));
    assert!(p.has_changes());
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let again = plan(api.as_ref(), &bp).await;
    assert!(
        !again.has_changes() && !again.is_failed(),
        "{}",
        moat::render::text::render(&again, false)
    );
    emu.shutdown().await;
}
