//! The shape of a blueprint, written once as data.
//!
//! One description serves four purposes, so they cannot disagree: the structural check (types,
//! unknown keys, enums, formats, with positions), the `required` check after profiles are merged,
//! `moat schema` (JSON Schema for editors), and the field reference in docs/blueprint.md.

use super::formats::{ArmKind, Fmt, NameKind};
pub use super::schema_alerts::*;
pub use super::schema_controls::*;
use super::shape::{f, BOOL, GUID, LABEL, NAME, TEXT};
pub use super::shape::{Field, Obj, Ty};

pub static DNS_ZONES: Obj = Obj {
    title: "dnsZones",
    doc: "Where the privatelink DNS zones live.",
    nullable: false,
    fields: &[
        f("subscription", &GUID, "Subscription of the zones.").def("the instance's subscription"),
        f(
            "resourceGroup",
            &Ty::Str(Fmt::ResourceGroup),
            "Resource group of the zones.",
        )
        .req(),
    ],
};

pub static KEY_VAULT_KEY: Obj = Obj {
    title: "keyVaultKey",
    doc: "The customer-managed key (D1).",
    nullable: false,
    fields: &[
        f("vaultUri", &Ty::Str(Fmt::KeyVaultUri), "Key Vault URI.")
            .req()
            .arm("properties.encryption.keyVaultProperties.keyVaultUri"),
        f(
            "vaultId",
            &Ty::Str(Fmt::ArmId(ArmKind::KeyVault)),
            "Full ARM id of that vault: the scope of the account's key access (`controls.encryption.keyAccess`).",
        )
        .req()
        .arm("roleAssignments scope"),
        f("name", &TEXT, "Key name.")
            .req()
            .arm("keyVaultProperties.keyName"),
        f(
            "version",
            &Ty::Str(Fmt::KeyVersion),
            "Key version (unset: always the latest).",
        )
        .arm("keyVaultProperties.keyVersion"),
    ],
};

pub static EXISTING: Obj = Obj {
    title: "existing",
    doc: "Resources the instance relies on and moat does not create.",
    nullable: false,
    fields: &[
        f(
            "endpointSubnet",
            &Ty::Str(Fmt::ArmId(ArmKind::Subnet)),
            "Full id of the subnet that holds the private endpoint (N1, N2, N4).",
        ),
        f(
            "endpointSubnetPrefix",
            &Ty::Str(Fmt::IpOrCidr),
            "Address prefix of that subnet; the default destination of NSG rules.",
        ),
        f(
            "nsg",
            &Ty::Str(Fmt::ArmId(ArmKind::Nsg)),
            "Full id of the NSG attached to the endpoint subnet (N4).",
        ),
        f(
            "dnsZones",
            &Ty::Obj(&DNS_ZONES),
            "Where the private DNS zones are (N2).",
        ),
        f(
            "logAnalyticsWorkspace",
            &Ty::Str(Fmt::ArmId(ArmKind::Workspace)),
            "Full id of the Log Analytics workspace (M1).",
        )
        .arm("diagnosticSettings properties.workspaceId"),
        f(
            "keyVaultKey",
            &Ty::Obj(&KEY_VAULT_KEY),
            "Customer-managed key (D1).",
        ),
    ],
};

pub static EXCEPTION: Obj = Obj {
    title: "exception",
    doc: "A documented weakening of the strict baseline.",
    nullable: false,
    fields: &[
        f(
            "allows",
            &Ty::Enum {
                what: "exception",
                values: ExceptionKind::NAMES,
            },
            "What it allows.",
        )
        .req(),
        f(
            "reason",
            &TEXT,
            "Why (at least 10 characters); shown in plans.",
        )
        .req(),
        f(
            "expires",
            &Ty::Str(Fmt::Date),
            "Date (YYYY-MM-DD) after which validation fails; a warning is shown 30 days before.",
        ),
        f(
            "principalId",
            &GUID,
            "For `privileged-role`: the one principal it allows (unset: any).",
        ),
    ],
};

