//! Observed state: what ARM answered to the reads the kinds asked for, as plain data. The
//! observer fills it; the planner and the gates read it; nothing here talks to ARM.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arm::{ArmRequest, Method};

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
            crate::values::norm_id(&self.path),
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reads(BTreeMap<String, Option<Value>>);

impl Reads {
    pub fn insert(&mut self, read: &Read, value: Option<Value>) {
        self.0.insert(read.key(), value);
    }

    /// The resource, when read and present, to change in place (tests build states this way).
    pub fn value_mut(&mut self, read: &Read) -> Option<&mut Value> {
        self.0.get_mut(&read.key()).and_then(Option::as_mut)
    }

    /// Every result, by request key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Option<Value>)> {
        self.0.iter()
    }

    /// Every result, to change in place.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Option<Value>> {
        self.0.values_mut()
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

/// Everything the planner knows about one instance's live state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedInstance {
    pub name: String,
    pub reads: Reads,
    /// With `keyRotation` only: the latest version of the instance's secret (Key Vault data
    /// plane), for the rotation `moat plan` shows due. Absent when not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<SecretRead>,
}

/// What plan read of a `keyRotation` secret: its latest version's tags and dates (never its
/// value), or why it could not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRead {
    /// `latest` is `None` when the secret has no version yet; `now` is the vault's clock (Unix
    /// seconds, its `Date` header).
    Read {
        now: i64,
        latest: Option<crate::arm::vault::SecretVersion>,
    },
    /// The read failed. `user_fault`: the blueprint is wrong (no such vault, a cloud that does
    /// not match), so the plan fails; otherwise the plan says it and goes on.
    Failed { message: String, user_fault: bool },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub instances: Vec<ObservedInstance>,
}
