//! The request shape ARM keeps per resource type: the top-level members and the members of
//! `properties` its REST specification defines. A resource provider deserialises a write into
//! its model, so members the model does not know are dropped, never stored or echoed.
//!
//! The names are those of the REST specs at the api-versions the pinned Python SDKs target
//! (azure-mgmt-cognitiveservices 14.1.0 → 2025-09-01, azure-mgmt-network 33.1.0 → 2026-03-01,
//! azure-mgmt-privatedns 2.0.0 → 2024-06-01, azure-mgmt-authorization 4.0.0 → 2022-04-01,
//! Insights diagnosticSettings 2021-05-01-preview), read-only members included: the server
//! owns those and the providers overwrite them as before. Only these two levels are filtered;
//! nested objects are stored as sent.

use crate::emulator::spec::Known;

/// Every ARM resource's envelope (id/name/type are rebuilt from the URL, etag and systemData
/// are the server's).
const ENVELOPE: [&str; 6] = ["id", "name", "type", "etag", "systemData", "properties"];

macro_rules! known {
    ([$($top:literal),* $(,)?], [$($prop:literal),* $(,)?]) => {
        Known {
            top: &[ENVELOPE[0], ENVELOPE[1], ENVELOPE[2], ENVELOPE[3], ENVELOPE[4], ENVELOPE[5], $($top),*],
            properties: &[$($prop),*],
        }
    };
}

pub const ACCOUNT: Known = known!(
    ["location", "tags", "sku", "kind", "identity"],
    [
        "abusePenalty",
        "allowProjectManagement",
        "allowedFqdnList",
        "amlWorkspace",
        "apiProperties",
        "associatedProjects",
        "callRateLimit",
        "capabilities",
        "commitmentPlanAssociations",
        "customSubDomainName",
        "dateCreated",
        "defaultProject",
        "deletionDate",
        "disableLocalAuth",
        "dynamicThrottlingEnabled",
        "encryption",
        "endpoint",
        "endpoints",
        "internalId",
        "isMigrated",
        "locations",
        "migrationToken",
        "networkAcls",
        "networkInjections",
        "privateEndpointConnections",
        "provisioningState",
        "publicNetworkAccess",
        "quotaLimit",
        "raiMonitorConfig",
        "restore",
        "restrictOutboundNetworkAccess",
        "scheduledPurgeDate",
        "skuChangeInfo",
        "storedCompletionsDisabled",
        "userOwnedStorage",
    ]
);

pub const DEPLOYMENT: Known = known!(
    ["tags", "sku"],
    [
        "callRateLimit",
        "capabilities",
        "capacitySettings",
        "currentCapacity",
        "dynamicThrottlingEnabled",
        "model",
        "parentDeploymentName",
        "provisioningState",
        "raiPolicyName",
        "rateLimits",
        "scaleSettings",
        "spilloverDeploymentName",
        "versionUpgradeOption",
    ]
);

pub const RAI_POLICY: Known = known!(
    ["tags"],
    [
        "basePolicyName",
        "contentFilters",
        "customBlocklists",
        "customTopics",
        "mode",
        "type"
    ]
);

pub const ACCOUNT_PEC: Known = known!(
    ["location"],
    [
        "groupIds",
        "privateEndpoint",
        "privateLinkServiceConnectionState",
        "provisioningState"
    ]
);

pub const DEFENDER_FOR_AI: Known = known!(["tags"], ["state"]);

pub const PRIVATE_ENDPOINT: Known = known!(
    ["location", "tags", "extendedLocation"],
    [
        "applicationSecurityGroups",
        "billingSku",
        "customDnsConfigs",
        "customNetworkInterfaceName",
        "ipConfigurations",
        "ipVersionType",
        "manualPrivateLinkServiceConnections",
        "networkInterfaces",
        "privateLinkServiceConnections",
        "provisioningState",
        "subnet",
    ]
);

pub const ZONE_GROUP: Known = known!([], ["privateDnsZoneConfigs", "provisioningState"]);

