//! Microsoft.Network/privateDnsZones, their virtual network links and record sets.

use serde_json::{json, Value};

use crate::emulator::config::{EmulatorConfig, LroStyle};
use crate::emulator::cx::Cx;
use crate::emulator::engine::list_reply;
use crate::emulator::error::{ApiError, HResult};
use crate::emulator::ids::{normalize_location, ResId};
use crate::emulator::provider::{Info, Provider, Request, Write};
use crate::emulator::routes::list_start;
use crate::emulator::spec::{Spec, TypeDef};
use crate::emulator::store::{is_type, props, EtagStyle, State};

const ZONE_TYPE: &str = "Microsoft.Network/privateDnsZones";
const LINK_TYPE: &str = "Microsoft.Network/privateDnsZones/virtualNetworkLinks";

/// Record types of private DNS zones.
const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "PTR", "SOA", "SRV", "TXT"];

const ZONE_SPEC: Spec = Spec {
    put: LroStyle::Accepted,
    patch: Some(LroStyle::Accepted),
    delete: LroStyle::Accepted,
    etag: EtagStyle::PrivateDns,
    has_state: true,
    creating: "Creating",
    updating: "Updating",
    ..Spec::SYNC
};

const fn record(name: &'static str) -> TypeDef {
    TypeDef {
        name,
        spec: Spec {
            patch: Some(LroStyle::Sync),
            etag: EtagStyle::PrivateDns,
            ..Spec::SYNC
        },
        seed_rank: 5,
        lowercase_name: true,
        known: Some(&super::shapes::RECORD_SET),
        ..TypeDef::BASE
    }
}

const TYPES: &[TypeDef] = &[
    TypeDef {
        name: ZONE_TYPE,
        spec: ZONE_SPEC,
        seed_rank: 5,
        known: Some(&super::shapes::DNS_ZONE),
        ..TypeDef::BASE
    },
    TypeDef {
        name: LINK_TYPE,
        spec: ZONE_SPEC,
        seed_rank: 5,
        known: Some(&super::shapes::VNET_LINK),
        ..TypeDef::BASE
    },
    record("Microsoft.Network/privateDnsZones/A"),
    record("Microsoft.Network/privateDnsZones/AAAA"),
    record("Microsoft.Network/privateDnsZones/CNAME"),
    record("Microsoft.Network/privateDnsZones/MX"),
    record("Microsoft.Network/privateDnsZones/PTR"),
    record("Microsoft.Network/privateDnsZones/SOA"),
    record("Microsoft.Network/privateDnsZones/SRV"),
    record("Microsoft.Network/privateDnsZones/TXT"),
];

const INFO: Info = Info {
    namespace: "Microsoft.Network",
    api_versions: &["2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"],
    types: TYPES,
};

pub struct PrivateDns;

impl Provider for PrivateDns {
    fn info(&self) -> &'static Info {
        &INFO
    }

    /// Record set lists: `{zone}/ALL` or `{zone}/{type}`.
    fn serve(&self, cx: &mut Cx, req: &Request) -> Option<HResult> {
        let id = req.id()?;
        let is_record_list = id.types.len() == 2
            && id.names.len() == 1
            && id.types[0].eq_ignore_ascii_case("privateDnsZones")
            && (id.ty.is_some_and(|t| t.lowercase_name) || id.types[1].eq_ignore_ascii_case("ALL"));
        if !is_record_list || req.method != "GET" {
            return None;
        }
        Some(list_record_sets(cx, req, id))
    }

    fn prepare(&self, cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        let Write { id, body, existing } = w;
        match id.full_type.as_str() {
            ZONE_TYPE => prepare_zone(cx, body, existing),
            LINK_TYPE => prepare_link(cx, id, body),
            _ => prepare_record(cx, id, body),
        }
    }

    fn after_commit(&self, cx: &mut Cx, id: &ResId, body: &Value) {
        if id.is(ZONE_TYPE) {
            ensure_soa(cx, id, body);
        }
    }

    fn before_delete(&self, cx: &mut Cx, id: &ResId, _body: &Value) -> Result<(), ApiError> {
        if id.is(ZONE_TYPE) {
            before_delete_zone(cx.st, &id.key())
        } else {
            Ok(())
        }
    }

    fn render(&self, st: &State, _cfg: &EmulatorConfig, key: &str, body: &mut Value) {
        if is_type(body, ZONE_TYPE) {
            render_zone(st, key, body);
        }
    }
}

fn list_record_sets(cx: &Cx, req: &Request, id: &ResId) -> HResult {
    let skip = list_start(cx, id, req.query)?;
    let mut zone = id.clone();
    zone.types.truncate(1);
    zone.full_type = ZONE_TYPE.into();
    let items = list_records(cx.st, &zone, &id.types[1])?;
    Ok(list_reply(cx, req.path, req.query, items, skip, true))
}

fn global_location(body: &mut Value) -> Result<(), ApiError> {
    let loc = body
        .get("location")
        .and_then(Value::as_str)
        .map(normalize_location)
        .unwrap_or_else(|| "global".into());
    if loc != "global" {
        return Err(ApiError::bad_request(
            "InvalidLocation",
            format!("Private DNS resources must be in location 'global', not '{loc}'."),
        ));
    }
    body["location"] = json!("global");
    Ok(())
}

