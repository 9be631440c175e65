//! What every kind shares: moat's ownership marks, field-change records, the action for a
//! control's mode, and the delete record destroy uses.

use serde_json::Value;

use super::{fingerprint, get_str};

use crate::model::FieldChange;

/// Tag moat puts on resources it creates, where the type has tags: the mark of ownership that
/// allows it to delete them later.
pub const OWNER_TAG: &str = "managed-by";
pub const OWNER_VALUE: &str = "moat";
/// Marker moat writes into `description` where a type has no tags (role assignments, NSG rules).
pub const OWNER_MARKER: &str = "[managed by moat]";

/// Whether a resource carries moat's ownership tag.
pub fn owned_by_tag(v: &Value) -> bool {
    get_str(v, &format!("tags.{OWNER_TAG}")).is_some_and(|t| t.eq_ignore_ascii_case(OWNER_VALUE))
}

/// A field change record, only when the values differ under `same`.
pub fn field(
    path: &str,
    before: Option<Value>,
    after: Option<Value>,
    same: bool,
) -> Option<FieldChange> {
    (!same).then(|| FieldChange {
        path: path.to_string(),
        before,
        after,
    })
}

/// The action for a control given its mode, whether the resource exists and what differs.
pub fn outcome(
    mode: crate::blueprint::resolved::Mode,
    exists: bool,
    differs: bool,
) -> crate::model::Action {
    use crate::blueprint::resolved::Mode;
    use crate::model::Action;
    match (mode, exists, differs) {
        (Mode::Verify, true, false) => Action::Verified,
        (Mode::Verify, _, _) => Action::Drift,
        (Mode::Managed, false, _) => Action::Create,
        (Mode::Managed, true, true) => Action::Update,
        (Mode::Managed, true, false) => Action::NoOp,
    }
}

/// A delete of a resource moat created, with what running clients will notice.
pub fn delete_change(
    address: String,
    kind: crate::model::KindId,
    id: &str,
    api_version: &str,
    reason: impl Into<String>,
    risk: impl Into<String>,
    observed: &Value,
) -> crate::model::Change {
    use crate::model::{Action, Change, Write};
    Change::new(
        address,
        kind,
        id,
        Action::Delete,
        reason,
        fingerprint(Some(observed)),
    )
    .with_write(Write::new(
        crate::arm::Method::Delete,
        id,
        api_version,
        None,
    ))
    .with_risk(Some(risk.into()))
}
