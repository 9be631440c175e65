//! The resource providers the emulator serves, one file each, all behind
//! [`Provider`](crate::emulator::provider::Provider). [`all`] is the one list of them: adding a
//! resource type is a new file here plus one line in that list.

pub mod activity_log;
pub mod authorization;
pub mod cognitive;
pub mod cognitive_connections;
pub mod cognitive_deployments;
pub mod defender;
pub mod insights;
pub mod insights_alerts;
pub mod key_vault;
pub mod key_vault_secrets;
pub mod network;
pub mod policy;
pub mod policy_deploy;
pub mod policy_insights;
pub mod policy_list;
pub mod policy_params;
pub mod private_dns;
pub mod private_endpoints;
pub mod resources;
pub mod shapes;
pub mod workspaces;

use crate::emulator::provider::Provider;

/// Every provider. Where two serve one namespace, the first answers api-versions for types
/// neither registers (Microsoft.Network: `network` before `private_dns`).
pub fn all() -> &'static [&'static dyn Provider] {
    &[
        &resources::Resources,
        &cognitive::Accounts,
        &cognitive_deployments::Deployments,
        &cognitive_connections::Connections,
        &defender::DefenderForAi,
        &network::Network,
        &private_endpoints::PrivateEndpoints,
        &private_dns::PrivateDns,
        &authorization::Authorization,
        &policy::Policy,
        &policy_insights::PolicyInsights,
        &insights::Insights,
        &insights_alerts::InsightsAlerts,
        &activity_log::ActivityLog,
        &workspaces::Workspaces,
        &key_vault::KeyVaults,
    ]
}

#[cfg(test)]
mod tests {
    use crate::emulator::ids::{normalize_location, parse, Route};
    use crate::emulator::provider::install;

    #[test]
    fn parses_child_and_extension_ids() {
        install(super::all());
        let Route::Provider(r) = parse(
            "/SUBSCRIPTIONS/s1/resourcegroups/RG/providers/microsoft.cognitiveservices/ACCOUNTS/Acc/deployments/d1",
        ) else {
            panic!("not a provider route")
        };
        assert!(r.is("Microsoft.CognitiveServices/accounts/deployments"));
        assert_eq!(
            r.display(),
            "/subscriptions/s1/resourceGroups/RG/providers/Microsoft.CognitiveServices/accounts/Acc/deployments/d1"
        );
        assert!(r
            .parent()
            .unwrap()
            .is("Microsoft.CognitiveServices/accounts"));

        let Route::Provider(ra) = parse(
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Authorization/roleAssignments/g",
        ) else {
            panic!()
        };
        assert!(ra.is("Microsoft.Authorization/roleAssignments"));
        assert!(ra.scope_is_resource());
        assert_eq!(ra.rg.as_deref(), Some("rg"));
    }

    #[test]
    fn parses_record_sets_lists_and_groups() {
        install(super::all());
        let Route::Provider(r) =
            parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/z.com/a/rec")
        else {
            panic!()
        };
        assert!(r.ty.is_some_and(|t| t.lowercase_name));
        assert_eq!(r.full_type, "Microsoft.Network/privateDnsZones/A");
        assert_eq!(
            parse("/subscriptions/s/resourcegroups"),
            Route::ResourceGroups { sub: "s".into() }
        );
        assert_eq!(
            parse("/subscriptions/s/resourcegroups/x"),
            Route::ResourceGroup {
                sub: "s".into(),
                rg: "x".into()
            }
        );
        assert_eq!(normalize_location("West US"), "westus");
    }
}
