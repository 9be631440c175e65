//! Regression found by benches/plan_apply.rs: apply bounded steps in flight by the client's
//! request concurrency (16), although a step spends nearly all its time waiting for a long-running
//! operation. A 20-instance fleet then created its private endpoints in two waves (2 × 60 s instead
//! of 60 s). The default step bound is now `apply::STEPS_IN_FLIGHT` (64); an explicit bound still holds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use moat::apply::ApplyOptions;
use moat::arm::{ArmApi, ArmError, ArmRequest, ArmResponse, Method};
use moat::plan::model::{
    Action, BlueprintRef, Change, InstancePlan, Plan, Write, PLAN_FORMAT_VERSION,
};

/// Every write takes 100 ms (a stand-in for a long-running operation); counts writes under way.
#[derive(Default)]
struct SlowArm {
    now: AtomicUsize,
    max: AtomicUsize,
}

#[async_trait]
impl ArmApi for SlowArm {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(ArmResponse {
            status: 200,
            headers: BTreeMap::new(),
            body: Some(json!({"id": req.path, "properties": {"provisioningState": "Succeeded"}})),
        })
    }
}

/// `n` independent private endpoints, one per instance (no shared lock, no dependencies).
fn fleet_of_endpoints(n: usize) -> Plan {
    let instances = (0..n)
        .map(|i| {
            let id = format!(
                "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe-{i}"
            );
            let change = Change::new(
                format!("i{i}/private-endpoint/pe-{i}"),
                moat::resources::private_endpoint::KIND,
                &id,
                Action::Create,
                "test",
                "absent".into(),
            )
            .with_write(Write::new(Method::Put, &id, "2024-05-01", Some(json!({}))));
            InstancePlan {
                name: format!("i{i}"),
                subscription: "00000000-0000-0000-0000-000000000001".into(),
                account_id: format!("/acct/{i}"),
                changes: vec![change],
                notes: Vec::new(),
                exceptions: Vec::new(),
                rotation: None,
            }
        })
        .collect();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        moat_version: "test".into(),
        blueprint: BlueprintRef {
            path: "fleet.yaml".into(),
            path_from_plan: None,
            digest: "0".into(),
        },
        instances,
    }
}

async fn max_in_flight(plan: &Plan, opts: ApplyOptions) -> usize {
    let arm = Arc::new(SlowArm::default());
    let report = moat::apply::execute(
        arm.clone(),
        plan,
        opts,
        Arc::new(moat::apply::progress::Silent),
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.applied.len(), plan.instances.len());
    arm.max.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn default_options_let_a_fleets_long_running_writes_run_together() {
    let plan = fleet_of_endpoints(40);
    assert_eq!(max_in_flight(&plan, ApplyOptions::default()).await, 40);
}

#[tokio::test(start_paused = true)]
async fn an_explicit_step_bound_still_holds() {
    let plan = fleet_of_endpoints(40);
    let opts = ApplyOptions {
        parallelism: 16,
        ..ApplyOptions::default()
    };
    assert_eq!(max_in_flight(&plan, opts).await, 16);
}
