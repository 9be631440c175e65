//! Protocol scenarios: authentication, api-versions, casing, the LRO styles, conditional
//! requests, throttling arithmetic, faults, persistence and the request log.

use crate::emulator_support;

use std::time::Duration;

use emulator_support::*;
use moat::arm::{ArmApi, ArmRequest, Method, Precondition};
use moat::emulator::{EmulatorConfig, FaultConfig, LroStyle};
use serde_json::{json, Value};

fn ws(rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.OperationalInsights/workspaces/{name}",
        rg_id(rg)
    )
}

#[tokio::test]
async fn requests_without_a_bearer_token_get_401() {
    let env = start().await;
    let path = format!("/subscriptions/{SUB}/resourcegroups?api-version={RES}");
    let (status, text) = raw(
        &env.emu.base_url(),
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 401);
    assert!(text.contains("AuthenticationFailed"), "{text}");
    let (status, _) = raw(&env.emu.base_url(), &format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic abc\r\nConnection: close\r\n\r\n")).await;
    assert_eq!(status, 401);
    let (status, _) = raw(&env.emu.base_url(), &format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nConnection: close\r\n\r\n")).await;
    assert_eq!(status, 200);
    env.seed(json!([rg_seed("rg")]));
    let head = |rg: &str| {
        format!("HEAD {}?api-version={RES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nConnection: close\r\n\r\n", rg_id(rg))
    };
    assert_eq!(raw(&env.emu.base_url(), &head("rg")).await.0, 204);
    assert_eq!(raw(&env.emu.base_url(), &head("other")).await.0, 404);
}

#[tokio::test]
async fn api_versions_are_checked_per_provider() {
    let env = start().await;
    env.seed(json!([rg_seed("rg")]));
    assert_eq!(env.get(&rg_id("rg"), "2021-04-01").await.status, 200);
    let bad = env.get(&rg_id("rg"), "2099-01-01").await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body.unwrap()["error"]["code"],
        "InvalidApiVersionParameter"
    );
    for v in ["2024-10-01", "2025-06-01", "2025-09-01", "2026-03-01"] {
        assert_eq!(env.get(&acct_id("rg", "none"), v).await.status, 404, "{v}");
    }
    assert_eq!(
        env.get(&acct_id("rg", "none"), "2024-06-01").await.status,
        400
    );
    assert_eq!(
        env.get(
            &format!(
                "{}/providers/Microsoft.Network/privateDnsZones/z.com",
                rg_id("rg")
            ),
            "2020-06-01"
        )
        .await
        .status,
        404
    );
    let mut req = ArmRequest::follow(format!("{}{}", env.emu.base_url(), rg_id("rg")));
    req.method = Method::Get;
    let missing = env.arm.send(req).await.unwrap();
    assert_eq!(
        missing.body.unwrap()["error"]["code"],
        "MissingApiVersionParameter"
    );
}

#[tokio::test]
async fn ids_are_case_insensitive_and_keep_the_last_casing() {
    let env = start().await;
    assert_eq!(
        env.put(&rg_id("RG-Mixed"), RES, json!({"location": "East US"}))
            .await
            .status,
        201
    );
    let r = env
        .get(
            &rg_id("rg-mixed").replace("resourceGroups", "RESOURCEGROUPS"),
            RES,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref().unwrap()["name"], "RG-Mixed");
    assert_eq!(r.body.unwrap()["location"], "eastus");
    env.put(
        &ws("rg-mixed", "LAW-One"),
        "2023-09-01",
        json!({"location": "eastus"}),
    )
    .await;
    env.finish_ops();
    let again = env
        .put(
            &ws("RG-MIXED", "law-one"),
            "2023-09-01",
            json!({"location": "eastus"}),
        )
        .await;
    assert_eq!(again.status, 200);
    let got = env
        .get(&ws("rg-mixed", "LAW-ONE"), "2023-09-01")
        .await
        .body
        .unwrap();
    assert_eq!(got["name"], "law-one");
    assert_eq!(got["id"], ws("RG-MIXED", "law-one"));
}

#[tokio::test]
async fn async_body_style_shows_progress_until_the_clock_moves() {
    let env = start().await;
    env.seed(json!([
        rg_seed("rg"),
        account_seed("rg", "acct1", "OpenAI")
    ]));
    let dep = format!("{}/deployments/d1", acct_id("rg", "acct1"));
    let r = env.put(&dep, CS, json!({"sku": {"name": "Standard", "capacity": 1}, "properties": {"model": {"format": "OpenAI", "name": "gpt-4o"}}})).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body.as_ref().unwrap()["properties"]["provisioningState"],
        "Accepted"
    );
    assert_eq!(
        r.body.as_ref().unwrap()["properties"]["model"]["version"],
        "2024-11-20"
    );
    let status_url = r.header("azure-asyncoperation").unwrap().to_string();
    assert!(status_url.starts_with(&env.emu.base_url()), "{status_url}");
    assert!(status_url
        .contains("/providers/Microsoft.CognitiveServices/locations/eastus/operationStatuses/"));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("retry-after-ms"), Some("10"));
    let s = env.follow(&status_url).await;
    assert_eq!(
        (s.status, s.body.unwrap()["status"].clone()),
        (200, json!("InProgress"))
    );
    assert_eq!(
        env.get(&dep, CS).await.body.unwrap()["properties"]["provisioningState"],
        "Accepted"
    );
    env.clock.advance(Duration::from_millis(29));
    assert_eq!(
        env.follow(&status_url).await.body.unwrap()["status"],
        "InProgress"
    );
    env.clock.advance(Duration::from_millis(1));
    let done = env.follow(&status_url).await.body.unwrap();
    assert_eq!(done["status"], "Succeeded");
    assert!(done["endTime"].is_string());
    assert_eq!(
        env.get(&dep, CS).await.body.unwrap()["properties"]["provisioningState"],
        "Succeeded"
    );
}

