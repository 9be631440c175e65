//! Network scenarios: private endpoints (IP, NIC, connection on the account, DNS configs),
//! zone groups writing A records, subnet/VNet conflicts, NSG rules, DNS links, in-use deletes.

use crate::emulator_support;

use emulator_support::*;
use moat::arm::Method;
use serde_json::{json, Value};

fn code(r: &moat::arm::ArmResponse) -> String {
    r.body
        .as_ref()
        .and_then(|b| b["error"]["code"].as_str())
        .unwrap_or_default()
        .to_string()
}

const ZONE: &str = "privatelink.openai.azure.com";

fn subnet(name: &str) -> String {
    net_id("rg-net", &format!("virtualNetworks/vnet/subnets/{name}"))
}

fn pe_body(target: &str, manual: bool) -> Value {
    let list = if manual {
        "manualPrivateLinkServiceConnections"
    } else {
        "privateLinkServiceConnections"
    };
    json!({"location": "eastus", "properties": {"subnet": {"id": subnet("pe")},
        list: [{"name": "conn", "properties": {"privateLinkServiceId": target, "groupIds": ["account"], "requestMessage": "please"}}]}})
}

fn env_seed() -> Value {
    let mut s = network_seed();
    let a = s.as_array_mut().unwrap();
    a.push(rg_seed("rg-ai"));
    a.push(account_seed("rg-ai", "contoso", "OpenAI"));
    a.push(
        json!({"id": net_id("rg-net", &format!("privateDnsZones/{ZONE}")), "location": "global"}),
    );
    s
}

