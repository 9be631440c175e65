//! The resource-kind interface: what one ARM resource kind owns, behind one trait.
//!
//! Every kind moat manages is one file in `src/resources/` with one `impl Kind`, listed once in
//! [`super::registry`]. The rest of moat reaches kind knowledge only through this interface:
//! the planner asks kinds for their changes and for the apply directives written into the plan
//! (lock key, re-send rule, adoption rule, priority); apply carries those directives out and
//! checks gates by asking the gate's kind whether it holds. Everything here is pure: a kind
//! never talks to ARM itself, it names the reads it needs ([`Read`]) and is given their results
//! ([`Reads`]).
//!
//! Why a trait and not a data table: most of what a kind owns is data ([`Meta`]: label, ARM
//! type, api-version, managed and ignored fields, sharing, priority), but the rest — the desired
//! body, normalisation, readiness — is logic that differs per kind. A trait keeps both in the
//! kind's file, and its provided methods give every kind the common behaviour for free.

use serde_json::Value;

pub use super::cutover::Stage;
use crate::blueprint::resolved::Instance;
pub use crate::model::observed::{Read, Reads};
use crate::model::{Adopt, Change, Compare, Gate, Resend};

/// What a kind declares as data.
#[derive(Debug)]
pub struct Meta {
    /// The kind's name in plans and renderings (`vnet-link`); also its serde name.
    pub label: &'static str,
    /// The ARM resource type (`Microsoft.Network/privateDnsZones/virtualNetworkLinks`).
    pub arm_type: &'static str,
    pub api_version: &'static str,
    /// One resource serves several instances (NSG rules, zones, links, subnets): the planner
    /// emits its change once, and later instances depend on it.
    pub shared: bool,
    /// Properties moat compares and writes (dotted paths in the ARM body; `[]` marks an array).
    pub managed: &'static [&'static str],
    /// Server-owned properties the kind names because it writes whole bodies: a PUT built from
    /// the live body leaves them out. Never compared, like `ignored`.
    pub read_only: &'static [&'static str],
    /// Properties moat deliberately leaves alone (server-owned, or another tool's business).
    /// `managed` + `read_only` + `ignored` must cover every property of Microsoft's example bodies
    /// for the type (tests/suite/kind_conformance.rs).
    pub ignored: &'static [&'static str],
    /// Whether a write to this kind goes first on its lock: the cutover's critical path (a
    /// private endpoint, ARM's longest operation, which everything network-side waits for).
    pub first_on_lock: bool,
    /// Live values of managed fields that are weaker than any value the blueprint declares:
    /// `(dotted path, value as compact JSON)`, `(absent)` for a missing field, compared without
    /// case. An update away from one of them, with no exception, is a **regression** in the
    /// plan (live state weaker than what the blueprint already says: drift since the last apply,
    /// or an instance not hardened yet).
    pub weak: &'static [(&'static str, &'static str)],
}

/// Whether a gate holds, given the reads done so far.
#[derive(Debug, Clone, PartialEq)]
pub enum Ready {
    Yes,
    /// Not yet: what is missing (waiting may help).
    Wait(String),
    /// Cannot come true without another write (a Failed provisioning state).
    Never(String),
    /// These reads are needed to decide (performed, then asked again).
    Need(Vec<Read>),
}

impl Ready {
    /// `Need` the read unless it has been done; otherwise its result.
    pub fn read(seen: &Reads, read: Read) -> Result<Option<&Value>, Ready> {
        match seen.result(&read) {
            Some(v) => Ok(v),
            None => Err(Ready::Need(vec![read])),
        }
    }
}

/// Normalised ids of shared resources other instances of the blueprint use.
pub type InUse = std::collections::HashSet<String>;

/// What a kind plans for one instance.
#[derive(Debug, Default)]
pub struct Planned {
    /// Each change with its place in the cutover.
    pub changes: Vec<(Stage, Change)>,
    /// Findings that are not changes.
    pub notes: Vec<String>,
    /// Nothing else is safe to plan for this instance (an account moat refuses to touch).
    pub halt: bool,
}

impl Planned {
    pub fn of(stage: Stage, changes: impl IntoIterator<Item = Change>) -> Planned {
        Planned {
            changes: changes.into_iter().map(|c| (stage, c)).collect(),
            ..Planned::default()
        }
    }
}

