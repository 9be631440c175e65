//! Cognitive Services, RBAC and diagnostics scenarios: RequestConflict, soft-delete / restore /
//! purge, CustomDomainInUse, keys, role assignment rules and inheritance, diagnostic settings,
//! and the two example seed files.

use crate::emulator_support;

use emulator_support::*;
use moat::arm::{ArmApi, ArmRequest, Method};
use moat::emulator::load_seed_file;
use serde_json::{json, Value};

fn code(r: &moat::arm::ArmResponse) -> String {
    r.body
        .as_ref()
        .and_then(|b| b["error"]["code"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn deployment_body() -> Value {
    json!({"sku": {"name": "Standard", "capacity": 1}, "properties": {"model": {"format": "OpenAI", "name": "gpt-4o", "version": "2024-08-06"}}})
}

#[tokio::test]
async fn concurrent_writes_on_one_account_conflict() {
    let env = start().await;
    env.seed(json!([
        rg_seed("rg"),
        account_seed("rg", "a1", "OpenAI"),
        account_seed("rg", "a2", "OpenAI")
    ]));
    let a1 = acct_id("rg", "a1");
    assert_eq!(
        env.put(&format!("{a1}/deployments/d1"), CS, deployment_body())
            .await
            .status,
        201
    );
    let r = env
        .put(&format!("{a1}/deployments/d2"), CS, deployment_body())
        .await;
    assert_eq!((r.status, code(&r)), (409, "RequestConflict".into()));
    assert!(r.body.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&a1));
    let r = env
        .send(Method::Patch, &a1, CS, Some(json!({"tags": {"x": "1"}})))
        .await;
    assert_eq!(code(&r), "RequestConflict");
    let rai = env
        .put(
            &format!("{a1}/raiPolicies/p1"),
            CS,
            json!({"properties": {"mode": "Blocking"}}),
        )
        .await;
    assert_eq!(code(&rai), "RequestConflict");
    // Another account is independent; reads are fine.
    assert_eq!(
        env.put(
            &format!("{}/deployments/d1", acct_id("rg", "a2")),
            CS,
            deployment_body()
        )
        .await
        .status,
        201
    );
    assert_eq!(env.get(&a1, CS).await.status, 200);
    env.finish_ops();
    assert_eq!(
        env.put(&format!("{a1}/deployments/d2"), CS, deployment_body())
            .await
            .status,
        201
    );
    // An account update in flight blocks its children too.
    env.finish_ops();
    let p = env
        .send(
            Method::Patch,
            &a1,
            CS,
            Some(json!({"properties": {"publicNetworkAccess": "Disabled"}})),
        )
        .await;
    assert_eq!(p.status, 202);
    assert_eq!(
        p.body.as_ref().unwrap()["properties"]["provisioningState"],
        "Accepted"
    );
    assert_eq!(p.body.unwrap()["properties"]["customSubDomainName"], "a1");
    assert_eq!(
        code(
            &env.send(Method::Delete, &format!("{a1}/deployments/d1"), CS, None)
                .await
        ),
        "RequestConflict"
    );
}

#[tokio::test]
async fn deleting_soft_deletes_and_restore_or_purge_follow() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "old", "OpenAI"), {"id": format!("{}/deployments/d1", acct_id("rg", "old")), "sku": {"name": "Standard", "capacity": 2}, "properties": {"model": {"format": "OpenAI", "name": "gpt-4o"}}}]));
    let id = acct_id("rg", "old");
    assert_eq!(env.send(Method::Delete, &id, CS, None).await.status, 202);
    env.finish_ops();
    assert_eq!(env.get(&id, CS).await.status, 404);
    let list = env
        .get(
            &format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/deletedAccounts"),
            CS,
        )
        .await
        .body
        .unwrap();
    let deleted = &list["value"][0];
    assert_eq!(deleted["name"], "old");
    assert!(
        deleted["properties"]["deletionDate"].is_string()
            && deleted["properties"]["scheduledPurgeDate"].is_string()
    );
    let deleted_path = format!("/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/eastus/resourceGroups/rg/deletedAccounts/old");
    assert_eq!(deleted["id"], deleted_path);
    assert_eq!(env.get(&deleted_path, CS).await.status, 200);

    let body = account_seed("rg", "old", "OpenAI");
    let r = env.put(&id, CS, body.clone()).await;
    assert_eq!(
        (r.status, code(&r)),
        (409, "FlagMustBeSetForRestore".into())
    );
    // The soft-deleted account still holds its subdomain.
    let mut other = account_seed("rg", "new", "OpenAI");
    other["properties"]["customSubDomainName"] = json!("OLD");
    let r = env.put(&acct_id("rg", "new"), CS, other).await;
    assert_eq!((r.status, code(&r)), (400, "CustomDomainInUse".into()));

    let mut restore = body.clone();
    restore["properties"]["restore"] = json!(true);
    let r = env.put(&id, CS, restore).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.status);
    env.finish_ops();
    assert_eq!(
        env.get(&format!("{id}/deployments/d1"), CS)
            .await
            .body
            .unwrap()["sku"]["capacity"],
        2
    );
    assert!(env.get(&deleted_path, CS).await.status == 404);

    // Delete again, then purge: the name is free afterwards.
    env.send(Method::Delete, &id, CS, None).await;
    env.finish_ops();
    let purge = env.send(Method::Delete, &deleted_path, CS, None).await;
    assert_eq!(purge.status, 202);
    assert_eq!(env.get(&deleted_path, CS).await.status, 200);
    env.finish_ops();
    assert_eq!(env.get(&deleted_path, CS).await.status, 404);
    assert_eq!(
        env.send(Method::Delete, &deleted_path, CS, None)
            .await
            .status,
        204
    );
    assert_eq!(env.put(&id, CS, body).await.status, 201);
}

