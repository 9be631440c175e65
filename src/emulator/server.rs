//! The HTTP front: authentication, injected faults, throttling, api-version checks, the request
//! log, then dispatch of the ARM route to the handlers. One mutex guards the emulated world; no
//! handler awaits while holding it.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::config::{EmulatorConfig, FaultConfig};
use super::cx::Cx;
use super::error::{ApiError, HResult};
use super::ids::{self, Route};
use super::lro;
use super::provider::{self, param};
use super::settle::advance;
use super::spec::Cond;
use super::store::State;
use super::throttle::{Class, Take, Throttle};

/// One line of the request log (never headers or bodies).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestLogEntry {
    pub time: String,
    pub method: String,
    pub path: String,
    pub api_version: Option<String>,
    pub status: u16,
    pub duration_ms: f64,
}

pub struct Shared {
    pub cfg: EmulatorConfig,
    pub state: Mutex<State>,
    pub faults: Mutex<FaultConfig>,
    pub rng: Mutex<fastrand::Rng>,
    pub throttle: Mutex<Throttle>,
    pub log: Mutex<Vec<RequestLogEntry>>,
    pub base: OnceLock<String>,
}

impl Shared {
    pub fn base(&self) -> &str {
        self.base
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// Run `f` on the emulated world under the lock, after completing the operations whose
    /// time has come, and persist what changed. `base` is the origin the request came to
    /// (`None`: the listening address); polling URLs and `nextLink`s are built on it.
    pub fn locked<T>(
        &self,
        now: std::time::Duration,
        principal: &str,
        api_version: &str,
        base: Option<&str>,
        f: impl FnOnce(&mut Cx) -> T,
    ) -> T {
        let mut st = self.state.lock().expect("state lock");
        let mut faults = self.faults.lock().expect("faults lock");
        let mut cx = Cx {
            st: &mut st,
            cfg: &self.cfg,
            faults: &mut faults,
            now,
            base: base.unwrap_or_else(|| self.base()),
            principal,
            api_version,
        };
        advance(&mut cx);
        let out = f(&mut cx);
        drop(faults);
        self.persist(&mut st);
        out
    }

    /// Persist when something changed and a state file is configured.
    pub fn persist(&self, st: &mut State) {
        if st.dirty {
            if let Some(path) = &self.cfg.state_file {
                if let Err(e) = st.save(path) {
                    tracing::warn!("{e}");
                }
            }
            st.dirty = false;
        }
    }
}

fn check_api_version(cfg: &EmulatorConfig, route: &Route, v: Option<&str>) -> Result<(), ApiError> {
    let (ns, id) = match route {
        Route::Provider(id) if id.op_poll().is_some() => return Ok(()),
        Route::Provider(id) | Route::Tenant(id) => (id.ns.as_str(), Some(id)),
        _ => ("Microsoft.Resources", None),
    };
    let Some(v) = v else {
        return Err(ApiError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    if cfg.accept_any_api_version || cfg.extra_api_versions.iter().any(|x| x == v) {
        return Ok(());
    }
    match provider::for_namespace(ns, id).map(|p| p.api_versions()) {
        Some(list) if !list.contains(&v) => Err(ApiError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                list.join(",")
            ),
        )),
        _ => Ok(()),
    }
}

/// The origin a request came to, as its client addressed it: the `Host` header (or the
/// authority of an absolute request URI), with the scheme a proxy in front reports in
/// `X-Forwarded-Proto` (the emulator itself speaks plain HTTP). `None` when the request names
/// no usable host: then the listening address is used.
fn request_origin(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))?;
    let host = host.trim();
    // Only a bare authority (host[:port]) may become a URL prefix.
    if host.is_empty() || host.parse::<axum::http::uri::Authority>().is_err() || host.contains('@')
    {
        return None;
    }
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| "http".to_string());
    Some(format!("{scheme}://{host}"))
}

fn principal_of(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return None;
    }
    // Only a digest of the token is kept: enough to tell principals apart.
    Some(hex::encode(&Sha256::digest(token.trim().as_bytes())[..8]))
}

fn sub_of(route: &Route) -> Option<String> {
    match route {
        Route::Subscription { sub }
        | Route::ResourceGroups { sub }
        | Route::ResourceGroup { sub, .. } => Some(sub.clone()),
        Route::Provider(id) => Some(id.sub.clone()),
        _ => None,
    }
}

