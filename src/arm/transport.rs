//! The one HTTP transport under moat: its own reqwest 0.12 client (rustls with `ring`,
//! certificates always verified, no redirects, connect and read timeouts) behind azure_core 1.x's
//! [`HttpClient`] trait. The ARM client ([`super::http`]) sends through it, and so do the
//! azure_identity credentials of the chain ([`super::credential`]): every token request and
//! every ARM request leaves through the same client with the same limits.
//!
//! azure_core's own `reqwest` feature stays off: it brings reqwest 0.13, whose default rustls
//! crypto provider is aws-lc-rs (a C build, `aws-lc-sys`), and a second HTTP stack. Without it
//! azure_core has no client of its own, so every credential is handed this one
//! (docs/security.md, "Credentials: the azure_core / azure_identity line").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::error::{Error, ErrorKind};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Method as SdkMethod, Request};
// tokio's clock, as the ARM client's deadlines use.
use tokio::time::Instant;

use super::body::read_limited;
use super::error::ArmError;

/// Timeouts of one HTTP exchange (docs/reliability.md, "Limits on what ARM sends back").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    pub connect: Duration,
    /// Longest silence while waiting for the response to start. ARM gives resource providers 60 s
    /// before it answers 504 itself, so this is above that.
    pub read: Duration,
    /// Longest silence between body bytes once the response has started ([`IDLE_TIMEOUT`]).
    pub idle: Duration,
    /// The whole exchange, request sent to last body byte ([`TOTAL_TIMEOUT`]).
    pub total: Duration,
}

/// No body byte for this long ends the exchange: 30 s. ARM streams a body it has; a pause this
/// long mid-body is a broken or hostile server, not a slow resource provider (those are slow
/// before the response starts, which `read` covers).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One exchange never takes longer than this: 120 s, ARM's own 60 s gateway timeout twice over,
/// so that a body trickled one byte at a time (never idle for 30 s) still ends.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(100),
            idle: IDLE_TIMEOUT,
            total: TOTAL_TIMEOUT,
        }
    }
}

/// moat's reqwest client as an azure_core [`HttpClient`]. The response body is handed on as the
/// stream it arrives as: the ARM client and the credential chain each read it within their
/// limits ([`super::body::read_limited`]).
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    pub fn new(client: reqwest::Client) -> Self {
        ReqwestTransport { client }
    }
}

/// reqwest with rustls (certificates always verified), timeouts, and no redirects: a redirect
/// would carry the bearer token (or a token request's client secret) to another origin behind
/// the caller's back.
pub fn build_http_client(t: HttpTimeouts) -> Result<Arc<dyn HttpClient>, ArmError> {
    let client = reqwest::Client::builder()
        .connect_timeout(t.connect)
        .read_timeout(t.read)
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("moat/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ArmError::Config(format!("cannot build the HTTP client: {e}")))?;
    Ok(Arc::new(ReqwestTransport::new(client)))
}

fn method_of(m: SdkMethod) -> reqwest::Method {
    match m {
        SdkMethod::Delete => reqwest::Method::DELETE,
        SdkMethod::Get => reqwest::Method::GET,
        SdkMethod::Head => reqwest::Method::HEAD,
        SdkMethod::Patch => reqwest::Method::PATCH,
        SdkMethod::Post => reqwest::Method::POST,
        SdkMethod::Put => reqwest::Method::PUT,
        // `Method` is non-exhaustive; nothing moat or azure_identity sends is anything else.
        other => {
            reqwest::Method::from_bytes(other.as_str().as_bytes()).unwrap_or(reqwest::Method::GET)
        }
    }
}

/// Headers as azure_core keeps them (lower-case names). A header value that is not UTF-8 is
/// dropped, as azure_core's own reqwest client does.
fn headers_of(map: &reqwest::header::HeaderMap) -> Headers {
    let map: HashMap<HeaderName, HeaderValue> = map
        .iter()
        .filter_map(|(k, v)| {
            let v = v.to_str().ok()?;
            Some((
                HeaderName::from(k.as_str().to_string()),
                HeaderValue::from(v.to_string()),
            ))
        })
        .collect();
    Headers::from(map)
}

#[async_trait]
impl HttpClient for ReqwestTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut req = self
            .client
            .request(method_of(request.method()), request.url().clone());
        for (name, value) in request.headers().iter() {
            req = req.header(name.as_str(), value.as_str());
        }
        req = match request.body() {
            Body::Bytes(bytes) if bytes.is_empty() => req,
            Body::Bytes(bytes) => req.body(bytes.clone()),
            // Neither moat nor the credentials it uses send streamed bodies.
            Body::SeekableStream(_) => {
                return Err(Error::with_message(
                    ErrorKind::Other,
                    "moat's HTTP transport does not send streamed request bodies",
                ))
            }
        };
        let resp = req.send().await.map_err(|e| {
            let kind = if e.is_connect() {
                ErrorKind::Connection
            } else {
                ErrorKind::Io
            };
            Error::with_error(kind, e, "the HTTP request failed")
        })?;
        let status = resp.status().as_u16();
        let headers = headers_of(resp.headers());
        // The body as it arrives, chunk by chunk; the first error ends the stream.
        let body = futures::stream::unfold(Some(resp), |resp| async move {
            let mut resp = resp?;
            match resp.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(resp))),
                Ok(None) => None,
                Err(e) => Some((
                    Err(Error::with_error(
                        ErrorKind::Io,
                        e,
                        "reading the response body failed",
                    )),
                    None,
                )),
            }
        });
        Ok(AsyncRawResponse::new(
            status.into(),
            headers,
            Box::pin(body),
        ))
    }
}

/// A transport that reads each answer whole before handing it on: the exchange within the total
/// timeout, the body within `limit` bytes and the idle timeout. Under the credentials, whose
/// token requests azure_core reads to the end with no limit of its own
/// (`credential::MAX_TOKEN_RESPONSE_BYTES`).
#[derive(Debug)]
pub struct BufferedTransport {
    pub inner: Arc<dyn HttpClient>,
    pub limit: usize,
    pub timeouts: HttpTimeouts,
}

#[async_trait]
impl HttpClient for BufferedTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let total = self.timeouts.total;
        let deadline = Instant::now() + total;
        let resp = tokio::time::timeout_at(deadline, self.inner.execute_request(request))
            .await
            .map_err(|_| {
                Error::with_message(
                    ErrorKind::Io,
                    format!("no response within {total:?} (total timeout)"),
                )
            })??;
        let (status, headers, body) = resp.deconstruct();
        let declared = headers
            .get_optional_str(&HeaderName::from_static("content-length"))
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = read_limited(
            body,
            declared,
            self.limit,
            self.timeouts.idle,
            deadline,
            total,
        )
        .await
        .map_err(|e| {
            // A body over the cap would be as large again: not worth azure_core's retries.
            let kind = if e.is_transport() {
                ErrorKind::Io
            } else {
                ErrorKind::DataConversion
            };
            Error::with_message(kind, e.to_string())
        })?;
        Ok(AsyncRawResponse::from_bytes(status, headers, bytes))
    }
}
