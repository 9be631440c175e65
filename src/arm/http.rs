//! The HTTP implementation of [`ArmApi`] over azure_core 0.21's HTTP client (reqwest + rustls) and
//! azure_identity 0.21's credentials.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::auth::TokenCredential;
use url::Url;

use super::lro::LroOptions;
use super::{ArmApi, ArmError, ArmRequest, ArmResponse};

/// Where bearer tokens come from.
#[derive(Clone)]
pub enum TokenSource {
    /// A fixed token (`MOAT_ACCESS_TOKEN`, the emulator).
    Static(azure_core::auth::Secret),
    /// An azure_identity credential and the scope to ask it for.
    Credential {
        credential: Arc<dyn TokenCredential>,
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

impl TokenSource {
    async fn token(&self) -> Result<String, ArmError> {
        match self {
            TokenSource::Static(s) => Ok(s.secret().to_string()),
            TokenSource::Credential { credential, scope } => credential
                .get_token(&[scope.as_str()])
                .await
                .map(|t| t.token.secret().to_string())
                .map_err(|e| ArmError::Credential(e.to_string())),
        }
    }
}

/// ARM over HTTP.
pub struct HttpArm {
    endpoint: Url,
    client: Arc<dyn azure_core::HttpClient>,
    tokens: TokenSource,
    lro: LroOptions,
}

impl HttpArm {
    pub fn new(endpoint: Url, tokens: TokenSource) -> Self {
        HttpArm {
            endpoint,
            client: azure_core::new_http_client(),
            tokens,
            lro: LroOptions::default(),
        }
    }

    pub fn with_lro_options(mut self, lro: LroOptions) -> Self {
        self.lro = lro;
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Resolve a request's path to a URL. Absolute URLs handed out by ARM must point at the same
    /// origin as the endpoint: moat never sends its token anywhere else.
    fn url_for(&self, req: &ArmRequest) -> Result<Url, ArmError> {
        let mut url = if req.path.starts_with("http://") || req.path.starts_with("https://") {
            let u = Url::parse(&req.path)
                .map_err(|e| ArmError::Config(format!("ARM returned a bad URL {}: {e}", req.path)))?;
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
}

fn method_of(m: super::Method) -> azure_core::Method {
    match m {
        super::Method::Get => azure_core::Method::Get,
        super::Method::Put => azure_core::Method::Put,
        super::Method::Patch => azure_core::Method::Patch,
        super::Method::Delete => azure_core::Method::Delete,
        super::Method::Post => azure_core::Method::Post,
    }
}

#[async_trait]
impl ArmApi for HttpArm {
    async fn send(&self, req: ArmRequest) -> Result<ArmResponse, ArmError> {
        let url = self.url_for(&req)?;
        let mut http = azure_core::Request::new(url, method_of(req.method));
        let token = self.tokens.token().await?;
        http.insert_header("authorization", format!("Bearer {token}"));
        http.insert_header("accept", "application/json");
        http.insert_header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string());
        for (k, v) in &req.headers {
            http.insert_header(k.to_ascii_lowercase(), v.clone());
        }
        if let Some(body) = &req.body {
            http.insert_header("content-type", "application/json");
            http.set_body(serde_json::to_vec(body).expect("JSON values serialise"));
        } else if req.method.is_write() {
            http.insert_header("content-length", "0");
        }
        let resp = self.client.execute_request(&http).await.map_err(|e| {
            ArmError::Transport {
                method: req.method,
                resource: super::error::resource_of(&req.path),
                message: e.to_string(),
                retries: 0,
                elapsed: std::time::Duration::ZERO,
            }
        })?;
        let (status, headers, body) = resp.deconstruct();
        let headers: BTreeMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_str().to_string()))
            .collect();
        let bytes = body.collect().await.map_err(|e| ArmError::Transport {
            method: req.method,
            resource: super::error::resource_of(&req.path),
            message: format!("reading the response body: {e}"),
            retries: 0,
            elapsed: std::time::Duration::ZERO,
        })?;
        let body = if bytes.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&bytes).map_err(|e| ArmError::Protocol {
                method: req.method,
                resource: super::error::resource_of(&req.path),
                message: format!("response body is not JSON: {e}"),
            })?)
        };
        Ok(ArmResponse {
            status: u16::from(status),
            headers,
            body,
        })
    }

    fn lro_options(&self) -> LroOptions {
        self.lro.clone()
    }
}