/// The audit rules an acknowledgement may name: those judged on observed state, which no
/// blueprint field changes (an inherited role, another team's endpoint connection, a stale A
/// record, a soft-deleted account). Every other rule is waived by an `exceptions:` entry, which
/// also changes what the plan keeps; MOAT-GV-001 is fixed by `guardrails:` and MOAT-IM-003 by
/// `moat rotate`. Kept equal to `audit::rules` by a test.
pub const ACKNOWLEDGEABLE: &[&str] = &[
    "MOAT-NS-011",
    "MOAT-NS-012",
    "MOAT-PA-002",
    "MOAT-PA-003",
    "MOAT-PA-004",
    "MOAT-DP-002",
];

pub static ACKNOWLEDGEMENT: Obj = Obj {
    title: "acknowledgement",
    doc: "A reviewed audit finding that no blueprint field fixes, on one resource: `moat audit` shows it waived, with the reason, until it expires; the plan is unchanged.",
    nullable: false,
    fields: &[
        f(
            "rule",
            &Ty::Enum {
                what: "acknowledgeable rule",
                values: ACKNOWLEDGEABLE,
            },
            "The audit rule id (docs/audit.md).",
        )
        .req(),
        f(
            "resource",
            &TEXT,
            "ARM id of the resource the finding is on (the audit's `resourceId`): a role assignment, a private endpoint connection, an A record set, a soft-deleted account. Only that resource's finding is waived; a new one is reported.",
        )
        .req()
        .arm("audit resourceId"),
        f(
            "reason",
            &TEXT,
            "Why it stays (at least 10 characters); shown in audit reports.",
        )
        .req(),
        f(
            "expires",
            &Ty::Str(Fmt::Date),
            "Date (YYYY-MM-DD) after which audit reports the finding again (validation warns 30 days before).",
        ),
    ],
};

pub static KEY_ROTATION: Obj = Obj {
    title: "keyRotation",
    doc: "The two-key swap `moat rotate` runs for an instance that keeps API keys (docs/rotation.md). Allowed only where `controls.localAuth.disabled: false` and a `local-auth` exception keep keys on.",
    nullable: false,
    fields: &[
        f("vault", &Ty::Str(Fmt::ArmId(ArmKind::KeyVault)), "ARM id of the Key Vault that holds the active key; its `properties.vaultUri` is the data-plane endpoint.")
            .req()
            .arm("Key Vault secrets data plane"),
        f("secret", &Ty::Str(Fmt::Name(NameKind::KeyVaultSecret)), "Name of the secret clients read the key from; each rotation writes a new version.")
            .req()
            .arm("secret name"),
        f("every", &Ty::Str(Fmt::Period), "How often the keys are rotated: `90d`, `720h` (at least 1 day, at most 3650 days); also the secret's expiry.")
            .def("90d")
            .arm("secret attributes.exp"),
        f("overlap", &Ty::Str(Fmt::Period), "How long clients get to pick up the new key before the other one is regenerated (at least 1 hour, less than `every`).")
            .def("24h"),
    ],
};