fn query_params(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Whether errors on this route use the flat `{code, message}` envelope.
fn flat_errors(route: &Route) -> bool {
    match route {
        Route::Provider(id) => {
            provider::for_namespace(&id.ns, None).is_some_and(|p| p.flat_errors())
        }
        _ => false,
    }
}

pub async fn handle(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let path = uri.path().to_string();
    let query = query_params(&uri);
    let api_version = param(&query, "api-version").map(str::to_string);
    let faults = shared.faults.lock().expect("faults lock").clone();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let (reset, error) = {
        let mut rng = shared.rng.lock().expect("rng lock");
        let r = rng.f64();
        (
            r < faults.reset_rate,
            r >= faults.reset_rate && r < faults.reset_rate + faults.error_rate,
        )
    };
    let route = ids::parse(&path);
    let flat = flat_errors(&route);
    let mut extra: Vec<(String, String)> = Vec::new();
    let outcome: Option<HResult> = if reset {
        None
    } else if error {
        let s = if shared.rng.lock().expect("rng lock").bool() {
            500
        } else {
            503
        };
        Some(Err(ApiError::new(
            s,
            if s == 500 {
                "InternalServerError"
            } else {
                "ServiceUnavailable"
            },
            "Injected fault.",
        )))
    } else {
        Some(process(
            &shared,
            &method,
            &uri,
            &path,
            &route,
            &query,
            api_version.as_deref(),
            &headers,
            &body,
            &mut extra,
        ))
    };
    let status = match &outcome {
        None => 0,
        Some(Ok(r)) => r.status,
        Some(Err(e)) => e.status,
    };
    log_request(
        &shared,
        method.as_str(),
        &path,
        api_version,
        status,
        started,
    );
    let Some(outcome) = outcome else {
        let stream = futures::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected connection reset",
            ))
        });
        return Response::builder()
            .status(200)
            .body(Body::from_stream(stream))
            .expect("valid response");
    };
    let correlation = headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let request_id = uuid::Uuid::new_v4().to_string();
    extra.push(("x-ms-request-id".into(), request_id.clone()));
    // The emulator's clock, not the host's: clients that take "now" from the server (moat
    // rotate does, from the vault) see the time tests move.
    extra.push((
        "Date".into(),
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + shared.cfg.clock.now()),
    ));
    extra.push(("x-ms-correlation-request-id".into(), correlation));
    extra.push((
        "x-ms-routing-request-id".into(),
        format!("EMULATOR:{}:{request_id}", shared.cfg.clock.now().as_secs()),
    ));
    if let Some(id) = headers
        .get("x-ms-client-request-id")
        .and_then(|v| v.to_str().ok())
    {
        extra.push(("x-ms-client-request-id".into(), id.to_string()));
    }
    let (status, mut hdrs, body) = match outcome {
        Ok(r) => (r.status, r.headers, r.body),
        Err(e) => (e.status, e.headers.clone(), Some(e.body(flat))),
    };
    hdrs.extend(extra);
    if let Some(etag) = body
        .as_ref()
        .and_then(|b| b.get("etag"))
        .and_then(Value::as_str)
    {
        hdrs.push(("ETag".into(), etag.to_string()));
    }
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in hdrs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp = resp.header(k, v);
        }
    }
    let body = match body {
        Some(b) => {
            resp = resp.header("content-type", "application/json; charset=utf-8");
            Body::from(serde_json::to_vec(&b).unwrap_or_default())
        }
        None => Body::empty(),
    };
    resp.body(body).expect("valid response")
}

fn log_request(
    shared: &Shared,
    method: &str,
    path: &str,
    api_version: Option<String>,
    status: u16,
    started: Instant,
) {
    let entry = RequestLogEntry {
        time: super::clock::rfc3339(super::clock::Clock::now(&super::clock::SystemClock)),
        method: method.to_string(),
        path: path.to_string(),
        api_version,
        status,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    // The log lock is held while the line is written, and the line goes out in one write: with
    // `writeln!` the line and its newline were separate writes, and concurrent requests
    // interleaved them into lines that did not parse.
    let mut log = shared.log.lock().expect("log lock");
    if let Some(file) = &shared.cfg.request_log_file {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let mut line = serde_json::to_string(&entry).unwrap_or_default();
            line.push('\n');
            let _ = f.write_all(line.as_bytes());
        }
    }
    log.push(entry);
}

#[allow(clippy::too_many_arguments)]
fn process(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    path: &str,
    route: &Route,
    query: &[(String, String)],
    api_version: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
    extra: &mut Vec<(String, String)>,
) -> HResult {
    let origin = request_origin(uri, headers);
    let principal = principal_of(headers).ok_or_else(|| {
        ApiError::new(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
            .with_header("WWW-Authenticate", "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\"")
    })?;
    let now = shared.cfg.clock.now();
    if shared.cfg.throttle.enabled {
        if let Some(sub) = sub_of(route) {
            let class = Class::of_method(method.as_str());
            let take = shared.throttle.lock().expect("throttle lock").take(
                &shared.cfg.throttle,
                &sub,
                &principal,
                class,
                now,
            );
            match take {
                Take::Allowed { remaining } => {
                    extra.push((class.header().into(), remaining.to_string()))
                }
                Take::Throttled { retry_after } => {
                    let mut e = ApiError::new(429, "SubscriptionRequestsThrottled", format!(
                        "Number of {} requests for subscription '{sub}' and principal exceeded the limit. Please try again after '{}' seconds.",
                        match class { Class::Read => "read", Class::Write => "write", Class::Delete => "delete" },
                        retry_after.as_secs_f64().ceil()
                    ));
                    for (k, v) in lro::retry_headers(retry_after) {
                        e = e.with_header(&k, v);
                    }
                    return Err(e.with_header(class.header(), "0"));
                }
            }
        }
    }
    // The Key Vault data plane has its own api-versions (7.x), checked where it is served.
    if !path.starts_with(super::providers::key_vault_secrets::PREFIX) {
        check_api_version(&shared.cfg, route, api_version)?;
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "InvalidRequestContent",
                format!("The request content was invalid and could not be deserialized: {e}"),
            )
        })?
    };
    let cond = Cond {
        if_match: headers
            .get("if-match")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        if_none_match: headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let base = origin.as_deref();
    shared.locked(now, &principal, api_version.unwrap_or(""), base, |cx| {
        super::routes::dispatch(cx, method.as_str(), path, route, query, body, &cond)
    })
}
