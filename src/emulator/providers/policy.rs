//! Microsoft.Authorization policy assignments and exemptions, and Azure Policy's Deny for the
//! built-ins moat assigns.
//!
//! - `policyAssignments` (stable 2025-11-01, REST spec `stable/2025-11-01/examples/
//!   getPolicyAssignment.json`): an extension resource at any scope. ARM refuses an unknown
//!   definition (404 `PolicyDefinitionNotFound`), an effect the built-in does not allow, a
//!   Modify / DeployIfNotExists assignment without a managed identity (400
//!   `ResourceIdentityRequired`, the message Azure sends) and an identity without a location
//!   (no documented code; `LocationRequired` here). The answer adds `scope`, `instanceId`,
//!   `definitionVersion`, `notScopes: []`, the identity's principal and tenant ids and
//!   `createdBy` / `createdOn` in `metadata`, and lower-cases `policyDefinitionId`.
//! - `policyExemptions` (preview only, newest 2026-01-01-preview, `getPolicyExemptionWith
//!   ResourceSelectors.json`): `policyAssignmentId` and `exemptionCategory` (`Waiver` |
//!   `Mitigated`) required; the assignment must exist and, unless `assignmentScopeValidation`
//!   is `DoNotValidate`, the exemption must be at or under its scope. A stable api-version is
//!   refused: exemptions have none.
//! - Enforcement ([`deny`]): an account write that an assigned, enforced Deny of the local-auth
//!   (71ef260a), network-access (037eea7a) or managed-identity (fe3fd216) built-in forbids is refused 403
//!   `RequestDisallowedByPolicy` with the details in `additionalInfo[type=PolicyViolation]`,
//!   unless an unexpired exemption for that assignment covers the account. Before that, an
//!   assigned Modify of local auth (14de9e63) or public network access (47ba1dd7) rewrites the
//!   account request (`disableLocalAuth: true`, `publicNetworkAccess: Disabled`), with the same
//!   exemptions ([`modify`]): Azure Policy evaluates Modify before Deny.

use serde_json::{json, Value};

use crate::emulator::cx::Cx;
use crate::emulator::error::{ApiError, HResult};
use crate::emulator::ids::{ResId, Route};
use crate::emulator::provider::{Info, Provider, Request, Write};
use crate::emulator::spec::{Placement, Spec, TypeDef};
use crate::emulator::store::{prop_str, props, State};

use super::policy_params::{check as check_parameters, Param, DIAGNOSTICS_DINE};

const PA_TYPE: &str = "Microsoft.Authorization/policyAssignments";
const PE_TYPE: &str = "Microsoft.Authorization/policyExemptions";
const PD_TYPE: &str = "Microsoft.Authorization/policyDefinitions";
/// The stable version of assignments; exemptions exist only in previews.
const STABLE: &str = "2025-11-01";

const INFO: Info = Info {
    namespace: "Microsoft.Authorization",
    api_versions: &[STABLE, "2025-12-01-preview", "2026-01-01-preview"],
    types: &[
        TypeDef {
            name: PA_TYPE,
            spec: Spec {
                delete_body: true,
                ..Spec::SYNC
            },
            placement: Placement::Extension,
            ..TypeDef::BASE
        },
        TypeDef {
            name: PE_TYPE,
            spec: Spec {
                delete_body: true,
                system_data: true,
                ..Spec::SYNC
            },
            placement: Placement::Extension,
            ..TypeDef::BASE
        },
    ],
};

/// A built-in definition the emulator knows: its GUID, allowed effects, default effect, and
/// the rule it enforces on accounts when assigned with Deny.
pub(super) struct BuiltIn {
    name: &'static str,
    display: &'static str,
    effects: &'static [&'static str],
    default: &'static str,
    rule: Option<fn(&Value) -> Option<String>>,
    /// A Modify built-in's `addOrReplace` operation on accounts: the property under
    /// `properties` and its value as JSON text.
    modify: Option<(&'static str, &'static str)>,
    /// The parameters besides `effect` (policy_params::check).
    pub(super) params: &'static [Param],
}

