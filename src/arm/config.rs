//! Clouds, endpoints and [`connect`]: turning command-line choices into an [`ArmApi`].
//!
//! The endpoint check is the part that protects the user's token: moat sends a bearer token to
//! whatever endpoint it talks to, so plain `http://` is only accepted for loopback (the emulator),
//! and anything that is not one of Azure's own management hosts needs an explicit
//! `--allow-custom-endpoint` unless the token is a static one the user handed over for it.

use std::net::IpAddr;
use std::sync::Arc;

use url::{Host, Url};

use super::api::ArmApi;
use super::credential::{ChainOptions, CredentialChain};
use super::error::ArmError;
use super::http::{build_http_client, HttpArm, HttpTimeouts, TokenSource};
use super::lro::LroOptions;
use super::retry::RetryPolicy;
use azure_core::http::HttpClient;

/// The Azure cloud moat talks to; decides the management endpoint, the token scope and the
/// Entra authority host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Cloud {
    #[default]
    Public,
    Usgovernment,
    China,
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::Public, Cloud::Usgovernment, Cloud::China];

    pub fn management_endpoint(self) -> &'static str {
        match self {
            Cloud::Public => "https://management.azure.com/",
            Cloud::Usgovernment => "https://management.usgovcloudapi.net/",
            Cloud::China => "https://management.chinacloudapi.cn/",
        }
    }

    /// The OAuth scope for ARM tokens in this cloud (the token's audience).
    pub fn scope(self) -> &'static str {
        match self {
            Cloud::Public => "https://management.azure.com/.default",
            Cloud::Usgovernment => "https://management.usgovcloudapi.net/.default",
            Cloud::China => "https://management.chinacloudapi.cn/.default",
        }
    }

    /// Entra ID (AAD) authority host that issues tokens for this cloud.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::Usgovernment => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::Usgovernment => "usgovernment",
            Cloud::China => "china",
        }
    }

    /// The cloud whose management host this is, if any.
    pub fn of_host(host: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| {
            Url::parse(c.management_endpoint())
                .ok()
                .and_then(|u| u.host_str().map(|h| h.eq_ignore_ascii_case(host)))
                .unwrap_or(false)
        })
    }
}

impl std::fmt::Display for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Requests in flight at once by default: the capacity of ARM's read bucket (250), the most ARM
/// lets one principal send at once. ARM limits the *rate* of requests (token buckets, which moat's
/// own limiter respects), not how many are open at once; a lower cap only splits a round of
/// independent reads into waves, each costing a round trip (docs/benchmarks.md: 16 was 3.3× the
/// bound for a 10-instance plan, 64 2.7× for 30 instances). Beyond the bucket's capacity requests
/// are paced by its refill rate, a few in flight at a time, whatever the cap.
pub const DEFAULT_PARALLELISM: usize = 250;

/// How to reach ARM. The CLI fills this from flags and environment (`MOAT_ARM_ENDPOINT`,
/// `MOAT_ACCESS_TOKEN`); tests fill it directly. `Debug` redacts the access token.
#[derive(Clone)]
pub struct ConnectOptions {
    pub cloud: Cloud,
    /// Overrides the cloud's management endpoint (`--arm-endpoint` / `MOAT_ARM_ENDPOINT`).
    pub arm_endpoint: Option<String>,
    /// Accept an endpoint that is not one of Azure's management hosts (`--allow-custom-endpoint`).
    pub allow_custom_endpoint: bool,
    /// A bearer token to use instead of the credential chain (`MOAT_ACCESS_TOKEN`). Never logged.
    pub access_token: Option<String>,
    /// Maximum requests in flight (`--parallelism`).
    pub parallelism: usize,
    pub retry: RetryPolicy,
    pub lro: LroOptions,
    /// Connect, read, idle and total timeouts of each exchange.
    pub timeouts: HttpTimeouts,
    /// The HTTP transport under ARM requests and token requests alike; `None` (the CLI's only
    /// choice) is moat's reqwest client with `timeouts` ([`build_http_client`]). Tests put a
    /// transport here that keeps every request on loopback.
    pub transport: Option<Arc<dyn HttpClient>>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("cloud", &self.cloud)
            .field("arm_endpoint", &self.arm_endpoint)
            .field("allow_custom_endpoint", &self.allow_custom_endpoint)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("parallelism", &self.parallelism)
            .field("retry", &self.retry)
            .field("lro", &self.lro)
            .field("timeouts", &self.timeouts)
            .field(
                "transport",
                &if self.transport.is_some() {
                    "given"
                } else {
                    "moat's reqwest client"
                },
            )
            .finish()
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            cloud: Cloud::Public,
            arm_endpoint: None,
            allow_custom_endpoint: false,
            access_token: None,
            parallelism: DEFAULT_PARALLELISM,
            retry: RetryPolicy::default(),
            lro: LroOptions::default(),
            timeouts: HttpTimeouts::default(),
            transport: None,
        }
    }
}

