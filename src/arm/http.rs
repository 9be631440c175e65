//! The HTTP implementation of [`ArmApi`] over moat's transport ([`super::transport`]: reqwest with
//! rustls behind azure_core 1.x's `HttpClient`) and moat's credential chain
//! ([`super::credential`], over azure_identity 1.x).
//!
//! One [`ArmApi::send`] is one logical request: it waits for the subscription's request budget
//! ([`super::limiter`]) and a concurrency slot, attaches a (cached) bearer token, and carries out
//! the [`RetryPolicy`]. Tokens, `Authorization` headers and bodies are never logged; at debug level
//! each exchange is logged with method, URL, status, duration and ARM's request id.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::Secret;
use azure_core::http::HttpClient;
use tokio::sync::{Mutex, Semaphore};
// tokio's clock, so that tests with paused time see the waits they assert.
use tokio::time::Instant;
use url::Url;

use super::api::ArmApi;
use super::body::{read_limited, MAX_RESPONSE_BYTES};
use super::credential::CredentialChain;
pub use super::error::error_chain;
use super::error::{resource_of, ArmError};
use super::limiter::{remaining_from_headers, subscription_of, Bucket, Limiter, LimiterConfig};
use super::lro::{retry_after, LroOptions};
use super::retry::{classify, GiveUp, RetryClass, RetryPolicy};
pub use super::transport::{
    build_http_client, HttpTimeouts, ReqwestTransport, IDLE_TIMEOUT, TOTAL_TIMEOUT,
};
use super::types::{ArmRequest, ArmResponse, Method, Stats};

/// Where bearer tokens come from.
#[derive(Clone)]
pub enum TokenSource {
    /// A fixed token (`MOAT_ACCESS_TOKEN`, the emulator).
    Static(Secret),
    /// moat's credential chain and the scope to ask it for.
    Credential {
        credential: Arc<CredentialChain>,
        scope: String,
    },
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Static(_) => f.write_str("TokenSource::Static(<redacted>)"),
            TokenSource::Credential { scope, .. } => {
                write!(f, "TokenSource::Credential {{ scope: {scope:?} }}")
            }
        }
    }
}

/// A credential's token is re-requested this long before it expires, so that a request never
/// leaves with a token that expires in flight.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

#[derive(Default)]
struct TokenCache {
    token: Option<(Secret, Instant)>,
}

#[derive(Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    polls: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

/// ARM over HTTP.
pub struct HttpArm {
    endpoint: Url,
    client: Arc<dyn HttpClient>,
    tokens: TokenSource,
    cache: Mutex<TokenCache>,
    lro: LroOptions,
    retry: RetryPolicy,
    limiter: Limiter,
    slots: Arc<Semaphore>,
    counters: Counters,
    timeouts: HttpTimeouts,
}

/// One HTTP exchange's outcome before the retry policy looks at it.
enum Outcome {
    Response(ArmResponse),
    Transport {
        message: String,
        retryable: bool,
    },
    /// A success status with a body that is not JSON: not ARM, not worth retrying.
    Invalid(String),
}

impl HttpArm {
    pub fn new(endpoint: Url, tokens: TokenSource) -> Self {
        if let TokenSource::Static(t) = &tokens {
            // Redacted from everything moat prints from here on, wherever a server echoes it.
            crate::sanitize::register_secret(t.secret());
        }
        HttpArm {
            endpoint,
            client: build_http_client(HttpTimeouts::default()).unwrap_or_else(|_| {
                Arc::new(ReqwestTransport::new(reqwest::Client::new())) as Arc<dyn HttpClient>
            }),
            tokens,
            cache: Mutex::new(TokenCache::default()),
            lro: LroOptions::default(),
            retry: RetryPolicy::default(),
            limiter: Limiter::new(LimiterConfig::default()),
            slots: Arc::new(Semaphore::new(16)),
            counters: Counters::default(),
            timeouts: HttpTimeouts::default(),
        }
    }

