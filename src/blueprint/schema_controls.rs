//! The shapes of the controls (the `controls:` mapping of an instance) and the exceptions that
//! allow weakening them; see schema.rs.

use serde::{Deserialize, Serialize};

use super::formats::{ArmKind, Fmt, NameKind};
use super::names::{MAX_NSG_DESCRIPTION_CHARS, MAX_ROLE_DESCRIPTION_CHARS};
use super::schema_alerts::ALERTS;
use super::shape::{f, Obj, Ty, BOOL, GUID, MODE, MODE_DOC, TEXT};

/// Declares [`ExceptionKind`] from one line per kind, so the variant, its name in blueprints
/// (`allows:`), its serde name and the schema's enum values cannot disagree.
macro_rules! exception_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What an exception allows: one kind of weakening of the strict baseline.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum ExceptionKind {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl ExceptionKind {
            /// Every kind, in the order of the schema's enum values.
            pub const ALL: &'static [ExceptionKind] = &[$(ExceptionKind::$variant,)*];
            /// Their names as written in `allows:`, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($name,)*];

            /// The name written in `allows:` (kebab-case).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ExceptionKind::$variant => $name,)*
                }
            }
        }
    };
}

exception_kinds! {
    /// N5: public network access, an `Allow` firewall default, an IP rule for every address.
    PublicNetworkAccess = "public-network-access",
    /// N5: `bypass: AzureServices`.
    NetworkBypass = "network-bypass",
    /// N4: an inbound Allow rule from anywhere.
    NsgOpenInbound = "nsg-open-inbound",
    /// N6: `outbound.restrict: false`.
    OutboundUnrestricted = "outbound-unrestricted",
    /// I1: API keys stay enabled.
    LocalAuth = "local-auth",
    /// I3: `identity.type: None`.
    NoManagedIdentity = "no-managed-identity",
    /// I4: a privileged role (narrowed to one principal by `principalId`).
    PrivilegedRole = "privileged-role",
    /// M1: a diagnostic setting without the Audit log.
    ReducedLogging = "reduced-logging",
    /// C1, C2: a content filter weaker than the baseline, or deployments left unbound.
    ContentFilter = "content-filter",
    /// `softDelete: purge`.
    SoftDeletePurge = "soft-delete-purge",
    /// Lets apply delete a conflicting diagnostic setting (used by the planner only).
    DeleteDiagnosticSetting = "delete-diagnostic-setting",
    /// D2: Defender for AI off.
    DefenderForAiDisabled = "defender-for-ai-disabled",
    /// M2: an alert rule of the strict baseline turned off (`alerts.<rule>.enabled: false`).
    AlertDisabled = "alert-disabled",
}