impl ConnectOptions {
    /// Options for a local ARM emulator: its endpoint (loopback http is fine), a static token,
    /// zero retry delays (retry counts still apply) and millisecond polling, so that tests run in
    /// milliseconds.
    pub fn emulator(endpoint: impl Into<String>, token: impl Into<String>) -> Self {
        ConnectOptions {
            arm_endpoint: Some(endpoint.into()),
            access_token: Some(token.into()),
            retry: RetryPolicy::default().zero_delays(),
            // Polls a few milliseconds apart (not a hot loop if the emulator finishes operations
            // by the clock) and a budget that fails a stuck test in seconds, not half an hour.
            lro: LroOptions {
                default_interval: std::time::Duration::from_millis(2),
                min_interval: std::time::Duration::ZERO,
                max_interval: std::time::Duration::from_millis(10),
                budget: std::time::Duration::from_secs(30),
            },
            ..ConnectOptions::default()
        }
    }
}

/// Whether `host` is loopback: 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::Domain(d) => {
            let d = d.trim_end_matches('.');
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<IpAddr>()
                    .map(|ip| ip.is_loopback())
                    .unwrap_or(false)
        }
    }
}

/// Check and normalise the ARM endpoint. `static_token` says whether the token that will be sent
/// there was handed to moat for the purpose (MOAT_ACCESS_TOKEN) rather than minted from the
/// user's Azure identity; only then is a loopback endpoint accepted without the custom flag.
pub fn validate_endpoint(
    raw: &str,
    allow_custom: bool,
    static_token: bool,
) -> Result<Url, ArmError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ArmError::Config(format!("invalid ARM endpoint {raw:?}: {e}")))?;
    let scheme = url.scheme().to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        // reqwest speaks nothing else; the flag cannot make it work, so no flag unlocks it.
        return Err(ArmError::Config(format!(
            "ARM endpoint {raw:?} uses the scheme `{scheme}`; only https:// (and http:// to \
             loopback) can carry ARM requests"
        )));
    }
    let Some(host) = url.host() else {
        return Err(ArmError::Config(format!(
            "ARM endpoint {raw:?} has no host"
        )));
    };
    let loopback = is_loopback(&host);
    if scheme == "http" && !loopback {
        return Err(ArmError::Config(format!(
            "refusing plain http:// ARM endpoint {}: bearer tokens only travel over TLS; use \
             https:// (http:// is accepted only for loopback: 127.0.0.0/8, ::1, localhost)",
            display_without_userinfo(&url)
        )));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(ArmError::Config(format!(
            "ARM endpoint {} has a path ({}); give the origin only, e.g. https://management.azure.com/",
            display_without_userinfo(&url),
            url.path()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ArmError::Config(format!(
            "ARM endpoint {} has a query or fragment; give the origin only",
            display_without_userinfo(&url)
        )));
    }
    let has_userinfo = !url.username().is_empty() || url.password().is_some();
    let known_arm = url
        .host_str()
        .and_then(Cloud::of_host)
        .is_some_and(|_| url.port().is_none() && scheme == "https");
    if !allow_custom {
        if has_userinfo {
            return Err(ArmError::Config(format!(
                "ARM endpoint {} carries user credentials in the URL; pass --allow-custom-endpoint \
                 if that is really intended",
                display_without_userinfo(&url)
            )));
        }
        let trusted = known_arm || (loopback && static_token);
        if !trusted {
            let why = if loopback {
                "it is a loopback endpoint and the token would come from your Azure identity \
                 (set MOAT_ACCESS_TOKEN for the emulator)"
            } else {
                "it is not an Azure management endpoint, and your Azure token would be sent there"
            };
            return Err(ArmError::Config(format!(
                "refusing ARM endpoint {}: {why}; pass --allow-custom-endpoint to use it anyway",
                display_without_userinfo(&url)
            )));
        }
    }
    Ok(url)
}

fn display_without_userinfo(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// The endpoint `opts` selects, validated.
pub fn endpoint_for(opts: &ConnectOptions) -> Result<Url, ArmError> {
    match &opts.arm_endpoint {
        Some(raw) if !raw.trim().is_empty() => {
            validate_endpoint(raw, opts.allow_custom_endpoint, opts.access_token.is_some())
        }
        _ => Ok(Url::parse(opts.cloud.management_endpoint()).expect("static URL parses")),
    }
}

/// The authority host the environment credentials should use: `AZURE_AUTHORITY_HOST` when set
/// (azure_identity's own convention, and what the Azure CLI and SDKs honour), else the cloud's.
pub fn authority_host_for(cloud: Cloud, env_value: Option<&str>) -> String {
    match env_value.map(str::trim) {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => cloud.authority_host().to_string(),
    }
}

/// [`authority_host_for`], checked: the client secret or federated token goes there, so it must
/// be an `https://` URL with a host and no userinfo (azure_identity 1.x refuses anything but
/// https too; 0.21 accepted http).
pub fn authority_host_url(cloud: Cloud, env_value: Option<&str>) -> Result<Url, ArmError> {
    let raw = authority_host_for(cloud, env_value);
    let bad = |why: &str| {
        ArmError::Config(format!(
            "AZURE_AUTHORITY_HOST {:?} {why}; it receives the client secret or federated token, \
             e.g. https://login.microsoftonline.us",
            crate::sanitize::redact(&raw)
        ))
    };
    let url = Url::parse(&raw).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if url.scheme() != "https" {
        return Err(bad("is not an https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("carries user credentials"));
    }
    Ok(url)
}

/// Build the HTTP client for `opts`: validates the endpoint and builds the credential. Nothing is
/// sent yet (credentials are asked for a token on the first request).
pub fn connect_http(opts: &ConnectOptions) -> Result<HttpArm, ArmError> {
    let mut endpoint = endpoint_for(opts)?;
    if let Some(password) = endpoint.password() {
        // URLs lose their userinfo in every output anyway; this also catches a bare echo.
        crate::sanitize::register_secret(password);
    }
    // Userinfo never goes on the wire: reqwest would turn it into a Basic `Authorization` header
    // that replaces the bearer token (ARM then answers 401) and hands the password to the server.
    let _ = endpoint.set_username("");
    let _ = endpoint.set_password(None);
    let client = match &opts.transport {
        Some(t) => t.clone(),
        None => build_http_client(opts.timeouts)?,
    };
    let tokens = match &opts.access_token {
        Some(t) if !t.trim().is_empty() => {
            TokenSource::Static(azure_core::credentials::Secret::new(t.trim().to_string()))
        }
        Some(_) => {
            return Err(ArmError::Config(
                "MOAT_ACCESS_TOKEN is set but empty".to_string(),
            ))
        }
        None => {
            let env_host = std::env::var("AZURE_AUTHORITY_HOST").ok();
            let authority = authority_host_url(opts.cloud, env_host.as_deref())?;
            let mut options = ChainOptions::new(authority, client.clone());
            options.timeouts = opts.timeouts;
            TokenSource::Credential {
                credential: Arc::new(CredentialChain::from_env(options)),
                scope: opts.cloud.scope().to_string(),
            }
        }
    };
    if opts.parallelism == 0 {
        return Err(ArmError::Config("--parallelism must be at least 1".into()));
    }
    // ARM requests and the chain's token requests go through the same `client`.
    Ok(HttpArm::new(endpoint, tokens)
        .with_lro_options(opts.lro.clone())
        .with_retry_policy(opts.retry.clone())
        .with_parallelism(opts.parallelism)
        .with_transport(client, opts.timeouts))
}

/// [`connect_http`] behind the trait object the rest of moat uses.
pub fn connect(opts: &ConnectOptions) -> Result<Arc<dyn ArmApi>, ArmError> {
    Ok(Arc::new(connect_http(opts)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_have_matching_endpoint_scope_and_authority() {
        for c in Cloud::ALL {
            let ep = c.management_endpoint();
            assert!(ep.starts_with("https://") && ep.ends_with('/'));
            assert_eq!(c.scope(), format!("{ep}.default"));
            assert!(c.authority_host().starts_with("https://login."));
            let host = Url::parse(ep).unwrap().host_str().unwrap().to_string();
            assert_eq!(Cloud::of_host(&host.to_uppercase()), Some(c));
        }
        assert_eq!(
            Cloud::China.scope(),
            "https://management.chinacloudapi.cn/.default"
        );
        assert_eq!(
            Cloud::Usgovernment.authority_host(),
            "https://login.microsoftonline.us"
        );
    }

    #[test]
    fn default_endpoint_is_the_clouds() {
        for c in Cloud::ALL {
            let opts = ConnectOptions {
                cloud: c,
                ..Default::default()
            };
            assert_eq!(
                endpoint_for(&opts).unwrap().as_str(),
                c.management_endpoint()
            );
        }
    }

    #[test]
    fn plain_http_refused_unless_loopback() {
        let err = validate_endpoint("http://management.azure.com/", true, true).unwrap_err();
        assert!(err.to_string().contains("refusing plain http://"), "{err}");
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.8.7:1/",
            "http://[::1]:9000/",
            "http://localhost:3000",
            "http://LOCALHOST./",
        ] {
            validate_endpoint(ok, false, true).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let err = validate_endpoint("http://10.0.0.1/", true, true).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    #[test]
    fn loopback_with_real_identity_needs_the_flag() {
        let err = validate_endpoint("http://127.0.0.1:8080", false, false).unwrap_err();
        assert!(err.to_string().contains("--allow-custom-endpoint"), "{err}");
        assert!(validate_endpoint("http://127.0.0.1:8080", true, false).is_ok());
    }

    #[test]
    fn custom_hosts_userinfo_and_schemes() {
        let err = validate_endpoint("https://arm.example.com/", false, false).unwrap_err();
        assert!(
            err.to_string().contains("not an Azure management endpoint"),
            "{err}"
        );
        assert!(validate_endpoint("https://arm.example.com/", true, false).is_ok());

        let err =
            validate_endpoint("https://user:pw@management.azure.com/", false, true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("user credentials"), "{msg}");
        assert!(!msg.contains("pw"), "password must not be echoed: {msg}");
        assert!(validate_endpoint("https://user:pw@management.azure.com/", true, true).is_ok());

        for bad in [
            "ftp://management.azure.com/",
            "file:///etc/passwd",
            "unix:/tmp/s",
        ] {
            let err = validate_endpoint(bad, true, true).unwrap_err();
            assert!(err.to_string().contains("scheme"), "{bad}: {err}");
        }
        // A known host on an odd port is not the real ARM.
        assert!(validate_endpoint("https://management.azure.com:8443/", false, false).is_err());
        assert!(validate_endpoint("https://management.usgovcloudapi.net", false, false).is_ok());
    }

    #[test]
    fn endpoint_must_be_an_origin() {
        assert!(validate_endpoint("https://management.azure.com/sub/", true, true).is_err());
        assert!(validate_endpoint("https://management.azure.com/?x=1", true, true).is_err());
        assert!(validate_endpoint("not a url", true, true).is_err());
    }

    #[test]
    fn authority_host_env_wins() {
        assert_eq!(
            authority_host_for(Cloud::China, None),
            "https://login.chinacloudapi.cn"
        );
        assert_eq!(
            authority_host_for(Cloud::China, Some("http://127.0.0.1:1")),
            "http://127.0.0.1:1"
        );
        assert_eq!(
            authority_host_for(Cloud::Public, Some("  ")),
            "https://login.microsoftonline.com"
        );
    }

    #[test]
    fn authority_host_must_be_https() {
        for c in Cloud::ALL {
            assert_eq!(
                authority_host_url(c, None).unwrap().as_str(),
                format!("{}/", c.authority_host())
            );
        }
        let custom = authority_host_url(Cloud::Public, Some("https://login.example.test")).unwrap();
        assert_eq!(custom.host_str(), Some("login.example.test"));
        for (bad, why) in [
            ("http://127.0.0.1:1", "not an https:// URL"),
            ("login.microsoftonline.us", "not a URL"),
            (
                "https://user:pw-secret@login.example.test",
                "user credentials",
            ),
        ] {
            let err = authority_host_url(Cloud::Public, Some(bad)).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(why), "{bad}: {msg}");
            assert!(!msg.contains("pw-secret"), "{msg}");
        }
    }

    #[test]
    fn emulator_options_are_fast_and_accepted() {
        let o = ConnectOptions::emulator("http://127.0.0.1:4000", "tok");
        assert!(o.retry.zero_delay);
        assert!(o.lro.max_interval <= std::time::Duration::from_millis(10));
        assert_eq!(endpoint_for(&o).unwrap().as_str(), "http://127.0.0.1:4000/");
        assert!(connect(&o).is_ok());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let opts = ConnectOptions {
            access_token: Some("eyJ0eXAiOiJKV1QiLCJhbGciOi".into()),
            ..Default::default()
        };
        let shown = format!("{opts:?}");
        assert!(!shown.contains("eyJ0eX"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn connect_rejects_zero_parallelism_and_empty_token() {
        let opts = ConnectOptions {
            access_token: Some("t".into()),
            parallelism: 0,
            ..Default::default()
        };
        assert!(connect(&opts).is_err());
        let opts = ConnectOptions {
            access_token: Some(" ".into()),
            ..Default::default()
        };
        assert!(connect(&opts).is_err());
    }
}