/// One ARM resource kind. Provided methods are the common case; a kind overrides what differs.
pub trait Kind: Sync {
    fn meta(&self) -> &'static Meta;

    /// The reads this kind needs for `inst`, given what has been read so far. The observer asks
    /// every kind again after each round, so a read named by an earlier result (the zone group of
    /// an endpoint that exists) comes in a later round; a read already done is not repeated.
    fn reads(&self, _inst: &Instance, _seen: &Reads) -> Vec<Read> {
        Vec::new()
    }

    /// The changes that bring `inst` to the blueprint, from the reads (pure).
    fn changes(&self, _inst: &Instance, _seen: &Reads) -> Planned {
        Planned::default()
    }

    /// The deletes `moat destroy` plans for this kind's resources of `inst`: only what moat
    /// created, never what another instance of the blueprint uses (`in_use`: normalised ids).
    fn destroy(&self, _inst: &Instance, _seen: &Reads, _in_use: &InUse) -> Planned {
        Planned::default()
    }

    /// Ids of the shared resources `inst` declares (what destroying another instance keeps).
    fn uses(&self, _inst: &Instance) -> Vec<String> {
        Vec::new()
    }

    /// The gate later stages wait for when they wait for this kind's changes in `stage` to be
    /// ready (`cutover::Wait::Ready`). `changes`: every change of the stage, of any kind.
    fn gate(&self, _inst: &Instance, _stage: Stage, _changes: &[&Change]) -> Option<Gate> {
        None
    }

    /// The serialisation key of a write to `change`: writes sharing a key never run at once
    /// (ARM answers concurrent writes to one account, VNet or NSG with a conflict).
    fn lock(&self, _change: &Change) -> Option<String> {
        None
    }

    /// A refusal apply waits out and re-sends.
    fn resend(&self, _change: &Change) -> Option<Resend> {
        None
    }

    /// Adoption of an equal resource that exists under another name.
    fn adopt(&self, _change: &Change) -> Option<Adopt> {
        None
    }

    /// Whether a gate of this kind holds (`ids` as the planner wrote them).
    fn ready(&self, _ids: &[String], _seen: &Reads) -> Ready {
        Ready::Yes
    }

    /// The gate in a sentence, for renderings and errors.
    fn describe_gate(&self, ids: &[String]) -> String {
        format!("{} ready", ids.join(", "))
    }
}

/// `type/name`: the last two segments of an id, enough to name a resource in a sentence.
pub fn short(id: &str) -> String {
    let parts: Vec<&str> = id.trim_end_matches('/').rsplit('/').take(2).collect();
    match parts.as_slice() {
        [name, ty] => format!("{ty}/{name}"),
        _ => id.to_string(),
    }
}

/// A gate on `what` (e.g. "account") `id` being in provisioningState Succeeded: `None` when it
/// is, `Never` for a state ARM never leaves by itself (the last operation failed) or one it does
/// not document ([`crate::arm::lro::classify_state`]: waiting for it would only use up the
/// budget), `Wait` while it is in progress or the resource is `absent`.
pub fn provisioning_gate(what: &str, id: &str, state: Option<&str>) -> Option<Ready> {
    use crate::arm::lro::{classify_state, StateClass};
    let Some(state) = state else {
        return Some(Ready::Wait(format!("{what} provisioningState absent")));
    };
    match classify_state(state) {
        StateClass::Succeeded => None,
        StateClass::Failed => Some(Ready::Never(format!("{what} provisioningState {state}"))),
        StateClass::InProgress => Some(Ready::Wait(format!("{what} provisioningState {state}"))),
        StateClass::Unknown => Some(Ready::Never(format!(
            "{what} {id} reports provisioningState {state:?}, which is not a state ARM \
             documents; waiting for it cannot help"
        ))),
    }
}

/// The id of the first live item that matches every field of an adoption rule.
pub fn adopted_id(adopt: &Adopt, items: &[Value]) -> Option<String> {
    items.iter().find_map(|item| {
        let all = adopt.matches.iter().all(|m| {
            super::get_str(item, &m.path).is_some_and(|live| match m.compare {
                Compare::Text => live.eq_ignore_ascii_case(&m.value),
                Compare::Id => super::id_eq(live, &m.value),
                Compare::LastSegment => {
                    super::last_segment(live).eq_ignore_ascii_case(super::last_segment(&m.value))
                }
            })
        });
        all.then(|| super::get_str(item, "id").map(str::to_string))
            .flatten()
    })
}