impl ExceptionKind {
    /// The kind named `name` (as written in `allows:`).
    pub fn from_name(name: &str) -> Option<ExceptionKind> {
        ExceptionKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for ExceptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A control that needs no code of its own in the loader: declaring it here (its `Obj`, its
/// field in [`CONTROLS`], an entry in [`GENERIC_CONTROLS`]) is enough. It resolves to
/// `resolved::Controls::generic[key]`: its fields as JSON, keys as in YAML, with the table's
/// defaults for the fields not written (so every default must be a literal YAML value), and
/// `mode` taken out into `Control::mode`. Profiles, defaults and `~` apply as to any control.
#[derive(Debug)]
pub struct GenericControl {
    /// Its key in `controls:`; the field of [`CONTROLS`] with that name gives its `Obj`.
    pub key: &'static str,
    /// Values weaker than the strict baseline, each refused unless its exception is given.
    pub weak_when: &'static [Weakening],
    /// Pairs of fields that may not both be given (after profiles and defaults are merged): a
    /// located error at the second, rather than one of them silently winning.
    pub exclusive: &'static [(&'static str, &'static str)],
    /// Pairs of ISO 8601 duration fields (dotted paths) where the first may not be longer than
    /// the second (an alert's evaluation frequency and its window): a located error.
    pub not_longer: &'static [(&'static str, &'static str)],
}

/// `field: value` weakens the baseline; allowed only by an exception of kind `allows`.
#[derive(Debug)]
pub struct Weakening {
    pub field: &'static str,
    /// The weak value as YAML writes it (`Disabled`, `false`).
    pub value: &'static str,
    pub allows: ExceptionKind,
    /// The finding, e.g. "Defender for AI is off".
    pub message: &'static str,
}

/// The controls resolved from this table alone.
pub static GENERIC_CONTROLS: &[GenericControl] = &[
    GenericControl {
        key: "defenderForAI",
        weak_when: &[Weakening {
            field: "state",
            value: "Disabled",
            allows: ExceptionKind::DefenderForAiDisabled,
            message: "Defender for AI threat protection is off (`state: Disabled`)",
        }],
        exclusive: &[],
        not_longer: &[],
    },
    GenericControl {
        key: "alerts",
        weak_when: &[
            Weakening {
                field: "keyAccess.enabled",
                value: "false",
                allows: ExceptionKind::AlertDisabled,
                message: "the alert on reading or regenerating the account's API keys is off (`keyAccess.enabled: false`)",
            },
            Weakening {
                field: "configChange.enabled",
                value: "false",
                allows: ExceptionKind::AlertDisabled,
                message: "the alert on deployment, RAI policy and account changes is off (`configChange.enabled: false`)",
            },
            Weakening {
                field: "contentFilter.enabled",
                value: "false",
                allows: ExceptionKind::AlertDisabled,
                message: "the alert on content-filter rejections is off (`contentFilter.enabled: false`)",
            },
            Weakening {
                field: "tokenUsage.enabled",
                value: "false",
                allows: ExceptionKind::AlertDisabled,
                message: "the alert on unusual token consumption is off (`tokenUsage.enabled: false`)",
            },
            Weakening {
                field: "newCallerPrefix.enabled",
                value: "false",
                allows: ExceptionKind::AlertDisabled,
                message: "the alert on calls from a new network is off (`newCallerPrefix.enabled: false`)",
            },
        ],
        exclusive: &[("actionGroup", "actionGroupId")],
        not_longer: &[
            ("contentFilter.frequency", "contentFilter.window"),
            ("tokenUsage.frequency", "tokenUsage.window"),
        ],
    },
];

pub const LOG_CATEGORIES: &[&str] = &[
    "Audit",
    "RequestResponse",
    "Trace",
    "AzureOpenAIRequestUsage",
];
pub const HARM_FILTERS: &[&str] = &["Hate", "Sexual", "Violence", "Selfharm"];
pub const FILTER_NAMES: &[&str] = &[
    "Hate",
    "Sexual",
    "Violence",
    "Selfharm",
    "Jailbreak",
    "Indirect Attack",
    "Protected Material Text",
    "Protected Material Code",
    "Profanity",
];

pub static PRIVATE_ENDPOINT: Obj = Obj {
    title: "privateEndpoint",
    doc: "N1: a private endpoint for the account (group `account`) in `existing.endpointSubnet`.",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("name", &Ty::Str(Fmt::Name(NameKind::PrivateEndpoint)), "Name of the private endpoint.").def("{accountName}-pe").arm("Microsoft.Network/privateEndpoints name"),
        f("resourceGroup", &Ty::Str(Fmt::ResourceGroup), "Resource group of the endpoint (in the instance's subscription).").def("the instance's resourceGroup"),
        f("location", &Ty::Str(Fmt::Location), "Region of the endpoint; must be the VNet's region.").def("the instance's location").arm("privateEndpoints location"),
        f("subnetNetworkPolicies", &Ty::Enum { what: "subnet network policy", values: &["Enabled", "Disabled", "NetworkSecurityGroupEnabled", "RouteTableEnabled"] },
          "Set the endpoint subnet's network policies so NSG rules (N4) apply to the endpoint; unset leaves the subnet alone.")
            .arm("subnets properties.privateEndpointNetworkPolicies"),
    ],
};

pub static PRIVATE_DNS: Obj = Obj {
    title: "privateDns",
    doc: "N2: privatelink DNS zones in `existing.dnsZones`, linked to the VNet(s).",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("zones", &Ty::List(&Ty::Str(Fmt::DnsZone)), "Zone names. Empty: the account's `privateLinkResources` `requiredZoneNames`, else the zones for its kind (OpenAI: privatelink.openai.azure.com; AIServices adds privatelink.cognitiveservices.azure.com and privatelink.services.ai.azure.com).")
            .def("[] (ask Azure)").arm("Microsoft.Network/privateDnsZones"),
        f("vnetLinks", &Ty::List(&Ty::Str(Fmt::ArmId(ArmKind::Vnet))), "VNets every zone is linked to (full ids).")
            .def("[the endpoint subnet's VNet]").arm("privateDnsZones/virtualNetworkLinks properties.virtualNetwork.id"),
        f("linkName", &Ty::Str(Fmt::LinkName), "Name of the link resource in each zone; `{vnet}` stands for the VNet's name (quote it in YAML), and is required when `vnetLinks` lists two or more VNets.").def("{vnet}-link").arm("virtualNetworkLinks name"),
    ],
};

pub static DNS_ZONE_GROUP: Obj = Obj {
    title: "dnsZoneGroup",
    doc: "N3: the DNS zone group on the private endpoint, which keeps the A records in the zones. Use `mode: verify` when Azure Policy deploys it.",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("name", &Ty::Str(Fmt::Name(NameKind::ZoneGroup)), "Name of the zone group.").def("default").arm("privateEndpoints/privateDnsZoneGroups name"),
    ],
};

