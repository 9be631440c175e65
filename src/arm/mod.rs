//! Everything moat knows about live Azure comes through [`ArmApi`]; everything it changes goes out
//! through it.
//!
//! The trait has one required method, [`ArmApi::send`] (one HTTP exchange, retries included), and
//! provided methods for the ARM verbs that add the protocol around it: 404 as absence, paging via
//! `nextLink`, and long-running operations via moat's own poller ([`lro`]). The HTTP implementation
//! ([`http::HttpArm`]) talks to Azure or to the local emulator; unit tests implement `send` with
//! scripted exchanges.
//!
//! Layout: [`config`] (clouds, endpoint checks, [`connect`]), [`http`] (transport, tokens,
//! logging), [`retry`] (which failures are retried and how long to wait), [`limiter`] (ARM's
//! request buckets, mirrored locally), [`lro`] (polling), [`error`] and [`hint`] (what went
//! wrong and what to do).

// `ArmError` carries everything the user needs to act on a failure (resource, method, ARM's code,
// message and details, request and correlation ids, retry count); its size is irrelevant next to
// the HTTP round trip that produced it, and boxing it would complicate every match on it.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod error;
pub mod hint;
pub mod http;
pub mod limiter;
pub mod lro;
pub mod retry;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

pub use config::{connect, connect_http, Cloud, ConnectOptions};
pub use error::ArmError;
pub use http::HttpArm;
pub use lro::LroOptions;
pub use retry::RetryPolicy;

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

/// Path of an extension resource type (`Microsoft.Insights/diagnosticSettings`) on any resource:
/// `/{resource_id}/providers/{provider_type}`, whatever slashes the id came with.
pub fn extension_path(resource_id: &str, provider_type: &str) -> String {
    format!(
        "/{}/providers/{provider_type}",
        resource_id.trim_matches('/')
    )
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
    fn apply(&self, req: ArmRequest) -> ArmRequest {
        match self {
            Precondition::None => req,
            Precondition::IfMatch(etag) => req.with_header("If-Match", etag.clone()),
            Precondition::IfNoneMatch => req.with_header("If-None-Match", "*"),
        }
    }
}

/// Access to Azure Resource Manager.
#[async_trait]
pub trait ArmApi: Send + Sync {
    /// One exchange (with the client's retry policy and request budgeting). Returns every HTTP
    /// response, success or not; `Err` only for transport failures after retries, or for
    /// responses the retry policy gave up on.
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError>;

    /// Options for long-running operations (poll intervals, budgets).
    fn lro_options(&self) -> lro::LroOptions {
        lro::LroOptions::default()
    }

    /// The retry policy; [`ArmApi::write`] uses it to re-send superseded operations.
    fn retry_policy(&self) -> retry::RetryPolicy {
        retry::RetryPolicy::default()
    }

    /// Called by the poller before each status read (for [`Stats::polls`]).
    fn on_poll(&self) {}

    /// Request counters; implementations without counters report zeros.
    fn stats(&self) -> Stats {
        Stats::default()
    }

    /// GET a resource; `Ok(None)` when ARM answers 404.
    async fn get(&self, path: &str, api_version: &str) -> Result<Option<Value>, ArmError> {
        let req = ArmRequest::new(Method::Get, path, api_version);
        let resp = self.send(req.clone()).await?;
        match resp.status {
            200 => Ok(resp.body),
            404 => Ok(None),
            _ => Err(ArmError::from_response(&req, &resp)),
        }
    }

    /// GET a collection and follow `nextLink` to the end. A 404 (missing parent) is an empty list.
    async fn list(&self, path: &str, api_version: &str) -> Result<Vec<Value>, ArmError> {
        self.list_query(ArmRequest::new(Method::Get, path, api_version))
            .await
    }

    /// Like [`ArmApi::list`] with a prepared request (for `$filter`).
    async fn list_query(&self, first: ArmRequest) -> Result<Vec<Value>, ArmError> {
        let mut out = Vec::new();
        let mut req = first;
        loop {
            let resp = self.send(req.clone()).await?;
            match resp.status {
                200 => {}
                404 => return Ok(out),
                _ => return Err(ArmError::from_response(&req, &resp)),
            }
            let body = resp.body.unwrap_or(Value::Null);
            if let Some(items) = body.get("value").and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            match body.get("nextLink").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => req = ArmRequest::follow(next),
                _ => return Ok(out),
            }
        }
    }

    /// PUT a resource and wait for the operation to finish; returns the final resource body.
    async fn put(
        &self,
        path: &str,
        api_version: &str,
        body: &Value,
        pre: Precondition,
    ) -> Result<Option<Value>, ArmError> {
        let req =
            pre.apply(ArmRequest::new(Method::Put, path, api_version).with_body(body.clone()));
        self.write(req).await
    }

    /// PATCH a resource and wait for the operation to finish.
    async fn patch(
        &self,
        path: &str,
        api_version: &str,
        body: &Value,
        pre: Precondition,
    ) -> Result<Option<Value>, ArmError> {
        let req =
            pre.apply(ArmRequest::new(Method::Patch, path, api_version).with_body(body.clone()));
        self.write(req).await
    }

    /// DELETE a resource and wait until it is gone. Deleting what does not exist succeeds.
    async fn delete(
        &self,
        path: &str,
        api_version: &str,
        pre: Precondition,
    ) -> Result<(), ArmError> {
        let req = pre.apply(ArmRequest::new(Method::Delete, path, api_version));
        self.write(req).await.map(|_| ())
    }

    /// POST an action and wait for its result.
    async fn post(
        &self,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ArmError> {
        let mut req = ArmRequest::new(Method::Post, path, api_version);
        req.body = body.cloned();
        self.write(req).await
    }

    /// Send a write and, when ARM answers with a long-running operation, poll it to the end.
    ///
    /// An operation that ARM cancelled as superseded by another one
    /// (`CanceledAndSupersededDueToAnotherOperation`) is re-sent, up to the retry policy's
    /// `superseded_retries` times: the write did not fail, it was pre-empted.
    async fn write(&self, req: ArmRequest) -> Result<Option<Value>, ArmError> {
        let policy = self.retry_policy();
        let mut resent = 0;
        loop {
            let resp = self.send(req.clone()).await?;
            if !resp.is_success() {
                if req.method == Method::Delete && resp.status == 404 {
                    return Ok(None);
                }
                return Err(ArmError::from_response(&req, &resp));
            }
            match self.poll(&req, resp).await {
                Err(e) if e.is_superseded() && resent < policy.superseded_retries => {
                    let wait = if policy.zero_delay {
                        std::time::Duration::ZERO
                    } else {
                        policy.jittered(policy.backoff(policy.base_delay, resent), fastrand::f64())
                    };
                    resent += 1;
                    tracing::info!("{e}; re-sending the write in {wait:.1?}");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// Follow a long-running operation started by `req` (whose first response is `first`) to a
    /// terminal state and return the final body (`None` for deletes and bodiless results).
    async fn poll(&self, req: &ArmRequest, first: ArmResponse) -> Result<Option<Value>, ArmError> {
        lro::poll(self, req, first).await
    }
}
