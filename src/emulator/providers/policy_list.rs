//! Lists of policy assignments and exemptions at a scope, with Azure Policy's inheritance
//! (REST spec `PolicyAssignments_List` / `ListForResourceGroup` / `ListForResource` and the
//! `PolicyExemptions_*` operations of the same names; the examples
//! `listPolicyExemptionsForResourceGroup.json` and `listPolicyAssignmentsForResourceGroup.json`
//! filter with `atScope()`). `$filter`:
//! - none: every item at, above, or below the scope ("including those that apply directly or
//!   apply from containing scopes, as well as any applied to resources contained within");
//! - `atScope()`: at or above (what applies to the scope);
//! - `atExactScope()`: at the scope only;
//! - `policyDefinitionId eq '…'` (assignments) / `policyAssignmentId eq '…'` (exemptions): at,
//!   above or below, that one;
//! - `excludeExpired()` (exemptions): unexpired ones, at, above or below.
//!
//! Anything else is refused (400 `InvalidFilterInQueryString`; the code is not verified).
//! Pageable with `$top` and `nextLink`, as the spec's `x-ms-pageable`.

use serde_json::Value;

use crate::emulator::cx::Cx;
use crate::emulator::engine::list_reply;
use crate::emulator::error::{ApiError, HResult};
use crate::emulator::ids::ResId;
use crate::emulator::provider::Request;
use crate::emulator::routes::list_start;

/// The scope an item hangs off, lower-cased: the assignment's `properties.scope`, else its id
/// up to `/providers/Microsoft.Authorization/`.
fn scope_of(item: &Value) -> String {
    let id = item["id"].as_str().unwrap_or_default().to_ascii_lowercase();
    match id.rfind("/providers/microsoft.authorization/") {
        Some(i) => id[..i].to_string(),
        None => String::new(),
    }
}

/// `'value'` after `key` (case-insensitive key) in an OData filter.
fn quoted(filter: &str, key: &str) -> Option<String> {
    let at = filter.to_ascii_lowercase().find(key)? + key.len();
    let rest = filter[at..].trim_start().strip_prefix('\'')?;
    Some(rest[..rest.find('\'')?].to_string())
}

/// GET of the assignments (`full_type` PA) or exemptions (PE) collection at `id.scope`.
pub fn list(cx: &Cx, req: &Request, id: &ResId, full_type: &str, exemptions: bool) -> HResult {
    let skip = list_start(cx, id, req.query)?;
    if id.scope_is_resource() && !cx.st.exists(&id.scope) {
        return Err(ApiError::not_found(&id.scope));
    }
    let filter = req.param("$filter").unwrap_or("").trim();
    let f = filter.to_ascii_lowercase();
    let by = if exemptions {
        "policyassignmentid eq"
    } else {
        "policydefinitionid eq"
    };
    let one = quoted(filter, by);
    let known = f.is_empty()
        || f == "atscope()"
        || f == "atexactscope()"
        || (exemptions && f == "excludeexpired()")
        || one.is_some();
    if !known {
        return Err(ApiError::bad_request(
            "InvalidFilterInQueryString",
            format!("The $filter '{filter}' is not supported. Supported filters: atScope(), atExactScope(), {}.", if exemptions { "excludeExpired(), policyAssignmentId eq '{value}'" } else { "policyDefinitionId eq '{value}'" }),
        ));
    }
    let target = id.scope.to_ascii_lowercase();
    let target = target.trim_end_matches('/');
    let now = cx.timestamp();
    let field = if exemptions {
        "policyAssignmentId"
    } else {
        "policyDefinitionId"
    };
    let items: Vec<Value> = cx
        .st
        .of_type(full_type)
        .filter(|item| {
            let s = scope_of(item);
            let at = s == target;
            let above = target.starts_with(&format!("{s}/"));
            let below = s.starts_with(&format!("{target}/"));
            let place = match f.as_str() {
                "atscope()" => at || above,
                "atexactscope()" => at,
                _ => at || above || below,
            };
            let that = one.as_deref().is_none_or(|v| {
                item["properties"][field]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case(v))
            });
            let live = f != "excludeexpired()"
                || item["properties"]["expiresOn"]
                    .as_str()
                    .is_none_or(|e| e.get(..19).unwrap_or(e) > now.get(..19).unwrap_or(&now));
            place && that && live
        })
        .cloned()
        .collect();
    Ok(list_reply(cx, req.path, req.query, items, skip, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_name_their_value() {
        assert_eq!(
            quoted(
                "policyAssignmentId eq '/subscriptions/s/x'",
                "policyassignmentid eq"
            )
            .as_deref(),
            Some("/subscriptions/s/x")
        );
        assert_eq!(quoted("atScope()", "policyassignmentid eq"), None);
        assert_eq!(
            scope_of(
                &json!({"id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Authorization/policyExemptions/x"})
            ),
            "/subscriptions/s/resourcegroups/rg"
        );
    }
}
