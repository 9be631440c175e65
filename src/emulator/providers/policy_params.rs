//! Parameters of the built-in policy definitions the emulator knows ([`check`]): an assignment
//! may only give the parameters its definition declares (400 `UndefinedPolicyParameter`, the
//! message Azure sends: "The policy assignment '…' has the parameter(s) '…' which are not
//! defined in the policy definition '…'."), must give those without a default (400
//! `MissingPolicyParameter`; the code is ARM's, the wording here is not verified), and a value
//! outside `allowedValues` is refused (400 `InvalidPolicyParameterValue`).

use serde_json::Value;

use crate::emulator::error::ApiError;

/// A parameter of a built-in other than `effect`: its name, default (JSON text; `None` means
/// the assignment must give it) and `allowedValues` (empty: any).
pub struct Param {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub allowed: &'static [&'static str],
}

/// The parameters of 55d1f543 besides `effect`.
pub const DIAGNOSTICS_DINE: &[Param] = &[
    Param {
        name: "diagnosticSettingName",
        default: Some("\"setByPolicy-LogAnalytics\""),
        allowed: &[],
    },
    Param {
        name: "categoryGroup",
        default: Some("\"audit\""),
        allowed: &["audit", "allLogs"],
    },
    Param {
        name: "resourceLocationList",
        default: Some("[\"*\"]"),
        allowed: &[],
    },
    Param {
        name: "logAnalytics",
        default: None,
        allowed: &[],
    },
];

/// Validate the `parameters` of an assignment named `assignment` of built-in `definition`
/// (its `effect` values and other parameters) as Azure does.
pub fn check(
    assignment: &str,
    definition: &str,
    effects: &[&str],
    params: &[Param],
    given: Option<&Value>,
) -> Result<(), ApiError> {
    let given = given.and_then(Value::as_object);
    let value = |name: &str| given.and_then(|g| g.get(name)).map(|p| &p["value"]);
    let undefined: Vec<&str> = given
        .into_iter()
        .flat_map(|g| g.keys())
        .filter(|k| *k != "effect" && !params.iter().any(|p| p.name == k.as_str()))
        .map(String::as_str)
        .collect();
    if !undefined.is_empty() {
        return Err(ApiError::bad_request(
            "UndefinedPolicyParameter",
            format!("The policy assignment '{assignment}' has the parameter(s) '{}' which are not defined in the policy definition '{definition}'.", undefined.join(",")),
        ));
    }
    let allowed =
        std::iter::once(("effect", effects)).chain(params.iter().map(|p| (p.name, p.allowed)));
    for (name, values) in allowed.filter(|(_, v)| !v.is_empty()) {
        if let Some(v) = value(name) {
            let ok = v
                .as_str()
                .is_some_and(|s| values.iter().any(|a| a.eq_ignore_ascii_case(s)));
            if !ok {
                return Err(ApiError::bad_request(
                    "InvalidPolicyParameterValue",
                    format!("The policy parameter '{name}' value '{}' is not allowed. Allowed values: {}.", v.as_str().map_or(v.to_string(), str::to_string), values.join(", ")),
                ));
            }
        }
    }
    if let Some(p) = params
        .iter()
        .find(|p| p.default.is_none() && value(p.name).is_none_or(Value::is_null))
    {
        return Err(ApiError::bad_request(
            "MissingPolicyParameter",
            format!("The policy assignment '{assignment}' does not give a value for the parameter '{}' of the policy definition '{definition}', which has no default value.", p.name),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_checked_like_azure() {
        let def = "55d1f543-d1b0-4811-9663-d6d0dbc6326d";
        let effects = &["DeployIfNotExists", "AuditIfNotExists", "Disabled"];
        let ok = json!({"effect": {"value": "DeployIfNotExists"}, "logAnalytics": {"value": "/w"}});
        assert!(check("a", def, effects, DIAGNOSTICS_DINE, Some(&ok)).is_ok());
        let code = |given: Value| {
            check("a", def, effects, DIAGNOSTICS_DINE, Some(&given))
                .unwrap_err()
                .code
        };
        assert_eq!(
            code(json!({"effect": {"value": "Deny"}})),
            "InvalidPolicyParameterValue"
        );
        assert_eq!(
            code(json!({"effect": {"value": "DeployIfNotExists"}})),
            "MissingPolicyParameter"
        );
        assert_eq!(
            code(json!({"logAnalytics": {"value": "/w"}, "categoryGroup": {"value": "none"}})),
            "InvalidPolicyParameterValue"
        );
        assert_eq!(
            code(json!({"logAnalytics": {"value": "/w"}, "workspace": {"value": "/w"}})),
            "UndefinedPolicyParameter"
        );
    }
}