/// Local auth: compliant only with `disableLocalAuth: true`.
fn keys_on(account: &Value) -> Option<String> {
    let off = account.pointer("/properties/disableLocalAuth") == Some(&json!(true));
    (!off).then(|| "Microsoft.CognitiveServices/accounts/disableLocalAuth notEquals true".into())
}

/// Network: compliant when public access is Disabled or the firewall default is Deny.
fn open_network(account: &Value) -> Option<String> {
    let eq = |p: &str, v: &str| {
        account
            .pointer(p)
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case(v))
    };
    let ok = eq("/properties/publicNetworkAccess", "Disabled")
        || eq("/properties/networkAcls/defaultAction", "Deny");
    (!ok).then(|| "Microsoft.CognitiveServices/accounts/publicNetworkAccess notEquals Disabled and networkAcls.defaultAction notEquals Deny".into())
}

/// Managed identity (fe3fd216): non-compliant when `identity.type` is absent or `None`.
fn no_identity(account: &Value) -> Option<String> {
    let t = account.pointer("/identity/type").and_then(Value::as_str);
    t.is_none_or(|t| t.eq_ignore_ascii_case("None")).then(|| {
        "Microsoft.CognitiveServices/accounts/identity.type exists false or equals None".into()
    })
}

const BUILT_INS: &[BuiltIn] = &[
    BuiltIn {
        name: "71ef260a-8f18-47b7-abcb-62d0673d94dc",
        display: "Azure AI Services resources should have key access disabled (disable local authentication)",
        effects: &["Audit", "Deny", "Disabled"],
        default: "Audit",
        rule: Some(keys_on),
        modify: None,
        params: &[],
    },
    BuiltIn {
        name: "037eea7a-bd0a-46c5-9a66-03aea78705d3",
        display: "Azure AI Services resources should restrict network access",
        effects: &["Audit", "Deny", "Disabled"],
        default: "Audit",
        rule: Some(open_network),
        modify: None,
        params: &[],
    },
    BuiltIn {
        name: "14de9e63-1b31-492e-a5a3-c3f7fd57f555",
        display: "Configure Cognitive Services accounts to disable local authentication methods",
        effects: &["Modify", "Disabled"],
        default: "Modify",
        rule: None,
        modify: Some(("disableLocalAuth", "true")),
        params: &[],
    },
    BuiltIn {
        name: "47ba1dd7-28d9-4b07-a8d5-9813bed64e0c",
        display: "Configure Cognitive Services accounts to disable public network access",
        effects: &["Disabled", "Modify"],
        default: "Modify",
        rule: None,
        modify: Some(("publicNetworkAccess", "\"Disabled\"")),
        params: &[],
    },
    BuiltIn {
        name: "55d1f543-d1b0-4811-9663-d6d0dbc6326d",
        display: "Enable logging by category group for Cognitive Services (microsoft.cognitiveservices/accounts) to Log Analytics",
        effects: &["DeployIfNotExists", "AuditIfNotExists", "Disabled"],
        default: "DeployIfNotExists",
        rule: None,
        modify: None,
        params: DIAGNOSTICS_DINE,
    },
    BuiltIn {
        name: "1b4d1c4e-934c-4703-944c-27c82c06bebb",
        display: "Diagnostic logs in Azure AI services resources should be enabled",
        effects: &["AuditIfNotExists", "Disabled"],
        default: "AuditIfNotExists",
        rule: None,
        modify: None,
        params: &[],
    },
    BuiltIn {
        name: "d6759c02-b87f-42b7-892e-71b3f471d782",
        display: "Azure AI Services resources should use Azure Private Link",
        effects: &["Audit", "Disabled"],
        default: "Audit",
        rule: None,
        modify: None,
        params: &[],
    },
    BuiltIn {
        name: "fe3fd216-4f83-4fc1-8984-2bbec80a3418",
        display: "Cognitive Services accounts should use a managed identity",
        effects: &["Audit", "Deny", "Disabled"],
        default: "Audit",
        rule: Some(no_identity),
        modify: None,
        params: &[],
    },
];

