//! `Microsoft.CognitiveServices/accounts`: I1, I2, I3, N5, N6, D1.
//!
//! An existing account is never re-PUT: moat PATCHes only the managed properties, in stages that
//! follow the no-lockout cutover order (identity first; network tightening after the private path
//! exists; public access off after that; key auth off last). A missing account is created by one
//! PUT that already carries every hardened property (issue 10).
//!
//! Managed: `identity`, `properties.encryption`, `properties.networkAcls` (defaultAction, bypass,
//! ipRules, virtualNetworkRules), `properties.restrictOutboundNetworkAccess`,
//! `properties.allowedFqdnList`, `properties.publicNetworkAccess`, `properties.disableLocalAuth`.
//! Checked, never changed: `kind`, `location`, `properties.customSubDomainName` (immutable).
//! Ignored: everything else, including the server-owned fields in `META.read_only` (never
//! written: the account is never re-PUT).

mod create;
mod ids;
mod lifecycle;
mod stages;

pub use create::{create, create_body, subdomain_in_use};
pub use ids::{account_of, address, lock_of, resend_when_busy, succeeded_gate, API_VERSION, KIND};
pub use lifecycle::{deleted_read, read, subscription_reads};
pub use stages::{
    blocked_checks, encryption_stage, identity_stage, local_auth_stage, network_stage,
    public_access_stage, repair_stage,
};

use super::get_str;
use super::kind::{
    provisioning_gate, short, InUse, Kind, Meta, Planned, Read, Reads, Ready, Stage,
};
use crate::blueprint::resolved::Instance;
use crate::model::{Change, Gate, Resend};

/// The account kind. Its changes are the account's stages (identity, network, public access,
/// key auth) and its creation; see the file header.
pub struct Account;

static META: Meta = Meta {
    label: "account",
    arm_type: "Microsoft.CognitiveServices/accounts",
    api_version: API_VERSION,
    shared: false,
    managed: &[
        "identity.type",
        "identity.userAssignedIdentities",
        "properties.encryption",
        "properties.networkAcls",
        "properties.restrictOutboundNetworkAccess",
        "properties.allowedFqdnList",
        "properties.publicNetworkAccess",
        "properties.disableLocalAuth",
        "properties.customSubDomainName",
        "kind",
        "location",
        "sku",
        "tags",
    ],
    read_only: &[
        "properties.provisioningState",
        "properties.endpoint",
        "properties.endpoints",
        "properties.internalId",
        "properties.capabilities",
        "properties.isMigrated",
        "properties.skuChangeInfo",
        "properties.privateEndpointConnections",
        "properties.dateCreated",
        "properties.callRateLimit",
        "properties.quotaLimit",
        "properties.deletionDate",
        "properties.scheduledPurgeDate",
        "properties.commitmentPlanAssociations",
        "properties.abusePenalty",
        "identity.principalId",
        "identity.tenantId",
    ],
    // What the account's owner sets and moat leaves alone.
    ignored: &["properties.userOwnedStorage"],
    first_on_lock: false,
    weak: &[
        ("properties.publicNetworkAccess", "\"Enabled\""),
        ("properties.publicNetworkAccess", "(absent)"),
        ("properties.disableLocalAuth", "false"),
        ("properties.disableLocalAuth", "(absent)"),
        ("properties.networkAcls.defaultAction", "\"Allow\""),
        ("properties.networkAcls.defaultAction", "(absent)"),
        ("properties.networkAcls.bypass", "\"AzureServices\""),
        ("properties.restrictOutboundNetworkAccess", "false"),
        ("properties.restrictOutboundNetworkAccess", "(absent)"),
    ],
};

impl Kind for Account {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn reads(&self, inst: &Instance, seen: &Reads) -> Vec<Read> {
        lifecycle::reads(inst, seen)
    }

    fn changes(&self, inst: &Instance, seen: &Reads) -> Planned {
        lifecycle::changes(inst, seen)
    }

    fn destroy(&self, inst: &Instance, seen: &Reads, _in_use: &InUse) -> Planned {
        lifecycle::destroy(inst, seen)
    }

    /// What follows a created account waits for it to be Succeeded.
    fn gate(&self, inst: &Instance, stage: Stage, changes: &[&Change]) -> Option<Gate> {
        changes
            .iter()
            .any(|c| stage == Stage::Create && c.kind == KIND && c.action.is_write())
            .then(|| succeeded_gate(&inst.account_id()))
    }

    fn lock(&self, change: &Change) -> Option<String> {
        lock_of(&change.id)
    }

    fn resend(&self, change: &Change) -> Option<Resend> {
        resend_when_busy(&change.id)
    }

    fn ready(&self, ids: &[String], seen: &Reads) -> Ready {
        let Some(id) = ids.first() else {
            return Ready::Yes;
        };
        let acct = match Ready::read(seen, Read::get(id.clone(), API_VERSION)) {
            Ok(v) => v,
            Err(need) => return need,
        };
        let state = acct.and_then(|a| get_str(a, "properties.provisioningState"));
        provisioning_gate("account", id, state).unwrap_or(Ready::Yes)
    }

    fn describe_gate(&self, ids: &[String]) -> String {
        format!(
            "{} in provisioningState Succeeded",
            short(ids.first().map(String::as_str).unwrap_or(""))
        )
    }
}