    pub fn with_lro_options(mut self, lro: LroOptions) -> Self {
        self.lro = lro;
        self
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_limiter(mut self, config: LimiterConfig) -> Self {
        self.limiter = Limiter::new(config);
        self
    }

    /// At most `n` requests in flight (`--parallelism`).
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.slots = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    pub fn with_http_client(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.client = client;
        self
    }

    /// A client with these timeouts (the idle and total ones are enforced by [`super::body`]).
    pub fn with_timeouts(self, t: HttpTimeouts) -> Result<Self, ArmError> {
        Ok(self.with_transport(build_http_client(t)?, t))
    }

    /// `client`, built with (or wrapping one built with) timeouts `t`; the idle and total ones
    /// are enforced above it, by [`super::body`].
    pub fn with_transport(mut self, client: Arc<dyn HttpClient>, t: HttpTimeouts) -> Self {
        self.timeouts = t;
        self.with_http_client(client)
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Resolve a request's path to a URL. Absolute URLs handed out by ARM must point at the same
    /// origin as the endpoint: moat never sends its token anywhere else.
    pub fn url_for(&self, req: &ArmRequest) -> Result<Url, ArmError> {
        let mut url = if req.path.starts_with("http://") || req.path.starts_with("https://") {
            let u = Url::parse(&req.path).map_err(|e| {
                ArmError::Config(format!("ARM returned a bad URL {}: {e}", req.path))
            })?;
            if u.origin() != self.endpoint.origin() {
                return Err(ArmError::Config(format!(
                    "refusing to follow {} : it is not on the ARM endpoint {}",
                    u.origin().ascii_serialization(),
                    self.endpoint.origin().ascii_serialization()
                )));
            }
            u
        } else {
            let mut u = self.endpoint.clone();
            u.set_path(&req.path);
            u
        };
        {
            let mut q = url.query_pairs_mut();
            if let Some(v) = &req.api_version {
                q.append_pair("api-version", v);
            }
            for (k, v) in &req.query {
                q.append_pair(k, v);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// The bearer token, from the cache while it is fresh. The lock is held while a new token is
    /// fetched so that concurrent requests wait for one fetch instead of starting their own.
    async fn token(&self) -> Result<Secret, ArmError> {
        let (credential, scope) = match &self.tokens {
            TokenSource::Static(s) => return Ok(s.clone()),
            TokenSource::Credential { credential, scope } => (credential, scope),
        };
        let mut cache = self.cache.lock().await;
        if let Some((tok, refresh_at)) = &cache.token {
            if Instant::now() < *refresh_at {
                return Ok(tok.clone());
            }
        }
        let fresh = credential
            .get_token(scope)
            .await
            .map_err(ArmError::Credential)?;
        crate::sanitize::register_secret(fresh.token.secret());
        let left = fresh.expires_on - time::OffsetDateTime::now_utc();
        let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
        cache.token = left
            .checked_sub(TOKEN_REFRESH_MARGIN)
            .map(|usable| (fresh.token.clone(), Instant::now() + usable));
        Ok(fresh.token)
    }

    async fn forget_token(&self) {
        self.cache.lock().await.token = None;
        if let TokenSource::Credential { credential, .. } = &self.tokens {
            credential.forget();
        }
    }

    /// One HTTP exchange, no retries.
    async fn exchange(&self, url: &Url, req: &ArmRequest, token: &Secret) -> Outcome {
        let mut http = azure_core::http::Request::new(url.clone(), method_of(req.method));
        http.insert_header("authorization", format!("Bearer {}", token.secret()));
        http.insert_header("accept", "application/json");
        http.insert_header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string());
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("authorization") {
                continue; // the client alone decides where a token goes
            }
            http.insert_header(k.to_ascii_lowercase(), v.clone());
        }
        if let Some(body) = &req.body {
            http.insert_header("content-type", "application/json");
            http.set_body(serde_json::to_vec(body).expect("JSON values serialise"));
        } else if req.method.is_write() {
            http.insert_header("content-length", "0");
        }
        let total = self.timeouts.total;
        let deadline = Instant::now() + total;
        let resp = match tokio::time::timeout_at(deadline, self.client.execute_request(&http)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return transport_outcome(req.method, &e),
            Err(_) => {
                let message = format!("no response within {total:?} (total timeout)");
                let retryable = req.method != Method::Post;
                return Outcome::Transport { message, retryable };
            }
        };
        let (status, headers, body) = resp.deconstruct();
        let status = u16::from(status);
        let headers: BTreeMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_str().to_string()))
            .collect();
        let declared = headers
            .get("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let (limit, idle) = (MAX_RESPONSE_BYTES, self.timeouts.idle);
        let bytes = match read_limited(body, declared, limit, idle, deadline, total).await {
            Ok(b) => b,
            Err(e) if e.is_transport() => {
                return Outcome::Transport {
                    message: e.to_string(),
                    retryable: req.method != Method::Post,
                }
            }
            Err(e) => return Outcome::Invalid(e.to_string()),
        };
        let body = if bytes.is_empty() {
            None
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => Some(v),
                // Gateways answer errors in HTML or plain text: keep the start of it as the
                // message so the user sees what came back.
                Err(_) if status >= 400 => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text: String = text.trim().chars().take(300).collect();
                    Some(serde_json::json!({"error": {"code": "", "message": text}}))
                }
                Err(e) => return Outcome::Invalid(format!("response body is not JSON: {e}")),
            }
        };
        Outcome::Response(ArmResponse {
            status,
            headers,
            body,
        })
    }
}