fn prepare_zone(cx: &mut Cx, mut body: Value, existing: Option<&Value>) -> Result<Value, ApiError> {
    global_location(&mut body)?;
    let internal = existing
        .and_then(|e| e.pointer("/properties/internalId").cloned())
        .unwrap_or_else(|| json!(cx.st.new_guid("zone")));
    let p = props(&mut body);
    p.insert("maxNumberOfRecordSets".into(), json!(5000));
    p.insert("maxNumberOfVirtualNetworkLinks".into(), json!(100));
    p.insert(
        "maxNumberOfVirtualNetworkLinksWithRegistration".into(),
        json!(50),
    );
    p.insert("internalId".into(), internal);
    Ok(body)
}

fn record_sets(st: &State, zone_key: &str) -> Vec<Value> {
    RECORD_TYPES
        .iter()
        .flat_map(|t| st.children(zone_key, t))
        .collect()
}

/// Azure creates every zone with its SOA record set `@` (Microsoft's examples: a new zone has
/// `numberOfRecordSets: 1`, and `{zone}/ALL` lists the SOA).
fn ensure_soa(cx: &mut Cx, zone: &ResId, body: &Value) {
    let zone_id = body["id"].as_str().unwrap_or_default().to_string();
    let key = format!("{}/soa/@", zone.key());
    if zone_id.is_empty() || cx.st.exists(&key) {
        return;
    }
    let etag = cx.st.etag(EtagStyle::PrivateDns, cx.now);
    let mut soa = json!({
        "id": format!("{zone_id}/SOA/@"),
        "name": "@",
        "type": "Microsoft.Network/privateDnsZones/SOA",
        "properties": {
            "ttl": 3600,
            "fqdn": format!("{}.", zone.name()),
            "isAutoRegistered": false,
            "soaRecord": {
                "host": "azureprivatedns.net",
                "email": "azureprivatedns-host.microsoft.com",
                "serialNumber": 1,
                "refreshTime": 3600,
                "retryTime": 300,
                "expireTime": 2419200,
                "minimumTtl": 10
            }
        }
    });
    if let Some(e) = etag {
        soa["etag"] = json!(e);
    }
    cx.st.insert(soa);
}

/// Counters are derived from the children, never stored.
fn render_zone(st: &State, key: &str, body: &mut Value) {
    let links = st.children(key, "virtualNetworkLinks");
    let with_reg = links
        .iter()
        .filter(|l| l.pointer("/properties/registrationEnabled") == Some(&json!(true)))
        .count();
    let p = props(body);
    p.insert(
        "numberOfRecordSets".into(),
        json!(record_sets(st, key).len()),
    );
    p.insert("numberOfVirtualNetworkLinks".into(), json!(links.len()));
    p.insert(
        "numberOfVirtualNetworkLinksWithRegistration".into(),
        json!(with_reg),
    );
}

fn before_delete_zone(st: &State, key: &str) -> Result<(), ApiError> {
    if st.children(key, "virtualNetworkLinks").is_empty() {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "CannotDeleteZoneWithVirtualNetworkLinks",
            "The private DNS zone has virtual network links; delete them first.",
        ))
    }
}

fn prepare_link(cx: &mut Cx, id: &ResId, mut body: Value) -> Result<Value, ApiError> {
    global_location(&mut body)?;
    let vnet = body
        .pointer("/properties/virtualNetwork/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidRequestFormat",
                "properties.virtualNetwork.id is required.",
            )
        })?;
    let stored = cx
        .st
        .get(&vnet)
        .ok_or_else(|| ApiError::invalid_reference(&id.display(), &vnet))?;
    let vnet_id = stored["id"].clone();
    let zone = id.parent().expect("links have a parent").key();
    let dup = cx
        .st
        .children(&zone, "virtualNetworkLinks")
        .into_iter()
        .any(|l| {
            !l["name"]
                .as_str()
                .unwrap_or_default()
                .eq_ignore_ascii_case(id.name())
                && l.pointer("/properties/virtualNetwork/id")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(&vnet))
        });
    if dup {
        return Err(ApiError::conflict(
            "Conflict",
            format!("A virtual network link to {vnet} already exists in this zone."),
        ));
    }
    let p = props(&mut body);
    p.insert("virtualNetwork".into(), json!({ "id": vnet_id }));
    p.entry("registrationEnabled").or_insert(json!(false));
    p.entry("resolutionPolicy").or_insert(json!("Default"));
    p.insert("virtualNetworkLinkState".into(), json!("Completed"));
    Ok(body)
}

fn prepare_record(cx: &mut Cx, id: &ResId, mut body: Value) -> Result<Value, ApiError> {
    let zone = id.parent().expect("record sets have a parent");
    let zone_name = cx
        .st
        .get(&zone.key())
        .and_then(|z| z["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let rtype = id.full_type.rsplit('/').next().unwrap_or("A").to_string();
    let label = id.name().to_ascii_lowercase();
    let fqdn = if label == "@" {
        format!("{zone_name}.")
    } else {
        format!("{label}.{zone_name}.")
    };
    let p = props(&mut body);
    p.entry("ttl").or_insert(json!(3600));
    p.insert("fqdn".into(), json!(fqdn));
    p.insert("isAutoRegistered".into(), json!(false));
    let list = format!("{}Records", rtype.to_ascii_lowercase());
    if rtype == "A" || rtype == "AAAA" {
        p.entry(list).or_insert(json!([]));
    }
    Ok(body)
}

/// GET `{zone}/ALL` or `{zone}/{type}`.
fn list_records(st: &State, zone: &ResId, rtype: &str) -> Result<Vec<Value>, ApiError> {
    let key = zone.key();
    if !st.exists(&key) {
        return Err(ApiError::not_found(&zone.display()));
    }
    if rtype.eq_ignore_ascii_case("ALL") {
        return Ok(record_sets(st, &key));
    }
    Ok(st.children(&key, rtype))
}
