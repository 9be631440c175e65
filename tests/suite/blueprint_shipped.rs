//! Every shipped blueprint (blueprints/, examples/) is valid, and the examples resolve to the
//! names other parts of moat (emulator seeds, demos) rely on.

use std::path::PathBuf;

use moat::blueprint::{self, resolved::Mode, Options};

fn today() -> Options {
    Options {
        today: time::macros::date!(2026 - 11 - 22),
        expired_exceptions_are_errors: true,
    }
}

fn shipped() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["blueprints", "examples"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_blueprint_validates() {
    let files = shipped();
    assert!(files.len() >= 5, "{files:?}");
    let mut out = Vec::new();
    let code = blueprint::validate_files_with(&files, &mut out, &today());
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{text}");
    for f in &files {
        assert!(text.contains(&format!("{}: ok", f.display())), "{text}");
    }
}

const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";

#[test]
fn quickstart_resolves_with_the_documented_defaults() {
    let report = blueprint::load_with(std::path::Path::new("examples/quickstart.yaml"), &today());
    let bp = report.blueprint.expect("valid");
    assert_eq!(bp.digest.len(), 64);
    assert_eq!(bp.instances.len(), 1);
    let i = &bp.instances[0];
    assert_eq!(i.account_id(), format!("/subscriptions/{SUB}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-openai-prod"));
    assert_eq!(
        (i.kind.as_str(), i.sku.as_str(), i.location.as_str()),
        ("OpenAI", "S0", "eastus")
    );
    assert_eq!(i.custom_subdomain.as_deref(), Some("contoso-openai-prod"));
    assert!(!i.create_if_missing);
    let c = &i.controls;
    let pe = &c.private_endpoint.as_ref().unwrap().spec;
    assert_eq!(pe.name, "contoso-openai-prod-pe");
    assert_eq!(pe.resource_group, "rg-ai-prod");
    assert_eq!(pe.vnet_id, format!("/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-prod"));
    assert_eq!(
        pe.subnet_id,
        format!("{}/subnets/snet-private-endpoints", pe.vnet_id)
    );
    assert_eq!(pe.subnet_network_policies.as_deref(), Some("Enabled"));
    let dns = &c.private_dns.as_ref().unwrap().spec;
    assert_eq!(
        (dns.subscription.as_str(), dns.resource_group.as_str()),
        (SUB, "rg-dns")
    );
    assert_eq!(dns.vnet_links, vec![pe.vnet_id.clone()]);
    // Expanded per VNet when planning (vnet-prod-link here).
    assert_eq!(dns.link_name, "{vnet}-link");
    assert!(dns.zones.is_empty());
    assert_eq!(c.dns_zone_group.as_ref().unwrap().spec.name, "default");
    let nsg = &c.nsg.as_ref().unwrap().spec;
    assert!(nsg
        .nsg_id
        .ends_with("/networkSecurityGroups/nsg-private-endpoints"));
    let rules: Vec<(&str, u16, &str, &str)> = nsg
        .rules
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.priority,
                r.access.as_str(),
                r.source_address_prefixes[0].as_str(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("Allow-App-Subnet", 100, "Allow", "10.10.1.0/24"),
            ("Allow-APIM-Subnet", 110, "Allow", "10.10.3.0/24"),
            ("Deny-All-Inbound", 4096, "Deny", "*")
        ]
    );
    for r in &nsg.rules {
        assert_eq!(r.destination_address_prefixes, ["10.10.2.0/24"]);
        assert_eq!(r.direction, "Inbound");
    }
    assert_eq!(nsg.rules[0].destination_port_ranges, ["443"]);
    assert_eq!(nsg.rules[0].protocol, "Tcp");
    let na = &c.network_access.as_ref().unwrap().spec;
    assert_eq!(
        (
            na.public_network_access.as_str(),
            na.default_action.as_str(),
            na.bypass.as_str()
        ),
        ("Disabled", "Deny", "None")
    );
    assert!(c.local_auth.as_ref().unwrap().spec.disabled);
    assert_eq!(c.identity.as_ref().unwrap().spec.r#type, "SystemAssigned");
    let ra = &c.role_assignments.as_ref().unwrap().spec.assignments;
    assert_eq!(ra.len(), 1);
    assert_eq!(
        ra[0].role_definition_guid,
        "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
    );
    assert_eq!(ra[0].role_name, "Cognitive Services OpenAI User");
    assert_eq!(ra[0].principal_type, "ServicePrincipal");
    let diag = &c.diagnostics.as_ref().unwrap().spec;
    assert_eq!(diag.name, "moat-security");
    assert!(diag.workspace_id.ends_with("/workspaces/law-security"));
    assert_eq!(
        diag.log_categories,
        [
            "Audit",
            "RequestResponse",
            "Trace",
            "AzureOpenAIRequestUsage"
        ]
    );
    assert_eq!(diag.metric_categories, ["AllMetrics"]);
    assert_eq!(diag.destination_type, None);
    let rai = &c.rai_policy.as_ref().unwrap().spec;
    assert_eq!(
        (
            rai.name.as_str(),
            rai.mode.as_str(),
            rai.base_policy_name.as_str()
        ),
        (
            "strict-production-filter",
            "Blocking",
            "Microsoft.DefaultV2"
        )
    );
    assert_eq!(rai.content_filters.len(), 13);
    assert!(rai.content_filters.iter().all(|f| f.enabled && f.blocking));
    let jb = rai
        .content_filters
        .iter()
        .find(|f| f.name == "Jailbreak")
        .unwrap();
    assert_eq!(
        (jb.source.as_str(), jb.severity_threshold.as_deref()),
        ("Prompt", None)
    );
    assert!(c.deployments.as_ref().unwrap().spec.bind_all_to_rai_policy);
    assert!(c.encryption.is_none());
    assert!(c.outbound.as_ref().unwrap().spec.restrict);
    assert!(c.private_endpoint.as_ref().map(|c| c.mode) == Some(Mode::Managed));
}

#[test]
fn greenfield_declares_what_a_new_account_needs() {
    let bp = blueprint::load_with(std::path::Path::new("examples/greenfield.yaml"), &today())
        .blueprint
        .unwrap();
    let i = &bp.instances[0];
    assert_eq!(
        (i.account_name.as_str(), i.resource_group.as_str()),
        ("contoso-openai-new", "rg-ai-new")
    );
    assert!(i.create_if_missing);
    assert_eq!(
        i.soft_delete,
        moat::blueprint::resolved::SoftDeleteAction::Block
    );
    assert_eq!(i.tags.get("cost-center").map(String::as_str), Some("4711"));
    let d = &i.controls.deployments.as_ref().unwrap().spec.declared;
    assert_eq!(d.len(), 2);
    assert_eq!(
        (
            d[0].name.as_str(),
            d[0].model_name.as_str(),
            d[0].model_version.as_deref(),
            d[0].sku_name.as_str(),
            d[0].capacity
        ),
        ("gpt-4o", "gpt-4o", Some("2024-08-06"), "GlobalStandard", 10)
    );
    assert_eq!(
        (
            d[1].name.as_str(),
            d[1].model_version.as_deref(),
            d[1].sku_name.as_str(),
            d[1].capacity
        ),
        ("text-embedding-3-large", Some("1"), "Standard", 20)
    );
    assert_eq!(d[1].model_format, "OpenAI");
}

#[test]
fn fleet_spans_two_subscriptions_and_merges_rules_by_name() {
    let bp = blueprint::load_with(std::path::Path::new("examples/fleet.yaml"), &today())
        .blueprint
        .unwrap();
    assert!(bp.instances.len() >= 3);
    let subs: std::collections::BTreeSet<&str> = bp
        .instances
        .iter()
        .map(|i| i.subscription.as_str())
        .collect();
    assert_eq!(subs.len(), 2);
    let ai = bp
        .instances
        .iter()
        .find(|i| i.name == "contoso-aiservices-prod")
        .unwrap();
    assert_eq!(ai.kind, "AIServices");
    let names: Vec<&str> = ai
        .controls
        .nsg
        .as_ref()
        .unwrap()
        .spec
        .rules
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    // It drops the APIM rule, but shares the NSG with contoso-openai-prod, which declares it: a
    // shared NSG gets every rule the blueprint declares on it.
    assert_eq!(
        names,
        ["Allow-App-Subnet", "Allow-APIM-Subnet", "Deny-All-Inbound"]
    );
    let rules_of = |name: &str| {
        bp.instances
            .iter()
            .find(|i| i.name == name)
            .unwrap()
            .controls
            .nsg
            .clone()
            .unwrap()
            .spec
            .rules
    };
    assert_eq!(
        rules_of("contoso-openai-weu"),
        rules_of("contoso-openai-weu-batch")
    );
    let weu = bp
        .instances
        .iter()
        .find(|i| i.name == "contoso-openai-weu")
        .unwrap();
    let enc = &weu.controls.encryption.as_ref().unwrap().spec;
    assert_eq!(enc.key_source, "Microsoft.KeyVault");
    assert_eq!(enc.key_name.as_deref(), Some("openai-cmk"));
    let weu_dns = &weu.controls.private_dns.as_ref().unwrap().spec;
    // `{vnet}` is expanded per VNet when planning: vnet-weu-link.
    assert_eq!(weu_dns.link_name, "{vnet}-link");
    assert!(weu_dns.vnet_links[0].ends_with("/virtualNetworks/vnet-weu"));
    assert_eq!(
        weu.controls.private_dns.as_ref().unwrap().spec.subscription,
        SUB
    );
    // Every instance shares the baseline's RAI policy and the defaults' three assignments.
    for i in &bp.instances {
        assert_eq!(
            i.controls.rai_policy.as_ref().unwrap().spec.name,
            "strict-production-filter"
        );
        assert_eq!(
            i.controls
                .role_assignments
                .as_ref()
                .unwrap()
                .spec
                .assignments
                .len(),
            3
        );
    }
}
