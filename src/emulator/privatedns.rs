//! Microsoft.Network/privateDnsZones, their virtual network links and record sets.

use serde_json::{json, Value};

use super::engine::Cx;
use super::error::ApiError;
use super::ids::{normalize_location, ResId, RECORD_TYPES};
use super::store::{props, State};

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

pub fn prepare_zone(
    cx: &mut Cx,
    _id: &ResId,
    mut body: Value,
    existing: Option<&Value>,
) -> Result<Value, ApiError> {
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

/// Counters are derived from the children, never stored.
pub fn render_zone(st: &State, key: &str, body: &mut Value) {
    let links = st.children(key, "virtualNetworkLinks");
    let with_reg = links
        .iter()
        .filter(|l| l.pointer("/properties/registrationEnabled") == Some(&json!(true)))
        .count();
    let p = props(body);
    p.insert(
        "numberOfRecordSets".into(),
        json!(1 + record_sets(st, key).len()),
    );
    p.insert("numberOfVirtualNetworkLinks".into(), json!(links.len()));
    p.insert(
        "numberOfVirtualNetworkLinksWithRegistration".into(),
        json!(with_reg),
    );
}

pub fn before_delete_zone(st: &State, key: &str) -> Result<(), ApiError> {
    if st.children(key, "virtualNetworkLinks").is_empty() {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "CannotDeleteZoneWithVirtualNetworkLinks",
            "The private DNS zone has virtual network links; delete them first.",
        ))
    }
}

pub fn prepare_link(cx: &mut Cx, id: &ResId, mut body: Value) -> Result<Value, ApiError> {
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

pub fn prepare_record(cx: &mut Cx, id: &ResId, mut body: Value) -> Result<Value, ApiError> {
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
pub fn list_records(st: &State, zone: &ResId, rtype: &str) -> Result<Vec<Value>, ApiError> {
    let key = zone.key();
    if !st.exists(&key) {
        return Err(ApiError::not_found(&zone.display()));
    }
    if rtype.eq_ignore_ascii_case("ALL") {
        return Ok(record_sets(st, &key));
    }
    Ok(st.children(&key, rtype))
}