#[tokio::test]
async fn a_private_endpoint_gets_an_ip_a_nic_and_a_connection_on_the_account() {
    let env = start().await;
    env.seed(env_seed());
    let acct = acct_id("rg-ai", "contoso");
    let pe = net_id("rg-net", "privateEndpoints/pe-contoso");
    let r = env.put(&pe, NET, pe_body(&acct, false)).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body.as_ref().unwrap()["properties"]["provisioningState"],
        "Updating"
    );
    assert!(r
        .header("azure-asyncoperation")
        .unwrap()
        .contains("/providers/Microsoft.Network/locations/eastus/operationStatuses/"));
    env.finish_ops();
    let got = env.get(&pe, NET).await.body.unwrap();
    let p = &got["properties"];
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(
        p["customDnsConfigs"],
        json!([{"fqdn": "contoso.openai.azure.com", "ipAddresses": ["10.20.1.4"]}])
    );
    let nic = p["networkInterfaces"][0]["id"].as_str().unwrap();
    assert!(nic.contains("/networkInterfaces/pe-contoso.nic."), "{nic}");
    assert_eq!(
        env.emu.resource(nic).unwrap()["properties"]["ipConfigurations"][0]["properties"]
            ["privateIPAddress"],
        "10.20.1.4"
    );
    let conn = &p["privateLinkServiceConnections"][0];
    assert_eq!(
        conn["properties"]["privateLinkServiceConnectionState"]["status"],
        "Approved"
    );
    assert_eq!(conn["properties"]["provisioningState"], "Succeeded");
    let account = env.get(&acct, CS).await.body.unwrap();
    let pecs = account["properties"]["privateEndpointConnections"]
        .as_array()
        .unwrap();
    assert_eq!(pecs.len(), 1);
    let pec_name = pecs[0]["name"].as_str().unwrap();
    assert!(
        pec_name.starts_with("pe-contoso.") && pec_name.len() == "pe-contoso.".len() + 8,
        "{pec_name}"
    );
    assert_eq!(pecs[0]["properties"]["privateEndpoint"]["id"], pe);
    let listed = env
        .get(&format!("{acct}/privateEndpointConnections"), CS)
        .await
        .body
        .unwrap();
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        env.get(&subnet("pe"), NET).await.body.unwrap()["properties"]["privateEndpoints"][0]["id"],
        pe
    );
    // A second endpoint in the subnet gets the next address; re-PUT keeps the first one's.
    let pe2 = net_id("rg-net", "privateEndpoints/pe-two");
    env.put(&pe2, NET, pe_body(&acct, false)).await;
    env.put(&pe, NET, pe_body(&acct, false)).await;
    env.finish_ops();
    assert_eq!(
        env.get(&pe2, NET).await.body.unwrap()["properties"]["customDnsConfigs"][0]["ipAddresses"]
            [0],
        "10.20.1.5"
    );
    assert_eq!(
        env.get(&pe, NET).await.body.unwrap()["properties"]["customDnsConfigs"][0]["ipAddresses"]
            [0],
        "10.20.1.4"
    );
    // Deleting the endpoint removes its connection and NIC.
    assert_eq!(env.send(Method::Delete, &pe, NET, None).await.status, 202);
    env.finish_ops();
    assert_eq!(
        env.get(&acct, CS).await.body.unwrap()["properties"]["privateEndpointConnections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(env.emu.resource(nic).is_none());
    // GET → PUT round trips do not freeze derived back-references.
    env.send(Method::Delete, &pe2, NET, None).await;
    let sn = env.get(&subnet("pe"), NET).await.body.unwrap();
    env.finish_ops();
    assert!(sn["properties"]["privateEndpoints"].is_array());
    assert_eq!(env.put(&subnet("pe"), NET, sn).await.status, 200);
    env.finish_ops();
    assert!(
        env.get(&subnet("pe"), NET).await.body.unwrap()["properties"]
            .get("privateEndpoints")
            .is_none()
    );
}

#[tokio::test]
async fn manual_connections_wait_for_approval_on_the_account() {
    let env = start().await;
    env.seed(env_seed());
    let acct = acct_id("rg-ai", "contoso");
    let pe = net_id("rg-net", "privateEndpoints/pe-manual");
    env.put(&pe, NET, pe_body(&acct, true)).await;
    env.finish_ops();
    let pec = env.get(&acct, CS).await.body.unwrap()["properties"]["privateEndpointConnections"][0]
        .clone();
    assert_eq!(
        pec["properties"]["privateLinkServiceConnectionState"]["status"],
        "Pending"
    );
    assert_eq!(
        pec["properties"]["privateLinkServiceConnectionState"]["description"],
        "please"
    );
    let pec_id = pec["id"].as_str().unwrap().to_string();
    let r = env.put(&pec_id, CS, json!({"properties": {"privateLinkServiceConnectionState": {"status": "Approved", "description": "ok"}}})).await;
    assert_eq!(r.status, 202);
    assert!(r.header("location").is_some());
    env.finish_ops();
    let state = &env.get(&pe, NET).await.body.unwrap()["properties"]
        ["manualPrivateLinkServiceConnections"][0]["properties"]
        ["privateLinkServiceConnectionState"];
    assert_eq!(state["status"], "Approved");
    assert_eq!(
        env.send(Method::Delete, &pec_id, CS, None).await.status,
        202
    );
    env.finish_ops();
    let state = &env.get(&pe, NET).await.body.unwrap()["properties"]
        ["manualPrivateLinkServiceConnections"][0]["properties"]
        ["privateLinkServiceConnectionState"];
    assert_eq!(state["status"], "Disconnected");
    // A connection cannot be created directly.
    let r = env
        .put(
            &format!("{acct}/privateEndpointConnections/made-up"),
            CS,
            json!({"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_zone_group_writes_a_records_and_removes_them() {
    let env = start().await;
    env.seed(env_seed());
    let acct = acct_id("rg-ai", "contoso");
    let pe = net_id("rg-net", "privateEndpoints/pe1");
    env.put(&pe, NET, pe_body(&acct, false)).await;
    env.finish_ops();
    let zone = net_id("rg-net", &format!("privateDnsZones/{ZONE}"));
    let group = format!("{pe}/privateDnsZoneGroups/default");
    let r = env.put(&group, NET, json!({"properties": {"privateDnsZoneConfigs": [{"name": "openai", "properties": {"privateDnsZoneId": zone}}]}})).await;
    assert_eq!(r.status, 201);
    let sets =
        &r.body.unwrap()["properties"]["privateDnsZoneConfigs"][0]["properties"]["recordSets"];
    assert_eq!(
        sets,
        &json!([{"recordType": "A", "recordSetName": "contoso", "fqdn": format!("contoso.{ZONE}"), "ttl": 10, "ipAddresses": ["10.20.1.4"], "provisioningState": "Succeeded"}])
    );
    let rec = env
        .get(&format!("{zone}/A/contoso"), DNS)
        .await
        .body
        .unwrap();
    assert_eq!(
        rec["properties"]["aRecords"],
        json!([{"ipv4Address": "10.20.1.4"}])
    );
    assert_eq!(rec["properties"]["ttl"], 10);
    assert_eq!(rec["properties"]["fqdn"], format!("contoso.{ZONE}."));
    assert_eq!(
        env.get(&zone, DNS).await.body.unwrap()["properties"]["numberOfRecordSets"],
        2
    );
    // The zone's SOA and the group's A record.
    let all = env.get(&format!("{zone}/ALL"), DNS).await.body.unwrap();
    assert_eq!(all["value"].as_array().unwrap().len(), 2);
    env.finish_ops();
    assert_eq!(
        env.send(Method::Delete, &group, NET, None).await.status,
        202
    );
    env.finish_ops();
    assert_eq!(env.get(&format!("{zone}/A/contoso"), DNS).await.status, 404);
    // A missing zone is refused.
    let r = env.put(&group, NET, json!({"properties": {"privateDnsZoneConfigs": [{"name": "x", "properties": {"privateDnsZoneId": net_id("rg-net", "privateDnsZones/nope.com")}}]}})).await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "InvalidResourceReference".into())
    );
}

#[tokio::test]
async fn private_endpoints_need_a_ready_subdomain_account_and_subnet() {
    let env = start().await;
    let mut seed = env_seed();
    seed.as_array_mut().unwrap().push(json!({"id": acct_id("rg-ai", "nosub"), "location": "eastus", "kind": "OpenAI", "sku": {"name": "S0"}}));
    env.seed(seed);
    let pe = net_id("rg-net", "privateEndpoints/pe1");
    let r = env
        .put(&pe, NET, pe_body(&acct_id("rg-ai", "nosub"), false))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "CustomSubdomainRequired".into())
    );
    let r = env
        .put(&pe, NET, pe_body(&acct_id("rg-ai", "missing"), false))
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "InvalidResourceReference".into())
    );
    // Account busy (update in flight) → AccountProvisioningStateInvalid.
    let acct = acct_id("rg-ai", "contoso");
    env.send(Method::Patch, &acct, CS, Some(json!({"tags": {"a": "b"}})))
        .await;
    let r = env.put(&pe, NET, pe_body(&acct, false)).await;
    assert_eq!(
        (r.status, code(&r)),
        (409, "AccountProvisioningStateInvalid".into())
    );
    env.finish_ops();
    // Subnet busy → 429 RetryableError.
    env.put(
        &subnet("pe"),
        NET,
        json!({"properties": {"addressPrefix": "10.20.1.0/24"}}),
    )
    .await;
    let r = env.put(&pe, NET, pe_body(&acct, false)).await;
    assert_eq!((r.status, code(&r)), (429, "RetryableError".into()));
    assert!(r.header("retry-after").is_some());
    env.finish_ops();
    let mut body = pe_body(&acct, false);
    body["properties"]["subnet"]["id"] = json!(subnet("nope"));
    assert_eq!(
        code(&env.put(&pe, NET, body).await),
        "InvalidResourceReference"
    );
    assert_eq!(env.put(&pe, NET, pe_body(&acct, false)).await.status, 201);
}