pub const NSG: Known = known!(
    ["location", "tags"],
    [
        "defaultSecurityRules",
        "flowLogs",
        "flushConnection",
        "networkInterfaces",
        "provisioningState",
        "resourceGuid",
        "securityRules",
        "subnets",
    ]
);

pub const SECURITY_RULE: Known = known!(
    [],
    [
        "access",
        "description",
        "destinationAddressPrefix",
        "destinationAddressPrefixes",
        "destinationApplicationSecurityGroups",
        "destinationPortRange",
        "destinationPortRanges",
        "direction",
        "priority",
        "protocol",
        "provisioningState",
        "sourceAddressPrefix",
        "sourceAddressPrefixes",
        "sourceApplicationSecurityGroups",
        "sourcePortRange",
        "sourcePortRanges",
    ]
);

pub const SUBNET: Known = known!(
    [],
    [
        "addressPrefix",
        "addressPrefixes",
        "applicationGatewayIPConfigurations",
        "defaultOutboundAccess",
        "delegations",
        "ipAllocations",
        "ipConfigurationProfiles",
        "ipConfigurations",
        "ipamPoolPrefixAllocations",
        "natGateway",
        "networkSecurityGroup",
        "privateEndpointNetworkPolicies",
        "privateEndpoints",
        "privateLinkServiceNetworkPolicies",
        "provisioningState",
        "purpose",
        "resourceNavigationLinks",
        "routeTable",
        "serviceAssociationLinks",
        "serviceEndpointPolicies",
        "serviceEndpoints",
        "serviceGateway",
        "sharingScope",
    ]
);

pub const VNET: Known = known!(
    ["location", "tags", "extendedLocation"],
    [
        "addressSpace",
        "bgpCommunities",
        "ddosProtectionPlan",
        "defaultPublicNatGateway",
        "dhcpOptions",
        "enableDdosProtection",
        "enableVmProtection",
        "encryption",
        "flowLogs",
        "flowTimeoutInMinutes",
        "ipAllocations",
        "privateEndpointVNetPolicies",
        "provisioningState",
        "resourceGuid",
        "subnets",
        "summarizedGatewayPrefixes",
        "virtualNetworkPeerings",
    ]
);

pub const DNS_ZONE: Known = known!(
    ["location", "tags"],
    [
        "internalId",
        "maxNumberOfRecordSets",
        "maxNumberOfVirtualNetworkLinks",
        "maxNumberOfVirtualNetworkLinksWithRegistration",
        "numberOfRecordSets",
        "numberOfVirtualNetworkLinks",
        "numberOfVirtualNetworkLinksWithRegistration",
        "provisioningState",
    ]
);

pub const VNET_LINK: Known = known!(
    ["location", "tags"],
    [
        "provisioningState",
        "registrationEnabled",
        "resolutionPolicy",
        "virtualNetwork",
        "virtualNetworkLinkState",
    ]
);

pub const RECORD_SET: Known = known!(
    [],
    [
        "aRecords",
        "aaaaRecords",
        "cnameRecord",
        "fqdn",
        "isAutoRegistered",
        "metadata",
        "mxRecords",
        "ptrRecords",
        "soaRecord",
        "srvRecords",
        "ttl",
        "txtRecords",
    ]
);

pub const ROLE_ASSIGNMENT: Known = known!(
    [],
    [
        "condition",
        "conditionVersion",
        "createdBy",
        "createdOn",
        "delegatedManagedIdentityResourceId",
        "description",
        "principalId",
        "principalType",
        "roleDefinitionId",
        "scope",
        "updatedBy",
        "updatedOn",
    ]
);

pub const DIAGNOSTIC_SETTING: Known = known!(
    [],
    [
        "eventHubAuthorizationRuleId",
        "eventHubName",
        "logAnalyticsDestinationType",
        "logs",
        "marketplacePartnerId",
        "metrics",
        "serviceBusRuleId",
        "storageAccountId",
        "workspaceId",
    ]
);
