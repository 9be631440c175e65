//! The plain data of an ARM exchange: the request, the response, the verb, a write's
//! precondition, and the counters a client keeps. A leaf: everything else in `arm` builds on it.

use std::collections::BTreeMap;

use serde_json::Value;

/// Counters for benchmarks and tests. `reads`/`writes` count HTTP exchanges (retries and polls
/// included); `polls` the status reads of long-running operations; `retries` the re-sent
/// requests; `throttled` the times the local request budget made a request wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub reads: u64,
    pub writes: u64,
    pub polls: u64,
    pub retries: u64,
    pub throttled: u64,
}

/// HTTP verbs ARM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Put,
    Patch,
    Delete,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Post => "POST",
        }
    }

    /// Whether ARM counts the request against the write bucket (deletes have their own bucket of
    /// the same size; they are grouped with writes here).
    pub fn is_write(self) -> bool {
        !matches!(self, Method::Get)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ARM request. `path` is either a resource path (`/subscriptions/...`) resolved against the
/// configured endpoint, or an absolute URL handed out by ARM (`nextLink`, `Location`,
/// `Azure-AsyncOperation`), which already carries its query string.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmRequest {
    pub method: Method,
    pub path: String,
    /// `None` for absolute URLs that already carry `api-version`.
    pub api_version: Option<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Extra headers (`If-Match`, `If-None-Match`). Never `Authorization`: the client adds it.
    pub headers: Vec<(String, String)>,
}

impl ArmRequest {
    pub fn new(method: Method, path: impl Into<String>, api_version: &str) -> Self {
        ArmRequest {
            method,
            path: path.into(),
            api_version: Some(api_version.to_string()),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
        }
    }

    /// A GET on an absolute URL handed out by ARM (paging, polling).
    pub fn follow(url: impl Into<String>) -> Self {
        ArmRequest {
            method: Method::Get,
            path: url.into(),
            api_version: None,
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn with_query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }
}

/// One ARM response. Header names are lower-case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArmResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
}

impl ArmResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn request_id(&self) -> Option<&str> {
        self.header("x-ms-request-id")
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Conditional-write precondition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Precondition {
    #[default]
    None,
    /// `If-Match: <etag>` — fail with 412 if the resource changed since it was read.
    IfMatch(String),
    /// `If-None-Match: *` — create only.
    IfNoneMatch,
}

impl Precondition {
    pub(super) fn apply(&self, req: ArmRequest) -> ArmRequest {
        match self {
            Precondition::None => req,
            Precondition::IfMatch(etag) => req.with_header("If-Match", etag.clone()),
            Precondition::IfNoneMatch => req.with_header("If-None-Match", "*"),
        }
    }
}
