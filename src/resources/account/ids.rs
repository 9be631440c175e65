//! What the account kind's parts, and the kinds that live inside an account, build on: its
//! api-version and kind id, its plan addresses, the exception that allows a stage, the account an
//! id belongs to, and the lock, gate and re-send that protect writes to it. A leaf: it knows no
//! other part of the account kind.

use crate::blueprint::resolved::{ExceptionKind, Instance};
use crate::model::{Gate, KindId, Resend};
use crate::resources::norm_id;

pub const API_VERSION: &str = "2024-10-01";

pub const KIND: KindId = KindId::new("account");

pub fn address(inst: &Instance, stage: &str) -> String {
    if stage.is_empty() {
        format!("{}/account", inst.name)
    } else {
        format!("{}/account/{stage}", inst.name)
    }
}

pub fn exception_for(inst: &Instance, allows: ExceptionKind) -> Option<String> {
    inst.exceptions
        .iter()
        .find(|e| e.allows == allows)
        .map(|e| format!("{}: {}", e.allows, e.reason))
}

const ACCOUNTS: &str = "/providers/microsoft.cognitiveservices/accounts/";

/// The account an id is, or is a child of (`.../accounts/a/deployments/d` → `.../accounts/a`),
/// in the id's own casing.
pub fn account_of(id: &str) -> Option<&str> {
    let lower = id.to_ascii_lowercase();
    let i = lower.find(ACCOUNTS)? + ACCOUNTS.len();
    let end = lower[i..].find('/').map_or(lower.len(), |j| i + j);
    Some(id[..end].trim_end_matches('/'))
}

/// The lock of writes to an account and its children (ARM answers concurrent ones with
/// RequestConflict).
pub fn lock_of(id: &str) -> Option<String> {
    account_of(id).map(|a| format!("account:{}", norm_id(a)))
}

/// Waits for the account to be Succeeded.
pub fn succeeded_gate(account_id: &str) -> Gate {
    Gate {
        kind: KIND,
        ids: vec![account_id.to_string()],
    }
}

/// How often a write ARM refused because its account was not Succeeded (an update by someone
/// else in flight) is re-sent after waiting for the account again.
const ACCOUNT_STATE_RESENDS: u32 = 5;

/// Writes to an account or its children that ARM refuses while the account is busy
/// (`AccountProvisioningStateInvalid`: the write did not land) wait for it and are re-sent.
pub fn resend_when_busy(id: &str) -> Option<Resend> {
    account_of(id).map(|a| Resend {
        code: "AccountProvisioningStateInvalid".into(),
        gate: succeeded_gate(a),
        times: ACCOUNT_STATE_RESENDS,
    })
}