macro_rules! instance_fields {
    ($($extra:expr),*) => {
        &[
            $($extra,)*
            f("profile", &NAME, "Profile to start from (a name in `profiles`, local or imported)."),
            f("subscription", &GUID, "Subscription id of the account.").req().arm("account id"),
            f("resourceGroup", &Ty::Str(Fmt::ResourceGroup), "Resource group of the account.").req().arm("account id"),
            f("accountName", &Ty::Str(Fmt::Name(NameKind::Account)), "Name of the Cognitive Services account.").req().arm("account id"),
            f("location", &Ty::Str(Fmt::Location), "Azure region.").req().arm("location"),
            f("kind", &Ty::Enum { what: "account kind", values: &["OpenAI", "AIServices", "CognitiveServices", "ContentSafety", "FormRecognizer", "TextAnalytics", "SpeechServices", "ComputerVision", "TextTranslation"] },
              "Account kind.").req().arm("kind"),
            f("sku", &Ty::Enum { what: "account SKU", values: &["S0", "S", "S1", "S2", "S3", "F0"] }, "Account SKU.").def("S0").arm("sku.name"),
            f("customSubdomain", &Ty::Str(Fmt::Subdomain), "I2: custom subdomain (globally unique, irreversible; required for private endpoints and Entra auth).").arm("properties.customSubDomainName"),
            f("tags", &Ty::Map { key: Fmt::TagName, what: "tag", value: &LABEL }, "Tags set on the account when moat creates it (merged, never removed, on existing ones).").def("{}").arm("tags"),
            f("createIfMissing", &BOOL, "Whether moat may create the account when it does not exist.").def("false"),
            f("softDelete", &Ty::Enum { what: "soft-delete action", values: &["block", "restore", "purge"] },
              "When the name is held by a soft-deleted account: `block` the plan, `restore` it, or `purge` it (needs the `soft-delete-purge` exception).").def("block").arm("properties.restore"),
            f("existing", &Ty::Obj(&EXISTING), "Existing resources the instance relies on."),
            f("controls", &Ty::Obj(&CONTROLS), "Desired state of the controls."),
            f("exceptions", &Ty::List(&Ty::Obj(&EXCEPTION)), "Documented exceptions to the strict baseline.").def("[]"),
            f("keyRotation", &Ty::Obj(&KEY_ROTATION), "Key rotation by `moat rotate` (only with a `local-auth` exception keeping keys on)."),
        ]
    };
}

pub static PROFILE: Obj = Obj {
    title: "profile",
    doc: "A reusable partial instance. `profile:` inside a profile names the profile it extends.",
    nullable: false,
    fields: instance_fields!(),
};

pub static INSTANCE: Obj = Obj {
    title: "instance",
    doc: "One Cognitive Services account: profile, then defaults, then these fields (mappings merge field by field, lists replace).",
    nullable: false,
    fields: instance_fields!(f("name", &NAME, "Logical name, unique in the blueprint; used in plan addresses.").def("accountName")),
};

/// The effects a guardrail may give a control: those its built-in definition offers.
/// `modify` assigns the control's Modify built-in instead (blueprint::guardrails::BUILT_INS).
pub const GUARD_EFFECTS: &[&str] = &["audit", "deny", "modify"];
/// The effects of a control whose built-in has no Modify.
pub const AUDIT_DENY: &[&str] = &["audit", "deny"];
/// The effects of a control whose built-in can only report.
pub const AUDIT_ONLY: &[&str] = &["audit"];
/// The effects of the diagnostics built-ins: AuditIfNotExists (1b4d1c4e) or DeployIfNotExists
/// (55d1f543); neither offers Deny.
pub const DIAGNOSTICS_EFFECTS: &[&str] = &["auditIfNotExists", "deployIfNotExists"];

/// The controls a guardrail may name (the keys of [`GUARDRAIL_CONTROLS`]); `remediate` lists
/// some of them.
pub const GUARD_CONTROLS: &[&str] = &["localAuth", "networkAccess"];