#[tokio::test]
async fn custom_subdomains_are_unique_and_immutable() {
    let env = start().await;
    env.seed(json!([
        rg_seed("rg"),
        account_seed("rg", "first", "OpenAI")
    ]));
    let mut b = account_seed("rg", "second", "OpenAI");
    b["properties"]["customSubDomainName"] = json!("first");
    let r = env.put(&acct_id("rg", "second"), CS, b).await;
    assert_eq!((r.status, code(&r)), (400, "CustomDomainInUse".into()));
    let mut change = account_seed("rg", "first", "OpenAI");
    change["properties"]["customSubDomainName"] = json!("renamed");
    assert_eq!(
        code(&env.put(&acct_id("rg", "first"), CS, change).await),
        "CustomDomainInUse"
    );
    // Leaving it out keeps the existing value (default; configurable).
    let mut keep = account_seed("rg", "first", "OpenAI");
    keep["properties"]
        .as_object_mut()
        .unwrap()
        .remove("customSubDomainName");
    let r = env.put(&acct_id("rg", "first"), CS, keep).await;
    assert_eq!(r.status, 200);
    let b = r.body.unwrap();
    assert_eq!(b["properties"]["customSubDomainName"], "first");
    assert_eq!(
        b["properties"]["endpoint"],
        "https://first.openai.azure.com/"
    );
    assert_eq!(b["properties"]["provisioningState"], "Accepted");
}

#[tokio::test]
async fn keys_require_local_auth() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "aa", "OpenAI")]));
    let id = acct_id("rg", "aa");
    let k = env
        .send(Method::Post, &format!("{id}/listKeys"), CS, None)
        .await
        .body
        .unwrap();
    let r = env
        .send(
            Method::Post,
            &format!("{id}/regenerateKey"),
            CS,
            Some(json!({"keyName": "Key2"})),
        )
        .await
        .body
        .unwrap();
    assert_eq!(r["key1"], k["key1"]);
    assert_ne!(r["key2"], k["key2"]);
    assert_eq!(
        env.send(
            Method::Post,
            &format!("{id}/regenerateKey"),
            CS,
            Some(json!({"keyName": "Key3"}))
        )
        .await
        .status,
        400
    );
    let p = env
        .send(
            Method::Patch,
            &id,
            CS,
            Some(json!({"properties": {"disableLocalAuth": true}})),
        )
        .await;
    assert_eq!(p.status, 202);
    env.finish_ops();
    let r = env
        .send(Method::Post, &format!("{id}/listKeys"), CS, None)
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("disableLocalAuth"));
}

