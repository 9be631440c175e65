//! Hints: what the user can do about an [`ArmError`]. The most useful one turns ARM's
//! AuthorizationFailed message, which names the missing action, into the built-in role that
//! grants it.

use super::error::ArmError;

impl ArmError {
    /// A hint for the user, for the errors where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            ArmError::Credential(_) => {
                return Some(
                    "moat signs in with the first of: the environment (AZURE_TENANT_ID and \
                     AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE), a \
                     managed identity (App Service, or a VM's IMDS), the Azure CLI (run `az \
                     login`, with `az cloud set` for sovereign clouds); MOAT_ACCESS_TOKEN takes \
                     a ready bearer token"
                        .into(),
                )
            }
            ArmError::OperationTimeout { .. } => {
                return Some(
                    "the operation may still finish in Azure; run `moat plan` later to see \
                     where it stands"
                        .into(),
                )
            }
            ArmError::Transport { .. } => {
                return Some(
                    "check that the ARM endpoint is reachable from here (proxy settings: \
                     HTTPS_PROXY / NO_PROXY)"
                        .into(),
                )
            }
            _ => {}
        }
        if self.is_superseded() {
            return Some(
                "another operation on the same network resource superseded this one; re-run \
                 apply"
                    .into(),
            );
        }
        let code = self.code()?;
        let hint = match code {
            "AuthorizationFailed" | "LinkedAuthorizationFailed" => {
                let message = match self {
                    ArmError::Response { message, .. }
                    | ArmError::OperationFailed { message, .. } => message.as_str(),
                    _ => "",
                };
                return Some(authorization_hint(message));
            }
            "PrincipalNotFound" => {
                "the principal is new and has not replicated through Entra ID yet; set its \
                 `type` in the blueprint (e.g. ServicePrincipal) and re-run apply in a few minutes"
            }
            "RequestConflict"
            | "AnotherOperationInProgress"
            | "RetryableError"
            | "RetryableErrorDueToAnotherOperation" => {
                "another operation is running on this resource; re-run apply when it has finished"
            }
            "CustomDomainInUse" => {
                "the custom subdomain is taken, possibly by a soft-deleted account: purge it or \
                 choose another name"
            }
            "PreconditionFailed" => {
                "the live resource changed since the plan was made (someone else wrote it), \
                 so moat did not overwrite it; run `moat plan` again and review the new plan"
            }
            "SubscriptionRequestsThrottled" | "TooManyRequests" => {
                "ARM throttled the requests; lower --parallelism or retry later"
            }
            "InvalidAuthenticationToken" | "ExpiredAuthenticationToken" | "Unauthorized" => {
                "the access token was refused; run `az login` again or check MOAT_ACCESS_TOKEN \
                 (and that --cloud matches the token's cloud)"
            }
            _ => return None,
        };
        Some(hint.to_string())
    }
}

/// The text between the first `'` after `marker` and the next `'`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let open = rest.find('\'')? + 1;
    let len = rest[open..].find('\'')?;
    Some(&rest[open..open + len])
}

/// The action an AuthorizationFailed / LinkedAuthorizationFailed message says is missing, and the
/// scope it is missing on.
pub fn missing_permission(message: &str) -> Option<(String, Option<String>)> {
    // Linked: "...however, it does not have permission to perform action(s) 'X' on the linked
    // scope(s) 'Y'..."; plain: "...does not have authorization to perform action 'X' over
    // scope 'Y'...".
    let (action, scope) = if let Some(a) = quoted_after(message, "perform action(s)") {
        (a, quoted_after(message, "linked scope(s)"))
    } else {
        let after = message
            .find("does not have")
            .map(|i| &message[i..])
            .unwrap_or(message);
        (
            quoted_after(after, "perform action")?,
            quoted_after(after, "scope"),
        )
    };
    let action = action.split(',').next().unwrap_or(action).trim();
    Some((action.to_string(), scope.map(str::to_string)))
}