/// Connection failures never reached the server, so any method may be re-sent; a timeout or a
/// reset after sending may have been processed, which is harmless for ARM's idempotent
/// PUT/PATCH/DELETE/GET but not for POST actions.
fn transport_outcome(method: Method, e: &azure_core::Error) -> Outcome {
    let mut connect = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<reqwest::Error>() {
            connect |= r.is_connect();
        }
        cur = err.source();
    }
    let message = error_chain(e);
    // A certificate the client refused will be refused again: retrying only delays the error
    // (by ~25 s with the default backoff).
    let bad_certificate = message.to_ascii_lowercase().contains("certificate");
    Outcome::Transport {
        retryable: !bad_certificate && (connect || method != Method::Post),
        message,
    }
}

fn method_of(m: Method) -> azure_core::http::Method {
    use azure_core::http::Method as M;
    match m {
        Method::Get => M::Get,
        Method::Put => M::Put,
        Method::Patch => M::Patch,
        Method::Delete => M::Delete,
        Method::Post => M::Post,
    }
}

fn bucket_of(m: Method) -> Bucket {
    if m.is_write() {
        Bucket::Write
    } else {
        Bucket::Read
    }
}

#[async_trait]
impl ArmApi for HttpArm {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        let url = self.url_for(&req)?;
        let resource = resource_of(&req.path);
        let subscription = subscription_of(&req.path);
        let bucket = bucket_of(req.method);
        let started = Instant::now();
        let mut state = self.retry.start();
        let mut token_refreshed = false;
        loop {
            let wait = self
                .limiter
                .reserve(&subscription, bucket, Instant::now().into_std());
            if !wait.is_zero() {
                self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    "request budget for subscription {subscription:?} spent; waiting {wait:?}"
                );
                tokio::time::sleep(wait).await;
            }
            let token = self.token().await?;
            let t0 = Instant::now();
            let outcome = {
                let _slot = self.slots.acquire().await.expect("semaphore never closed");
                self.exchange(&url, &req, &token).await
            };
            let counter = if req.method.is_write() {
                &self.counters.writes
            } else {
                &self.counters.reads
            };
            counter.fetch_add(1, Ordering::Relaxed);