#[tokio::test]
async fn private_link_resources_depend_on_the_kind() {
    let env = start().await;
    env.seed(json!([
        rg_seed("rg"),
        account_seed("rg", "oai", "OpenAI"),
        account_seed("rg", "ais", "AIServices"),
        account_seed("rg", "cs", "TextAnalytics")
    ]));
    let zones = |b: Value| b["value"][0]["properties"]["requiredZoneNames"].clone();
    let path = |n: &str| format!("{}/privateLinkResources", acct_id("rg", n));
    assert_eq!(
        zones(env.get(&path("oai"), CS).await.body.unwrap()),
        json!(["privatelink.openai.azure.com"])
    );
    assert_eq!(
        zones(env.get(&path("ais"), CS).await.body.unwrap()),
        json!([
            "privatelink.cognitiveservices.azure.com",
            "privatelink.openai.azure.com",
            "privatelink.services.ai.azure.com"
        ])
    );
    let cs = env.get(&path("cs"), CS).await.body.unwrap();
    assert_eq!(
        zones(cs.clone()),
        json!(["privatelink.cognitiveservices.azure.com"])
    );
    assert_eq!(cs["value"][0]["properties"]["groupId"], "account");
    assert_eq!(
        cs["value"][0]["properties"]["requiredMembers"],
        json!(["default"])
    );
}

