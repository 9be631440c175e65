//! Shared test fixtures: a strict resolved instance (the quickstart's names) and observed state
//! built from Microsoft's example responses in ../shared/arm-examples/.

pub mod e2e;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use moat::blueprint::resolved::*;
use moat::observe::{ObservedInstance, Read};
use moat::resources as res;
use serde_json::{json, Value};

pub const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";
pub const APP: &str = "9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34";
pub const USER: &str = "3c8d5e2f-1a4b-4c6d-8e9f-0a1b2c3d4e5f";
pub const OPENAI_USER: &str = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";

pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The first response body of a Microsoft example file.
pub fn example(name: &str) -> Value {
    example_in(&shared_dir().join("arm-examples"), name)
}

/// The first response body of an example file in `dir`.
pub fn example_in(dir: &Path, name: &str) -> Value {
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&text).expect("example is JSON");
    let responses = v["responses"].as_object().expect("responses");
    let mut codes: Vec<&String> = responses.keys().collect();
    codes.sort();
    responses[codes[0].as_str()]["body"].clone()
}

pub fn rg_id(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}")
}

pub fn subnet_id() -> String {
    format!(
        "{}/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/snet-private-endpoints",
        rg_id("rg-network")
    )
}

pub fn vnet_id() -> String {
    format!(
        "{}/providers/Microsoft.Network/virtualNetworks/vnet-prod",
        rg_id("rg-network")
    )
}

/// A second VNet next to vnet-prod (`vnet_id()` with another name).
pub fn hub_vnet_id() -> String {
    vnet_id().replace("vnet-prod", "vnet-hub")
}

/// examples/quickstart.yaml with `privateDns` linking vnet-prod and vnet-hub (and `linkName`
/// when given), loaded like a user's file.
pub fn two_vnet_quickstart(link_name: Option<&str>) -> moat::blueprint::resolved::Blueprint {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/quickstart.yaml")).unwrap();
    let dns = format!(
        "      privateDns:\n        vnetLinks: [\"{}\", \"{}\"]\n{}",
        vnet_id(),
        hub_vnet_id(),
        link_name.map_or(String::new(), |n| format!("        linkName: \"{n}\"\n"))
    );
    let text = text
        .replace("../blueprints/", &format!("{}/blueprints/", root.display()))
        .replace("    controls:\n", &format!("    controls:\n{dns}"));
    moat::blueprint::load_str("two-vnets.yaml", &text).unwrap_or_else(|d| panic!("{d}"))
}

pub fn nsg_id() -> String {
    format!(
        "{}/providers/Microsoft.Network/networkSecurityGroups/nsg-private-endpoints",
        rg_id("rg-network")
    )
}

pub fn workspace_id() -> String {
    format!(
        "{}/providers/Microsoft.OperationalInsights/workspaces/law-security",
        rg_id("rg-monitoring")
    )
}

fn rule(
    name: &str,
    priority: u16,
    access: &str,
    source: &str,
    protocol: &str,
    port: &str,
) -> NsgRule {
    NsgRule {
        name: name.into(),
        priority,
        direction: "Inbound".into(),
        access: access.into(),
        protocol: protocol.into(),
        source_address_prefixes: vec![source.into()],
        source_port_ranges: vec!["*".into()],
        destination_address_prefixes: vec!["10.10.2.0/24".into()],
        destination_port_ranges: vec![port.into()],
        description: None,
    }
}

pub fn strict_filters() -> Vec<ContentFilter> {
    let mut v = Vec::new();
    for name in ["Hate", "Sexual", "Violence", "Selfharm"] {
        for source in ["Prompt", "Completion"] {
            v.push(ContentFilter {
                name: name.into(),
                source: source.into(),
                enabled: true,
                blocking: true,
                severity_threshold: Some("Low".into()),
            });
        }
    }
    // As the strict baseline lists them: Microsoft's filters without severities, with the
    // sources Microsoft's PutRaiPolicy.json gives them.
    for (name, source) in [
        ("Jailbreak", "Prompt"),
        ("Indirect Attack", "Prompt"),
        ("Protected Material Text", "Completion"),
        ("Protected Material Code", "Completion"),
        ("Profanity", "Prompt"),
    ] {
        v.push(ContentFilter {
            name: name.into(),
            source: source.into(),
            enabled: true,
            blocking: true,
            severity_threshold: None,
        });
    }
    v
}

fn managed<T>(spec: T) -> Option<Control<T>> {
    Some(Control {
        mode: Mode::Managed,
        spec,
    })
}