            let (class, retry_after_hint, described) = match &outcome {
                Outcome::Response(resp) => {
                    tracing::debug!(
                        method = %req.method,
                        url = %url,
                        status = resp.status,
                        duration_ms = t0.elapsed().as_millis() as u64,
                        request_id = resp.request_id().unwrap_or("-"),
                        "ARM request"
                    );
                    if let Some(left) = remaining_from_headers(bucket, |n| resp.header(n)) {
                        self.limiter
                            .resync(&subscription, bucket, left, Instant::now().into_std());
                    }
                    if resp.status == 401
                        && !token_refreshed
                        && matches!(self.tokens, TokenSource::Credential { .. })
                    {
                        // An expired or revoked cached token: fetch a new one once.
                        token_refreshed = true;
                        self.forget_token().await;
                        continue;
                    }
                    let (code, _, _) = super::error::parse_error_body(resp.body.as_ref());
                    let class = classify(resp.status, Some(code.as_str()));
                    let throttled = class == Some(RetryClass::Throttled);
                    if let (true, false, Some(wait)) =
                        (throttled, self.retry.zero_delay, retry_after(resp))
                    {
                        self.limiter
                            .hold(&subscription, bucket, wait, Instant::now().into_std());
                    }
                    if class.is_none() {
                        if state.retries() > 0 && resp.status >= 400 && resp.status != 404 {
                            return Err(ArmError::from_response_after(
                                &req,
                                resp,
                                state.retries(),
                                started.elapsed(),
                            ));
                        }
                        return Ok(resp.clone());
                    }
                    let what = if code.is_empty() {
                        resp.status.to_string()
                    } else {
                        format!("{} {code}", resp.status)
                    };
                    (class, retry_after(resp), what)
                }
                Outcome::Invalid(message) => {
                    return Err(ArmError::Protocol {
                        method: req.method,
                        resource,
                        message: message.clone(),
                    })
                }
                Outcome::Transport { message, retryable } => {
                    tracing::debug!(
                        method = %req.method,
                        url = %url,
                        duration_ms = t0.elapsed().as_millis() as u64,
                        "ARM request failed: {message}"
                    );
                    let class = retryable.then_some(RetryClass::Transient);
                    (class, None, message.clone())
                }
            };

            let decision = match class {
                Some(c) => {
                    state.next_delay(c, retry_after_hint, started.elapsed(), fastrand::f64())
                }
                None => Err(GiveUp::Retries),
            };
            match decision {
                Ok(delay) => {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        "{} {resource}: {described}; retry {} in {delay:.1?}",
                        req.method,
                        state.retries()
                    );
                    tokio::time::sleep(delay).await;
                }
                // Nothing was retried (e.g. `RetryPolicy::none()`): hand ARM's answer back as is,
                // like any other response; the caller maps it to an error if it is one.
                Err(_) if state.retries() == 0 && matches!(outcome, Outcome::Response(_)) => {
                    if let Outcome::Response(resp) = outcome {
                        return Ok(resp);
                    }
                }
                Err(_) => {
                    return Err(match outcome {
                        Outcome::Response(resp) => ArmError::from_response_after(
                            &req,
                            &resp,
                            state.retries(),
                            started.elapsed(),
                        ),
                        Outcome::Invalid(message) => ArmError::Protocol {
                            method: req.method,
                            resource,
                            message,
                        },
                        Outcome::Transport { message, .. } => ArmError::Transport {
                            method: req.method,
                            resource,
                            message,
                            retries: state.retries(),
                            elapsed: started.elapsed(),
                        },
                    })
                }
            }
        }
    }

    fn lro_options(&self) -> LroOptions {
        self.lro.clone()
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.retry.clone()
    }

    fn on_poll(&self) {
        self.counters.polls.fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            reads: c.reads.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            polls: c.polls.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
        }
    }
}