pub static NSG_RULE: Obj = Obj {
    title: "NSG rule",
    doc: "One security rule, keyed by its name.",
    nullable: false,
    fields: &[
        f("priority", &Ty::Int { min: 100, max: 4096 }, "Rule priority, 100-4096, unique per direction.").req().arm("securityRules properties.priority"),
        f("direction", &Ty::Enum { what: "direction", values: &["Inbound", "Outbound"] }, "Traffic direction.").def("Inbound").arm("properties.direction"),
        f("access", &Ty::Enum { what: "access", values: &["Allow", "Deny"] }, "Allow or deny.").req().arm("properties.access"),
        f("protocol", &Ty::Enum { what: "protocol", values: &["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"] }, "Protocol.").def("*").arm("properties.protocol"),
        f("source", &Ty::OneOrMany(&Ty::Str(Fmt::AddressPrefix)), "Source CIDR(s), IP(s) or service tag(s) (`VirtualNetwork`, `AzureLoadBalancer`, `Internet`, `*`).").req().arm("properties.sourceAddressPrefixes"),
        f("sourcePorts", &Ty::OneOrMany(&Ty::Str(Fmt::PortRange)), "Source port(s) or range(s).").def("*").arm("properties.sourcePortRanges"),
        f("destination", &Ty::OneOrMany(&Ty::Str(Fmt::AddressPrefix)), "Destination CIDR(s), IP(s) or service tag(s).").def("existing.endpointSubnetPrefix").arm("properties.destinationAddressPrefixes"),
        f("ports", &Ty::OneOrMany(&Ty::Str(Fmt::PortRange)), "Destination port(s) or range(s).").def("*").arm("properties.destinationPortRanges"),
        f("description", &Ty::Str(Fmt::Description(MAX_NSG_DESCRIPTION_CHARS)), "Free text shown in the portal (at most 122 characters: ARM's 140 less moat's ownership marker).").arm("properties.description"),
    ],
};

