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
use super::engine::{self, Cond, Cx};
use super::error::{ApiError, HResult};
use super::ids::{self, Kind, Route};
use super::store::State;
use super::throttle::{Class, Take, Throttle};
use super::{lro, RequestLogEntry};

pub(crate) struct Shared {
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

fn api_versions(ns: &str, full_type: &str) -> Option<&'static [&'static str]> {
    let ns = ns.to_ascii_lowercase();
    Some(match ns.as_str() {
        "microsoft.resources" => &[
            "2019-10-01",
            "2020-06-01",
            "2021-01-01",
            "2021-04-01",
            "2022-09-01",
            "2023-07-01",
            "2024-03-01",
            "2024-07-01",
            "2024-11-01",
            "2025-03-01",
            "2025-04-01",
        ],
        "microsoft.cognitiveservices" => &[
            "2017-04-18",
            "2021-04-30",
            "2021-10-01",
            "2022-03-01",
            "2022-10-01",
            "2022-12-01",
            "2023-05-01",
            "2024-10-01",
            "2025-06-01",
            "2025-09-01",
            "2026-03-01",
        ],
        "microsoft.network"
            if full_type
                .to_ascii_lowercase()
                .starts_with("microsoft.network/privatednszones") =>
        {
            &["2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"]
        }
        "microsoft.network" => &[
            "2022-07-01",
            "2022-09-01",
            "2022-11-01",
            "2023-02-01",
            "2023-04-01",
            "2023-05-01",
            "2023-06-01",
            "2023-09-01",
            "2023-11-01",
            "2024-01-01",
            "2024-03-01",
            "2024-05-01",
            "2024-07-01",
            "2024-10-01",
            "2025-01-01",
            "2025-03-01",
            "2025-05-01",
            "2025-07-01",
            "2025-09-01",
        ],
        "microsoft.authorization" => &[
            "2015-07-01",
            "2018-01-01-preview",
            "2018-09-01-preview",
            "2020-04-01-preview",
            "2020-10-01-preview",
            "2022-04-01",
            "2022-05-01-preview",
        ],
        "microsoft.insights" => &["2017-05-01-preview", "2021-05-01-preview"],
        "microsoft.operationalinsights" => &[
            "2020-08-01",
            "2020-10-01",
            "2021-06-01",
            "2022-10-01",
            "2023-09-01",
            "2025-02-01",
        ],
        _ => return None,
    })
}

fn check_api_version(cfg: &EmulatorConfig, route: &Route, v: Option<&str>) -> Result<(), ApiError> {
    let (ns, full) = match route {
        Route::Provider(id) if matches!(id.kind, Kind::OperationStatus | Kind::OperationResult) => {
            return Ok(())
        }
        Route::Provider(id) => (id.ns.clone(), id.full_type.clone()),
        Route::TenantRoleDefinition { .. } => ("Microsoft.Authorization".into(), String::new()),
        _ => ("Microsoft.Resources".into(), String::new()),
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
    match api_versions(&ns, &full) {
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

pub(crate) fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn is_insights(route: &Route) -> bool {
    matches!(route, Route::Provider(id) if id.ns.eq_ignore_ascii_case("Microsoft.Insights"))
}

pub(crate) async fn handle(
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
    let flat = is_insights(&route);
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
    if let Some(file) = &shared.cfg.request_log_file {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = writeln!(f, "{}", serde_json::to_string(&entry).unwrap_or_default());
        }
    }
    shared.log.lock().expect("log lock").push(entry);
}

#[allow(clippy::too_many_arguments)]
fn process(
    shared: &Shared,
    method: &Method,
    path: &str,
    route: &Route,
    query: &[(String, String)],
    api_version: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
    extra: &mut Vec<(String, String)>,
) -> HResult {
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
    check_api_version(&shared.cfg, route, api_version)?;
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
    let mut st = shared.state.lock().expect("state lock");
    let mut faults = shared.faults.lock().expect("faults lock");
    let mut cx = Cx {
        st: &mut st,
        cfg: &shared.cfg,
        faults: &mut faults,
        now,
        base: shared.base(),
        principal: &principal,
        api_version: api_version.unwrap_or(""),
    };
    engine::advance(&mut cx);
    let result = super::routes::dispatch(&mut cx, method.as_str(), path, route, query, body, &cond);
    drop(faults);
    shared.persist(&mut st);
    result
}
