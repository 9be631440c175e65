//! D1: the account's access to the key vault that holds its customer-managed key — a
//! `Microsoft.Authorization/roleAssignments` at the vault's scope.
//!
//! On Azure the switch to `keySource: Microsoft.KeyVault` fails unless the account's identity can
//! already read the key, and a system-assigned identity cannot have been given access before it
//! exists. So the cutover is identity → this grant → the grant visible → the encryption PATCH
//! (`cutover.rs`: stages Identity, KeyAccess, Encryption).
//!
//! `keyAccess: grant`: moat gives the system-assigned identity *Key Vault Crypto Service
//! Encryption User* on the vault (vaults with the Azure RBAC permission model), as an assignment
//! it owns. Its name is derived from (vault, role, ACCOUNT id), not from the principal, so it is
//! stable before the principal exists; when the identity is created by the same apply the
//! principal id is not known at plan time, and the write carries a `bind` that apply fills from
//! the account's `identity.principalId` just before sending. `keyAccess: verify`: moat only
//! checks that the identity has access (a key role on the vault or above, or — for vaults with
//! access policies — a policy with get, wrapKey and unwrapKey); without it, drift.
//! Managed: existence (role, principal). Ignored: as for role assignments.

use serde_json::{json, Value};

use super::kind::{InUse, Kind, Meta, Planned, Read, Reads, Ready, Stage};
use super::role_assignment::{self, assignment_name};
use super::{account, fingerprint, get, get_bool, get_str, last_segment, OWNER_MARKER};
use crate::arm::Method;
use crate::blueprint::resolved::{Encryption, Instance, KeyAccess, Mode};
use crate::model::{Action, Adopt, Bind, Change, FieldChange, Gate, KindId, Write};

pub const KIND: KindId = KindId::new("key-vault-grant");

/// Key Vault's api-version for reading the vault (its permission model and access policies).
pub const VAULT_API_VERSION: &str = "2023-07-01";

/// Key Vault Crypto Service Encryption User: read key metadata, wrap and unwrap (Azure built-in
/// roles, "Security"; RBAC vaults only).
pub const ENCRYPTION_USER: &str = "e147488a-f6f5-4113-8e2d-b22465e65bf6";

/// Built-in roles whose data actions include wrapping and unwrapping keys: any of them on the
/// vault (or above) gives the identity the access the key needs.
pub const KEY_ROLES: &[(&str, &str)] = &[
    (ENCRYPTION_USER, "Key Vault Crypto Service Encryption User"),
    (
        "12338af0-0e69-4776-bea7-57ae8d297424",
        "Key Vault Crypto User",
    ),
    (
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
    ),
    (
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "Key Vault Administrator",
    ),
];

/// Key permissions an access policy must grant (`all` grants them all).
const POLICY_KEYS: &[&str] = &["get", "wrapkey", "unwrapkey"];

const ASSIGNMENTS: &str = "/providers/Microsoft.Authorization/roleAssignments";

pub struct KeyVaultGrantKind;

static META: Meta = Meta {
    label: "key-vault-grant",
    arm_type: "Microsoft.Authorization/roleAssignments",
    api_version: role_assignment::API_VERSION,
    shared: false,
    managed: role_assignment::MANAGED,
    read_only: &[],
    ignored: role_assignment::IGNORED,
    first_on_lock: false,
    weak: &[],
};

/// The customer-managed key this instance declares, with its vault.
fn cmk(inst: &Instance) -> Option<(&Encryption, Mode, &str)> {
    let c = inst.controls.encryption.as_ref()?;
    let vault = c.spec.key_vault_id.as_deref()?;
    c.spec
        .key_source
        .eq_ignore_ascii_case("Microsoft.KeyVault")
        .then_some((&c.spec, c.mode, vault))
}

fn vault_read(vault: &str) -> Read {
    Read::get(vault, VAULT_API_VERSION)
}

/// Assignments at the vault and above (`atScope()`): an inherited key role gives access too.
fn assignments_read(vault: &str) -> Read {
    Read::list(
        format!("{vault}{ASSIGNMENTS}"),
        role_assignment::API_VERSION,
    )
    .with_query("$filter", "atScope()")
}