pub static NSG: Obj = Obj {
    title: "nsg",
    doc: "N4: security rules on the NSG of the endpoint subnet (`existing.nsg`).",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("rules", &Ty::Map { key: Fmt::Name(NameKind::NsgRule), what: "rule", value: &Ty::Obj(&NSG_RULE) }, "Rules by name. Rules merge by name across profile, defaults and instance.")
            .def("{}").arm("networkSecurityGroups/securityRules"),
        f("removeUndeclaredRules", &BOOL, "Also delete rules on the NSG that the blueprint does not declare on it (otherwise only rules moat created are removed). Holds for every instance that uses the NSG.").def("false"),
    ],
};

pub static NETWORK_ACCESS: Obj = Obj {
    title: "networkAccess",
    doc: "N5: the account's public network access and firewall.",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("publicNetworkAccess", &Ty::Enum { what: "public network access", values: &["Enabled", "Disabled"] }, "`Enabled` needs the `public-network-access` exception.")
            .def("Disabled").arm("properties.publicNetworkAccess"),
        f("defaultAction", &Ty::Enum { what: "default action", values: &["Allow", "Deny"] }, "Firewall default; `Allow` needs the `public-network-access` exception.")
            .def("Deny").arm("properties.networkAcls.defaultAction"),
        f("bypass", &Ty::Enum { what: "bypass", values: &["None", "AzureServices"] }, "Trusted Azure services bypass; must be written explicitly. `AzureServices` needs the `network-bypass` exception.")
            .req().arm("properties.networkAcls.bypass"),
        f("ipRules", &Ty::List(&Ty::Str(Fmt::IpOrCidr)), "IP addresses or CIDR ranges allowed through the firewall.").def("[]").arm("properties.networkAcls.ipRules[].value"),
        f("virtualNetworkRules", &Ty::List(&Ty::Str(Fmt::ArmId(ArmKind::Subnet))), "Subnet ids allowed through the firewall (service endpoints).").def("[]").arm("properties.networkAcls.virtualNetworkRules[].id"),
    ],
};

pub static OUTBOUND: Obj = Obj {
    title: "outbound",
    doc: "N6: outbound restriction (data-loss prevention).",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("restrict", &BOOL, "Restrict outbound access to `allowedFqdns`; `false` needs the `outbound-unrestricted` exception.").def("true").arm("properties.restrictOutboundNetworkAccess"),
        f("allowedFqdns", &Ty::List(&Ty::Str(Fmt::Fqdn)), "Destinations the account may reach.").def("[]").arm("properties.allowedFqdnList"),
    ],
};

pub static LOCAL_AUTH: Obj = Obj {
    title: "localAuth",
    doc: "I1: key (local) authentication.",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f(
            "disabled",
            &BOOL,
            "Disable API keys; `false` needs the `local-auth` exception.",
        )
        .def("true")
        .arm("properties.disableLocalAuth"),
    ],
};

pub static IDENTITY: Obj = Obj {
    title: "identity",
    doc: "I3: the account's managed identity (needed for customer-managed keys).",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f(
            "type",
            &Ty::Enum {
                what: "identity type",
                values: &[
                    "SystemAssigned",
                    "UserAssigned",
                    "SystemAssigned, UserAssigned",
                    "None",
                ],
            },
            "Identity type; `None` needs the `no-managed-identity` exception.",
        )
        .def("SystemAssigned")
        .arm("identity.type"),
        f(
            "userAssigned",
            &Ty::List(&Ty::Str(Fmt::ArmId(ArmKind::UserIdentity))),
            "User-assigned identity ids (required for the UserAssigned types).",
        )
        .def("[]")
        .arm("identity.userAssignedIdentities"),
    ],
};