fn built_in(definition_id: &str) -> Option<&'static BuiltIn> {
    let lower = definition_id.to_ascii_lowercase();
    let name = lower.strip_prefix("/providers/microsoft.authorization/policydefinitions/")?;
    BUILT_INS.iter().find(|b| b.name == name)
}

pub struct Policy;

impl Provider for Policy {
    fn info(&self) -> &'static Info {
        &INFO
    }

    /// The lists at a scope, with Azure Policy's inheritance (policy_list).
    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let Route::Provider(id) = req.route else {
            return None;
        };
        if req.method != "GET" || id.is_instance() {
            return None;
        }
        if id.is(PA_TYPE) {
            Some(super::policy_list::list(cx, req, id, PA_TYPE, false))
        } else if id.is(PE_TYPE) {
            Some(
                preview_only(cx)
                    .and_then(|()| super::policy_list::list(cx, req, id, PE_TYPE, true)),
            )
        } else {
            None
        }
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        if id.is(PA_TYPE) {
            assignment(cx, id, body, existing)
        } else {
            exemption(cx, id, body)
        }
    }
}

fn bad(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// The scope an extension resource hangs off: its id up to `/providers/Microsoft.Authorization`.
pub fn scope_of(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    match lower.rfind("/providers/microsoft.authorization/") {
        Some(i) => id[..i].to_string(),
        None => String::new(),
    }
}

/// Whether `scope` is `id` or one of its ancestors.
pub fn covers(scope: &str, id: &str) -> bool {
    let (s, i) = (scope.to_ascii_lowercase(), id.to_ascii_lowercase());
    let s = s.trim_end_matches('/');
    i == s || i.starts_with(&format!("{s}/"))
}

fn assignment(
    cx: &mut Cx,
    id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    let def = prop_str(&body, "policyDefinitionId")
        .ok_or_else(|| {
            bad(
                "InvalidRequestContent",
                "properties.policyDefinitionId is required.",
            )
        })?
        .to_string();
    let known = built_in(&def);
    if known.is_none()
        && !cx.st.of_type(PD_TYPE).any(|d| {
            d["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(&def))
        })
    {
        return Err(ApiError::new(
            404,
            "PolicyDefinitionNotFound",
            format!(
                "The policy definition '{}' could not be found.",
                def.rsplit('/').next().unwrap_or(&def)
            ),
        ));
    }
    let mut effect = None;
    if let Some(b) = known {
        let given = body.pointer("/properties/parameters");
        check_parameters(id.name(), b.name, b.effects, b.params, given)?;
        let e = given
            .and_then(|g| g.pointer("/effect/value"))
            .and_then(Value::as_str);
        effect = Some(e.unwrap_or(b.default).to_string());
    }
    let mode = prop_str(&body, "enforcementMode")
        .unwrap_or("Default")
        .to_string();
    if !["Default", "DoNotEnforce"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&mode))
    {
        return Err(bad("InvalidRequestContent", format!("The value '{mode}' of properties.enforcementMode is invalid. Allowed values: Default, DoNotEnforce.")));
    }
    let identity = body
        .pointer("/identity/type")
        .and_then(Value::as_str)
        .filter(|t| !t.eq_ignore_ascii_case("None"))
        .map(str::to_string);
    let remediates = effect.as_deref().is_some_and(|e| {
        e.eq_ignore_ascii_case("Modify") || e.eq_ignore_ascii_case("DeployIfNotExists")
    });
    if remediates && identity.is_none() {
        return Err(bad(
            "ResourceIdentityRequired",
            format!("Policy assignments must include a resource identity when assigning '{}' policy definitions.", effect.unwrap_or_default()),
        ));
    }
    if identity.is_some() && body.get("location").and_then(Value::as_str).is_none() {
        return Err(bad(
            "LocationRequired",
            "A policy assignment with a managed identity must have a location.",
        ));
    }
    if let Some(t) = &identity {
        if t.eq_ignore_ascii_case("SystemAssigned") {
            let pid = existing
                .and_then(|e| e.pointer("/identity/principalId").cloned())
                .unwrap_or_else(|| json!(cx.st.new_guid("policy-identity")));
            body["identity"]["principalId"] = pid;
            body["identity"]["tenantId"] = json!(cx.cfg.tenant_id);
        }
    }
    let scope = scope_of(&id.display());
    let instance = existing
        .and_then(|e| e.pointer("/properties/instanceId").cloned())
        .unwrap_or_else(|| json!(cx.st.new_guid("policy-instance")));
    let created = existing
        .and_then(|e| e.pointer("/properties/metadata/createdOn").cloned())
        .unwrap_or_else(|| json!(cx.timestamp()));
    let p = props(&mut body);
    p.insert("policyDefinitionId".into(), json!(def.to_ascii_lowercase()));
    p.insert("scope".into(), json!(scope));
    p.insert("instanceId".into(), instance);
    p.entry("definitionVersion").or_insert(json!("1.*.*"));
    p.entry("notScopes").or_insert(json!([]));
    p.entry("enforcementMode").or_insert(json!("Default"));
    let meta = p.entry("metadata").or_insert(json!({}));
    if meta.is_object() {
        meta["createdBy"] = json!(cx.principal);
        meta["createdOn"] = created;
    }
    Ok(body)
}

/// Exemptions exist only in preview api-versions.
fn preview_only(cx: &Cx) -> Result<(), ApiError> {
    if !cx.api_version.ends_with("-preview") && cx.api_version != "seed" {
        return Err(bad(
            "InvalidApiVersionParameter",
            format!("The api-version '{}' is invalid for policyExemptions: the resource type exists only in preview versions.", cx.api_version),
        ));
    }
    Ok(())
}

fn exemption(cx: &mut Cx, id: &ResId, body: Value) -> Result<Value, ApiError> {
    preview_only(cx)?;
    let pa = prop_str(&body, "policyAssignmentId")
        .ok_or_else(|| {
            bad(
                "InvalidRequestContent",
                "properties.policyAssignmentId is required.",
            )
        })?
        .to_string();
    match prop_str(&body, "exemptionCategory") {
        Some(c) if ["Waiver", "Mitigated"].contains(&c) => {}
        Some(c) => {
            return Err(bad(
                "InvalidRequestContent",
                format!("The value '{c}' of properties.exemptionCategory is invalid. Allowed values: Waiver, Mitigated."),
            ))
        }
        None => return Err(bad("InvalidRequestContent", "properties.exemptionCategory is required.")),
    }
    if let Some(e) = prop_str(&body, "expiresOn") {
        if !looks_like_time(e) {
            return Err(bad(
                "InvalidRequestContent",
                format!("properties.expiresOn '{e}' is not a date-time (yyyy-MM-ddTHH:mm:ssZ)."),
            ));
        }
    }
    let Some(assigned) = find(cx.st, &pa) else {
        return Err(ApiError::new(
            404,
            "PolicyAssignmentNotFound",
            format!("The policy assignment '{pa}' is not found."),
        ));
    };
    let validate = prop_str(&body, "assignmentScopeValidation").unwrap_or("Default");
    let a_scope = prop_str(assigned, "scope").unwrap_or_default().to_string();
    if validate.eq_ignore_ascii_case("Default") && !covers(&a_scope, &scope_of(&id.display())) {
        return Err(bad(
            "InvalidPolicyExemptionScope",
            format!("The policy exemption scope must be at or under the scope '{a_scope}' of the policy assignment."),
        ));
    }
    let mut body = body;
    props(&mut body)
        .entry("assignmentScopeValidation")
        .or_insert(json!("Default"));
    Ok(body)
}

fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && s[..4].bytes().all(|c| c.is_ascii_digit())
}