#[tokio::test]
async fn concurrent_subnet_writes_in_one_vnet_conflict() {
    let env = start().await;
    env.seed(env_seed());
    let a = env
        .put(
            &subnet("pe"),
            NET,
            json!({"properties": {"addressPrefix": "10.20.1.0/24"}}),
        )
        .await;
    assert_eq!(a.status, 200);
    let b = env
        .put(
            &subnet("apps"),
            NET,
            json!({"properties": {"addressPrefix": "10.20.2.0/24"}}),
        )
        .await;
    assert_eq!(
        (b.status, code(&b)),
        (409, "AnotherOperationInProgress".into())
    );
    assert!(b.body.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("operationStatuses"));
    env.finish_ops();
    let c = env.put(&subnet("new"), NET, json!({"properties": {"addressPrefix": "10.20.3.0/24", "serviceEndpoints": [{"service": "Microsoft.Storage"}]}})).await;
    assert_eq!(c.status, 201);
    let p = &c.body.unwrap()["properties"];
    assert_eq!(p["privateEndpointNetworkPolicies"], "Disabled");
    assert_eq!(p["serviceEndpoints"][0]["locations"], json!(["eastus"]));
    env.finish_ops();
    // The VNet shows all subnets; a VNet PUT without one removes it.
    let vnet = net_id("rg-net", "virtualNetworks/vnet");
    let mut v = env.get(&vnet, NET).await.body.unwrap();
    assert_eq!(v["properties"]["subnets"].as_array().unwrap().len(), 3);
    v["properties"]["subnets"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["name"] != "new");
    assert_eq!(env.put(&vnet, NET, v).await.status, 200);
    env.finish_ops();
    assert_eq!(env.get(&subnet("new"), NET).await.status, 404);
    assert_eq!(env.get(&subnet("apps"), NET).await.status, 200);
    // Tags-only PATCH keeps the subnets.
    assert_eq!(
        env.send(Method::Patch, &vnet, NET, Some(json!({"tags": {"t": "1"}})))
            .await
            .status,
        200
    );
    assert_eq!(
        env.get(&vnet, NET).await.body.unwrap()["properties"]["subnets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn nsgs_have_default_rules_and_refuse_duplicate_priorities() {
    let env = start().await;
    env.seed(json!([rg_seed("rg")]));
    let nsg = net_id("rg", "networkSecurityGroups/nsg1");
    let r = env.put(&nsg, NET, json!({"location": "eastus", "properties": {"securityRules": [
        {"name": "deny-in", "properties": {"priority": 4000, "direction": "Inbound", "access": "Deny", "protocol": "*", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}}]}})).await;
    assert_eq!(r.status, 201);
    let b = r.body.unwrap();
    assert_eq!(
        b["properties"]["defaultSecurityRules"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        b["properties"]["securityRules"][0]["properties"]["provisioningState"],
        "Succeeded"
    );
    env.finish_ops();
    let rule = format!("{nsg}/securityRules/other");
    let dup = env.put(&rule, NET, json!({"properties": {"priority": 4000, "direction": "Inbound", "access": "Allow", "protocol": "Tcp"}})).await;
    assert_eq!(
        (dup.status, code(&dup)),
        (400, "SecurityRuleConflict".into())
    );
    let badp = env.put(&rule, NET, json!({"properties": {"priority": 50, "direction": "Inbound", "access": "Allow", "protocol": "Tcp"}})).await;
    assert_eq!(code(&badp), "SecurityRuleInvalidPriority");
    assert_eq!(env.put(&rule, NET, json!({"properties": {"priority": 4001, "direction": "Inbound", "access": "Allow", "protocol": "Tcp"}})).await.status, 201);
    env.finish_ops();
    assert_eq!(
        env.get(&nsg, NET).await.body.unwrap()["properties"]["securityRules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let d = env
        .get(&format!("{nsg}/defaultSecurityRules/DenyAllInBound"), NET)
        .await
        .body
        .unwrap();
    assert_eq!(d["properties"]["priority"], 65500);
    // A GET → PUT round trip keeps the rules and derives the rest again.
    let got = env.get(&nsg, NET).await.body.unwrap();
    assert_eq!(env.put(&nsg, NET, got).await.status, 200);
    env.finish_ops();
    let again = env.get(&nsg, NET).await.body.unwrap();
    assert_eq!(
        again["properties"]["securityRules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        again["properties"]["defaultSecurityRules"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[tokio::test]
async fn in_use_resources_cannot_be_deleted() {
    let env = start().await;
    let mut seed = env_seed();
    let nsg = net_id("rg-net", "networkSecurityGroups/nsg");
    seed.as_array_mut()
        .unwrap()
        .insert(1, json!({"id": nsg, "location": "eastus"}));
    env.seed(seed);
    env.put(&subnet("apps"), NET, json!({"properties": {"addressPrefix": "10.20.2.0/24", "networkSecurityGroup": {"id": nsg}}})).await;
    env.finish_ops();
    assert_eq!(
        env.get(&nsg, NET).await.body.unwrap()["properties"]["subnets"][0]["id"],
        subnet("apps")
    );
    assert_eq!(
        code(&env.send(Method::Delete, &nsg, NET, None).await),
        "InUseNetworkSecurityGroupCannotBeDeleted"
    );
    let pe = net_id("rg-net", "privateEndpoints/pe1");
    env.put(&pe, NET, pe_body(&acct_id("rg-ai", "contoso"), false))
        .await;
    env.finish_ops();
    assert_eq!(
        code(&env.send(Method::Delete, &subnet("pe"), NET, None).await),
        "InUseSubnetCannotBeDeleted"
    );
    let zone = net_id("rg-net", &format!("privateDnsZones/{ZONE}"));
    let link = format!("{zone}/virtualNetworkLinks/to-vnet");
    let missing = env.put(&link, DNS, json!({"location": "global", "properties": {"virtualNetwork": {"id": net_id("rg-net", "virtualNetworks/nope")}}})).await;
    assert_eq!(code(&missing), "InvalidResourceReference");
    let r = env.put(&link, DNS, json!({"location": "global", "properties": {"virtualNetwork": {"id": net_id("rg-net", "virtualNetworks/vnet")}, "registrationEnabled": false}})).await;
    assert_eq!(r.status, 202);
    env.finish_ops();
    let l = env.get(&link, DNS).await.body.unwrap();
    assert_eq!(l["properties"]["virtualNetworkLinkState"], "Completed");
    assert_eq!(
        env.get(&zone, DNS).await.body.unwrap()["properties"]["numberOfVirtualNetworkLinks"],
        1
    );
    let links = env
        .get(&format!("{zone}/virtualNetworkLinks"), DNS)
        .await
        .body
        .unwrap();
    assert_eq!(links["value"][0]["name"], "to-vnet");
    let a_sets = env.get(&format!("{zone}/A"), DNS).await.body.unwrap();
    assert_eq!(a_sets, json!({"value": []}));
    assert_eq!(
        code(&env.send(Method::Delete, &zone, DNS, None).await),
        "CannotDeleteZoneWithVirtualNetworkLinks"
    );
    env.send(Method::Delete, &link, DNS, None).await;
    env.finish_ops();
    assert_eq!(env.send(Method::Delete, &zone, DNS, None).await.status, 202);
}

#[tokio::test]
async fn deleting_a_resource_group_removes_what_it_holds() {
    let env = start().await;
    env.seed(env_seed());
    let r = env.send(Method::Delete, &rg_id("rg-ai"), RES, None).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        env.get(&rg_id("rg-ai"), RES).await.body.unwrap()["properties"]["provisioningState"],
        "Deleting"
    );
    env.finish_ops();
    assert_eq!(env.get(&rg_id("rg-ai"), RES).await.status, 404);
    assert_eq!(
        env.emu.deleted_accounts().len(),
        1,
        "accounts in a deleted group are soft-deleted"
    );
    assert!(env
        .emu
        .resources()
        .iter()
        .all(|r| !r["id"].as_str().unwrap().contains("/rg-ai/")));
}