pub static ROLE_ASSIGNMENT: Obj = Obj {
    title: "role assignment",
    doc: "One principal holding one role at the account scope.",
    nullable: false,
    fields: &[
        f(
            "principalId",
            &GUID,
            "Entra object id of the user, group or service principal.",
        )
        .req()
        .arm("roleAssignments properties.principalId"),
        f(
            "principalType",
            &Ty::Enum {
                what: "principal type",
                values: &["User", "Group", "ServicePrincipal", "ForeignGroup"],
            },
            "Principal type (sent so new identities are not looked up during replication).",
        )
        .req()
        .arm("properties.principalType"),
        f(
            "role",
            &TEXT,
            "Built-in role name (e.g. `Cognitive Services OpenAI User`) or role definition GUID.",
        )
        .req()
        .arm("properties.roleDefinitionId"),
        f("description", &Ty::Str(Fmt::Description(MAX_ROLE_DESCRIPTION_CHARS)), "Why the principal holds the role (at most 494 characters: the 512 Microsoft recommends less moat's ownership marker).").arm("properties.description"),
    ],
};

pub static ROLE_ASSIGNMENTS: Obj = Obj {
    title: "roleAssignments",
    doc: "I4: least-privilege role assignments at the account scope.",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("assignments", &Ty::List(&Ty::Obj(&ROLE_ASSIGNMENT)), "The assignments.").def("[]").arm("Microsoft.Authorization/roleAssignments"),
        f("removeUndeclaredPrivileged", &BOOL, "Remove direct assignments of privileged roles (Owner, Contributor, User Access Administrator, Cognitive Services Contributor) that are not declared.").def("false"),
    ],
};

pub static ENCRYPTION: Obj = Obj {
    title: "encryption",
    doc: "D1: customer-managed key, read from `existing.keyVaultKey`.",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("keySource", &Ty::Enum { what: "key source", values: &["Microsoft.KeyVault", "Microsoft.CognitiveServices"] }, "`Microsoft.KeyVault` (customer-managed) or `Microsoft.CognitiveServices` (Microsoft-managed).")
            .def("Microsoft.KeyVault").arm("properties.encryption.keySource"),
        f("identityClientId", &GUID, "Client id of the user-assigned identity that reads the key (unset: the system-assigned identity).").arm("properties.encryption.keyVaultProperties.identityClientId"),
        f("keyAccess", &Ty::Enum { what: "key access", values: &["grant", "verify"] }, "How the account's identity gets access to the key before the encryption is switched on. `grant`: moat gives the system-assigned identity *Key Vault Crypto Service Encryption User* on `existing.keyVaultKey.vaultId` (a role assignment it owns, for vaults with the Azure RBAC permission model) and waits until it is visible. `verify`: moat only checks that the identity already has access (a key role on the vault, or an access policy with get, wrapKey and unwrapKey); without it the plan shows drift and encryption is not changed. Use `verify` for vaults with access policies and for user-assigned identities.")
            .def("grant").arm("Microsoft.Authorization/roleAssignments (vault scope)"),
    ],
};

pub static DEFENDER_FOR_AI: Obj = Obj {
    title: "defenderForAI",
    doc: "D2: Microsoft Defender for AI threat protection on the account (prompt attacks, data leakage, credential theft alerts).",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f(
            "state",
            &Ty::Enum {
                what: "Defender for AI state",
                values: &["Enabled", "Disabled"],
            },
            "`Disabled` needs the `defender-for-ai-disabled` exception.",
        )
        .def("Enabled")
        .arm("accounts/defenderForAISettings properties.state"),
    ],
};

