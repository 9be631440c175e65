//! [`ArmApi`]: one required method, [`ArmApi::send`] (one HTTP exchange, retries included), and
//! the ARM verbs as provided methods that add the protocol around it: 404 as absence, paging via
//! `nextLink`, long-running operations via [`lro`], superseded operations re-sent.

use async_trait::async_trait;
use serde_json::Value;

use super::error::{resource_of, ArmError};
use super::lro;
use super::retry;
use super::types::{ArmRequest, ArmResponse, Method, Precondition, Stats};

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
            200 => {
                if let Some(body) = &resp.body {
                    check_scope(&req, body, Strict::Resource)?;
                }
                Ok(resp.body)
            }
            404 => Ok(None),
            _ => Err(ArmError::from_response(&req, &resp)),
        }
    }

    /// GET a collection and follow `nextLink` to the end. A 404 (missing parent) is an empty list.
    async fn list(&self, path: &str, api_version: &str) -> Result<Vec<Value>, ArmError> {
        self.list_query(ArmRequest::new(Method::Get, path, api_version))
            .await
    }

    /// Like [`ArmApi::list`] with a prepared request (for `$filter`). Within [`MAX_LIST_PAGES`],
    /// [`MAX_PAGE_ITEMS`], [`MAX_LIST_ITEMS`] and [`MAX_LIST_BYTES`]; a `nextLink` seen before in
    /// the same list, or an item outside the listed scope, is a protocol error.
    async fn list_query(&self, first: ArmRequest) -> Result<Vec<Value>, ArmError> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut links = std::collections::HashSet::new();
        let mut req = first.clone();
        for page in 1.. {
            let resp = self.send(req.clone()).await?;
            match resp.status {
                200 => {}
                404 => return Ok(out),
                _ => return Err(ArmError::from_response(&req, &resp)),
            }
            let mut body = resp.body.unwrap_or(Value::Null);
            // Moved out of the page, not copied: a list holds each item once.
            let items = match body.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            if items.len() > MAX_PAGE_ITEMS {
                let n = items.len();
                let message = format!(
                    "a page of {n} items (more than {MAX_PAGE_ITEMS}, moat's limit per page)"
                );
                return Err(protocol(&first, message));
            }
            if out.len() + items.len() > MAX_LIST_ITEMS {
                let message = format!("more than {MAX_LIST_ITEMS} items (moat's limit per list)");
                return Err(protocol(&first, message));
            }
            for item in &items {
                check_scope(&first, item, Strict::ListItem)?;
                bytes = bytes.saturating_add(json_len(item));
            }
            if bytes > MAX_LIST_BYTES {
                let message = format!(
                    "more than {MAX_LIST_BYTES} bytes of items (moat's limit per list) after {page} pages"
                );
                return Err(protocol(&first, message));
            }
            out.extend(items);
            let next = match body.get("nextLink").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => next,
                _ => return Ok(out),
            };
            if !links.insert(next.to_string()) {
                return Err(protocol(
                    &first,
                    format!("nextLink {next} was already followed in this list (a paging loop)"),
                ));
            }
            if page >= MAX_LIST_PAGES {
                return Err(protocol(
                    &first,
                    format!(
                        "more than {MAX_LIST_PAGES} pages (moat's limit per list); next was {next}"
                    ),
                ));
            }
            req = ArmRequest::follow(next);
        }
        unreachable!("the page loop returns")
    }

    /// PUT a resource and wait for the operation to finish; returns the final resource body.
    async fn put(&self, path: &str, v: &str, body: &Value, pre: Precondition) -> Written {
        self.write(body_request(Method::Put, path, v, body, pre))
            .await
    }

    /// PATCH a resource (api-version `v`) and wait for the operation to finish.
    async fn patch(&self, path: &str, v: &str, body: &Value, pre: Precondition) -> Written {
        self.write(body_request(Method::Patch, path, v, body, pre))
            .await
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
                Ok(Some(body)) if matches!(req.method, Method::Put | Method::Patch) => {
                    check_scope(&req, &body, Strict::Resource)?;
                    return Ok(Some(body));
                }
                other => return other,
            }
        }
    }

    /// Follow a long-running operation started by `req` (whose first response is `first`) to a
    /// terminal state and return the final body (`None` for deletes and bodiless results).
    async fn poll(&self, req: &ArmRequest, first: ArmResponse) -> Result<Option<Value>, ArmError> {
        lro::poll(
            |r| self.send(r),
            || self.on_poll(),
            self.lro_options(),
            req,
            first,
        )
        .await
    }
}

