//! Test helpers shared by the `arm_*` integration tests: a scripted HTTP server on 127.0.0.1:0
//! (axum) that records what it was sent and answers from a queue, and a scripted in-memory
//! [`ArmApi`] for poller tests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, Response, Uri};
use moat::arm::lro::LroOptions;
use moat::arm::{ArmApi, ArmError, ArmRequest, ArmResponse, Method, RetryPolicy};
use serde_json::Value;

/// One scripted HTTP answer.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: Some(body.to_string()),
            ..Default::default()
        }
    }
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            ..Default::default()
        }
    }
    pub fn text(status: u16, text: &str) -> Self {
        Reply {
            status,
            body: Some(text.to_string()),
            ..Default::default()
        }
    }
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(
            status,
            serde_json::json!({"error": {"code": code, "message": message}}),
        )
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn after(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// What the server was sent.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

#[derive(Default)]
struct ServerState {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A scripted HTTP server on loopback.
pub struct Server {
    pub base: String,
    state: Arc<ServerState>,
}

async fn handle(
    State(st): State<Arc<ServerState>>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_in_flight.fetch_max(now, Ordering::SeqCst);
    st.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).to_string(),
    });
    let next = st.script.lock().unwrap().pop_front();
    let reply = next
        .or_else(|| st.default.lock().unwrap().clone())
        .unwrap_or_else(|| Reply::error(599, "Unscripted", "the test scripted no reply"));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    st.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut b = Response::builder().status(reply.status);
    let mut has_ct = false;
    for (k, v) in &reply.headers {
        has_ct |= k.eq_ignore_ascii_case("content-type");
        b = b.header(k.as_str(), v.as_str());
    }
    if reply.body.is_some() && !has_ct {
        b = b.header("content-type", "application/json");
    }
    b.body(Body::from(reply.body.unwrap_or_default())).unwrap()
}

impl Server {
    pub async fn start() -> Server {
        let state = Arc::new(ServerState::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn push(&self, r: Reply) -> &Self {
        self.state.script.lock().unwrap().push_back(r);
        self
    }

    /// The answer once the script is used up.
    pub fn default_reply(&self, r: Reply) {
        *self.state.default.lock().unwrap() = Some(r);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

/// LRO options that make tests run in milliseconds.
pub fn fast_lro() -> LroOptions {
    LroOptions {
        default_interval: Duration::ZERO,
        min_interval: Duration::ZERO,
        max_interval: Duration::from_millis(5),
        budget: Duration::from_secs(5),
    }
}

/// A scripted [`ArmApi`]: each `send` must match the next expectation (method and a path
/// fragment) and gets its response.
pub struct Scripted {
    script: Mutex<VecDeque<(Method, String, ArmResponse)>>,
    pub sent: Mutex<Vec<ArmRequest>>,
    polls: AtomicUsize,
    pub lro: LroOptions,
    pub retry: RetryPolicy,
}

pub fn resp(status: u16, body: Option<Value>, headers: &[(&str, &str)]) -> ArmResponse {
    ArmResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        body,
    }
}

impl Scripted {
    pub fn new() -> Self {
        Scripted {
            script: Mutex::new(VecDeque::new()),
            sent: Mutex::new(Vec::new()),
            polls: AtomicUsize::new(0),
            lro: fast_lro(),
            retry: RetryPolicy::default().zero_delays(),
        }
    }

    pub fn expect(self, method: Method, path_part: &str, r: ArmResponse) -> Self {
        self.script
            .lock()
            .unwrap()
            .push_back((method, path_part.to_string(), r));
        self
    }

    pub fn remaining(&self) -> usize {
        self.script.lock().unwrap().len()
    }

    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ArmApi for Scripted {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        self.sent.lock().unwrap().push(req.clone());
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some((m, part, r)) if m == req.method && req.path.contains(&part) => Ok(r),
            Some((m, part, _)) => panic!("expected {m} …{part}…, got {} {}", req.method, req.path),
            None => panic!("unscripted request {} {}", req.method, req.path),
        }
    }

    fn lro_options(&self) -> LroOptions {
        self.lro.clone()
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.retry.clone()
    }

    fn on_poll(&self) {
        self.polls.fetch_add(1, Ordering::SeqCst);
    }
}

/// A TLS acceptor with the self-signed certificate beside this file, and a loopback listener
/// (127.0.0.1:0) with its port: the server side of the "self-signed TLS is refused" tests.
pub async fn self_signed_tls() -> (tokio_rustls::TlsAcceptor, tokio::net::TcpListener, u16) {
    use tokio_rustls::rustls;
    let cert =
        rustls::pki_types::CertificateDer::from(include_bytes!("self-signed.cert.der").to_vec());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
        include_bytes!("self-signed.key.der").to_vec().into(),
    );
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (acceptor, listener, port)
}

/// A raw HTTP/1.1 server on loopback for responses axum will not send (bodies trickled byte by
/// byte, endless bodies, pages generated per request): for each connection it reads the request
/// head and hands it (request line and headers) with the socket to `respond`, which writes the
/// whole response. Returns the base URL.
pub async fn raw_server<F, Fut>(respond: F) -> String
where
    F: Fn(String, tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let respond = respond.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match sock.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                respond(String::from_utf8_lossy(&head).into_owned(), sock).await;
            });
        }
    });
    base
}

/// The path and query of a raw request head (`GET /x?y HTTP/1.1`).
pub fn request_target(head: &str) -> &str {
    head.split_whitespace().nth(1).unwrap_or("/")
}

/// The transport of the credential tests: moat's own client underneath, with some origins sent
/// to loopback servers instead (an `https://` authority host to an `http://127.0.0.1` server,
/// IMDS's `http://169.254.169.254` to another) and every other request refused unless it is on
/// loopback, so that no test can reach a real token endpoint or a real IMDS.
#[derive(Debug)]
pub struct Loopback {
    inner: Arc<dyn azure_core::http::HttpClient>,
    routes: Vec<(String, url::Url)>,
    refused: Mutex<Vec<String>>,
}

impl Loopback {
    /// `routes`: (origin, loopback base URL), e.g. `("https://login.moat.test", &entra.base)`.
    pub fn new(routes: &[(&str, &str)]) -> Arc<Loopback> {
        Arc::new(Loopback {
            inner: moat::arm::http::build_http_client(Default::default()).unwrap(),
            routes: routes
                .iter()
                .map(|(from, to)| (from.to_string(), url::Url::parse(to).unwrap()))
                .collect(),
            refused: Mutex::new(Vec::new()),
        })
    }

    /// The URLs that would have left loopback (and were refused).
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}

#[async_trait]
impl azure_core::http::HttpClient for Loopback {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        let mut request = request.clone();
        let origin = request.url().origin().ascii_serialization();
        if let Some((_, to)) = self.routes.iter().find(|(from, _)| *from == origin) {
            let url = request.url_mut();
            url.set_scheme(to.scheme()).unwrap();
            url.set_host(to.host_str()).unwrap();
            url.set_port(to.port()).unwrap();
        } else if !matches!(
            request.url().host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        ) {
            self.refused.lock().unwrap().push(request.url().to_string());
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                format!("test transport: {} is not on loopback", request.url()),
            ));
        }
        self.inner.execute_request(&request).await
    }
}