pub static DIAGNOSTICS: Obj = Obj {
    title: "diagnostics",
    doc: "M1: a diagnostic setting sending logs and metrics to `existing.logAnalyticsWorkspace`.",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("name", &Ty::Str(Fmt::Name(NameKind::DiagnosticSetting)), "Diagnostic setting name.").def("moat-security").arm("Microsoft.Insights/diagnosticSettings name"),
        f("logCategories", &Ty::List(&Ty::Enum { what: "log category", values: LOG_CATEGORIES }), "Log categories. Audit must be covered (here or by a group) unless the `reduced-logging` exception is given.")
            .def("[]").arm("properties.logs[].category"),
        f("logCategoryGroups", &Ty::List(&Ty::Enum { what: "log category group", values: &["allLogs", "audit"] }), "Log category groups, an alternative to categories.").def("[]").arm("properties.logs[].categoryGroup"),
        f("metricCategories", &Ty::List(&Ty::Enum { what: "metric category", values: &["AllMetrics"] }), "Metric categories.").def("[]").arm("properties.metrics[].category"),
        f("destinationType", &Ty::Enum { what: "destination type", values: &["Dedicated", "AzureDiagnostics"] }, "Resource-specific tables (`Dedicated`) or the AzureDiagnostics table.")
            .def("AzureDiagnostics").arm("properties.logAnalyticsDestinationType"),
    ],
};

pub static CONTENT_FILTER: Obj = Obj {
    title: "content filter",
    doc: "One filter, identified by (name, source).",
    nullable: false,
    fields: &[
        f("name", &Ty::Enum { what: "content filter", values: FILTER_NAMES }, "Filter name.").req().arm("contentFilters[].name"),
        f("source", &Ty::Enum { what: "content filter source", values: &["Prompt", "Completion"] }, "What the filter inspects.").req().arm("contentFilters[].source"),
        f("enabled", &BOOL, "Whether the filter runs.").def("true").arm("contentFilters[].enabled"),
        f("blocking", &BOOL, "Whether it blocks (rather than annotates).").def("true").arm("contentFilters[].blocking"),
        f("severityThreshold", &Ty::Enum { what: "severity", values: &["Low", "Medium", "High"] },
          "Lowest severity that is filtered; only for Hate, Sexual, Violence, Selfharm (required for them). Above `Low` needs the `content-filter` exception.")
            .arm("contentFilters[].severityThreshold"),
    ],
};

pub static RAI_POLICY: Obj = Obj {
    title: "raiPolicy",
    doc: "C1: the account's content filter (RAI) policy.",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f("name", &Ty::Str(Fmt::Name(NameKind::RaiPolicy)), "Policy name; `Microsoft.Default` and `Microsoft.DefaultV2` are system-managed and cannot be used.").req().arm("accounts/raiPolicies name"),
        f("policyMode", &Ty::Enum { what: "RAI policy mode", values: &["Blocking", "Default", "Deferred", "Asynchronous_filter"] },
          "Streaming mode; `Deferred`/`Asynchronous_filter` need the `content-filter` exception.").def("Blocking").arm("properties.mode"),
        f("basePolicy", &Ty::Enum { what: "base policy", values: &["Microsoft.DefaultV2", "Microsoft.Default"] }, "System policy this one derives from.")
            .def("Microsoft.DefaultV2").arm("properties.basePolicyName"),
        f("contentFilters", &Ty::List(&Ty::Obj(&CONTENT_FILTER)), "The filters. A live filter not listed here keeps its live settings.").req().arm("properties.contentFilters"),
        f("removeUndeclaredFilters", &BOOL, "Also remove the live filters not listed in `contentFilters` (removing one that is on weakens the policy); needs the `content-filter` exception.").def("false"),
    ],
};