/// The quickstart instance with every control of the strict baseline.
pub fn strict_instance() -> Instance {
    Instance {
        name: "quickstart".into(),
        subscription: SUB.into(),
        resource_group: "rg-ai-prod".into(),
        account_name: "contoso-openai-prod".into(),
        location: "eastus".into(),
        kind: "OpenAI".into(),
        sku: "S0".into(),
        custom_subdomain: Some("contoso-openai-prod".into()),
        tags: BTreeMap::new(),
        create_if_missing: false,
        soft_delete: SoftDeleteAction::Block,
        controls: Controls {
            private_endpoint: managed(PrivateEndpoint {
                name: "contoso-openai-prod-pe".into(),
                subscription: SUB.into(),
                resource_group: "rg-ai-prod".into(),
                location: "eastus".into(),
                subnet_id: subnet_id(),
                vnet_id: vnet_id(),
                subnet_network_policies: Some("Enabled".into()),
            }),
            private_dns: managed(PrivateDns {
                subscription: SUB.into(),
                resource_group: "rg-dns".into(),
                zones: Vec::new(),
                vnet_links: Vec::new(),
                link_name: "{vnet}-link".into(),
            }),
            dns_zone_group: managed(DnsZoneGroup {
                name: "default".into(),
            }),
            nsg: managed(Nsg {
                nsg_id: nsg_id(),
                rules: vec![
                    rule(
                        "Allow-App-Subnet",
                        100,
                        "Allow",
                        "10.10.1.0/24",
                        "Tcp",
                        "443",
                    ),
                    rule(
                        "Allow-APIM-Subnet",
                        110,
                        "Allow",
                        "10.10.3.0/24",
                        "Tcp",
                        "443",
                    ),
                    rule("Deny-All-Inbound", 4096, "Deny", "*", "*", "*"),
                ],
                remove_undeclared_rules: false,
            }),
            network_access: managed(NetworkAccess {
                public_network_access: "Disabled".into(),
                default_action: "Deny".into(),
                bypass: "None".into(),
                ip_rules: Vec::new(),
                virtual_network_rules: Vec::new(),
            }),
            outbound: managed(Outbound {
                restrict: true,
                allowed_fqdns: vec!["contoso.com".into()],
            }),
            local_auth: managed(LocalAuth { disabled: true }),
            identity: managed(Identity {
                r#type: "SystemAssigned".into(),
                user_assigned: Vec::new(),
            }),
            role_assignments: managed(RoleAssignments {
                assignments: vec![RoleAssignment {
                    principal_id: APP.into(),
                    principal_type: "ServicePrincipal".into(),
                    role_definition_guid: OPENAI_USER.into(),
                    role_name: "Cognitive Services OpenAI User".into(),
                    description: None,
                }],
                remove_undeclared_privileged: false,
            }),
            encryption: None,
            diagnostics: managed(Diagnostics {
                name: "moat-security".into(),
                workspace_id: workspace_id(),
                log_categories: vec![
                    "Audit".into(),
                    "RequestResponse".into(),
                    "Trace".into(),
                    "AzureOpenAIRequestUsage".into(),
                ],
                log_category_groups: Vec::new(),
                metric_categories: vec!["AllMetrics".into()],
                destination_type: None,
            }),
            rai_policy: managed(RaiPolicy {
                name: "strict-production-filter".into(),
                mode: "Blocking".into(),
                base_policy_name: "Microsoft.DefaultV2".into(),
                content_filters: strict_filters(),
                remove_undeclared_filters: false,
            }),
            deployments: managed(Deployments {
                bind_all_to_rai_policy: true,
                declared: Vec::new(),
            }),
            // As the strict baseline declares it (D2).
            generic: BTreeMap::from([(
                "defenderForAI",
                Control {
                    mode: Mode::Managed,
                    spec: json!({"state": "Enabled"}),
                },
            )]),
        },
        exceptions: Vec::new(),
        guardrails: Vec::new(),
        key_rotation: None,
    }
}

pub fn blueprint(instances: Vec<Instance>) -> Blueprint {
    Blueprint {
        source: "test.yaml".into(),
        digest: "sha256:test".into(),
        instances,
        acknowledged: Vec::new(),
    }
}

