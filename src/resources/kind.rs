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

use std::collections::BTreeMap;

use serde_json::Value;

use crate::arm::{ArmRequest, Method};
use crate::model::{Adopt, Change, Compare, Resend};

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
    /// Properties moat deliberately leaves alone (server-owned, or another tool's business).
    /// `managed` + `ignored` must cover every property of Microsoft's example bodies for the type
    /// (tests/suite/kind_conformance.rs).
    pub ignored: &'static [&'static str],
    /// Whether a write to this kind goes first on its lock: the cutover's critical path (a
    /// private endpoint, ARM's longest operation, which everything network-side waits for).
    pub first_on_lock: bool,
}

/// One ARM read a kind needs. Reads are keyed by request, so two instances (or two kinds)
/// asking for the same thing share one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// `Get` of one resource (404 = absent), or a list (paged, `value` items collected).
    pub list: bool,
    pub path: String,
    pub api_version: &'static str,
    pub query: Vec<(String, String)>,
}

impl Read {
    pub fn get(path: impl Into<String>, api_version: &'static str) -> Read {
        Read {
            list: false,
            path: path.into(),
            api_version,
            query: Vec::new(),
        }
    }

    pub fn list(path: impl Into<String>, api_version: &'static str) -> Read {
        Read {
            list: true,
            ..Read::get(path, api_version)
        }
    }

    pub fn with_query(mut self, name: &str, value: impl Into<String>) -> Read {
        self.query.push((name.to_string(), value.into()));
        self
    }

    /// The cache key: method, case-normalised path, api-version and query.
    pub fn key(&self) -> String {
        let mut k = format!(
            "{} {}?api-version={}",
            if self.list { "LIST" } else { "GET" },
            super::norm_id(&self.path),
            self.api_version
        );
        for (n, v) in &self.query {
            k.push_str(&format!("&{n}={v}"));
        }
        k
    }

    /// The request that performs it (the ARM client pages lists itself).
    pub fn request(&self) -> ArmRequest {
        let mut r = ArmRequest::new(Method::Get, self.path.clone(), self.api_version);
        for (n, v) in &self.query {
            r = r.with_query(n, v.clone());
        }
        r
    }
}

/// Results of reads: `None` for a resource that does not exist; a list's items as an array.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reads(BTreeMap<String, Option<Value>>);

impl Reads {
    pub fn insert(&mut self, read: &Read, value: Option<Value>) {
        self.0.insert(read.key(), value);
    }

    /// `None` when the read has not been done yet; `Some(None)` when the resource is absent.
    pub fn result(&self, read: &Read) -> Option<Option<&Value>> {
        self.0.get(&read.key()).map(Option::as_ref)
    }

    /// The resource, when read and present.
    pub fn value(&self, read: &Read) -> Option<&Value> {
        self.result(read).flatten()
    }

    /// The items of a list read (empty when not read).
    pub fn items(&self, read: &Read) -> &[Value] {
        self.value(read)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
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

/// One ARM resource kind. Provided methods are the common case; a kind overrides what differs.
pub trait Kind: Sync {
    fn meta(&self) -> &'static Meta;

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

/// A provisioning state ARM never leaves by itself (the last operation on the resource failed).
pub fn terminal_failure(state: &str) -> bool {
    state.eq_ignore_ascii_case("Failed") || state.eq_ignore_ascii_case("Canceled")
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
