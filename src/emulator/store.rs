//! The emulated world: resources keyed by lower-cased id (bodies keep the caller's casing),
//! soft-deleted accounts, account keys, operations in flight. Serialisable as a whole, written
//! atomically (temp file + rename) when a state file is configured.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::clock::rfc3339;
use super::ops::Operation;

/// A soft-deleted account with everything that lived under it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedAccount {
    /// The account body as it was (display id inside).
    pub account: Value,
    /// `(key, body)` of child resources, restored with the account.
    pub children: Vec<(String, Value)>,
    pub location: String,
    pub deleted_at_ns: u64,
    pub purge_at_ns: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub resources: BTreeMap<String, Value>,
    /// Keyed by lower-cased `/subscriptions/{s}/providers/Microsoft.CognitiveServices/locations/
    /// {loc}/resourceGroups/{rg}/deletedAccounts/{name}`.
    pub deleted: BTreeMap<String, DeletedAccount>,
    /// Account key → [key1, key2].
    pub keys: BTreeMap<String, [String; 2]>,
    /// Key Vault secrets (data plane): `{vault host}/{secret name}` (lower-case) → versions,
    /// oldest first, each the full secret bundle.
    #[serde(default)]
    pub secrets: BTreeMap<String, Vec<Value>>,
    /// The activity log's events (`providers/activity_log.rs`), in the order they happened.
    #[serde(default)]
    pub activity: Vec<Value>,
    pub ops: BTreeMap<String, Operation>,
    /// Principal object id (lower-case) → unknown to the directory until this time (ns).
    pub new_principals: BTreeMap<String, u64>,
    /// Monotonic counter behind etags and generated ids (deterministic across runs).
    pub counter: u64,
    #[serde(skip)]
    pub dirty: bool,
}

/// The etag formats seen per resource provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtagStyle {
    None,
    /// `W/"datetime'2017-04-10T04%3A42%3A19.7067387Z'"`
    CognitiveServices,
    /// `W/"<guid>"`
    Network,
    /// `<guid>`
    PrivateDns,
}

impl State {
    pub fn next_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A deterministic GUID (from the counter and a salt).
    pub fn new_guid(&mut self, salt: &str) -> String {
        let n = self.next_counter();
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{salt}#{n}").as_bytes()).to_string()
    }

    pub fn etag(&mut self, style: EtagStyle, now: Duration) -> Option<String> {
        match style {
            EtagStyle::None => None,
            EtagStyle::CognitiveServices => {
                // Two writes in the same instant must still differ.
                let n = self.next_counter();
                let t = rfc3339(now + Duration::from_nanos(n * 100)).replace(':', "%3A");
                Some(format!("W/\"datetime'{t}'\""))
            }
            EtagStyle::Network => Some(format!("W/\"{}\"", self.new_guid("etag"))),
            EtagStyle::PrivateDns => Some(self.new_guid("etag")),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.resources.get(&key.to_ascii_lowercase())
    }

    pub fn exists(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    pub fn insert(&mut self, body: Value) {
        let key = body["id"].as_str().unwrap_or_default().to_ascii_lowercase();
        self.resources.insert(key, body);
        self.dirty = true;
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.dirty = true;
        self.resources.remove(&key.to_ascii_lowercase())
    }

    /// Direct children of `parent_key` of one type segment (`subnets`, `deployments`...).
    pub fn children(&self, parent_key: &str, child_type: &str) -> Vec<Value> {
        let prefix = format!(
            "{}/{}/",
            parent_key.to_ascii_lowercase(),
            child_type.to_ascii_lowercase()
        );
        self.resources
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].contains('/'))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every key strictly below `key` (children, grandchildren, extension resources).
    pub fn descendants(&self, key: &str) -> Vec<String> {
        let prefix = format!("{}/", key.to_ascii_lowercase());
        self.resources
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// All stored resources of a canonical type (case-insensitive).
    pub fn of_type<'a>(&'a self, full_type: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.resources.values().filter(move |v| {
            v["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(full_type))
        })
    }

    pub fn load(path: &Path) -> Result<State, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read state file {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("state file {} is not valid: {e}", path.display()))
    }

    /// Write the whole state to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write state file {}: {e}", path.display()))
    }
}

/// `body.properties` as a mutable object (created if absent).
pub fn props(body: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !body.get("properties").is_some_and(Value::is_object) {
        body["properties"] = json!({});
    }
    body["properties"].as_object_mut().expect("just ensured")
}

/// Set a property only when the caller did not.
pub fn default_prop(body: &mut Value, name: &str, value: Value) {
    props(body).entry(name.to_string()).or_insert(value);
}

pub fn prop_str<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get("properties")?.get(name)?.as_str()
}

pub fn provisioning_state(body: &Value) -> Option<&str> {
    prop_str(body, "provisioningState")
}

pub fn is_type(body: &Value, t: &str) -> bool {
    body["type"]
        .as_str()
        .is_some_and(|x| x.eq_ignore_ascii_case(t))
}

/// `provisioningState` of a stored resource is Succeeded (or absent).
pub fn is_settled(body: &Value) -> bool {
    provisioning_state(body).is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"))
}

/// RFC 7396 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if v.is_object() && t.get(k).is_some_and(Value::is_object) {
                    merge_patch(t.get_mut(k).expect("checked"), v);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_direct_only_and_case_insensitive() {
        let mut st = State::default();
        st.insert(json!({"id": "/a/B/subnets/S1"}));
        st.insert(json!({"id": "/a/b/subnets/s2"}));
        st.insert(json!({"id": "/a/b/subnets/s2/x/y"}));
        st.insert(json!({"id": "/a/bc/subnets/s3"}));
        let kids = st.children("/A/B", "Subnets");
        assert_eq!(kids.len(), 2);
        assert_eq!(st.descendants("/a/b").len(), 3);
    }

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "tags": {"x": "1"}});
        merge_patch(
            &mut t,
            &json!({"a": {"b": null, "d": 3}, "tags": {"y": "2"}}),
        );
        assert_eq!(
            t,
            json!({"a": {"c": 2, "d": 3}, "tags": {"x": "1", "y": "2"}})
        );
    }
}
