//! ARM ids and JSON values: how moat compares them and reads and writes dotted paths. Pure, and
//! imported by everything that looks at ARM bodies (kinds, the observer, the plan model).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `/a/B/c` vs `/A/b/C/`: ARM ids compare case-insensitively, without a trailing slash.
pub fn id_eq(a: &str, b: &str) -> bool {
    norm_id(a) == norm_id(b)
}

pub fn norm_id(id: &str) -> String {
    let t = id.trim().trim_end_matches('/');
    let t = if t.starts_with('/') {
        t.to_string()
    } else {
        format!("/{t}")
    };
    t.to_ascii_lowercase()
}

/// "East US" and "eastus" are the same region.
pub fn location_eq(a: &str, b: &str) -> bool {
    norm_location(a) == norm_location(b)
}

pub fn norm_location(l: &str) -> String {
    l.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Enum values ARM returns in its own casing (`Prompt` / `prompt`).
pub fn enum_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The last path segment of an id (a resource's name, a role definition's GUID).
/// The segment after the first `key` segment (case-insensitive) of an ARM id.
pub fn segment_after_ci(id: &str, key: &str) -> Option<String> {
    let segs: Vec<&str> = id.split('/').collect();
    let i = segs.iter().position(|s| s.eq_ignore_ascii_case(key))?;
    segs.get(i + 1).map(|s| s.to_string())
}

pub fn last_segment(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// Read a dotted path (`properties.networkAcls.defaultAction`).
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path.split('.') {
        cur = cur.get(seg)?;
    }
    if cur.is_null() {
        None
    } else {
        Some(cur)
    }
}

pub fn get_str<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

pub fn get_bool(v: &Value, path: &str) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// Set a dotted path, creating objects on the way.
pub fn set(v: &mut Value, path: &str, value: Value) {
    let mut cur = v;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("just made an object");
        if segs.peek().is_none() {
            obj.insert(seg.to_string(), value);
            return;
        }
        cur = obj
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Remove a dotted path if present.
pub fn remove(v: &mut Value, path: &str) {
    let (parent, leaf) = match path.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, path),
    };
    let target = match parent {
        Some(p) => {
            let mut cur = &mut *v;
            for seg in p.split('.') {
                match cur.get_mut(seg) {
                    Some(next) => cur = next,
                    None => return,
                }
            }
            cur
        }
        None => v,
    };
    if let Some(obj) = target.as_object_mut() {
        obj.remove(leaf);
    }
}

/// A copy of an observed body suitable as the base of a full PUT: read-only fields removed, so
/// that every writable property ARM returned (including ones newer than moat) is sent back as is.
pub fn writable_copy(observed: &Value, read_only: &[&str]) -> Value {
    let mut body = observed.clone();
    for p in ["id", "name", "type", "etag", "systemData"]
        .iter()
        .chain(read_only.iter())
    {
        remove(&mut body, p);
    }
    body
}

/// The fingerprint of an observed resource: its etag when it has one, else a digest of its body
/// without the fields that change on every read. `absent` when it does not exist.
pub fn fingerprint(observed: Option<&Value>) -> String {
    let Some(v) = observed else {
        return "absent".to_string();
    };
    if let Some(etag) = v.get("etag").and_then(Value::as_str) {
        return format!("etag:{etag}");
    }
    let mut copy = v.clone();
    remove(&mut copy, "systemData");
    remove(&mut copy, "properties.updatedOn");
    format!("sha256:{}", digest_json(&copy))
}

/// sha256 of a JSON value in canonical form (object keys sorted).
pub fn digest_json(v: &Value) -> String {
    let mut buf = Vec::with_capacity(1024);
    canonical(v, &mut buf);
    hex::encode(Sha256::digest(&buf))
}

/// The canonical form: compact JSON with object keys sorted, and a `,` after every member and
/// element (saved plans' digests are over exactly these bytes: do not change them).
fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut members: Vec<(&String, &Value)> = m.iter().collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (k, x) in members {
                serde_json::to_writer(&mut *out, k).expect("writing to a Vec cannot fail");
                out.push(b':');
                canonical(x, out);
                out.push(b',');
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for x in a {
                canonical(x, out);
                out.push(b',');
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other).expect("writing to a Vec cannot fail"),
    }
}

