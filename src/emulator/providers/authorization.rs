//! Microsoft.Authorization role assignments (with ARM's scope inheritance in lists), the
//! built-in role definitions moat refers to, and custom role definitions a seed gives.

use serde_json::{json, Value};

use crate::emulator::cx::Cx;
use crate::emulator::engine::list_reply;
use crate::emulator::error::{ApiError, HResult, Reply};
use crate::emulator::ids::{ResId, Route};
use crate::emulator::provider::{Info, Provider, Request, Write};
use crate::emulator::routes::list_start;
use crate::emulator::spec::{Placement, Spec, TypeDef};
use crate::emulator::store::{prop_str, props, State};

const RA_TYPE: &str = "Microsoft.Authorization/roleAssignments";
const RD_TYPE: &str = "Microsoft.Authorization/roleDefinitions";

const INFO: Info = Info {
    namespace: "Microsoft.Authorization",
    api_versions: &[
        "2015-07-01",
        "2018-01-01-preview",
        "2018-09-01-preview",
        "2020-04-01-preview",
        "2020-10-01-preview",
        "2022-04-01",
        "2022-05-01-preview",
    ],
    types: TYPES,
};

pub struct Authorization;

const TYPES: &[TypeDef] = &[
    TypeDef {
        name: RA_TYPE,
        spec: Spec {
            delete_body: true,
            ..Spec::SYNC
        },
        placement: Placement::Extension,
        known: Some(&super::shapes::ROLE_ASSIGNMENT),
        ..TypeDef::BASE
    },
    TypeDef {
        name: RD_TYPE,
        placement: Placement::Extension,
        tenant: true,
        ..TypeDef::BASE
    },
];

impl Provider for Authorization {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let filter = req.param("$filter");
        match req.route {
            Route::Tenant(id) if id.is(RD_TYPE) => {
                Some(role_definitions(cx.st, None, None, Some(id.name()), None))
            }
            Route::Provider(id) if id.is(RD_TYPE) && req.method == "GET" => Some(role_definitions(
                cx.st,
                Some(&id.sub),
                Some(id),
                None,
                filter,
            )),
            Route::Provider(id) if id.is(RA_TYPE) && !id.is_instance() && req.method == "GET" => {
                Some(list_assignments(cx, req, id))
            }
            _ => None,
        }
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        prepare(cx, id, body, existing)
    }

    /// A custom role definition (a brownfield seed): kept as given, `type: CustomRole`, as
    /// Microsoft's GetRoleDefinitionById example answers it.
    fn seed(&self, cx: &mut Cx, id: &ResId, body: &Value) -> Option<Result<(), ApiError>> {
        if !id.is(RD_TYPE) {
            return None;
        }
        let mut body = body.clone();
        body["id"] = json!(id.display());
        body["name"] = json!(id.name().to_ascii_lowercase());
        body["type"] = json!(RD_TYPE);
        if body["properties"]["type"].is_null() {
            body["properties"]["type"] = json!("CustomRole");
        }
        cx.st.insert(body);
        Some(Ok(()))
    }
}

/// The custom role `guid` visible from subscription `sub` (any, for the tenant route): one whose
/// `assignableScopes` hold the root, the subscription or a scope in it.
fn custom<'a>(st: &'a State, sub: Option<&str>, guid: &str) -> Option<&'a Value> {
    st.of_type(RD_TYPE).find(|r| {
        r["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(guid))
            && sub.is_none_or(|s| custom_visible(r, s))
    })
}