/// Live state of the quickstart instance fully hardened, each body taken from Microsoft's example
/// response for its type (so every server-added field Microsoft shows is present) with the
/// identifying and managed fields set.
pub fn hardened_observed(inst: &Instance) -> ObservedInstance {
    let acct_id = inst.account_id();
    let mut account = example("Microsoft.CognitiveServices__GetAccount.json");
    account["id"] = acct_id.clone().into();
    account["name"] = inst.account_name.clone().into();
    account["kind"] = "OpenAI".into();
    account["location"] = "eastus".into();
    account["identity"] = json!({"type": "SystemAssigned", "principalId": "11111111-2222-3333-4444-555555555555", "tenantId": "22222222-2222-3333-4444-555555555555"});
    let p = &mut account["properties"];
    p["customSubDomainName"] = inst.custom_subdomain.clone().unwrap_or_default().into();
    p["publicNetworkAccess"] = "Disabled".into();
    p["disableLocalAuth"] = true.into();
    p["restrictOutboundNetworkAccess"] = true.into();
    p["allowedFqdnList"] = json!(inst
        .controls
        .outbound
        .as_ref()
        .map(|o| o.spec.allowed_fqdns.clone())
        .unwrap_or_default());
    p["networkAcls"] = json!({"defaultAction": "Deny", "bypass": "None", "ipRules": [], "virtualNetworkRules": []});

    let mut deployment = example("Microsoft.CognitiveServices__GetDeployment.json");
    deployment["id"] = format!("{acct_id}/deployments/gpt-4o").into();
    deployment["name"] = "gpt-4o".into();
    deployment["properties"]["raiPolicyName"] = inst
        .controls
        .rai_policy
        .as_ref()
        .unwrap()
        .spec
        .name
        .clone()
        .into();

    let rai_spec = &inst.controls.rai_policy.as_ref().unwrap().spec;
    let mut rai = example("Microsoft.CognitiveServices__PutRaiPolicy.json");
    rai["id"] = format!("{acct_id}/raiPolicies/{}", rai_spec.name).into();
    rai["name"] = rai_spec.name.clone().into();
    rai["properties"]["mode"] = rai_spec.mode.clone().into();
    rai["properties"]["basePolicyName"] = rai_spec.base_policy_name.clone().into();
    rai["properties"]["contentFilters"] = serde_json::to_value(
        rai_spec
            .content_filters
            .iter()
            .map(|f| {
                let mut v =
                    json!({"name": f.name, "source": f.source, "enabled": true, "blocking": true});
                if let Some(s) = &f.severity_threshold {
                    v["severityThreshold"] = s.clone().into();
                }
                v
            })
            .collect::<Vec<_>>(),
    )
    .unwrap();

    let pe_spec = &inst.controls.private_endpoint.as_ref().unwrap().spec;
    let pe_id = moat::resources::private_endpoint::id(pe_spec);
    let mut pe = example("Microsoft.Network__PrivateEndpointCreate.json");
    pe["id"] = pe_id.clone().into();
    pe["name"] = pe_spec.name.clone().into();
    pe["properties"]["subnet"]["id"] = subnet_id().into();
    pe["properties"]["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"] =
        acct_id.clone().into();
    pe["properties"]["privateLinkServiceConnections"][0]["properties"]["groupIds"] =
        json!(["account"]);

    let zone_name = "privatelink.openai.azure.com";
    let dns = &inst.controls.private_dns.as_ref().unwrap().spec;
    let zone_id = moat::resources::private_dns_zone::id(dns, zone_name);
    let mut zone = example("Microsoft.Network__PrivateZoneGet.json");
    zone["id"] = zone_id.clone().into();
    zone["name"] = zone_name.into();
    let link = json!({
        "id": format!("{zone_id}/virtualNetworkLinks/vnet-prod-link"),
        "name": "vnet-prod-link",
        "type": "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        "etag": "\"00000000-0000-0000-0000-000000000000\"",
        "location": "global",
        "properties": {"virtualNetwork": {"id": vnet_id()}, "registrationEnabled": false,
                        "virtualNetworkLinkState": "Completed", "provisioningState": "Succeeded"}
    });
    let group = json!({
        "id": format!("{pe_id}/privateDnsZoneGroups/default"),
        "name": "default",
        "etag": "W/\"00000000-0000-0000-0000-000000000000\"",
        "properties": {"provisioningState": "Succeeded", "privateDnsZoneConfigs": [{
            "name": "privatelink-openai-azure-com",
            "properties": {"privateDnsZoneId": zone_id, "recordSets": [{"recordType": "A", "recordSetName": "contoso-openai-prod",
                "fqdn": "contoso-openai-prod.privatelink.openai.azure.com", "ttl": 10, "ipAddresses": ["10.10.2.4"], "provisioningState": "Succeeded"}]}
        }]}
    });

    let mut subnet = example("Microsoft.Network__SubnetGet.json");
    subnet["id"] = subnet_id().into();
    subnet["properties"]["privateEndpointNetworkPolicies"] = "Enabled".into();
    subnet["properties"]["networkSecurityGroup"] = json!({"id": nsg_id()});

    let rule_tpl = example("Microsoft.Network__NetworkSecurityGroupRuleCreate.json");
    let nsg_spec = &inst.controls.nsg.as_ref().unwrap().spec;
    let rules: Vec<Value> = nsg_spec
        .rules
        .iter()
        .map(|r| {
            let mut v = rule_tpl.clone();
            v["id"] = format!("{}/securityRules/{}", nsg_id(), r.name).into();
            v["name"] = r.name.clone().into();
            let p = &mut v["properties"];
            p["access"] = r.access.clone().into();
            p["direction"] = r.direction.clone().into();
            p["priority"] = r.priority.into();
            p["protocol"] = r.protocol.clone().into();
            p["sourceAddressPrefix"] = r.source_address_prefixes[0].clone().into();
            p["sourcePortRange"] = r.source_port_ranges[0].clone().into();
            p["destinationAddressPrefix"] = r.destination_address_prefixes[0].clone().into();
            p["destinationPortRange"] = r.destination_port_ranges[0].clone().into();
            p["description"] = match &r.description {
                Some(d) => format!("{d} {}", moat::resources::OWNER_MARKER),
                None => moat::resources::OWNER_MARKER.to_string(),
            }
            .into();
            v
        })
        .collect();
    let nsg = json!({"id": nsg_id(), "name": "nsg-private-endpoints", "location": "eastus",
        "etag": "W/\"00000000-0000-0000-0000-000000000001\"",
        "properties": {"provisioningState": "Succeeded", "securityRules": rules, "defaultSecurityRules": []}});

    let ra_tpl = example("Microsoft.Authorization__RoleAssignments_CreateForResource.json");
    let assignments: Vec<Value> = inst
        .controls
        .role_assignments
        .as_ref()
        .map(|r| r.spec.assignments.clone())
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let mut ra = ra_tpl.clone();
            let name = moat::resources::role_assignment::assignment_name(
                &acct_id,
                &a.role_definition_guid,
                &a.principal_id,
            );
            ra["id"] = moat::resources::role_assignment::id(&acct_id, &name).into();
            ra["name"] = name.into();
            ra["properties"]["roleDefinitionId"] = format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{}",
                a.role_definition_guid
            )
            .into();
            ra["properties"]["principalId"] = a.principal_id.clone().into();
            ra["properties"]["principalType"] = a.principal_type.clone().into();
            ra["properties"]["scope"] = acct_id.clone().into();
            ra
        })
        .collect();

    let diag_spec = &inst.controls.diagnostics.as_ref().unwrap().spec;
    let mut diag = example("Microsoft.Insights__createOrUpdateDiagnosticSettingCategory.json");
    diag["id"] = format!(
        "{}/providers/microsoft.insights/diagnosticSettings/{}",
        acct_id.to_lowercase(),
        diag_spec.name
    )
    .into();
    diag["name"] = diag_spec.name.clone().into();
    let d = diag["properties"].as_object_mut().unwrap();
    d.remove("storageAccountId");
    d.remove("eventHubAuthorizationRuleId");
    d.remove("eventHubName");
    d.remove("marketplacePartnerId");
    d.remove("logAnalyticsDestinationType");
    d.insert(
        "workspaceId".into(),
        diag_spec.workspace_id.to_lowercase().into(),
    );
    d.insert(
        "logs".into(),
        json!(diag_spec
            .log_categories
            .iter()
            .map(|c| json!({"category": c, "enabled": true, "retentionPolicy": {"enabled": false, "days": 0}}))
            .collect::<Vec<_>>()),
    );
    d.insert(
        "metrics".into(),
        json!(diag_spec
            .metric_categories
            .iter()
            .map(|c| json!({"category": c, "enabled": true, "retentionPolicy": {"enabled": false, "days": 0}}))
            .collect::<Vec<_>>()),
    );

    let dns = &inst.controls.private_dns.as_ref().unwrap().spec;
    let zone_id = moat::resources::private_dns_zone::id(dns, zone_name);
    let mut obs = ObservedInstance {
        name: inst.name.clone(),
        ..Default::default()
    };
    let r = &mut obs.reads;
    r.insert(&res::account::read(inst), Some(account));
    if let Some(plr) = res::private_dns_zone::link_resources_read(inst) {
        r.insert(
            &plr,
            Some(json!({"value": [{"properties": {"groupId": "account", "requiredZoneNames": [zone_name]}}]})),
        );
    }
    r.insert(
        &res::deployment::read(inst).unwrap(),
        Some(json!([deployment])),
    );
    r.insert(&res::rai_policy::read(inst).unwrap(), Some(rai));
    r.insert(&res::private_endpoint::read(inst).unwrap(), Some(pe));
    r.insert(&res::dns_zone_group::read(inst).unwrap(), Some(group));
    r.insert(&res::security_rule::read(inst).unwrap(), Some(nsg));
    r.insert(&res::subnet::read(inst).unwrap(), Some(subnet));
    r.insert(
        &res::role_assignment::read(inst).unwrap(),
        Some(Value::Array(assignments)),
    );
    r.insert(
        &res::diagnostic_setting::read(inst).unwrap(),
        Some(json!([diag])),
    );
    r.insert(
        &Read::get(zone_id.clone(), res::private_dns_zone::API_VERSION),
        Some(zone),
    );
    r.insert(&res::vnet_link::links_read(&zone_id), Some(json!([link])));
    // Newer than ../shared/arm-examples: Microsoft's example is in the repository's copies.
    let mut defender = example_in(
        Path::new("tests/emulator_arm_examples"),
        "Microsoft.CognitiveServices__PutDefenderForAISetting.json",
    );
    defender["id"] = format!("{acct_id}/defenderForAISettings/Default").into();
    r.insert(&defender_read(inst), Some(defender));
    obs
}

