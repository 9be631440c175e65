//! Static behaviour per resource kind (write styles, status codes, etag format) and ARM's
//! conditional-request rules.

use serde_json::Value;

use super::config::LroStyle;
use super::error::ApiError;
use super::ids::Kind;
use super::store::EtagStyle;

/// Static behaviour of a resource kind.
#[derive(Debug, Clone, Copy)]
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
}

const NET: Spec = Spec {
    put: LroStyle::AsyncBody,
    patch: Some(LroStyle::Sync),
    delete: LroStyle::Accepted,
    etag: EtagStyle::Network,
    has_state: true,
    creating: "Updating",
    updating: "Updating",
    accepted_body: false,
    create_status: 201,
    system_data: false,
};

pub fn spec(kind: Kind) -> Spec {
    use LroStyle::*;
    match kind {
        Kind::Account => Spec {
            put: AsyncBody,
            patch: Some(Accepted),
            delete: Accepted,
            etag: EtagStyle::CognitiveServices,
            has_state: true,
            creating: "Creating",
            updating: "Accepted",
            accepted_body: true,
            create_status: 201,
            system_data: true,
        },
        Kind::Deployment => Spec {
            put: AsyncBody,
            patch: Some(Accepted),
            delete: Accepted,
            etag: EtagStyle::CognitiveServices,
            has_state: true,
            creating: "Accepted",
            updating: "Accepted",
            accepted_body: false,
            create_status: 201,
            system_data: true,
        },
        Kind::RaiPolicy => Spec {
            put: Sync,
            patch: None,
            delete: Accepted,
            etag: EtagStyle::CognitiveServices,
            has_state: false,
            creating: "",
            updating: "",
            accepted_body: false,
            create_status: 201,
            system_data: true,
        },
        Kind::PrivateEndpointConnection => Spec {
            put: Accepted,
            patch: None,
            delete: Accepted,
            etag: EtagStyle::CognitiveServices,
            has_state: true,
            creating: "Creating",
            updating: "Creating",
            accepted_body: true,
            create_status: 200,
            system_data: false,
        },
        Kind::VirtualNetwork | Kind::Nsg => NET,
        Kind::Subnet | Kind::SecurityRule | Kind::PrivateEndpoint | Kind::ZoneGroup => {
            Spec { patch: None, ..NET }
        }
        Kind::DnsZone | Kind::VnetLink => Spec {
            put: Accepted,
            patch: Some(Accepted),
            delete: Accepted,
            etag: EtagStyle::PrivateDns,
            has_state: true,
            creating: "Creating",
            updating: "Updating",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
        Kind::RecordSet => Spec {
            put: Sync,
            patch: Some(Sync),
            delete: Sync,
            etag: EtagStyle::PrivateDns,
            has_state: false,
            creating: "",
            updating: "",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
        Kind::RoleAssignment => Spec {
            put: Sync,
            patch: None,
            delete: Sync,
            etag: EtagStyle::None,
            has_state: false,
            creating: "",
            updating: "",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
        Kind::DiagnosticSetting => Spec {
            create_status: 200,
            ..spec(Kind::RoleAssignment)
        },
        Kind::Workspace => Spec {
            put: AsyncBody,
            patch: Some(Sync),
            delete: Accepted,
            etag: EtagStyle::None,
            has_state: true,
            creating: "Creating",
            updating: "Updating",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
        _ => Spec {
            put: Sync,
            patch: None,
            delete: Sync,
            etag: EtagStyle::None,
            has_state: false,
            creating: "",
            updating: "",
            accepted_body: false,
            create_status: 201,
            system_data: false,
        },
    }
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