pub fn find<'a>(st: &'a State, id: &str) -> Option<&'a Value> {
    st.of_type(PA_TYPE)
        .find(|a| a["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
}

/// The enforced assignments at or above `account_id` of a known built-in with `effect`, not
/// excluded by `notScopes` and not waived by an unexpired exemption on the account.
pub(super) fn applying<'a>(
    cx: &'a Cx,
    account_id: &'a str,
    effect: &'static str,
) -> impl Iterator<Item = (&'a Value, &'static BuiltIn)> + 'a {
    let now = cx.timestamp();
    cx.st.of_type(PA_TYPE).filter_map(move |a| {
        let p = &a["properties"];
        let b = p["policyDefinitionId"].as_str().and_then(built_in)?;
        let given = p
            .pointer("/parameters/effect/value")
            .and_then(Value::as_str)
            .unwrap_or(b.default);
        let enforced = !p["enforcementMode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("DoNotEnforce"));
        (given.eq_ignore_ascii_case(effect) && enforced && reaches(cx.st, &now, a, account_id))
            .then_some((a, b))
    })
}

/// Azure Policy's Modify on a write of the account `account_id`: every assignment of the
/// Modify built-ins (14de9e63 local auth, 47ba1dd7 public network access) that applies to the
/// account rewrites the request (`addOrReplace` of `disableLocalAuth: true`, or
/// `publicNetworkAccess: Disabled`) before it is evaluated against Deny.
pub fn modify(cx: &Cx, account_id: &str, body: &mut Value) {
    let ops: Vec<(&str, &str)> = applying(cx, account_id, "Modify")
        .filter_map(|(_, b)| b.modify)
        .collect();
    for (field, value) in ops {
        let value = serde_json::from_str(value).unwrap_or(Value::Null);
        props(body).insert(field.into(), value);
    }
}