/// The Defender for AI setting of the instance's account.
pub fn defender_read(inst: &Instance) -> Read {
    Read::get(
        format!("{}/defenderForAISettings/Default", inst.account_id()),
        res::defender_for_ai::API_VERSION,
    )
}

/// The observed body a kind's read returned, to change in place.
pub fn live(obs: &mut ObservedInstance, read: Option<Read>) -> &mut Value {
    obs.reads
        .value_mut(&read.expect("the blueprint declares the control"))
        .expect("observed")
}

/// Set what a read returned (`None`: absent).
pub fn set_live(obs: &mut ObservedInstance, read: Option<Read>, v: Option<Value>) {
    obs.reads
        .insert(&read.expect("the blueprint declares the control"), v);
}

/// The quickstart's brownfield state: public, key auth on, nothing private, a user with
/// Contributor, a deployment on the default filter.
pub fn brownfield_observed(inst: &Instance) -> ObservedInstance {
    let mut obs = hardened_observed(inst);
    let account = live(&mut obs, Some(res::account::read(inst)));
    let p = &mut account["properties"];
    p["publicNetworkAccess"] = "Enabled".into();
    p["disableLocalAuth"] = false.into();
    p["networkAcls"] = json!({"defaultAction": "Allow", "ipRules": [], "virtualNetworkRules": []});
    p.as_object_mut()
        .unwrap()
        .remove("restrictOutboundNetworkAccess");
    p.as_object_mut().unwrap().remove("allowedFqdnList");
    account.as_object_mut().unwrap().remove("identity");
    live(&mut obs, res::deployment::read(inst))[0]["properties"]["raiPolicyName"] =
        "Microsoft.DefaultV2".into();
    set_live(&mut obs, res::rai_policy::read(inst), None);
    set_live(&mut obs, res::private_endpoint::read(inst), None);
    set_live(&mut obs, res::dns_zone_group::read(inst), None);
    for (_, zone) in res::private_dns_zone::zone_reads(inst, &obs.reads.clone()) {
        obs.reads.insert(&zone, None);
        obs.reads
            .insert(&res::vnet_link::links_read(&zone.path), Some(json!([])));
    }
    live(&mut obs, res::security_rule::read(inst))["properties"]["securityRules"] = json!([]);
    live(&mut obs, res::subnet::read(inst))["properties"]["privateEndpointNetworkPolicies"] =
        "Disabled".into();
    let acct_id = inst.account_id();
    set_live(
        &mut obs,
        res::role_assignment::read(inst),
        Some(json!([{
            "id": format!("{acct_id}/providers/Microsoft.Authorization/roleAssignments/0f6c7a3e-3a0e-4d8b-9a6b-6c0a1f2e3d4c"),
            "name": "0f6c7a3e-3a0e-4d8b-9a6b-6c0a1f2e3d4c",
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {"roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}"),
                "principalId": USER, "principalType": "User", "scope": acct_id}
        }])),
    );
    set_live(
        &mut obs,
        res::diagnostic_setting::read(inst),
        Some(json!([])),
    );
    obs
}
