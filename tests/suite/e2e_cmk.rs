//! D1, the customer-managed key, end to end against the emulator (issue 15). On Azure the switch
//! to `keySource: Microsoft.KeyVault` fails until the account's identity can read the key, and a
//! system-assigned identity cannot be granted anything before it exists. So moat orders it:
//! identity PATCH → grant PUT (its principal bound at apply) → grant visible → encryption PATCH.
//! The emulator refuses the switch without the grant, as Azure does.

use crate::support;

use moat::arm::{ArmError, Precondition};
use moat::blueprint::resolved::{Blueprint, KeyAccess};
use moat::plan::model::Action;
use moat::resources::{account, key_vault_grant};
use serde_json::json;
use support::e2e::*;

const SEED: &str = "examples/cmk-seed.json";
const GRANT: &str = "contoso-openai-cmk/key-vault-grant/kv-contoso-cmk";
const ENCRYPTION: &str = "contoso-openai-cmk/account/encryption";

fn vault(bp: &Blueprint) -> String {
    let enc = bp.instances[0].controls.encryption.as_ref().unwrap();
    enc.spec.key_vault_id.clone().unwrap()
}

fn encryption_body(bp: &Blueprint) -> serde_json::Value {
    json!({"properties": {"encryption": {"keySource": "Microsoft.KeyVault", "keyVaultProperties": {
        "keyVaultUri": "https://kv-contoso-cmk.vault.azure.net/", "keyName": "openai-cmk"}}},
        "tags": {"env": "prod", "case": bp.instances[0].name}})
}