/// Whether the assignment `a` reaches the account: in its scope, not in `notScopes`, and not
/// waived by an unexpired exemption on the account.
fn reaches(st: &State, now: &str, a: &Value, account_id: &str) -> bool {
    let p = &a["properties"];
    let excluded = p["notScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|n| covers(n, account_id));
    let a_id = a["id"].as_str().unwrap_or_default();
    !excluded
        && covers(p["scope"].as_str().unwrap_or_default(), account_id)
        && !exempted(st, a_id, account_id, now)
}

/// What a remediation of the Modify assignment `a` changes on the account `account` (its
/// stored body): the property under `properties` and its new value, when the assignment's
/// built-in has a Modify operation, the account is in its scope, not in `notScopes`, not
/// exempted, and does not already comply. A remediation runs on DoNotEnforce assignments too.
pub fn remediation_of(
    st: &State,
    now: &str,
    a: &Value,
    account: &Value,
) -> Option<(&'static str, Value)> {
    let p = &a["properties"];
    let (field, value) = p["policyDefinitionId"]
        .as_str()
        .and_then(built_in)?
        .modify?;
    if !reaches(st, now, a, account["id"].as_str()?) {
        return None;
    }
    let value: Value = serde_json::from_str(value).ok()?;
    let have = account.pointer(&format!("/properties/{field}"));
    let complies = match (have, &value) {
        (Some(Value::String(h)), Value::String(v)) => h.eq_ignore_ascii_case(v),
        (Some(h), v) => h == v,
        (None, _) => false,
    };
    (!complies).then_some((field, value))
}

/// Azure Policy's Deny on a write of the account `account_id` whose resulting body is `body`:
/// every enforced assignment of a known built-in with effect Deny at or above the account,
/// not excluded by `notScopes` and not waived by an unexpired exemption on the account.
pub fn deny(cx: &Cx, account_id: &str, body: &Value) -> Result<(), ApiError> {
    for (a, b) in applying(cx, account_id, "Deny") {
        let p = &a["properties"];
        let scope = p["scope"].as_str().unwrap_or_default();
        let Some(why) = b.rule.and_then(|r| r(body)) else {
            continue;
        };
        let a_id = a["id"].as_str().unwrap_or_default();
        let name = a["name"].as_str().unwrap_or_default();
        let def = format!(
            "/providers/Microsoft.Authorization/policyDefinitions/{}",
            b.name
        );
        let account = account_id.rsplit('/').next().unwrap_or(account_id);
        let idents = json!([{"policyAssignment": {"name": name, "id": a_id}, "policyDefinition": {"name": b.name, "id": def}}]);
        let mut e = ApiError::new(
            403,
            "RequestDisallowedByPolicy",
            format!(
                "Resource '{account}' was disallowed by policy. Policy identifiers: '{idents}'."
            ),
        );
        e.additional_info.push(json!({"type": "PolicyViolation", "info": {
            "policyDefinitionDisplayName": b.display,
            "evaluationDetails": {"evaluatedExpressions": [{"result": "True", "expressionKind": "Field", "expression": why, "operator": "NotEquals"}]},
            "policyDefinitionId": def,
            "policyDefinitionName": b.name,
            "policyDefinitionEffect": "Deny",
            "policyAssignmentId": a_id,
            "policyAssignmentName": name,
            "policyAssignmentDisplayName": p["displayName"].as_str().unwrap_or_default(),
            "policyAssignmentScope": scope,
            "policyAssignmentParameters": p.get("parameters").cloned().unwrap_or(json!({})),
        }}));
        return Err(e);
    }
    Ok(())
}

/// Whether an unexpired exemption at or above `account_id` waives `assignment_id`.
fn exempted(st: &State, assignment_id: &str, account_id: &str, now: &str) -> bool {
    st.of_type(PE_TYPE).any(|x| {
        let p = &x["properties"];
        let for_it = p["policyAssignmentId"]
            .as_str()
            .is_some_and(|i| i.eq_ignore_ascii_case(assignment_id));
        let here = x["id"]
            .as_str()
            .is_some_and(|i| covers(&scope_of(i), account_id));
        let live = p["expiresOn"]
            .as_str()
            .is_none_or(|e| e.get(..19).unwrap_or(e) > now.get(..19).unwrap_or(now));
        for_it && here && live
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_built_ins() {
        assert!(keys_on(&json!({"properties": {"disableLocalAuth": false}})).is_some());
        assert!(keys_on(&json!({"properties": {}})).is_some());
        assert!(keys_on(&json!({"properties": {"disableLocalAuth": true}})).is_none());
        let open = json!({"properties": {"publicNetworkAccess": "Enabled", "networkAcls": {"defaultAction": "Allow"}}});
        assert!(open_network(&open).is_some());
        let fw = json!({"properties": {"publicNetworkAccess": "Enabled", "networkAcls": {"defaultAction": "Deny"}}});
        assert!(open_network(&fw).is_none());
        assert!(
            open_network(&json!({"properties": {"publicNetworkAccess": "disabled"}})).is_none()
        );
    }

    #[test]
    fn scopes_cover_descendants_only() {
        assert!(covers(
            "/subscriptions/s/resourceGroups/RG",
            "/subscriptions/s/resourcegroups/rg/providers/x/y/z"
        ));
        assert!(!covers(
            "/subscriptions/s/resourceGroups/rg",
            "/subscriptions/s/resourceGroups/rg2/providers/x"
        ));
        assert_eq!(
            scope_of("/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/a"),
            "/subscriptions/s"
        );
        assert!(built_in("/providers/microsoft.authorization/policydefinitions/71EF260A-8f18-47b7-abcb-62d0673d94dc").is_some());
    }
}
