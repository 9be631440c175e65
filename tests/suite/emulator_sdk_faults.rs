//! Faults found by driving the emulator with Microsoft's Python SDK (tests/python_sdk): each
//! test here failed before its fix. The SDK suite itself runs from `.ci/run`.

use crate::emulator_support;

use emulator_support::*;
use moat::arm::Method;
use moat::emulator::EmulatorConfig;
use serde_json::{json, Value};

const ROLE_USER: &str = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";

/// An emulator whose writes complete in their first answer.
async fn start_sync() -> Env {
    start_with(EmulatorConfig {
        lro: moat::emulator::LroConfig {
            enabled: false,
            ..Default::default()
        },
        ..EmulatorConfig::default()
    })
    .await
}

fn assignment(principal: &str) -> Value {
    json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_USER}"),
        "principalId": principal, "principalType": "ServicePrincipal" }})
}

#[tokio::test]
async fn network_accepts_the_api_versions_azure_mgmt_network_33_sends() {
    let env = start().await;
    env.seed(network_seed());
    for v in ["2026-01-01", "2026-03-01"] {
        let r = env.get(&net_id("rg-net", "virtualNetworks/vnet"), v).await;
        assert_eq!(r.status, 200, "{v}: {:?}", r.body);
        let r = env.get(&net_id("rg-net", "privateEndpoints/none"), v).await;
        assert_eq!(r.status, 404, "{v}: {:?}", r.body);
    }
}

#[tokio::test]
async fn next_link_keeps_the_filter_of_the_first_page() {
    let env = start_with(EmulatorConfig {
        page_size: Some(2),
        ..EmulatorConfig::default()
    })
    .await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "aa", "OpenAI")]));
    let a = acct_id("rg", "aa");
    // Three assignments of the principal we filter on, three of another.
    for (i, p) in [
        "11111111-1111-1111-1111-111111111111",
        "22222222-2222-2222-2222-222222222222",
    ]
    .iter()
    .enumerate()
    {
        for j in 0..3 {
            let path = format!(
                "{a}/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-0000-0000-000{i}-00000000000{j}"
            );
            let mut body = assignment(p);
            body["properties"]["description"] = json!(format!("{j}"));
            // One role per principal and scope: vary the scope-independent description only,
            // with distinct roles so none is a duplicate.
            body["properties"]["roleDefinitionId"] = json!(format!(
                "/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{}",
                [
                    "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
                    "a001fd3d-188f-4b5d-821b-7da978bf7442",
                    "a97b65f3-24c7-4388-baec-2e87135dc908"
                ][j]
            ));
            assert_eq!(env.put(&path, AUTH, body).await.status, 201);
        }
    }
    let filter = "principalId eq '11111111-1111-1111-1111-111111111111'";
    let first = env
        .follow(&format!(
            "{}{a}/providers/Microsoft.Authorization/roleAssignments?api-version={AUTH}&$filter={}",
            env.emu.base_url(),
            url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
        ))
        .await
        .body
        .unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    let next = first["nextLink"]
        .as_str()
        .expect("a second page")
        .to_string();
    assert!(next.contains("$filter="), "{next}");
    let second = env.follow(&next).await.body.unwrap();
    let principals: Vec<&str> = second["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["principalId"].as_str().unwrap())
        .collect();
    assert_eq!(principals, vec!["11111111-1111-1111-1111-111111111111"]);
    assert!(second.get("nextLink").is_none(), "{second}");
}

#[tokio::test]
async fn top_pages_a_list_and_next_link_keeps_it() {
    let env = start().await;
    env.seed(json!([rg_seed("rg")]));
    for i in 0..5 {
        env.seed(json!([{"id": net_id("rg", &format!("networkSecurityGroups/n{i}")), "location": "eastus"}]));
    }
    let list = net_id("rg", "networkSecurityGroups");
    let first = env
        .follow(&format!(
            "{}{list}?api-version={NET}&$top=3",
            env.emu.base_url()
        ))
        .await
        .body
        .unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 3);
    let next = first["nextLink"].as_str().unwrap();
    assert!(next.contains("$top=3"), "{next}");
    let second = env.follow(next).await.body.unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 2);
}