#[tokio::test]
async fn cmk_goes_identity_then_grant_then_grant_visible_then_encryption() {
    let emu = emulator(SEED).await;
    let api = connect(&emu);
    let bp = load("examples/cmk.yaml");
    let p = plan(api.as_ref(), &bp).await;
    assert!(
        !p.is_failed(),
        "{:#?}",
        p.changes()
            .filter(|c| c.blocked.is_some())
            .collect::<Vec<_>>()
    );

    // The plan says it all: the grant binds the principal it cannot know yet, the encryption
    // waits for the grant to be visible.
    let grant = p
        .changes()
        .find(|c| c.address == GRANT)
        .expect("grant planned");
    assert_eq!(grant.action, Action::Create);
    let w = grant.write.as_ref().unwrap();
    assert_eq!(w.bind.len(), 1, "{w:#?}");
    assert_eq!(w.bind[0].path, "properties.principalId");
    assert_eq!(w.bind[0].field, "identity.principalId");
    assert!(w.bind[0]
        .from
        .eq_ignore_ascii_case(&bp.instances[0].account_id()));
    assert!(grant
        .depends_on
        .iter()
        .any(|d| d.ends_with("/account/identity")));
    let enc = p
        .changes()
        .find(|c| c.address == ENCRYPTION)
        .expect("encryption planned");
    assert!(enc.depends_on.contains(&GRANT.to_string()));
    assert!(enc
        .gates
        .iter()
        .any(|g| g.kind == key_vault_grant::KIND && g.ids == [grant.id.clone()]));
    let json = serde_json::to_string(&p).unwrap();
    assert!(
        json.contains("\"bind\""),
        "the bind is visible in --format json"
    );

    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(report.ok(), "{report:#?}");
    let log = emu.request_log();
    let acct = bp.instances[0].account_id().to_ascii_lowercase();
    let patches: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, e)| e.method == "PATCH" && e.path.to_ascii_lowercase() == acct)
        .map(|(i, _)| i)
        .collect();
    let put = first(&log, "PUT", &grant.id).expect("grant PUT");
    let visible = log
        .iter()
        .enumerate()
        .position(|(i, e)| i > put && e.method == "GET" && e.path.eq_ignore_ascii_case(&grant.id))
        .expect("grant read back");
    // identity, encryption, network, public access, key auth.
    assert_eq!(patches.len(), 5, "{log:#?}");
    assert!(patches[0] < put, "identity PATCH before the grant");
    assert!(
        put < visible && visible < patches[1],
        "grant visible before the encryption PATCH"
    );

    let live = api
        .get(&bp.instances[0].account_id(), account::API_VERSION)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        live["properties"]["encryption"]["keySource"],
        "Microsoft.KeyVault"
    );
    let principal = live["identity"]["principalId"].as_str().unwrap();
    let g = api.get(&grant.id, "2022-04-01").await.unwrap().unwrap();
    assert_eq!(g["properties"]["principalId"], principal);
    assert!(g["properties"]["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with(key_vault_grant::ENCRYPTION_USER));

    let again = plan(api.as_ref(), &bp).await;
    assert!(
        !again.has_changes() && !again.is_failed(),
        "{:#?}",
        again
            .changes()
            .filter(|c| c.action.is_write())
            .collect::<Vec<_>>()
    );
    // With the identity there, the grant is known and bound to nothing.
    assert_eq!(
        again.changes().find(|c| c.address == GRANT).unwrap().action,
        Action::NoOp
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn emulator_refuses_the_encryption_switch_until_the_identity_holds_a_key_role() {
    let emu = emulator(SEED).await;
    let api = connect(&emu);
    let bp = load("examples/cmk.yaml");
    let id = bp.instances[0].account_id();
    let v = account::API_VERSION;
    // The old single step: identity and encryption in one PATCH.
    let mut both = encryption_body(&bp);
    both["identity"] = json!({"type": "SystemAssigned"});
    let refused = |e: ArmError| assert_eq!(e.code(), Some("KeyVaultAccessDenied"), "{e}");
    refused(
        api.patch(&id, v, &both, Precondition::None)
            .await
            .unwrap_err(),
    );
    // Identity first, still no grant: refused.
    api.patch(
        &id,
        v,
        &json!({"identity": {"type": "SystemAssigned"}}),
        Precondition::None,
    )
    .await
    .unwrap();
    refused(
        api.patch(&id, v, &encryption_body(&bp), Precondition::None)
            .await
            .unwrap_err(),
    );
    // A role without key data actions on the vault does not help either.
    let live = api.get(&id, v).await.unwrap().unwrap();
    let principal = live["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    let assign = |role: &str, name: &str| {
        let api = api.clone();
        let body = json!({"properties": {"principalId": principal, "principalType": "ServicePrincipal",
            "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", bp.instances[0].subscription)}});
        let rid = format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{name}",
            vault(&bp)
        );
        async move {
            api.put(&rid, "2022-04-01", &body, Precondition::None)
                .await
                .unwrap()
        }
    };
    assign(
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "0a6c1f3e-93c1-4c55-8a4e-1f0f1d2c3b4a",
    )
    .await;
    refused(
        api.patch(&id, v, &encryption_body(&bp), Precondition::None)
            .await
            .unwrap_err(),
    );
    assign(
        key_vault_grant::ENCRYPTION_USER,
        "1b7d2a4f-a4d2-4d66-9b5f-2a1a2e3d4c5b",
    )
    .await;
    api.patch(&id, v, &encryption_body(&bp), Precondition::None)
        .await
        .unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn key_access_verify_without_access_drifts_and_never_patches_encryption() {
    let emu = emulator(SEED).await;
    let api = connect(&emu);
    let mut bp = load("examples/cmk.yaml");
    bp.instances[0]
        .controls
        .encryption
        .as_mut()
        .unwrap()
        .spec
        .key_access = KeyAccess::Verify;
    let id = bp.instances[0].account_id();
    api.patch(
        &id,
        account::API_VERSION,
        &json!({"identity": {"type": "SystemAssigned"}}),
        Precondition::None,
    )
    .await
    .unwrap();

    let p = plan(api.as_ref(), &bp).await;
    let grant = p.changes().find(|c| c.address == GRANT).unwrap();
    assert_eq!(grant.action, Action::Drift, "{grant:#?}");
    assert!(grant.write.is_none());
    assert!(
        grant.reason.contains("holds no key role"),
        "{}",
        grant.reason
    );
    assert!(p.is_failed());
    emu.clear_request_log();
    let report = apply(api.clone(), &p).await;
    assert!(!report.ok());
    let log = emu.request_log();
    assert!(
        log.iter().all(|e| !is_write(e)),
        "nothing written: {log:#?}"
    );
    let live = api.get(&id, account::API_VERSION).await.unwrap().unwrap();
    assert!(live["properties"]["encryption"].is_null());

    // Someone grants the access (here: Key Vault Crypto User): verified, and the key goes on.
    let principal = live["identity"]["principalId"].as_str().unwrap();
    let rid = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/2c8e3b5a-b5e3-4e77-8c6a-3b2b3f4e5d6c",
        vault(&bp)
    );
    let body = json!({"properties": {"principalId": principal, "principalType": "ServicePrincipal",
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424"}});
    api.put(&rid, "2022-04-01", &body, Precondition::None)
        .await
        .unwrap();
    let p = plan(api.as_ref(), &bp).await;
    assert_eq!(
        p.changes().find(|c| c.address == GRANT).unwrap().action,
        Action::Verified
    );
    assert!(apply(api.clone(), &p).await.ok());
    let live = api.get(&id, account::API_VERSION).await.unwrap().unwrap();
    assert_eq!(
        live["properties"]["encryption"]["keySource"],
        "Microsoft.KeyVault"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_vault_with_access_policies_is_not_granted_but_blocked_with_the_way_out() {
    let emu = emulator(SEED).await;
    let api = connect(&emu);
    let bp = load("examples/cmk.yaml");
    let mut kv = api
        .get(&vault(&bp), key_vault_grant::VAULT_API_VERSION)
        .await
        .unwrap()
        .unwrap();
    kv["properties"]["enableRbacAuthorization"] = json!(false);
    api.put(
        &vault(&bp),
        key_vault_grant::VAULT_API_VERSION,
        &kv,
        Precondition::None,
    )
    .await
    .unwrap();
    let p = plan(api.as_ref(), &bp).await;
    let grant = p.changes().find(|c| c.address == GRANT).unwrap();
    assert_eq!(grant.action, Action::Blocked);
    assert!(grant
        .blocked
        .as_deref()
        .unwrap()
        .contains("keyAccess: verify"));
    emu.shutdown().await;
}