/// What a write returns: the final resource body, when ARM sends one.
pub type Written = Result<Option<Value>, ArmError>;

/// A write with a body and its precondition.
fn body_request(
    method: Method,
    path: &str,
    api_version: &str,
    body: &Value,
    pre: Precondition,
) -> ArmRequest {
    pre.apply(ArmRequest::new(method, path, api_version).with_body(body.clone()))
}

/// Most items one list page may hold: 10,000. ARM pages hold up to 1,000 (most providers use
/// 100–1,000); ten times that is never a real page.
pub const MAX_PAGE_ITEMS: usize = 10_000;

/// Most items one list may hold: 100,000, far above any scope moat reads (accounts of a
/// subscription, role assignments at a scope) and small enough to stay well under 300 MB.
pub const MAX_LIST_ITEMS: usize = 100_000;

/// Most pages one list may have: 1,000 (a server that hands out one item per page still ends).
pub const MAX_LIST_PAGES: usize = 1_000;

/// Most bytes (items as compact JSON) one list may hold across all its pages: 64 MiB. Each page
/// is already capped at [`super::body::MAX_RESPONSE_BYTES`], but 1,000 full pages would be 16 GiB;
/// the largest lists moat reads (role assignments of a subscription: at most 4,000 of under 1 KiB)
/// are a few MiB.
pub const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;

/// Length of `v` as compact JSON, counted without building the text.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

fn protocol(req: &ArmRequest, message: String) -> ArmError {
    ArmError::Protocol {
        method: req.method,
        resource: resource_of(&req.path),
        message,
    }
}

/// How strictly a response `id` must match the request's scope.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strict {
    /// GET/PUT/PATCH of a resource: the id names the request's subscription (and its resource
    /// group, when both name one).
    Resource,
    /// A list item: an id that names a subscription names the listed one (items at tenant or
    /// management-group scope, such as inherited role assignments, name none).
    ListItem,
}

/// The `subscriptions/{s}` and `resourceGroups/{g}` segments of a path or URL, if any.
fn scope_of(path: &str) -> (Option<String>, Option<String>) {
    let path = resource_of(path);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let after = |name: &str| {
        segs.windows(2)
            .find(|w| w[0].eq_ignore_ascii_case(name))
            .map(|w| w[1].to_ascii_lowercase())
    };
    (after("subscriptions"), after("resourceGroups"))
}

/// A body's `id` outside the subscription / resource group of `req` is a protocol error
/// (compared case-insensitively, as ARM compares ids). Bodies without an `id` pass.
fn check_scope(req: &ArmRequest, body: &Value, strict: Strict) -> Result<(), ArmError> {
    let Some(id) = body.get("id").and_then(Value::as_str) else {
        return Ok(());
    };
    let (want_sub, want_rg) = scope_of(&req.path);
    let Some(want_sub) = want_sub else {
        return Ok(());
    };
    let (sub, rg) = scope_of(id);
    let sub_ok = match &sub {
        Some(s) => *s == want_sub,
        None => strict == Strict::ListItem && !id.trim().is_empty(),
    };
    let rg_ok = match (&rg, &want_rg) {
        (Some(g), Some(w)) => g == w,
        _ => true,
    };
    if sub_ok && rg_ok {
        return Ok(());
    }
    let scope = match want_rg {
        Some(g) => format!("subscription {want_sub}, resource group {g}"),
        None => format!("subscription {want_sub}"),
    };
    let what = match strict {
        Strict::Resource => "the response",
        Strict::ListItem => "a list item",
    };
    Err(protocol(
        req,
        format!("{what} has id {id}, which is outside the requested scope ({scope})"),
    ))
}