/// Compare two string lists as sets, case-insensitively (CIDRs, FQDNs, ids).
pub fn set_eq_ci(a: &[String], b: &[String]) -> bool {
    let mut x: Vec<String> = a.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
    let mut y: Vec<String> = b.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
    x.sort();
    x.dedup();
    y.sort();
    y.dedup();
    x == y
}

pub fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn json_strs(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/...` → `s`.
pub fn subscription_of(id: &str) -> Option<&str> {
    let mut it = id.trim_start_matches('/').split('/');
    loop {
        match it.next() {
            Some(seg) if seg.eq_ignore_ascii_case("subscriptions") => return it.next(),
            Some(_) => continue,
            None => return None,
        }
    }
}

/// The parent id of a child resource id (`.../virtualNetworks/v/subnets/s` → `.../virtualNetworks/v`).
pub fn parent_id(id: &str) -> &str {
    let t = id.trim_end_matches('/');
    match t.rsplitn(3, '/').nth(2) {
        Some(p) => p,
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_canonical_digest_is_pinned() {
        // Saved plans carry this digest: its bytes must never change. The expected value is the
        // sha256 of `{"a":{"y":"é","z":1,},"b":[1,"x\"y",null,true,2.5,],}`, computed outside moat.
        let v = json!({"b": [1, "x\"y", null, true, 2.5], "a": {"z": 1, "y": "é"}});
        assert_eq!(
            digest_json(&v),
            "07cf8431b7a3a9c3de1f8d0bd2fc23c091335e6e5c7609f01cd46497244837b5"
        );
    }

    #[test]
    fn ids_compare_case_insensitively_and_without_trailing_slash() {
        assert!(id_eq(
            "/subscriptions/A/resourceGroups/RG",
            "/subscriptions/a/resourcegroups/rg/"
        ));
        assert!(id_eq("subscriptions/a", "/subscriptions/A"));
        assert!(!id_eq("/subscriptions/a/x", "/subscriptions/a/y"));
    }

    #[test]
    fn locations_ignore_case_and_spaces() {
        assert!(location_eq("East US", "eastus"));
        assert!(!location_eq("eastus2", "eastus"));
    }

    #[test]
    fn set_and_get_and_remove_dotted_paths() {
        let mut v = json!({});
        set(
            &mut v,
            "properties.networkAcls.defaultAction",
            json!("Deny"),
        );
        assert_eq!(
            get_str(&v, "properties.networkAcls.defaultAction"),
            Some("Deny")
        );
        remove(&mut v, "properties.networkAcls.defaultAction");
        assert_eq!(get(&v, "properties.networkAcls.defaultAction"), None);
        remove(&mut v, "no.such.path");
    }

    #[test]
    fn fingerprint_prefers_etag_and_ignores_system_data() {
        assert_eq!(fingerprint(None), "absent");
        assert_eq!(
            fingerprint(Some(&json!({"etag": "W/\"1\""}))),
            "etag:W/\"1\""
        );
        let a = json!({"properties": {"x": 1}, "systemData": {"createdAt": "1"}});
        let b = json!({"systemData": {"createdAt": "2"}, "properties": {"x": 1}});
        assert_eq!(fingerprint(Some(&a)), fingerprint(Some(&b)));
        let c = json!({"properties": {"x": 2}});
        assert_ne!(fingerprint(Some(&a)), fingerprint(Some(&c)));
    }

    #[test]
    fn parent_and_subscription_of_ids() {
        let id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/sn";
        assert_eq!(
            parent_id(id),
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
        );
        assert_eq!(subscription_of(id), Some("s1"));
        assert_eq!(last_segment(id), "sn");
    }

    #[test]
    fn writable_copy_strips_read_only_fields() {
        let v = json!({"id": "x", "name": "n", "etag": "e", "properties": {"provisioningState": "Succeeded", "a": 1}});
        let w = writable_copy(&v, &["properties.provisioningState"]);
        assert_eq!(w, json!({"properties": {"a": 1}}));
    }
}
