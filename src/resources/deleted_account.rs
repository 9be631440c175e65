//! `Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts`: a soft-deleted account
//! that holds the name the blueprint wants. moat only reads it and, when the blueprint says
//! `softDelete: purge`, deletes (purges) it; `restore` goes through the account's create.

use super::kind::{Kind, Meta};
use crate::model::KindId;

pub const KIND: KindId = KindId::new("deleted-account");

pub struct DeletedAccountKind;

static META: Meta = Meta {
    label: "deleted-account",
    arm_type: "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts",
    api_version: super::account::API_VERSION,
    shared: false,
    managed: &[],
    read_only: &[],
    ignored: &["kind", "location", "sku", "tags", "properties", "identity"],
    first_on_lock: false,
    weak: &[],
};

impl Kind for DeletedAccountKind {
    fn meta(&self) -> &'static Meta {
        &META
    }
}