#[tokio::test]
async fn accepted_style_hides_a_created_resource_until_done() {
    let env = start().await;
    env.seed(json!([rg_seed("rg")]));
    let zone = net_id("rg", "privateDnsZones/privatelink.openai.azure.com");
    let r = env.put(&zone, DNS, json!({"location": "Global"})).await;
    assert_eq!(r.status, 202);
    assert!(r.body.is_none());
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.contains("/operationResults/"));
    assert_eq!(env.get(&zone, DNS).await.status, 404);
    let pending = env.follow(&loc).await;
    assert_eq!((pending.status, pending.body.is_none()), (202, true));
    assert!(pending.header("retry-after").is_some());
    env.finish_ops();
    let fin = env.follow(&loc).await;
    assert_eq!(fin.status, 201);
    assert_eq!(fin.body.unwrap()["location"], "global");
    let z = env.get(&zone, DNS).await.body.unwrap();
    assert_eq!(z["properties"]["numberOfRecordSets"], 1);
    assert_eq!(z["properties"]["provisioningState"], "Succeeded");
}

#[tokio::test]
async fn deletes_are_202_then_gone_and_idempotent() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), {"id": ws("rg", "law"), "location": "eastus"}]));
    let d = env
        .send(Method::Delete, &ws("rg", "law"), "2023-09-01", None)
        .await;
    assert_eq!(d.status, 202);
    assert!(d.header("location").is_some() && d.header("azure-asyncoperation").is_some());
    assert_eq!(
        env.get(&ws("rg", "law"), "2023-09-01").await.body.unwrap()["properties"]
            ["provisioningState"],
        "Deleting"
    );
    env.finish_ops();
    assert_eq!(env.follow(d.header("location").unwrap()).await.status, 204);
    assert_eq!(env.get(&ws("rg", "law"), "2023-09-01").await.status, 404);
    assert_eq!(
        env.send(Method::Delete, &ws("rg", "law"), "2023-09-01", None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn conditional_requests_follow_the_etag_table() {
    let env = start().await;
    env.seed(json!([rg_seed("rg")]));
    let rec = net_id("rg", "privateDnsZones/z.com/A/www");
    env.seed(json!([{"id": net_id("rg", "privateDnsZones/z.com"), "location": "global"}]));
    let body = json!({"properties": {"ttl": 10, "aRecords": [{"ipv4Address": "10.0.0.1"}]}});
    let put = |pre: Precondition| env.arm.put(&rec, DNS, &body, pre);
    assert!(
        matches!(put(Precondition::IfMatch("\"x\"".into())).await, Err(e) if e.to_string().contains("412"))
    );
    let created = put(Precondition::IfNoneMatch).await.unwrap().unwrap();
    let etag = created["etag"].as_str().unwrap().to_string();
    assert!(
        matches!(put(Precondition::IfNoneMatch).await, Err(e) if e.to_string().contains("PreconditionFailed"))
    );
    assert!(
        matches!(put(Precondition::IfMatch("stale".into())).await, Err(e) if e.to_string().contains("412"))
    );
    let updated = put(Precondition::IfMatch(etag.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(updated["etag"], json!(etag));
    let resp = env.get(&rec, DNS).await;
    assert_eq!(resp.header("etag"), updated["etag"].as_str());
    let del = ArmRequest::new(Method::Delete, &rec, DNS).with_header("If-Match", etag);
    assert_eq!(env.arm.send(del).await.unwrap().status, 412);
}

#[tokio::test]
async fn scope_errors_missing_group_parent_and_subscription() {
    let env = start_with(EmulatorConfig {
        subscriptions: Some(vec![SUB.into()]),
        ..EmulatorConfig::default()
    })
    .await;
    let r = env
        .put(
            &acct_id("nope", "a"),
            CS,
            json!({"location": "eastus", "kind": "OpenAI", "sku": {"name": "S0"}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.unwrap()["error"]["code"].clone()),
        (404, json!("ResourceGroupNotFound"))
    );
    env.seed(json!([rg_seed("rg")]));
    let r = env
        .put(
            &format!("{}/deployments/d", acct_id("rg", "none")),
            CS,
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.unwrap()["error"]["code"].clone()),
        (404, json!("ParentResourceNotFound"))
    );
    let other = "11111111-2222-3333-4444-555555555555";
    let r = env
        .get(&format!("/subscriptions/{other}/resourceGroups/rg"), RES)
        .await;
    assert_eq!(
        (r.status, r.body.unwrap()["error"]["code"].clone()),
        (404, json!("SubscriptionNotFound"))
    );
}

#[tokio::test]
async fn lists_page_with_next_links_when_configured() {
    let env = start_with(EmulatorConfig {
        page_size: Some(2),
        ..EmulatorConfig::default()
    })
    .await;
    env.seed(json!([rg_seed("rg")]));
    for i in 0..5 {
        env.seed(json!([{"id": ws("rg", &format!("w{i}")), "location": "eastus"}]));
    }
    let first = env
        .get(
            &format!(
                "{}/providers/Microsoft.OperationalInsights/workspaces",
                rg_id("rg")
            ),
            "2023-09-01",
        )
        .await
        .body
        .unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    assert!(first["nextLink"]
        .as_str()
        .unwrap()
        .starts_with(&env.emu.base_url()));
    let all = env
        .arm
        .list(
            &format!(
                "{}/providers/Microsoft.OperationalInsights/workspaces",
                rg_id("rg")
            ),
            "2023-09-01",
        )
        .await
        .unwrap();
    let names: Vec<&str> = all.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["w0", "w1", "w2", "w3", "w4"]);
}

#[tokio::test]
async fn moats_client_drives_operations_to_completion_on_the_real_clock() {
    let emu = moat::emulator::EmulatorHandle::start(EmulatorConfig::default())
        .await
        .unwrap();
    let arm = client(&emu.base_url(), "t");
    emu.seed(&[rg_seed("rg")]).unwrap();
    let zone = net_id("rg", "privateDnsZones/privatelink.openai.azure.com");
    let z = arm
        .put(
            &zone,
            DNS,
            &json!({"location": "global"}),
            Precondition::None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(z["properties"]["provisioningState"], "Succeeded");
    arm.delete(&zone, DNS, Precondition::None).await.unwrap();
    assert_eq!(arm.get(&zone, DNS).await.unwrap(), None);
    // Account: AsyncBody create, Accepted PATCH, deployment, keys, delete.
    let acct = acct_id("rg", "e2e-acct");
    let a = arm
        .put(
            &acct,
            CS,
            &account_seed("rg", "e2e-acct", "OpenAI"),
            Precondition::None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a["properties"]["provisioningState"], "Succeeded");
    let p = arm
        .patch(
            &acct,
            CS,
            &json!({"properties": {"publicNetworkAccess": "Disabled"}}),
            Precondition::None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p["properties"]["publicNetworkAccess"], "Disabled");
    let d = arm.put(&format!("{acct}/deployments/d1"), CS, &json!({"sku": {"name": "Standard", "capacity": 1}, "properties": {"model": {"format": "OpenAI", "name": "gpt-4o"}}}), Precondition::None).await.unwrap().unwrap();
    assert_eq!(d["properties"]["provisioningState"], "Succeeded");
    let keys = arm
        .post(&format!("{acct}/listKeys"), CS, None)
        .await
        .unwrap()
        .unwrap();
    assert!(keys["key1"].is_string());
    arm.delete(&acct, CS, Precondition::None).await.unwrap();
    assert_eq!(arm.get(&acct, CS).await.unwrap(), None);
    emu.shutdown().await;
}

#[tokio::test]
async fn styles_can_be_overridden_and_lros_switched_off() {
    let mut cfg = EmulatorConfig::default();
    cfg.lro.styles.insert(
        "PUT Microsoft.Network/privateDnsZones".into(),
        LroStyle::AsyncBody,
    );
    let env = start_with(cfg).await;
    env.seed(json!([rg_seed("rg")]));
    let r = env
        .put(
            &net_id("rg", "privateDnsZones/a.com"),
            DNS,
            json!({"location": "global"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body.unwrap()["properties"]["provisioningState"],
        "Creating"
    );

    let mut cfg = EmulatorConfig::default();
    cfg.lro.enabled = false;
    let env = start_with(cfg).await;
    env.seed(json!([rg_seed("rg")]));
    let r = env
        .put(
            &net_id("rg", "privateDnsZones/a.com"),
            DNS,
            json!({"location": "global"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body.unwrap()["properties"]["provisioningState"],
        "Succeeded"
    );
}

#[test]
fn azure_like_durations_scale() {
    let c = EmulatorConfig::azure_like(0.01);
    assert_eq!(
        c.lro_duration("Microsoft.Network/privateEndpoints"),
        Duration::from_millis(600)
    );
    assert_eq!(
        c.lro_duration("microsoft.network/privatednszones"),
        Duration::from_millis(300)
    );
    assert_eq!(
        c.lro_duration("Microsoft.CognitiveServices/accounts"),
        Duration::from_millis(100)
    );
    assert_eq!(
        c.lro_duration("Microsoft.Network/virtualNetworks/subnets"),
        Duration::from_millis(30)
    );
    assert_eq!(c.lro.retry_after, Duration::from_millis(100));
    let d = EmulatorConfig::default();
    assert_eq!(
        d.lro_duration("Microsoft.Network/privateEndpoints"),
        Duration::from_millis(30)
    );
    assert!(d.throttle.enabled && d.faults == FaultConfig::default() && d.subscriptions.is_none());
}

#[tokio::test]
async fn insights_errors_use_the_flat_envelope() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "a1", "OpenAI")]));
    let r = env.put(&format!("{}/providers/Microsoft.Insights/diagnosticSettings/s", acct_id("rg", "a1")), INS, json!({"properties": {"workspaceId": ws("rg", "missing"), "logs": [{"categoryGroup": "allLogs", "enabled": true}]}})).await;
    assert_eq!(r.status, 400);
    let b: Value = r.body.unwrap();
    assert_eq!(b["code"], "LinkedResourceNotFound");
    assert!(b.get("error").is_none());
}

/// The status codes ARM-PROTOCOL §2 lists per type: (create, update, delete present, delete absent).
#[tokio::test]
async fn status_codes_per_type_follow_the_specs() {
    let env = start().await;
    let mut seed = network_seed();
    let law = format!(
        "{}/providers/Microsoft.OperationalInsights/workspaces/law",
        rg_id("rg-net")
    );
    seed.as_array_mut().unwrap().extend([
        account_seed("rg-net", "acct", "OpenAI"),
        json!({"id": net_id("rg-net", "privateDnsZones/privatelink.openai.azure.com"), "location": "global"}),
        json!({"id": law, "location": "eastus"}),
        json!({"id": net_id("rg-net", "networkSecurityGroups/n2"), "location": "eastus"}),
    ]);
    env.seed(seed);
    let acct = acct_id("rg-net", "acct");
    let pe = net_id("rg-net", "privateEndpoints/pe");
    let zone = net_id("rg-net", "privateDnsZones/privatelink.openai.azure.com");
    let role = "/subscriptions/6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10/providers/Microsoft.Authorization/roleDefinitions/a97b65f3-24c7-4388-baec-2e87135dc908";
    let cases: Vec<(&str, String, &str, Value, [u16; 4])> = vec![
        ("nsg", net_id("rg-net", "networkSecurityGroups/n1"), NET, json!({"location": "eastus"}), [201, 200, 202, 204]),
        ("rule", net_id("rg-net", "networkSecurityGroups/n2/securityRules/r1"), NET, json!({"properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp"}}), [201, 200, 202, 204]),
        ("subnet", net_id("rg-net", "virtualNetworks/vnet/subnets/s9"), NET, json!({"properties": {"addressPrefix": "10.20.9.0/24"}}), [201, 200, 202, 204]),
        ("pe", pe.clone(), NET, json!({"location": "eastus", "properties": {"subnet": {"id": net_id("rg-net", "virtualNetworks/vnet/subnets/pe")}, "privateLinkServiceConnections": [{"name": "c", "properties": {"privateLinkServiceId": acct, "groupIds": ["account"]}}]}}), [201, 200, 0, 0]),
        ("zone group", format!("{pe}/privateDnsZoneGroups/g"), NET, json!({"properties": {"privateDnsZoneConfigs": [{"name": "z", "properties": {"privateDnsZoneId": zone}}]}}), [201, 200, 202, 204]),
        ("zone", net_id("rg-net", "privateDnsZones/other.com"), DNS, json!({"location": "global"}), [202, 202, 202, 204]),
        ("link", format!("{zone}/virtualNetworkLinks/l"), DNS, json!({"location": "global", "properties": {"virtualNetwork": {"id": net_id("rg-net", "virtualNetworks/vnet")}}}), [202, 202, 202, 204]),
        ("record", format!("{zone}/A/www"), DNS, json!({"properties": {"ttl": 5, "aRecords": []}}), [201, 200, 200, 204]),
        ("deployment", format!("{acct}/deployments/d"), CS, json!({"sku": {"name": "Standard", "capacity": 1}, "properties": {"model": {"format": "OpenAI", "name": "gpt-4o"}}}), [201, 200, 202, 204]),
        ("rai policy", format!("{acct}/raiPolicies/p"), CS, json!({"properties": {"mode": "Blocking"}}), [201, 200, 202, 204]),
        ("role assignment", format!("{acct}/providers/Microsoft.Authorization/roleAssignments/dddddddd-0000-0000-0000-000000000001"), AUTH, json!({"properties": {"roleDefinitionId": role, "principalId": "44444444-4444-4444-4444-444444444444"}}), [201, 200, 200, 204]),
        ("diagnostic setting", format!("{acct}/providers/Microsoft.Insights/diagnosticSettings/ds"), INS, json!({"properties": {"workspaceId": law, "logs": [{"category": "Audit", "enabled": true}]}}), [200, 200, 200, 204]),
        ("workspace", format!("{}/providers/Microsoft.OperationalInsights/workspaces/w2", rg_id("rg-net")), "2022-10-01", json!({"location": "eastus"}), [201, 200, 202, 204]),
        ("account", acct_id("rg-net", "acct2"), CS, account_seed("rg-net", "acct2", "AIServices"), [201, 200, 202, 204]),
        ("resource group", rg_id("rg-x"), RES, json!({"location": "eastus"}), [201, 200, 202, 204]),
    ];
    for (what, path, api, body, [create, update, del, absent]) in cases {
        assert_eq!(
            env.put(&path, api, body.clone()).await.status,
            create,
            "{what} create"
        );
        env.finish_ops();
        assert_eq!(
            env.put(&path, api, body).await.status,
            update,
            "{what} update"
        );
        env.finish_ops();
        if del == 0 {
            continue;
        }
        assert_eq!(
            env.send(Method::Delete, &path, api, None).await.status,
            del,
            "{what} delete"
        );
        env.finish_ops();
        assert_eq!(
            env.send(Method::Delete, &path, api, None).await.status,
            absent,
            "{what} delete again"
        );
    }
    // PATCH: accounts 202 with body, deployments 202 without, VNet/NSG UpdateTags 200, RAI none.
    let p = env
        .send(Method::Patch, &acct, CS, Some(json!({"tags": {"a": "1"}})))
        .await;
    assert_eq!((p.status, p.body.is_some()), (202, true));
    env.finish_ops();
    let v = env
        .send(
            Method::Patch,
            &net_id("rg-net", "virtualNetworks/vnet"),
            NET,
            Some(json!({"tags": {"a": "1"}})),
        )
        .await;
    assert_eq!(v.status, 200);
    env.put(
        &format!("{acct}/raiPolicies/p"),
        CS,
        json!({"properties": {}}),
    )
    .await;
    assert_eq!(
        env.send(
            Method::Patch,
            &format!("{acct}/raiPolicies/p"),
            CS,
            Some(json!({}))
        )
        .await
        .status,
        405
    );
}