pub static GUARDRAIL_CONTROLS: Obj = Obj {
    title: "guardrailControls",
    doc: "Which controls Azure Policy enforces in the scope, and with which effect (the built-in's `effect` parameter).",
    nullable: false,
    fields: &[
        f(
            "localAuth",
            &Ty::Enum { what: "local-auth effect", values: GUARD_EFFECTS },
            "I1: built-in 71ef260a-8f18-47b7-abcb-62d0673d94dc (key access disabled); `deny` refuses a write that turns keys on; `modify` assigns 14de9e63-1b31-492e-a5a3-c3f7fd57f555 instead, which sets disableLocalAuth on every write (a managed identity with Contributor at the scope).",
        )
        .arm("policyAssignments properties.parameters.effect"),
        f(
            "networkAccess",
            &Ty::Enum { what: "network-access effect", values: GUARD_EFFECTS },
            "N5: built-in 037eea7a-bd0a-46c5-9a66-03aea78705d3 (restrict network access); `deny` refuses a write that leaves public access Enabled with firewall default Allow; `modify` assigns 47ba1dd7-28d9-4b07-a8d5-9813bed64e0c instead, which sets publicNetworkAccess Disabled on every write (a managed identity with Contributor at the scope).",
        )
        .arm("policyAssignments properties.parameters.effect"),
        f(
            "identity",
            &Ty::Enum { what: "managed-identity effect", values: AUDIT_DENY },
            "I3: built-in fe3fd216-4f83-4fc1-8984-2bbec80a3418 (use a managed identity); `deny` refuses a write that leaves the account without one (`identity.type` absent or None). Azure offers no Modify for it.",
        )
        .arm("policyAssignments properties.parameters.effect"),
        f(
            "privateEndpoint",
            &Ty::Enum { what: "private-link effect", values: AUDIT_ONLY },
            "N1: built-in d6759c02-b87f-42b7-892e-71b3f471d782 (use Azure Private Link): reports an account without an Approved private endpoint connection. Audit only: Azure offers no Deny for it; an account reached publicly under its `public-network-access` exception is exempted.",
        )
        .arm("policyAssignments properties.parameters.effect"),
        f(
            "diagnostics",
            &Ty::Enum { what: "diagnostics effect", values: DIAGNOSTICS_EFFECTS },
            "M1: `auditIfNotExists` assigns built-in 1b4d1c4e-934c-4703-944c-27c82c06bebb (reports accounts without a diagnostic setting); `deployIfNotExists` assigns 55d1f543-d1b0-4811-9663-d6d0dbc6326d, which deploys a setting to the instances' controls.diagnostics workspace on accounts that lack one (a managed identity with Log Analytics Contributor at the scope; the instances in the scope must agree on workspace, name and category group).",
        )
        .arm("policyAssignments properties.parameters"),
    ],
};

pub static GUARDRAIL: Obj = Obj {
    title: "guardrail",
    doc: "Azure Policy assignments moat keeps at a scope, derived from the instances' control names; an instance's exception for a guarded control becomes a policy exemption on its account.",
    nullable: false,
    fields: &[
        f(
            "scope",
            &TEXT,
            "A subscription id, or `/subscriptions/{id}/resourceGroups/{name}`.",
        )
        .req()
        .arm("policyAssignments scope"),
        f(
            "controls",
            &Ty::Obj(&GUARDRAIL_CONTROLS),
            "Control name to effect.",
        )
        .req(),
        f(
            "remediate",
            &Ty::List(&Ty::Enum { what: "guarded control", values: GUARD_CONTROLS }),
            "Controls of this guardrail whose existing non-compliant accounts Azure Policy fixes with a remediation task (`Microsoft.PolicyInsights/remediations`), each guarded with `modify`: moat plans one when an account in the scope that the plan does not harden itself is non-compliant, and never again for the same accounts.",
        )
        .def("[]")
        .arm("remediations properties.policyAssignmentId"),
    ],
};

pub static DOCUMENT: Obj = Obj {
    title: "blueprint",
    doc: "A blueprint file.",
    nullable: false,
    fields: &[
        f(
            "version",
            &Ty::Int { min: 1, max: 1 },
            "Format version; must be 1.",
        )
        .req(),
        f(
            "imports",
            &Ty::List(&TEXT),
            "Files (relative to this one) whose `profiles` become available.",
        )
        .def("[]"),
        f(
            "profiles",
            &Ty::Map {
                key: Fmt::Name(NameKind::Moat),
                what: "profile",
                value: &Ty::Obj(&PROFILE),
            },
            "Reusable profiles by name.",
        )
        .def("{}"),
        f(
            "defaults",
            &Ty::Obj(&PROFILE),
            "Applied to every instance, after its profile.",
        ),
        f(
            "instances",
            &Ty::List(&Ty::Obj(&INSTANCE)),
            "The instances.",
        )
        .def("[]"),
        f(
            "guardrails",
            &Ty::List(&Ty::Obj(&GUARDRAIL)),
            "Azure Policy assignments at subscription or resource-group scope (docs/guardrails.md).",
        )
        .def("[]"),
        f(
            "acknowledged",
            &Ty::List(&Ty::Obj(&ACKNOWLEDGEMENT)),
            "Audit findings on observed state that are known and stay for now (docs/audit.md#acknowledged-findings).",
        )
        .def("[]"),
    ],
};