/// The principal of the account's system-assigned identity, when it exists live.
fn live_principal<'a>(inst: &Instance, seen: &'a Reads) -> Option<&'a str> {
    let acct = seen.value(&account::read(inst))?;
    let system = get_str(acct, "identity.type").is_some_and(|t| t.contains("SystemAssigned"));
    get_str(acct, "identity.principalId").filter(|p| system && !p.is_empty())
}

/// The moat-owned grant's id: stable before the principal exists.
pub fn grant_id(inst: &Instance, vault: &str) -> String {
    let name = assignment_name(vault, ENCRYPTION_USER, &inst.account_id());
    role_assignment::id(vault, &name)
}

/// Whether `principal` can wrap and unwrap with the vault's keys, and how.
fn access(vault: &Value, assignments: &[Value], principal: &str) -> Option<String> {
    if get_bool(vault, "properties.enableRbacAuthorization").unwrap_or(false) {
        assignments.iter().find_map(|a| {
            let p = get_str(a, "properties.principalId")?;
            let role = last_segment(get_str(a, "properties.roleDefinitionId")?);
            let (_, name) = KEY_ROLES
                .iter()
                .find(|(g, _)| g.eq_ignore_ascii_case(role))?;
            p.eq_ignore_ascii_case(principal).then(|| {
                format!(
                    "{name} on {}",
                    get_str(a, "properties.scope").unwrap_or("?")
                )
            })
        })
    } else {
        let policies = get(vault, "properties.accessPolicies").and_then(Value::as_array)?;
        policies.iter().find_map(|p| {
            let ok = get_str(p, "objectId")?.eq_ignore_ascii_case(principal);
            let keys: Vec<String> = get(p, "permissions.keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default();
            let all = keys.iter().any(|k| k == "all")
                || POLICY_KEYS.iter().all(|k| keys.iter().any(|x| x == k));
            (ok && all).then(|| "an access policy with get, wrapKey and unwrapKey".to_string())
        })
    }
}

fn address(inst: &Instance, vault: &str) -> String {
    format!("{}/key-vault-grant/{}", inst.name, last_segment(vault))
}

/// The grant (or its check) for one instance.
fn plan(inst: &Instance, seen: &Reads) -> Option<Change> {
    let (enc, mode, vault) = cmk(inst)?;
    let addr = address(inst, vault);
    let id = grant_id(inst, vault);
    let Some(v) = seen.value(&vault_read(vault)) else {
        return Some(Change::blocked(
            addr,
            KIND,
            vault,
            format!("the key vault {vault} (existing.keyVaultKey.vaultId) does not exist or cannot be read: the customer-managed key cannot be switched on"),
            "absent".into(),
        ));
    };
    let items = seen.items(&assignments_read(vault));
    let principal = live_principal(inst, seen);
    let verify = mode == Mode::Verify || enc.key_access == KeyAccess::Verify;
    let found = principal.and_then(|p| access(v, items, p));
    let rbac = get_bool(v, "properties.enableRbacAuthorization").unwrap_or(false);
    let fp = fingerprint(Some(v));
    if let Some(how) = found {
        let action = if verify {
            Action::Verified
        } else {
            Action::NoOp
        };
        let reason = format!("the account's identity can read the key: {how} (D1)");
        return Some(Change::new(addr, KIND, &id, action, reason, fp));
    }
    if verify {
        let why = match principal {
            None => "the account has no system-assigned identity yet, so nothing can have given it access to the key; apply the identity first (or use `keyAccess: grant`)".to_string(),
            Some(p) if rbac => format!("principal {p} holds no key role (e.g. Key Vault Crypto Service Encryption User) on the vault; the customer-managed key stays off until it does"),
            Some(p) => format!("the vault has no access policy with get, wrapKey and unwrapKey for principal {p}; the customer-managed key stays off until it does"),
        };
        let mut c = Change::new(addr, KIND, &id, Action::Drift, why, fp);
        c.fields = vec![FieldChange {
            path: "key access".into(),
            before: None,
            after: Some("get, wrapKey, unwrapKey".into()),
        }];
        return Some(c);
    }
    if !rbac {
        return Some(Change::blocked(
            addr,
            KIND,
            vault,
            "the vault uses access policies, which moat does not write: give the account's identity an access policy with get, wrapKey and unwrapKey and set `keyAccess: verify`",
            fp,
        ));
    }
    let role_id = format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{ENCRYPTION_USER}",
        inst.subscription
    );
    let body = json!({"properties": {
        "roleDefinitionId": role_id,
        "principalId": principal.unwrap_or_default(),
        "principalType": "ServicePrincipal",
        "description": format!("customer-managed key of {} {OWNER_MARKER}", inst.account_name),
    }});
    let mut write = Write::new(Method::Put, &id, role_assignment::API_VERSION, Some(body));
    let shown = match principal {
        Some(p) => p.to_string(),
        None => {
            // Created by this apply: read it just before sending.
            write.bind = vec![Bind {
                path: "properties.principalId".into(),
                from: inst.account_id(),
                api_version: account::API_VERSION.into(),
                field: "identity.principalId".into(),
            }];
            format!(
                "identity.principalId of {} (read at apply)",
                inst.account_name
            )
        }
    };
    let mut c = Change::new(
        addr,
        KIND,
        &id,
        Action::Create,
        "the account's identity gets Key Vault Crypto Service Encryption User on the key's vault, before the customer-managed key is switched on (D1)",
        "absent".into(),
    )
    .with_write(write);
    c.fields = vec![
        FieldChange {
            path: "properties.roleDefinitionId".into(),
            before: None,
            after: Some(
                format!("Key Vault Crypto Service Encryption User ({ENCRYPTION_USER})").into(),
            ),
        },
        FieldChange {
            path: "properties.principalId".into(),
            before: None,
            after: Some(format!("{shown} (ServicePrincipal)").into()),
        },
    ];
    Some(c)
}