/// The least built-in role that grants `action`, for the hint.
pub fn role_for_action(action: &str) -> &'static str {
    let a = action.to_ascii_lowercase();
    if a.ends_with("/read") {
        "Reader"
    } else if a.starts_with("microsoft.authorization/roleassignments/") {
        "Role Based Access Control Administrator"
    } else if a.starts_with("microsoft.cognitiveservices/") {
        "Cognitive Services Contributor"
    } else if a.starts_with("microsoft.network/privatednszones/") {
        "Private DNS Zone Contributor"
    } else if a.starts_with("microsoft.network/") {
        "Network Contributor"
    } else if a.starts_with("microsoft.insights/") {
        "Monitoring Contributor"
    } else {
        "Contributor"
    }
}

fn authorization_hint(message: &str) -> String {
    match missing_permission(message) {
        Some((action, scope)) => {
            let on = scope.map(|s| format!(" on {s}")).unwrap_or_default();
            format!(
                "the identity moat runs as lacks the permission `{action}`{on}; the built-in \
                 role {} grants it (or use the custom role in docs/security.md). New role \
                 assignments take a few minutes to apply; sign in again afterwards",
                role_for_action(&action)
            )
        }
        None => "the identity moat runs as lacks a permission on this scope; `moat plan` needs \
                 Reader on the instances, `moat apply` the custom role in docs/security.md \
                 (or Cognitive Services Contributor + Network Contributor + Private DNS Zone \
                 Contributor + Role Based Access Control Administrator + Monitoring Contributor)"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::{ArmRequest, ArmResponse, Method};
    use serde_json::json;

    fn resp(status: u16, body: serde_json::Value) -> ArmResponse {
        ArmResponse {
            status,
            body: Some(body),
            ..Default::default()
        }
    }

    #[test]
    fn authorization_failed_hint_names_action_scope_and_role() {
        let msg = "The client 'me@x.com' with object id '0000' does not have authorization to \
                   perform action 'Microsoft.CognitiveServices/accounts/write' over scope \
                   '/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a' \
                   or the scope is invalid. If access was recently granted, please refresh your \
                   credentials.";
        let (action, scope) = missing_permission(msg).unwrap();
        assert_eq!(action, "Microsoft.CognitiveServices/accounts/write");
        assert!(scope.unwrap().ends_with("/accounts/a"));
        let req = ArmRequest::new(Method::Put, "/x", "v");
        let e = ArmError::from_response(
            &req,
            &resp(
                403,
                json!({"error": {"code": "AuthorizationFailed", "message": msg}}),
            ),
        );
        let hint = e.hint().unwrap();
        assert!(
            hint.contains("`Microsoft.CognitiveServices/accounts/write`"),
            "{hint}"
        );
        assert!(hint.contains("Cognitive Services Contributor"), "{hint}");
    }

    #[test]
    fn linked_authorization_failed_names_the_linked_action() {
        let msg = "The client 'c' with object id 'o' has permission to perform action \
                   'Microsoft.Network/privateEndpoints/write' on scope '/subscriptions/s/pe'; \
                   however, it does not have permission to perform action(s) \
                   'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked \
                   scope(s) '/subscriptions/s/vnet/subnets/x' (respectively) or the linked \
                   scope(s) are invalid.";
        let (action, scope) = missing_permission(msg).unwrap();
        assert_eq!(
            action,
            "Microsoft.Network/virtualNetworks/subnets/join/action"
        );
        assert_eq!(scope.as_deref(), Some("/subscriptions/s/vnet/subnets/x"));
        assert_eq!(role_for_action(&action), "Network Contributor");
    }

    #[test]
    fn roles_for_actions() {
        assert_eq!(
            role_for_action("Microsoft.Authorization/roleAssignments/write"),
            "Role Based Access Control Administrator"
        );
        assert_eq!(
            role_for_action("Microsoft.Network/privateDnsZones/A/write"),
            "Private DNS Zone Contributor"
        );
        assert_eq!(
            role_for_action("Microsoft.Insights/diagnosticSettings/write"),
            "Monitoring Contributor"
        );
        assert_eq!(
            role_for_action("Microsoft.CognitiveServices/accounts/read"),
            "Reader"
        );
        assert_eq!(role_for_action("Microsoft.Foo/bar/write"), "Contributor");
        assert!(missing_permission("nothing quoted here").is_none());
    }
}
