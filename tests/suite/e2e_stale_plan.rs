//! A plan made before someone else changed a resource is not applied over their change: every
//! full-replace PUT built from the observed body carries `If-Match: <observed etag>`, so ARM
//! answers 412 and apply reports the resource, saying it changed since the plan, instead of
//! silently writing the stale copy back.

use crate::support;

use moat::arm::{ArmApi, ArmRequest, Method};
use moat::emulator::EmulatorHandle;
use moat::plan::model::Plan;
use serde_json::{json, Value};
use support::e2e::*;

const ACCOUNT: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-openai-prod";
const SUBNET: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/snet-private-endpoints";
const NSG: &str = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/resourceGroups/rg-network/providers/Microsoft.Network/networkSecurityGroups/nsg-private-endpoints";
const CS_API: &str = "2024-10-01";
const NET_API: &str = "2024-05-01";

fn deployment() -> String {
    format!("{ACCOUNT}/deployments/gpt-4o")
}

fn rai_policy() -> String {
    format!("{ACCOUNT}/raiPolicies/strict-production-filter")
}

/// The quickstart, plus a content filter of the blueprint's name that exists with no filters, so
/// the plan updates it (instead of creating it).
async fn quickstart_with_loose_rai_policy() -> EmulatorHandle {
    let emu = emulator("examples/quickstart-seed.json").await;
    emu.seed(&[json!({
        "id": rai_policy(),
        "properties": {"mode": "Default", "basePolicyName": "Microsoft.DefaultV2", "contentFilters": []}
    })])
    .expect("seed the RAI policy");
    emu
}

/// `other` writes `body` to `id`, as a second client between plan and apply.
async fn put_as_someone_else(other: &dyn ArmApi, id: &str, api: &str, body: Value) {
    let mut req = ArmRequest::new(Method::Put, id, api);
    req.body = Some(body);
    let resp = other.send(req).await.expect("second client PUT");
    assert!(resp.is_success(), "{id}: {} {:?}", resp.status, resp.body);
}

fn address_of(p: &Plan, fragment: &str) -> String {
    p.changes()
        .find(|c| c.address.contains(fragment) && c.action.is_write())
        .unwrap_or_else(|| panic!("the plan writes no {fragment}"))
        .address
        .clone()
}

/// Plan the quickstart, let a second client PUT `body` to `id` (the resource at `fragment` in
/// the plan), apply the plan: the write of that resource must fail with 412 naming it and
/// saying it changed since the plan, and `kept` must hold after that apply and after planning
/// and applying again.
async fn changed_after_the_plan(
    fragment: &str,
    id: &str,
    api: &str,
    body: Value,
    kept: fn(&Value),
) {
    let emu = quickstart_with_loose_rai_policy().await;
    let moat_api = connect(&emu);
    let bp = load("examples/quickstart.yaml");
    let p = plan(moat_api.as_ref(), &bp).await;
    let addr = address_of(&p, fragment);
    let c = p.changes().find(|c| c.address == addr).unwrap();
    assert!(
        c.write.as_ref().is_some_and(|w| w.if_match.is_some()),
        "{addr}: the update is sent without If-Match"
    );

    put_as_someone_else(connect(&emu).as_ref(), id, api, body).await;
    let report = apply(moat_api.clone(), &p).await;
    let (_, err) = report
        .failed
        .iter()
        .find(|(a, _)| *a == addr)
        .unwrap_or_else(|| panic!("{addr} did not fail: {report:#?}"));
    assert!(err.contains(&format!("error: {addr}\n")), "{err}");
    assert!(err.contains("412 PreconditionFailed"), "{addr}: {err}");
    assert!(
        err.contains("hint: the live resource changed since the plan was made")
            && err.contains("run `moat plan` again"),
        "{addr}: {err}"
    );
    assert_eq!(report.failed.len(), 1, "{report:#?}");
    kept(&emu.resource(id).unwrap());

    // Planning again starts from their change, and applying that plan keeps it.
    let again = plan(moat_api.as_ref(), &bp).await;
    let report = apply(moat_api.clone(), &again).await;
    assert!(report.ok(), "{report:#?}");
    kept(&emu.resource(id).unwrap());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subnet_changed_after_the_plan_fails_412_instead_of_losing_the_change() {
    // A service endpoint, which a stale full-replace PUT of the subnet would remove.
    changed_after_the_plan(
        "/subnet/",
        SUBNET,
        NET_API,
        json!({"properties": {
            "addressPrefix": "10.10.2.0/24",
            "networkSecurityGroup": {"id": NSG},
            "privateEndpointNetworkPolicies": "Disabled",
            "serviceEndpoints": [{"service": "Microsoft.Storage"}]
        }}),
        |s| {
            assert_eq!(
                s["properties"]["serviceEndpoints"][0]["service"], "Microsoft.Storage",
                "{s:#}"
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_changed_after_the_plan_fails_412_instead_of_losing_the_change() {
    // A capacity change, which a stale PUT of the deployment would undo.
    changed_after_the_plan(
        "/deployment/gpt-4o",
        &deployment(),
        CS_API,
        json!({
            "sku": {"name": "GlobalStandard", "capacity": 20},
            "properties": {
                "model": {"format": "OpenAI", "name": "gpt-4o", "version": "2024-08-06"},
                "raiPolicyName": "Microsoft.DefaultV2",
                "versionUpgradeOption": "OnceNewDefaultVersionAvailable"
            }
        }),
        |d| assert_eq!(d["sku"]["capacity"], 20, "{d:#}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rai_policy_changed_after_the_plan_fails_412_instead_of_losing_the_change() {
    // A custom blocklist, which moat carries over from what it observed.
    changed_after_the_plan(
        "/rai-policy/",
        &rai_policy(),
        CS_API,
        json!({"properties": {
            "mode": "Default", "basePolicyName": "Microsoft.DefaultV2", "contentFilters": [],
            "customBlocklists": [{"blocklistName": "team-blocklist", "blocking": true, "source": "Prompt"}]
        }}),
        |r| assert_eq!(r["properties"]["customBlocklists"][0]["blocklistName"], "team-blocklist", "{r:#}"),
    )
    .await;
}