fn custom_visible(r: &Value, sub: &str) -> bool {
    let want = format!("/subscriptions/{}", sub.to_ascii_lowercase());
    r["properties"]["assignableScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_ascii_lowercase)
        .any(|s| s == "/" || s == want || s.starts_with(&format!("{want}/")))
}

fn list_assignments(cx: &Cx, req: &Request, id: &ResId) -> HResult {
    let skip = list_start(cx, id, req.query)?;
    if id.scope_is_resource() && !cx.st.exists(&id.scope) {
        return Err(ApiError::not_found(&id.scope));
    }
    let items = list(cx.st, &id.scope, req.param("$filter"));
    Ok(list_reply(cx, req.path, req.query, items, skip, true))
}

/// (GUID, name, description, actions, data actions)
type RoleDef = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const BUILT_IN: &[RoleDef] = &[
    ("5e0bd9bd-7b93-4f28-af87-19fc36ad61bd", "Cognitive Services OpenAI User", "Read access to view files, models, deployments. The ability to create completion and embedding calls.", &["Microsoft.CognitiveServices/*/read", "Microsoft.Authorization/roleAssignments/read"], &["Microsoft.CognitiveServices/accounts/OpenAI/*/read", "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action"]),
    ("a001fd3d-188f-4b5d-821b-7da978bf7442", "Cognitive Services OpenAI Contributor", "Full access including the ability to fine-tune, deploy and generate text", &["Microsoft.CognitiveServices/*/read", "Microsoft.CognitiveServices/accounts/deployments/write", "Microsoft.CognitiveServices/accounts/deployments/delete", "Microsoft.CognitiveServices/accounts/raiPolicies/read", "Microsoft.CognitiveServices/accounts/raiPolicies/write"], &["Microsoft.CognitiveServices/accounts/OpenAI/*"]),
    ("a97b65f3-24c7-4388-baec-2e87135dc908", "Cognitive Services User", "Lets you read and list keys of Cognitive Services.", &["Microsoft.CognitiveServices/*/read", "Microsoft.CognitiveServices/accounts/listkeys/action"], &["Microsoft.CognitiveServices/*"]),
    ("25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68", "Cognitive Services Contributor", "Lets you create, read, update, delete and manage keys of Cognitive Services.", &["Microsoft.CognitiveServices/*", "Microsoft.Resources/deployments/*"], &[]),
    ("bba48692-92b0-4667-a9ad-c31c7b334ac2", "Cognitive Services Usages Reader", "Minimal permission to view Cognitive Services usages.", &["Microsoft.CognitiveServices/locations/usages/read"], &[]),
    ("64702f94-c441-49e6-a78b-ef80e0188fee", "Azure AI Developer", "Can perform all actions within an Azure AI resource besides managing the resource itself.", &["Microsoft.CognitiveServices/*/read"], &["Microsoft.CognitiveServices/*"]),
    ("53ca6127-db72-4b80-b1b0-d745d6d5456d", "Azure AI User", "Grants reader access to AI projects, reader access to AI accounts, and data actions for an AI project.", &["Microsoft.CognitiveServices/*/read"], &["Microsoft.CognitiveServices/*"]),
    ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.", &["*"], &[]),
    ("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor", "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.", &["*"], &[]),
    ("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", "View all resources, but does not allow you to make any changes.", &["*/read"], &[]),
    ("18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator", "Lets you manage user access to Azure resources.", &["*/read", "Microsoft.Authorization/*"], &[]),
    ("e147488a-f6f5-4113-8e2d-b22465e65bf6", "Key Vault Crypto Service Encryption User", "Read metadata of keys and perform wrap/unwrap operations. Only works for key vaults that use the 'Azure role-based access control' permission model.", &["Microsoft.EventGrid/eventSubscriptions/write", "Microsoft.EventGrid/eventSubscriptions/read", "Microsoft.EventGrid/eventSubscriptions/delete"], &["Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/vaults/keys/unwrap/action"]),
    ("12338af0-0e69-4776-bea7-57ae8d297424", "Key Vault Crypto User", "Perform cryptographic operations using keys. Only works for key vaults that use the 'Azure role-based access control' permission model.", &[], &["Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/update/action", "Microsoft.KeyVault/vaults/keys/backup/action", "Microsoft.KeyVault/vaults/keys/encrypt/action", "Microsoft.KeyVault/vaults/keys/decrypt/action", "Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/vaults/keys/unwrap/action", "Microsoft.KeyVault/vaults/keys/sign/action", "Microsoft.KeyVault/vaults/keys/verify/action"]),
];

/// Whether the built-in role `role_id` (any id form) allows the data action `action`.
pub fn grants_data_action(role_id: &str, action: &str) -> bool {
    built_in(&guid_of(role_id)).is_some_and(|r| {
        r.4.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            let want = action.to_ascii_lowercase();
            a == want || a.strip_suffix('*').is_some_and(|p| want.starts_with(p))
        })
    })
}