#[tokio::test]
async fn deployments_and_rai_policies() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "aa", "OpenAI")]));
    let a = acct_id("rg", "aa");
    let mut d = deployment_body();
    d["properties"]["raiPolicyName"] = json!("strict");
    assert_eq!(
        code(&env.put(&format!("{a}/deployments/d"), CS, d.clone()).await),
        "RaiPolicyNotFound"
    );
    let p = env.put(&format!("{a}/raiPolicies/strict"), CS, json!({"properties": {"basePolicyName": "Microsoft.DefaultV2", "mode": "Blocking", "contentFilters": [{"name": "Hate", "blocking": true, "enabled": true, "severityThreshold": "Low", "source": "Prompt"}]}})).await;
    assert_eq!(p.status, 201);
    assert_eq!(p.body.unwrap()["properties"]["type"], "UserManaged");
    let r = env.put(&format!("{a}/deployments/d"), CS, d).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body.unwrap()["properties"]["raiPolicyName"], "strict");
    let list = env.get(&format!("{a}/raiPolicies"), CS).await.body.unwrap();
    let names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Microsoft.DefaultV2") && names.contains(&"strict"),
        "{names:?}"
    );
    assert_eq!(
        env.get(&format!("{a}/raiPolicies/Microsoft.Default"), CS)
            .await
            .body
            .unwrap()["properties"]["type"],
        "SystemManaged"
    );
    // PATCH of a deployment only touches tags and sku.
    env.finish_ops();
    let p = env
        .send(
            Method::Patch,
            &format!("{a}/deployments/d"),
            CS,
            Some(json!({"sku": {"capacity": 5}, "properties": {"raiPolicyName": "ignored"}})),
        )
        .await;
    assert_eq!((p.status, p.body.is_none()), (202, true));
    env.finish_ops();
    let got = env
        .get(&format!("{a}/deployments/d"), CS)
        .await
        .body
        .unwrap();
    assert_eq!(
        (
            got["sku"]["capacity"].as_i64(),
            got["properties"]["raiPolicyName"].as_str()
        ),
        (Some(5), Some("strict"))
    );
    assert_eq!(
        env.put(
            &format!("{a}/raiPolicies/Microsoft.Default"),
            CS,
            json!({"properties": {}})
        )
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn the_example_seed_files_load() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let env = start().await;
    env.emu
        .seed(&load_seed_file(root.join("quickstart-seed.json")).unwrap())
        .unwrap();
    let a = acct_id("rg-ai-prod", "contoso-openai-prod");
    let acct = env.emu.resource(&a).unwrap();
    assert_eq!(acct["properties"]["provisioningState"], "Succeeded");
    assert_eq!(acct["properties"]["networkAcls"]["defaultAction"], "Allow");
    assert_eq!(acct["tags"], json!({"env": "prod"}));
    let dep = env
        .emu
        .resource(&format!("{a}/deployments/gpt-4o"))
        .unwrap();
    assert_eq!(dep["properties"]["raiPolicyName"], "Microsoft.DefaultV2");
    assert_eq!(dep["sku"]["capacity"], 10);
    let subnet = env
        .emu
        .resource(&net_id(
            "rg-network",
            "virtualNetworks/vnet-prod/subnets/snet-private-endpoints",
        ))
        .unwrap();
    assert!(subnet["properties"]["networkSecurityGroup"]["id"]
        .as_str()
        .unwrap()
        .ends_with("nsg-private-endpoints"));
    let nsg = env
        .emu
        .resource(&net_id(
            "rg-network",
            "networkSecurityGroups/nsg-private-endpoints",
        ))
        .unwrap();
    assert_eq!(
        nsg["properties"]["defaultSecurityRules"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(nsg["properties"]["securityRules"], json!([]));
    let vnet = env
        .emu
        .resource(&net_id("rg-network", "virtualNetworks/vnet-prod"))
        .unwrap();
    assert_eq!(vnet["properties"]["subnets"].as_array().unwrap().len(), 3);
    let ras = env
        .emu
        .resources()
        .into_iter()
        .filter(|r| r["type"] == "Microsoft.Authorization/roleAssignments")
        .count();
    assert_eq!(ras, 1);

    let env = start().await;
    env.emu
        .seed(&load_seed_file(root.join("greenfield-seed.json")).unwrap())
        .unwrap();
    assert!(env.emu.resource(&rg_id("rg-ai-new")).is_some());
    assert!(env
        .emu
        .resources()
        .iter()
        .all(|r| r["type"] != "Microsoft.CognitiveServices/accounts"));
    assert!(load_seed_file(root.join("missing.json")).is_err());
}

#[tokio::test]
async fn defender_for_ai_settings_are_synchronous_children_of_the_account() {
    let env = start().await;
    env.seed(json!([rg_seed("rg"), account_seed("rg", "a1", "OpenAI")]));
    let setting = format!("{}/defenderForAISettings/Default", acct_id("rg", "a1"));
    let enabled = json!({"properties": {"state": "Enabled"}, "tags": {"owner": "moat"}});

    let created = env.put(&setting, "2026-03-01", enabled.clone()).await;
    assert_eq!(created.status, 201);
    let body = created.body.unwrap();
    assert_eq!(body["id"], json!(setting));
    assert_eq!(body["name"], "Default");
    assert_eq!(
        body["type"],
        "Microsoft.CognitiveServices/accounts/defenderForAISettings"
    );
    assert_eq!(body["properties"]["state"], "Enabled");
    assert_eq!(body["tags"]["owner"], "moat");
    assert!(body["etag"].is_string() && body["systemData"]["createdAt"].is_string());
    assert_eq!(env.put(&setting, CS, enabled.clone()).await.status, 200);

    let r = env
        .put(
            &setting,
            CS,
            json!({"properties": {"state": "enabled-ish"}}),
        )
        .await;
    assert_eq!((r.status, code(&r)), (400, "BadRequest".into()));

    let etag = env.get(&setting, CS).await.body.unwrap()["etag"].clone();
    let stale = ArmRequest::new(Method::Patch, &setting, CS)
        .with_header("If-Match", "\"stale\"")
        .with_body(json!({"properties": {"state": "Disabled"}}));
    assert_eq!(env.arm.send(stale).await.unwrap().status, 412);
    let patch = ArmRequest::new(Method::Patch, &setting, CS)
        .with_header("If-Match", etag.as_str().unwrap())
        .with_body(json!({"properties": {"state": "Disabled"}}));
    let patched = env.arm.send(patch).await.unwrap();
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body.unwrap()["properties"]["state"], "Disabled");

    let list = env
        .get(
            &format!("{}/defenderForAISettings", acct_id("rg", "a1")),
            CS,
        )
        .await;
    let items = list.body.unwrap()["value"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["properties"]["state"], "Disabled");

    let missing = format!("{}/defenderForAISettings/Default", acct_id("rg", "nope"));
    assert_eq!(env.put(&missing, CS, enabled).await.status, 404);
    assert_eq!(env.get(&missing, CS).await.status, 404);
}
