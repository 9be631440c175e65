//! Microsoft.CognitiveServices private endpoint connections: created by private endpoints,
//! approved or rejected through the account, their state mirrored into the endpoint.

use serde_json::{json, Value};

use super::cognitive::{bad, API_VERSIONS, COGNITIVE};
use crate::emulator::config::LroStyle;
use crate::emulator::cx::Cx;
use crate::emulator::error::ApiError;
use crate::emulator::ids::ResId;
use crate::emulator::provider::{Info, Provider, Write};
use crate::emulator::spec::{Lock, Spec, TypeDef};
use crate::emulator::store::{props, EtagStyle};

pub const PEC_TYPE: &str = "Microsoft.CognitiveServices/accounts/privateEndpointConnections";

/// The connection lists of a private endpoint body.
pub const CONN_LISTS: [&str; 2] = [
    "privateLinkServiceConnections",
    "manualPrivateLinkServiceConnections",
];

const TYPES: &[TypeDef] = &[TypeDef {
    name: PEC_TYPE,
    spec: Spec {
        put: LroStyle::Accepted,
        delete: LroStyle::Accepted,
        has_state: true,
        creating: "Creating",
        updating: "Creating",
        accepted_body: true,
        create_status: 200,
        system_data: false,
        ..COGNITIVE
    },
    lock: Some(Lock::RequestConflict),
    seed_rank: 10,
    pageable: false,
    known: Some(&super::shapes::ACCOUNT_PEC),
    ..TypeDef::BASE
}];

const INFO: Info = Info {
    namespace: "Microsoft.CognitiveServices",
    api_versions: API_VERSIONS,
    types: TYPES,
};

pub struct Connections;

impl Provider for Connections {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        prepare_pec(cx, id, body, existing)
    }

    /// A connection was approved/rejected through the account.
    fn after_commit(&self, cx: &mut Cx, _id: &ResId, body: &Value) {
        after_commit_pec(cx, body);
    }

    /// A connection was deleted on the account side: the endpoint shows Disconnected.
    fn after_delete(&self, cx: &mut Cx, _id: &ResId, body: &Value) {
        pec_removed(cx, body);
    }

    /// Connections (normally created by private endpoints) can be seeded directly for
    /// brownfield states.
    fn seed(&self, cx: &mut Cx, id: &ResId, body: &Value) -> Option<Result<(), ApiError>> {
        let mut body = body.clone();
        body["properties"]["provisioningState"] = Value::String("Succeeded".into());
        body["etag"] = cx
            .st
            .etag(EtagStyle::CognitiveServices, cx.now)
            .map(Value::String)
            .unwrap_or(Value::Null);
        body["id"] = Value::String(id.display());
        body["name"] = Value::String(id.name().to_string());
        body["type"] = Value::String(id.full_type.clone());
        cx.st.insert(body);
        Some(Ok(()))
    }
}

pub fn conn_state(status: &str, description: &str) -> Value {
    json!({ "status": status, "description": description, "actionsRequired": "None" })
}

fn prepare_pec(
    _cx: &mut Cx,
    id: &ResId,
    body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
    let Some(existing) = existing else {
        return Err(ApiError::new(404, "PrivateEndpointConnectionNotFound", format!("Private endpoint connection '{}' does not exist; connections are created by private endpoints.", id.name())));
    };
    let state = body
        .pointer("/properties/privateLinkServiceConnectionState")
        .cloned()
        .ok_or_else(|| bad("properties.privateLinkServiceConnectionState is required."))?;
    let status = state.get("status").and_then(Value::as_str).unwrap_or("");
    if !["Pending", "Approved", "Rejected"].contains(&status) {
        return Err(bad(format!("Invalid connection status '{status}'.")));
    }
    let mut out = existing.clone();
    let mut st = state.clone();
    if st.get("actionsRequired").is_none() {
        st["actionsRequired"] = json!("None");
    }
    props(&mut out).insert("privateLinkServiceConnectionState".into(), st);
    Ok(out)
}

/// Mirror a connection's state into the private endpoint that owns it.
fn set_pe_state(cx: &mut Cx, pec: &Value, state: Value) {
    let Some(pe_id) = pec
        .pointer("/properties/privateEndpoint/id")
        .and_then(Value::as_str)
    else {
        return;
    };
    let acct = pec["id"]
        .as_str()
        .unwrap_or_default()
        .split("/privateEndpointConnections/")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(mut pe) = cx.st.get(pe_id).cloned() else {
        return;
    };
    for list in CONN_LISTS {
        if let Some(arr) = pe
            .pointer_mut(&format!("/properties/{list}"))
            .and_then(Value::as_array_mut)
        {
            for c in arr {
                let t = c
                    .pointer("/properties/privateLinkServiceId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if t == acct {
                    c["properties"]["privateLinkServiceConnectionState"] = state.clone();
                }
            }
        }
    }
    cx.st.insert(pe);
}

/// A connection was approved/rejected through the account.
fn after_commit_pec(cx: &mut Cx, body: &Value) {
    let state = body
        .pointer("/properties/privateLinkServiceConnectionState")
        .cloned()
        .unwrap_or(Value::Null);
    set_pe_state(cx, body, state);
}

/// A connection was deleted on the account side: the endpoint shows Disconnected.
fn pec_removed(cx: &mut Cx, body: &Value) {
    set_pe_state(
        cx,
        body,
        conn_state(
            "Disconnected",
            "The connection was removed by the resource owner.",
        ),
    );
}
