//! [`ArmApi`]: one required method, [`ArmApi::send`] (one HTTP exchange, retries included), and
//! the ARM verbs as provided methods that add the protocol around it: 404 as absence, paging via
//! `nextLink`, long-running operations via [`lro`], superseded operations re-sent.

use async_trait::async_trait;
use serde_json::Value;

use super::error::ArmError;
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