/// Raw request through a "proxy": the client addressed `Host: proxy.local:9443`.
async fn via_proxy(env: &Env, method: &str, path: &str, body: &str, extra: &str) -> String {
    raw(
        &env.emu.base_url(),
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: proxy.local:9443\r\n{extra}Authorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
    .1
}

fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn polling_urls_and_next_links_use_the_host_the_request_came_to() {
    let env = start_with(EmulatorConfig {
        page_size: Some(1),
        ..EmulatorConfig::default()
    })
    .await;
    env.seed(network_seed());
    let nsg = net_id("rg-net", "networkSecurityGroups/n1");
    let text = via_proxy(
        &env,
        "PUT",
        &format!("{nsg}?api-version={NET}"),
        r#"{"location":"eastus"}"#,
        "",
    )
    .await;
    let op = header(&text, "azure-asyncoperation").expect("an LRO");
    assert!(
        op.starts_with("http://proxy.local:9443/subscriptions/"),
        "{op}"
    );
    // A TLS-terminating proxy says so in X-Forwarded-Proto.
    let text = via_proxy(
        &env,
        "DELETE",
        &format!("{nsg}?api-version={NET}"),
        "",
        "X-Forwarded-Proto: https\r\n",
    )
    .await;
    let loc = header(&text, "location").expect("a Location");
    assert!(
        loc.starts_with("https://proxy.local:9443/subscriptions/"),
        "{loc}"
    );
    let text = via_proxy(
        &env,
        "GET",
        &format!(
            "{}?api-version={NET}",
            net_id("rg-net", "virtualNetworks/vnet/subnets")
        ),
        "",
        "",
    )
    .await;
    assert!(
        text.contains(r#""nextLink":"http://proxy.local:9443/subscriptions/"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_new_diagnostic_setting_may_not_enable_retention() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "aa", "OpenAI"),
        {"id": format!("{}/providers/Microsoft.OperationalInsights/workspaces/law", rg_id("rg")), "location": "eastus"}]));
    let law = format!(
        "{}/providers/Microsoft.OperationalInsights/workspaces/law",
        rg_id("rg")
    );
    let path = format!(
        "{}/providers/Microsoft.Insights/diagnosticSettings/d",
        acct_id("rg", "aa")
    );
    let r = env
        .put(&path, INS, json!({"properties": {"workspaceId": law, "logs": [{"categoryGroup": "allLogs", "enabled": true, "retentionPolicy": {"enabled": true, "days": 30}}]}}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body.unwrap(),
        json!({"code": "BadRequest", "message": "Diagnostic settings does not support retention for new diagnostic settings."})
    );
    assert_eq!(env.get(&path, INS).await.status, 404);
    // Retention off is fine.
    let r = env
        .put(&path, INS, json!({"properties": {"workspaceId": law, "metrics": [{"category": "AllMetrics", "enabled": true, "retentionPolicy": {"enabled": false, "days": 0}}]}}))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_new_private_dns_zone_has_its_soa_record_set() {
    let env = start_sync().await;
    env.seed(json!([rg_seed("rg")]));
    let zone = net_id("rg", "privateDnsZones/privatelink.openai.azure.com");
    let r = env.put(&zone, DNS, json!({"location": "global"})).await;
    assert!(r.status == 200 || r.status == 201, "{:?}", r.body);
    let z = env.get(&zone, DNS).await.body.unwrap();
    assert_eq!(z["properties"]["numberOfRecordSets"], 1);
    let all = env.get(&format!("{zone}/ALL"), DNS).await.body.unwrap();
    let sets = all["value"].as_array().unwrap();
    assert_eq!(sets.len(), 1, "{all}");
    assert_eq!(sets[0]["name"], "@");
    assert_eq!(sets[0]["type"], "Microsoft.Network/privateDnsZones/SOA");
    assert_eq!(
        sets[0]["properties"]["soaRecord"]["host"],
        "azureprivatedns.net"
    );
    let soa = env.get(&format!("{zone}/SOA/@"), DNS).await;
    assert_eq!(soa.status, 200);
    assert_eq!(
        soa.body.unwrap()["properties"]["fqdn"],
        "privatelink.openai.azure.com."
    );
    // An A record set makes two.
    let r = env
        .put(
            &format!("{zone}/A/acct"),
            DNS,
            json!({"properties": {"ttl": 10, "aRecords": [{"ipv4Address": "10.0.0.4"}]}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let z = env.get(&zone, DNS).await.body.unwrap();
    assert_eq!(z["properties"]["numberOfRecordSets"], 2);
    assert_eq!(env.send(Method::Delete, &zone, DNS, None).await.status, 200);
}

#[tokio::test]
async fn unknown_request_members_are_not_stored() {
    let env = start_sync().await;
    env.seed(network_seed());
    env.seed(json!([rg_seed("rg")]));
    let acct = acct_id("rg", "aa");
    let writes = [
        (
            acct.clone(),
            CS,
            json!({"location": "eastus", "kind": "OpenAI", "sku": {"name": "S0"}, "madeUp": 1,
                   "properties": {"customSubDomainName": "aa", "publicNetworkAccess": "Disabled", "madeUp": {"x": 1}}}),
            "/properties/publicNetworkAccess",
        ),
        (
            net_id("rg-net", "networkSecurityGroups/n1"),
            NET,
            json!({"location": "eastus", "madeUp": true, "properties": {"madeUp": "x"}}),
            "/location",
        ),
        (
            net_id("rg-net", "virtualNetworks/vnet/subnets/s3"),
            NET,
            json!({"properties": {"addressPrefix": "10.20.3.0/24", "madeUp": "x"}, "madeUp": 1}),
            "/properties/addressPrefix",
        ),
        (
            format!("{acct}/providers/Microsoft.Authorization/roleAssignments/aaaaaaaa-0000-0000-0000-000000000001"),
            AUTH,
            {
                let mut b = assignment("11111111-1111-1111-1111-111111111111");
                b["properties"]["madeUp"] = json!("x");
                b["madeUp"] = json!(1);
                b
            },
            "/properties/principalId",
        ),
    ];
    for (path, api, body, kept) in writes {
        let r = env.put(&path, api, body.clone()).await;
        assert!(r.status == 200 || r.status == 201, "{path}: {:?}", r.body);
        for shown in [r.body.unwrap(), env.get(&path, api).await.body.unwrap()] {
            assert!(shown.get("madeUp").is_none(), "{path}: {shown}");
            assert!(
                shown["properties"].get("madeUp").is_none(),
                "{path}: {shown}"
            );
            assert_eq!(shown.pointer(kept), body.pointer(kept), "{path}: {shown}");
        }
    }
    // PATCH drops them too; server-owned members stay the server's.
    let r = env
        .send(
            Method::Patch,
            &acct,
            CS,
            Some(json!({"properties": {"madeUp": 2, "endpoint": "https://evil.example/"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let a = env.get(&acct, CS).await.body.unwrap();
    assert!(a["properties"].get("madeUp").is_none(), "{a}");
    assert_eq!(a["properties"]["endpoint"], "https://aa.openai.azure.com/");
}