fn guid_of(id: &str) -> String {
    id.rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn built_in(guid: &str) -> Option<&'static RoleDef> {
    BUILT_IN.iter().find(|r| r.0.eq_ignore_ascii_case(guid))
}

fn definition(sub: Option<&str>, r: &RoleDef) -> Value {
    let id = match sub {
        Some(s) => format!(
            "/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{}",
            r.0
        ),
        None => format!("/providers/Microsoft.Authorization/roleDefinitions/{}", r.0),
    };
    json!({
        "id": id, "name": r.0, "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": r.1, "type": "BuiltInRole", "description": r.2, "assignableScopes": ["/"],
            "permissions": [{ "actions": r.3, "notActions": [], "dataActions": r.4, "notDataActions": [] }],
            "createdOn": "2015-02-02T21:55:09.8806423Z", "updatedOn": "2024-01-01T00:00:00.0000000Z"
        }
    })
}

/// GET role definitions (one by GUID, or the list; `$filter=roleName eq '…'` honoured).
fn role_definitions(
    st: &State,
    sub: Option<&str>,
    id: Option<&ResId>,
    name: Option<&str>,
    filter: Option<&str>,
) -> HResult {
    let name = name.or_else(|| id.filter(|i| i.is_instance()).map(|i| i.name()));
    if let Some(n) = name {
        return built_in(n)
            .map(|r| Reply::json(200, definition(sub, r)))
            .or_else(|| custom(st, sub, n).map(|r| Reply::json(200, r.clone())))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "RoleDefinitionDoesNotExist",
                    format!("The specified role definition with ID '{n}' does not exist."),
                )
            });
    }
    let wanted = filter.and_then(|f| quoted_after(f, "rolename eq"));
    let named = |n: Option<&str>| {
        wanted
            .as_deref()
            .is_none_or(|w| n.is_some_and(|n| n.eq_ignore_ascii_case(w)))
    };
    let mut items: Vec<Value> = BUILT_IN
        .iter()
        .filter(|r| named(Some(r.1)))
        .map(|r| definition(sub, r))
        .collect();
    items.extend(
        st.of_type(RD_TYPE)
            .filter(|r| sub.is_none_or(|s| custom_visible(r, s)))
            .filter(|r| named(r["properties"]["roleName"].as_str()))
            .cloned(),
    );
    Ok(Reply::json(200, json!({ "value": items })))
}

/// The quoted value after `key` in an OData filter (case-insensitive key).
fn quoted_after(filter: &str, key: &str) -> Option<String> {
    let lower = filter.to_ascii_lowercase();
    let at = lower.find(key)? + key.len();
    let rest = &filter[at..];
    let start = rest.find('\'')? + 1;
    let end = rest[start..].find('\'')? + start;
    Some(rest[start..end].to_string())
}

