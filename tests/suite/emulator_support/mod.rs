//! Shared helpers for the emulator's integration tests: start an emulator on a manual clock,
//! talk to it through moat's own ARM client (one exchange per `send`, no retries), and send raw
//! HTTP when a test needs to leave out what the client always adds.

use std::sync::Arc;
use std::time::Duration;

use moat::arm::http::{HttpArm, TokenSource};
use moat::arm::lro::LroOptions;
use moat::arm::{ArmApi, ArmRequest, ArmResponse, Method};
use moat::emulator::{EmulatorConfig, EmulatorHandle, ManualClock};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const SUB: &str = "6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10";
pub const CS: &str = "2025-06-01";
pub const NET: &str = "2024-07-01";
pub const DNS: &str = "2024-06-01";
pub const AUTH: &str = "2022-04-01";
pub const INS: &str = "2021-05-01-preview";
pub const RES: &str = "2021-04-01";

pub struct Env {
    pub emu: EmulatorHandle,
    pub clock: ManualClock,
    pub arm: HttpArm,
    pub recorder: Arc<Recorder>,
}

/// The transport under the client, remembering the headers of the last answer: with no
/// retries the client turns a retryable answer (409 conflict, 429, 5xx) into the error it gave up
/// on, and the tests assert on that answer's headers too.
#[derive(Debug)]
pub struct Recorder {
    inner: Arc<dyn azure_core::http::HttpClient>,
    last: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

#[async_trait::async_trait]
impl azure_core::http::HttpClient for Recorder {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        let resp = self.inner.execute_request(request).await?;
        *self.last.lock().unwrap() = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_str().to_string()))
            .collect();
        Ok(resp)
    }
}

pub fn client(base: &str, token: &str) -> HttpArm {
    client_recording(base, token).0
}

pub fn client_recording(base: &str, token: &str) -> (HttpArm, Arc<Recorder>) {
    let recorder = Arc::new(Recorder {
        inner: moat::arm::http::build_http_client(Default::default()).unwrap(),
        last: Default::default(),
    });
    let arm = HttpArm::new(
        url::Url::parse(base).unwrap(),
        TokenSource::Static(azure_core::credentials::Secret::new(token.to_string())),
    )
    // One exchange per send: the emulator's answers (409s, 429s) are what these tests assert,
    // and on a manual clock a retried conflict would wait forever.
    .with_retry_policy(moat::arm::RetryPolicy::none())
    .with_lro_options(LroOptions {
        default_interval: Duration::from_millis(5),
        min_interval: Duration::from_millis(1),
        max_interval: Duration::from_millis(20),
        budget: Duration::from_secs(20),
    })
    .with_http_client(recorder.clone());
    (arm, recorder)
}

/// An emulator on a manual clock (operations finish only when the test advances it).
pub async fn start_with(mut cfg: EmulatorConfig) -> Env {
    let clock = ManualClock::new();
    cfg.clock = Arc::new(clock.clone());
    let emu = EmulatorHandle::start(cfg).await.unwrap();
    let (arm, recorder) = client_recording(&emu.base_url(), "test-token");
    Env {
        emu,
        clock,
        arm,
        recorder,
    }
}

pub async fn start() -> Env {
    start_with(EmulatorConfig::default()).await
}

impl Env {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        api: &str,
        body: Option<Value>,
    ) -> ArmResponse {
        let mut req = ArmRequest::new(method, path, api);
        req.body = body;
        match self.arm.send(req).await {
            Ok(r) => r,
            // With no retries the client hands back a retryable answer (409 conflicts, 429,
            // 5xx) as the error it gave up on: rebuild the response the tests assert on.
            Err(moat::arm::ArmError::Response {
                status,
                code,
                message,
                request_id,
                ..
            }) => ArmResponse {
                status,
                headers: {
                    let mut h = self.recorder.last.lock().unwrap().clone();
                    if let Some(id) = request_id {
                        h.entry("x-ms-request-id".into()).or_insert(id);
                    }
                    h
                },
                body: Some(json!({"error": {"code": code, "message": message}})),
            },
            Err(e) => panic!("{e:?}"),
        }
    }

    pub async fn get(&self, path: &str, api: &str) -> ArmResponse {
        self.send(Method::Get, path, api, None).await
    }

    pub async fn put(&self, path: &str, api: &str, body: Value) -> ArmResponse {
        self.send(Method::Put, path, api, Some(body)).await
    }

    pub async fn follow(&self, url: &str) -> ArmResponse {
        self.arm.send(ArmRequest::follow(url)).await.unwrap()
    }

    /// Let every running operation finish.
    pub fn finish_ops(&self) {
        self.clock.advance(Duration::from_secs(3600));
    }

    pub fn seed(&self, v: Value) {
        self.emu.seed(v.as_array().unwrap()).unwrap();
    }
}

pub fn rg_id(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}")
}

pub fn acct_id(rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.CognitiveServices/accounts/{name}",
        rg_id(rg)
    )
}

pub fn net_id(rg: &str, rest: &str) -> String {
    format!("{}/providers/Microsoft.Network/{rest}", rg_id(rg))
}

pub fn rg_seed(rg: &str) -> Value {
    json!({ "id": rg_id(rg), "location": "eastus" })
}

pub fn account_seed(rg: &str, name: &str, kind: &str) -> Value {
    json!({
        "id": acct_id(rg, name), "location": "eastus", "kind": kind, "sku": { "name": "S0" },
        "properties": { "customSubDomainName": name, "publicNetworkAccess": "Enabled" }
    })
}

/// RG `rg-net` with VNet `vnet` (10.20.0.0/16) and subnet `pe` (10.20.1.0/24).
pub fn network_seed() -> Value {
    json!([
        rg_seed("rg-net"),
        { "id": net_id("rg-net", "virtualNetworks/vnet"), "location": "eastus", "properties": {
            "addressSpace": { "addressPrefixes": ["10.20.0.0/16"] },
            "subnets": [{ "name": "pe", "properties": { "addressPrefix": "10.20.1.0/24" } },
                        { "name": "apps", "properties": { "addressPrefix": "10.20.2.0/24" } }] } }
    ])
}

/// Raw HTTP/1.1 exchange (for requests moat's client would never send).
pub async fn raw(base: &str, request: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// JSON type names, for shape comparison.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `expected` present in `actual` with the same type. Arrays: each expected
/// element's shape must be matched by some actual element.
pub fn shape_errors(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    if expected.is_null() {
        return;
    }
    if type_name(expected) != type_name(actual) {
        out.push(format!(
            "{path}: expected {}, got {}",
            type_name(expected),
            type_name(actual)
        ));
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => shape_errors(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, ev) in e.iter().enumerate() {
                let fits = a.iter().any(|av| {
                    let mut errs = Vec::new();
                    shape_errors("", ev, av, &mut errs);
                    errs.is_empty()
                });
                if !fits {
                    let mut first = Vec::new();
                    match a.first() {
                        Some(av) => shape_errors(&format!("{path}[{i}]"), ev, av, &mut first),
                        None => first.push(format!("{path}: expected at least one element")),
                    }
                    out.extend(first);
                }
            }
        }
        _ => {}
    }
}
