//! Static behaviour per resource type (write styles, status codes, etag format, placement), the
//! table of registered types id parsing consults, and ARM's conditional-request rules.

use std::sync::OnceLock;

use serde_json::Value;

use super::config::LroStyle;
use super::error::ApiError;
use super::store::EtagStyle;

/// Static behaviour of a resource kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    pub put: LroStyle,
    /// `None`: PATCH not supported. `Some(Sync)` on tag-only kinds means UpdateTags.
    pub patch: Option<LroStyle>,
    pub delete: LroStyle,
    pub etag: EtagStyle,
    /// Has `properties.provisioningState`.
    pub has_state: bool,
    pub creating: &'static str,
    pub updating: &'static str,
    /// 202 answers carry the resource body (CognitiveServices accounts, PECs).
    pub accepted_body: bool,
    /// Status of a synchronous create (diagnostic settings answer 200, not 201).
    pub create_status: u16,
    pub system_data: bool,
    /// A synchronous DELETE answers 200 with the deleted body (role assignments).
    pub delete_body: bool,
}

impl Spec {
    /// Synchronous everything, no etag, no provisioningState: the behaviour of simple types.
    pub const SYNC: Spec = Spec {
        put: LroStyle::Sync,
        patch: None,
        delete: LroStyle::Sync,
        etag: EtagStyle::None,
        has_state: false,
        creating: "",
        updating: "",
        accepted_body: false,
        create_status: 201,
        system_data: false,
        delete_body: false,
    };
}

/// Where instances of a type live, which decides the scope checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In a resource group, below their parent resource if they have one.
    Resource,
    /// Extension resources hang off any scope (`{scope}/providers/{ns}/{type}/{name}`).
    Extension,
    /// Under `/subscriptions/{s}/providers/...` rather than in a resource group.
    Subscription,
}

/// Azure's serialisation conflicts: a write on a resource whose top-level resource has an
/// operation running (on itself or anything below it) is refused with this error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// 409 RequestConflict (CognitiveServices accounts and their children).
    RequestConflict,
    /// 409 AnotherOperationInProgress (virtual networks and subnets).
    AnotherOperationInProgress,
}

/// One resource type a provider serves: its canonical name and static behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TypeDef {
    /// Canonical `{ns}/{type}[/{child}]`.
    pub name: &'static str,
    pub spec: Spec,
    pub placement: Placement,
    /// Also readable at `/providers/{ns}/{type}/{name}` (built-in role definitions).
    pub tenant: bool,
    pub lock: Option<Lock>,
    /// Seeding order: lower first (things referenced before things referencing them).
    pub seed_rank: u8,
    /// Lists page with `nextLink` when a page size is configured.
    pub pageable: bool,
    /// ARM stores the instance name lower-cased (record sets).
    pub lowercase_name: bool,
    /// Deleting takes the whole subtree into a soft-deleted record (accounts).
    pub soft_delete: bool,
    /// The members a write may carry (its REST spec shape); `None`: stored as sent.
    pub known: Option<&'static Known>,
}

/// The members of a type's REST model at the top level and in `properties`: what ARM keeps
/// of a write (a resource provider drops members its model does not define).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Known {
    pub top: &'static [&'static str],
    pub properties: &'static [&'static str],
}

impl Known {
    /// Drop the members this shape does not define (top level and `properties`).
    pub fn retain(&self, body: &mut Value) {
        let Some(o) = body.as_object_mut() else {
            return;
        };
        o.retain(|k, _| self.top.iter().any(|t| t.eq_ignore_ascii_case(k)));
        if let Some(p) = o.get_mut("properties").and_then(Value::as_object_mut) {
            p.retain(|k, _| self.properties.iter().any(|t| t.eq_ignore_ascii_case(k)));
        }
    }
}

impl TypeDef {
    /// A synchronous, resource-group type with default behaviour; change fields with `..`.
    pub const BASE: TypeDef = TypeDef {
        name: "",
        spec: Spec::SYNC,
        placement: Placement::Resource,
        tenant: false,
        lock: None,
        seed_rank: 11,
        pageable: true,
        lowercase_name: false,
        soft_delete: false,
        known: None,
    };
}

static TYPES: OnceLock<Vec<&'static TypeDef>> = OnceLock::new();

/// Make the registered types known to id parsing (once; later calls are ignored).
pub fn install_types(types: Vec<&'static TypeDef>) {
    let _ = TYPES.set(types);
}

/// The registered type of a canonical name (case-insensitive).
pub fn lookup(full_type: &str) -> Option<&'static TypeDef> {
    TYPES
        .get()?
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(full_type))
        .copied()
}

/// `If-Match` / `If-None-Match` of a request.
#[derive(Debug, Clone, Default)]
pub struct Cond {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        412,
        "PreconditionFailed",
        "The condition specified using HTTP conditional header(s) is not met.",
    )
}

impl Cond {
    /// ARM's conditional-request table (RPC Addendum).
    pub fn check(&self, existing: Option<&Value>, method: &str) -> Result<(), ApiError> {
        match existing {
            None => {
                if method == "PUT" && self.if_match.is_some() {
                    return Err(precondition_failed());
                }
            }
            Some(e) => {
                if let Some(m) = &self.if_match {
                    let m = m.trim();
                    let current = e.get("etag").and_then(Value::as_str);
                    if m != "*"
                        && current != Some(m)
                        && current.map(|c| format!("\"{c}\"")).as_deref() != Some(m)
                    {
                        return Err(precondition_failed());
                    }
                }
                if method == "PUT" && self.if_none_match.as_deref().map(str::trim) == Some("*") {
                    return Err(precondition_failed());
                }
            }
        }
        Ok(())
    }
}