impl Kind for KeyVaultGrantKind {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, _seen: &Reads) -> Vec<Read> {
        match cmk(inst) {
            Some((_, _, vault)) => vec![vault_read(vault), assignments_read(vault)],
            None => Vec::new(),
        }
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        Planned::of(Stage::KeyAccess, plan(inst, seen))
    }

    /// The grant moat made for this account (its deterministic name and marker) goes with it.
    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        let Some((_, _, vault)) = cmk(inst) else {
            return Planned::default();
        };
        let ours = grant_id(inst, vault);
        let deletes = seen
            .items(&assignments_read(vault))
            .iter()
            .filter(|a| get_str(a, "id").is_some_and(|i| super::id_eq(i, &ours)))
            .filter(|a| {
                get_str(a, "properties.description").is_some_and(|d| d.contains(OWNER_MARKER))
            })
            .map(|a| {
                super::delete_change(
                    address(inst, vault),
                    KIND,
                    &ours,
                    role_assignment::API_VERSION,
                    "the key vault grant moat made for the account",
                    "the account's identity loses its access to the customer-managed key's vault",
                    a,
                )
            });
        Planned::of(Stage::Access, deletes.collect::<Vec<_>>())
    }

    /// The grant is visible before the customer-managed key is switched on.
    fn gate(&self, _inst: &Instance, stage: Stage, changes: &[&Change]) -> Option<Gate> {
        let ids: Vec<String> = changes
            .iter()
            .filter(|c| stage == Stage::KeyAccess && c.kind == KIND && c.action == Action::Create)
            .map(|c| c.id.clone())
            .collect();
        (!ids.is_empty()).then_some(Gate { kind: KIND, ids })
    }

    /// Another writer may have made the same (vault, role, principal) assignment meanwhile;
    /// only when the principal is known at plan time (the rule matches on it).
    fn adopt(&self, change: &Change) -> Option<Adopt> {
        let bound = change.write.as_ref().is_some_and(|w| !w.bind.is_empty());
        (!bound)
            .then(|| role_assignment::RoleAssignmentKind.adopt(change))
            .flatten()
    }

    fn ready(&self, ids: &[String], seen: &Reads) -> Ready {
        role_assignment::RoleAssignmentKind.ready(ids, seen)
    }

    fn describe_gate(&self, ids: &[String]) -> String {
        format!(
            "{} key vault grant(s) visible at the vault scope",
            ids.len()
        )
    }
}