pub static DEPLOYMENT: Obj = Obj {
    title: "deployment",
    doc: "A model deployment moat creates when missing, bound to the instance's RAI policy.",
    nullable: false,
    fields: &[
        f("format", &TEXT, "Model format.")
            .def("OpenAI")
            .arm("properties.model.format"),
        f("model", &TEXT, "Model name, e.g. gpt-4o.")
            .req()
            .arm("properties.model.name"),
        f(
            "version",
            &Ty::Version,
            "Model version (unset: the server's default version).",
        )
        .arm("properties.model.version"),
        f(
            "sku",
            &Ty::Enum {
                what: "deployment SKU",
                values: &[
                    "Standard",
                    "GlobalStandard",
                    "DataZoneStandard",
                    "ProvisionedManaged",
                    "GlobalProvisionedManaged",
                    "DataZoneProvisionedManaged",
                    "GlobalBatch",
                    "DataZoneBatch",
                    "DeveloperTier",
                ],
            },
            "Deployment SKU.",
        )
        .req()
        .arm("sku.name"),
        f(
            "capacity",
            &Ty::Int {
                min: 1,
                max: 1_000_000,
            },
            "Capacity (thousands of tokens per minute for Standard SKUs).",
        )
        .req()
        .arm("sku.capacity"),
        f(
            "versionUpgrade",
            &Ty::Enum {
                what: "version upgrade option",
                values: &[
                    "OnceNewDefaultVersionAvailable",
                    "OnceCurrentVersionExpired",
                    "NoAutoUpgrade",
                ],
            },
            "When the model version is upgraded.",
        )
        .arm("properties.versionUpgradeOption"),
    ],
};

pub static DEPLOYMENTS: Obj = Obj {
    title: "deployments",
    doc: "C2: model deployments bound to the RAI policy (needs `raiPolicy`).",
    nullable: false,
    fields: &[
        f("mode", &MODE, MODE_DOC).def("managed"),
        f(
            "bindAllToRaiPolicy",
            &BOOL,
            "Re-bind every existing deployment, declared or not, to the RAI policy.",
        )
        .def("true")
        .arm("deployments properties.raiPolicyName"),
        f(
            "declared",
            &Ty::Map {
                key: Fmt::Name(NameKind::Deployment),
                what: "deployment",
                value: &Ty::Obj(&DEPLOYMENT),
            },
            "Deployments by name; created when missing.",
        )
        .def("{}")
        .arm("accounts/deployments"),
    ],
};

pub static CONTROLS: Obj = Obj {
    title: "controls",
    doc: "The desired state of every control. A control that is not mentioned is neither written nor checked; `~` removes one inherited from a profile.",
    nullable: true,
    fields: &[
        f("privateEndpoint", &Ty::Obj(&PRIVATE_ENDPOINT), "N1."),
        f("privateDns", &Ty::Obj(&PRIVATE_DNS), "N2."),
        f("dnsZoneGroup", &Ty::Obj(&DNS_ZONE_GROUP), "N3."),
        f("nsg", &Ty::Obj(&NSG), "N4."),
        f("networkAccess", &Ty::Obj(&NETWORK_ACCESS), "N5."),
        f("outbound", &Ty::Obj(&OUTBOUND), "N6."),
        f("localAuth", &Ty::Obj(&LOCAL_AUTH), "I1."),
        f("identity", &Ty::Obj(&IDENTITY), "I3."),
        f("roleAssignments", &Ty::Obj(&ROLE_ASSIGNMENTS), "I4."),
        f("encryption", &Ty::Obj(&ENCRYPTION), "D1."),
        f("defenderForAI", &Ty::Obj(&DEFENDER_FOR_AI), "D2."),
        f("diagnostics", &Ty::Obj(&DIAGNOSTICS), "M1."),
        f("alerts", &Ty::Obj(&ALERTS), "M2."),
        f("raiPolicy", &Ty::Obj(&RAI_POLICY), "C1."),
        f("deployments", &Ty::Obj(&DEPLOYMENTS), "C2."),
    ],
};

#[cfg(test)]
mod tests {
    use super::ExceptionKind;

    #[test]
    fn exception_kinds_serialise_as_their_names() {
        for kind in ExceptionKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(
                serde_json::from_value::<ExceptionKind>(json).unwrap(),
                *kind
            );
            assert_eq!(ExceptionKind::from_name(kind.as_str()), Some(*kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(ExceptionKind::NAMES.len(), ExceptionKind::ALL.len());
        assert_eq!(ExceptionKind::from_name("local_auth"), None);
    }
}