fn prepare(
    cx: &mut Cx,
    id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    if uuid::Uuid::parse_str(id.name()).is_err() {
        return Err(ApiError::bad_request(
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{}' is not valid. The role assignment ID must be a GUID.",
                id.name()
            ),
        ));
    }
    let role = prop_str(&body, "roleDefinitionId")
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidRequestFormat",
                "properties.roleDefinitionId is required.",
            )
        })?;
    let principal = prop_str(&body, "principalId")
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidRequestFormat",
                "properties.principalId is required.",
            )
        })?;
    let guid = guid_of(&role);
    // Built-in roles are known by GUID; any other GUID is taken as a custom role definition.
    if built_in(&guid).is_none() && uuid::Uuid::parse_str(&guid).is_err() {
        return Err(ApiError::bad_request(
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{guid}' does not exist."),
        ));
    }
    let scope = id.scope.clone();
    if let Some(e) = existing {
        let same_principal =
            prop_str(e, "principalId").is_some_and(|p| p.eq_ignore_ascii_case(&principal));
        let same_role = prop_str(e, "roleDefinitionId").is_some_and(|r| guid_of(r) == guid);
        if !same_principal || !same_role {
            return Err(ApiError::bad_request(
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            ));
        }
    }
    let dup = cx.st.of_type(RA_TYPE).any(|a| {
        !a["name"]
            .as_str()
            .unwrap_or_default()
            .eq_ignore_ascii_case(id.name())
            && prop_str(a, "scope").is_some_and(|s| s.eq_ignore_ascii_case(&scope))
            && prop_str(a, "principalId").is_some_and(|p| p.eq_ignore_ascii_case(&principal))
            && prop_str(a, "roleDefinitionId").is_some_and(|r| guid_of(r) == guid)
    });
    if dup {
        return Err(ApiError::conflict(
            "RoleAssignmentExists",
            "The role assignment already exists.",
        ));
    }
    let ptype = prop_str(&body, "principalType")
        .unwrap_or("User")
        .to_string();
    let skips = cx.cfg.conflicts.principal_type_skips_lookup
        && ptype.eq_ignore_ascii_case("ServicePrincipal");
    let until = cx
        .st
        .new_principals
        .get(&principal.to_ascii_lowercase())
        .copied();
    if existing.is_none() && !skips && until.is_some_and(|u| cx.now_ns() < u) {
        return Err(ApiError::bad_request("PrincipalNotFound", format!("Principal {} does not exist in the directory {}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype", principal.replace('-', ""), cx.cfg.tenant_id)));
    }
    let created = existing
        .and_then(|e| prop_str(e, "createdOn"))
        .map(str::to_string)
        .unwrap_or_else(|| cx.timestamp());
    let created_by = existing
        .and_then(|e| prop_str(e, "createdBy"))
        .map(str::to_string)
        .unwrap_or_else(|| cx.principal.to_string());
    let p = props(&mut body);
    // Microsoft's example answers with the tenant-level form of the definition id.
    p.insert(
        "roleDefinitionId".into(),
        json!(format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{guid}"
        )),
    );
    p.insert("principalType".into(), json!(ptype));
    p.insert("scope".into(), json!(scope));
    p.insert("createdOn".into(), json!(created));
    p.insert("updatedOn".into(), json!(cx.timestamp()));
    p.insert("createdBy".into(), json!(created_by));
    p.insert("updatedBy".into(), json!(cx.principal));
    Ok(body)
}

/// List at `scope` with ARM's inheritance: `atScope()` → at or above; `principalId eq` → at,
/// above or below, for that principal; no filter → at, above and below.
fn list(st: &State, scope: &str, filter: Option<&str>) -> Vec<Value> {
    let target = scope.to_ascii_lowercase();
    let f = filter.unwrap_or("").to_ascii_lowercase();
    let at_scope = f.contains("atscope()");
    let principal = filter
        .and_then(|f| quoted_after(f, "principalid eq").or_else(|| quoted_after(f, "assignedto(")));
    st.of_type(RA_TYPE)
        .filter(|a| {
            let s = prop_str(a, "scope")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let at = s == target;
            let above = target.starts_with(&format!("{}/", s.trim_end_matches('/'))) || s == "/";
            let below = s.starts_with(&format!("{target}/"));
            let place = if at_scope {
                at || above
            } else {
                at || above || below
            };
            let who = principal.as_deref().is_none_or(|p| {
                prop_str(a, "principalId").is_some_and(|x| x.eq_ignore_ascii_case(p))
            });
            place && who
        })
        .cloned()
        .collect()
}
