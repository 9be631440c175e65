//! Microsoft.KeyVault vaults: enough to hold a customer-managed key's access — the permission
//! model (`enableRbacAuthorization`) and the access policies — and to answer whether a
//! principal may wrap and unwrap with its keys (asked by the accounts provider before it
//! switches an account to `keySource: Microsoft.KeyVault`). Synchronous PUT (200/201), GET,
//! DELETE; no keys; the secrets data plane is `key_vault_secrets.rs`. Body shape as in Azure/azure-rest-api-specs
//! specification/keyvault/resource-manager/Microsoft.KeyVault/stable/2023-07-01/examples/
//! createVault.json (`properties.tenantId` and `properties.sku` required).

use serde_json::{json, Value};

use super::authorization;
use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;
use crate::emulator::error::HResult;
use crate::emulator::ids::required_location;
use crate::emulator::provider::{Info, Provider, Request, Write};
use crate::emulator::spec::{Spec, TypeDef};
use crate::emulator::store::{prop_str, props, State};

pub const VAULT_TYPE: &str = "Microsoft.KeyVault/vaults";

const INFO: Info = Info {
    namespace: "Microsoft.KeyVault",
    api_versions: &[
        "2019-09-01",
        "2021-10-01",
        "2022-07-01",
        "2023-07-01",
        "2024-11-01",
    ],
    types: &[TypeDef {
        name: VAULT_TYPE,
        spec: Spec::SYNC,
        seed_rank: 2,
        ..TypeDef::BASE
    }],
};

pub struct KeyVaults;

impl Provider for KeyVaults {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        super::key_vault_secrets::serve(cx, req)
    }

    fn prepare(&self, _cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write {
            id,
            mut body,
            existing,
        } = w;
        body["location"] = json!(required_location(&body, existing)?);
        if prop_str(&body, "tenantId").is_none() {
            return Err(ApiError::bad_request(
                "BadRequest",
                "properties.tenantId is required.",
            ));
        }
        if body.pointer("/properties/sku/name").is_none() {
            return Err(ApiError::bad_request(
                "BadRequest",
                "properties.sku is required.",
            ));
        }
        let uri = format!(
            "https://{}.vault.azure.net/",
            id.name().to_ascii_lowercase()
        );
        let p = props(&mut body);
        p.insert("vaultUri".into(), json!(uri));
        p.entry("accessPolicies").or_insert(json!([]));
        p.entry("enableRbacAuthorization").or_insert(json!(false));
        p.insert("provisioningState".into(), json!("Succeeded"));
        Ok(body)
    }
}

/// The vault a key URI names (`https://NAME.vault.azure.net/...`).
fn vault_of_uri<'a>(st: &'a State, uri: &str) -> Option<&'a Value> {
    let host = uri
        .trim_start_matches("https://")
        .split('/')
        .next()?
        .to_ascii_lowercase();
    let name = host.split('.').next()?.to_string();
    st.of_type(VAULT_TYPE).find(|v| {
        prop_str(v, "vaultUri").is_some_and(|u| u.to_ascii_lowercase().contains(&host))
            || v["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
    })
}

/// Whether `principal` may get, wrap and unwrap keys of the vault behind `uri`: with the RBAC
/// permission model, a role assignment at the vault or above whose role's data actions include
/// wrap and unwrap; otherwise an access policy with get, wrapKey and unwrapKey. `None`: yes;
/// `Some(why)`: no. A vault the emulator does not hold is not checked (no Key Vault seeded).
pub fn key_access_denied(st: &State, uri: &str, principal: &str) -> Option<String> {
    let vault = vault_of_uri(st, uri)?;
    let vault_id = vault["id"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = vault["name"].as_str().unwrap_or_default();
    let rbac = vault
        .pointer("/properties/enableRbacAuthorization")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let allowed = if rbac {
        st.of_type("Microsoft.Authorization/roleAssignments")
            .any(|a| {
                let scope = prop_str(a, "scope")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let covers = vault_id == scope || vault_id.starts_with(&format!("{scope}/"));
                covers
                    && prop_str(a, "principalId").is_some_and(|p| p.eq_ignore_ascii_case(principal))
                    && prop_str(a, "roleDefinitionId").is_some_and(|r| {
                        authorization::grants_data_action(
                            r,
                            "Microsoft.KeyVault/vaults/keys/wrap/action",
                        ) && authorization::grants_data_action(
                            r,
                            "Microsoft.KeyVault/vaults/keys/unwrap/action",
                        )
                    })
            })
    } else {
        let policies = vault
            .pointer("/properties/accessPolicies")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        policies.iter().any(|p| {
            let keys: Vec<String> = p
                .pointer("/permissions/keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default();
            p["objectId"]
                .as_str()
                .is_some_and(|o| o.eq_ignore_ascii_case(principal))
                && (keys.iter().any(|k| k == "all")
                    || ["get", "wrapkey", "unwrapkey"]
                        .iter()
                        .all(|k| keys.iter().any(|x| x == k)))
        })
    };
    (!allowed).then(|| {
        format!(
            "The user, group or application '{principal}' does not have keys get, wrapKey and unwrapKey permissions on key vault '{name}'."
        )
    })
}
