//! moat's credential chain, over azure_identity 1.x. azure_identity 1.x has no
//! `DefaultAzureCredential` (0.21's chain); it offers the credentials one by one, so moat chains
//! them itself, in 0.21's order:
//!
//! 1. **environment**: `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` with, first found,
//!    `AZURE_FEDERATED_TOKEN_FILE` (workload identity federation: AKS, GitHub Actions, Azure
//!    DevOps), `AZURE_FEDERATED_TOKEN` (the assertion itself), or `AZURE_CLIENT_SECRET`. Client
//!    certificates are not offered: azure_identity's certificate credential needs OpenSSL.
//! 2. **managed identity** (system-assigned): App Service / Functions when `IDENTITY_ENDPOINT`
//!    and `IDENTITY_HEADER` are set, else the VM's IMDS at 169.254.169.254. Until IMDS has given
//!    a token it gets [`IMDS_PROBE_TIMEOUT`]: on a workstation nothing answers there.
//! 3. **Azure CLI**: `az account get-access-token --scope …` (the `az login` user; `az cloud set`
//!    for sovereign clouds).
//!
//! The first credential that gives a token is used from then on (as azure_identity's own
//! `DeveloperToolsCredential` does), so a workstation pays the IMDS probe once. When none does,
//! the error names every credential tried and why ([`CredentialError`]); its `hint:` says how to
//! sign in. Token requests go through the transport they are handed (moat's reqwest client) with
//! their bodies read within [`MAX_TOKEN_RESPONSE_BYTES`] and the exchange's timeouts, and each
//! credential has [`CREDENTIAL_TIMEOUT`] for its answer. Client secrets and federated tokens are
//! registered with [`crate::sanitize`], so that no output shows them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{AccessToken, Secret, TokenCredential};
use azure_core::error::Error;
use azure_core::http::{ClientOptions, HttpClient, Transport};
use azure_identity::{
    AzureCliCredential, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions,
};
use url::Url;

use super::error::{error_chain, AttemptFailure, CredentialAttempt, CredentialError};
use super::federated::Assertion;
pub use super::federated::MAX_FEDERATED_TOKEN_BYTES;
use super::transport::{BufferedTransport, HttpTimeouts};

/// How long IMDS (169.254.169.254) gets to answer until it has given a token: 1 s, as
/// `DefaultAzureCredential` 0.21 allowed. On an Azure VM IMDS answers in milliseconds; anywhere
/// else nothing does, and the chain moves on to the Azure CLI.
pub const IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one credential gets to give a token, retries of its token endpoint included: 60 s,
/// azure_core's own retry budget; `az account get-access-token` takes a few seconds.
pub const CREDENTIAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest token response read: 64 KiB. Entra's and IMDS's answers are a few KiB (the token
/// and its lifetimes); anything larger is not a token endpoint.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// How the chain is built: where the environment credentials send their secrets, the
/// transport every token request goes through, and its time limits.
#[derive(Clone)]
pub struct ChainOptions {
    /// Entra authority host of the environment credentials (https only; see
    /// `config::authority_host_for`).
    pub authority_host: Url,
    pub transport: Arc<dyn HttpClient>,
    /// Idle and total limits of each token exchange.
    pub timeouts: HttpTimeouts,
    /// [`CREDENTIAL_TIMEOUT`] by default.
    pub credential_timeout: Duration,
    /// [`IMDS_PROBE_TIMEOUT`] by default.
    pub imds_probe_timeout: Duration,
}

impl ChainOptions {
    pub fn new(authority_host: Url, transport: Arc<dyn HttpClient>) -> Self {
        ChainOptions {
            authority_host,
            transport,
            timeouts: HttpTimeouts::default(),
            credential_timeout: CREDENTIAL_TIMEOUT,
            imds_probe_timeout: IMDS_PROBE_TIMEOUT,
        }
    }
}

/// What the environment asks for, read once when the chain is built.
#[derive(Clone, Debug)]
enum Source {
    ClientSecret {
        tenant: String,
        client: String,
        secret: Secret,
    },
    FederatedTokenFile {
        tenant: String,
        client: String,
        path: PathBuf,
    },
    FederatedToken {
        tenant: String,
        client: String,
        token: Secret,
    },
    /// The environment names no usable credential; the reason is reported as the attempt.
    NoEnvironment(String),
    ManagedIdentity {
        imds: bool,
    },
    AzureCli,
    /// A credential handed over whole (tests, library users).
    Given(Arc<dyn TokenCredential>),
}

struct Entry {
    name: String,
    source: Source,
    /// The credential, built on first use and dropped by [`CredentialChain::forget`] (1.x
    /// credentials cache their tokens and have no way to clear the cache).
    built: Mutex<Option<Arc<dyn TokenCredential>>>,
}

/// Credentials tried in order until one gives a token; see the module documentation.
pub struct CredentialChain {
    entries: Vec<Entry>,
    /// The entry that gave a token; the only one asked from then on.
    selected: Mutex<Option<usize>>,
    options: Option<ChainOptions>,
}

impl std::fmt::Debug for CredentialChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
        f.debug_struct("CredentialChain")
            .field("credentials", &names)
            .finish_non_exhaustive()
    }
}

fn var_of(get: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The environment credential `get` (an environment lookup) describes, as 0.21's
/// `EnvironmentCredential` chose it: workload identity first, then a client secret.
fn environment_source(get: &dyn Fn(&str) -> Option<String>) -> (String, Source) {
    let var = |n: &str| var_of(get, n);
    let ids = (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID"));
    let with_ids = |what: &str, make: &dyn Fn(String, String) -> Source| match &ids {
        (Some(t), Some(c)) => make(t.clone(), c.clone()),
        _ => Source::NoEnvironment(format!(
            "{what} is set, but AZURE_TENANT_ID and AZURE_CLIENT_ID are not both set"
        )),
    };
    if let Some(path) = var("AZURE_FEDERATED_TOKEN_FILE") {
        let source = with_ids("AZURE_FEDERATED_TOKEN_FILE", &|tenant, client| {
            Source::FederatedTokenFile {
                tenant,
                client,
                path: PathBuf::from(&path),
            }
        });
        return ("environment (workload identity)".into(), source);
    }
    if let Some(token) = var("AZURE_FEDERATED_TOKEN") {
        crate::sanitize::register_secret(&token);
        let source = with_ids("AZURE_FEDERATED_TOKEN", &|tenant, client| {
            Source::FederatedToken {
                tenant,
                client,
                token: Secret::new(token.clone()),
            }
        });
        return ("environment (federated token)".into(), source);
    }
    if let Some(secret) = var("AZURE_CLIENT_SECRET") {
        crate::sanitize::register_secret(&secret);
        let source = with_ids("AZURE_CLIENT_SECRET", &|tenant, client| {
            Source::ClientSecret {
                tenant,
                client,
                secret: Secret::new(secret.clone()),
            }
        });
        return ("environment (client secret)".into(), source);
    }
    let why = if var("AZURE_CLIENT_CERTIFICATE_PATH").is_some() {
        "AZURE_CLIENT_CERTIFICATE_PATH is set, but moat does not sign in with client \
         certificates (azure_identity's certificate credential needs OpenSSL); use \
         AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE"
            .to_string()
    } else {
        "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or \
         AZURE_FEDERATED_TOKEN_FILE are not set"
            .to_string()
    };
    ("environment".into(), Source::NoEnvironment(why))
}

impl CredentialChain {
    /// The chain for this process's environment: environment, managed identity, Azure CLI.
    pub fn from_env(options: ChainOptions) -> Self {
        Self::from_lookup(options, &|name| std::env::var(name).ok())
    }

    /// The chain for the environment `get` describes. azure_identity's managed identity and
    /// Azure CLI credentials read the process environment themselves (`IDENTITY_ENDPOINT`,
    /// `PATH`); `get` decides only which environment credential is used and how entries are
    /// named.
    pub fn from_lookup(options: ChainOptions, get: &dyn Fn(&str) -> Option<String>) -> Self {
        let (env_name, env) = environment_source(get);
        let header = var_of(get, "IDENTITY_HEADER");
        let app_service = var_of(get, "IDENTITY_ENDPOINT").is_some() && header.is_some();
        if let Some(h) = &header {
            // App Service's shared secret for its token endpoint.
            crate::sanitize::register_secret(h);
        }
        let mi_name = if app_service {
            "managed identity (App Service)"
        } else {
            "managed identity (IMDS)"
        };
        let entries = vec![
            (env_name, env),
            (
                mi_name.to_string(),
                Source::ManagedIdentity { imds: !app_service },
            ),
            ("Azure CLI".to_string(), Source::AzureCli),
        ];
        CredentialChain {
            entries: entries
                .into_iter()
                .map(|(name, source)| Entry {
                    name,
                    source,
                    built: Mutex::new(None),
                })
                .collect(),
            selected: Mutex::new(None),
            options: Some(options),
        }
    }

    /// A chain of credentials handed over whole, tried in order (no time limit is added: the
    /// credentials bring their own).
    pub fn of(credentials: Vec<(String, Arc<dyn TokenCredential>)>) -> Self {
        CredentialChain {
            entries: credentials
                .into_iter()
                .map(|(name, c)| Entry {
                    name,
                    source: Source::Given(c.clone()),
                    built: Mutex::new(Some(c)),
                })
                .collect(),
            selected: Mutex::new(None),
            options: None,
        }
    }

    /// The credentials, in the order they are tried.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// The credential that gave a token, once one has.
    pub fn selected(&self) -> Option<String> {
        let i = (*self.selected.lock().unwrap_or_else(|e| e.into_inner()))?;
        Some(self.entries[i].name.clone())
    }

    /// A token for `scope`: from the selected credential, or else from the first in order that
    /// gives one. The error lists every credential asked.
    pub async fn get_token(&self, scope: &str) -> Result<AccessToken, CredentialError> {
        let selected = *self.selected.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = selected {
            return self
                .try_entry(i, scope, true)
                .await
                .map_err(|a| CredentialError { attempts: vec![a] });
        }
        let mut attempts = Vec::new();
        for i in 0..self.entries.len() {
            match self.try_entry(i, scope, false).await {
                Ok(token) => {
                    tracing::info!("signed in with {}", self.entries[i].name);
                    *self.selected.lock().unwrap_or_else(|e| e.into_inner()) = Some(i);
                    return Ok(token);
                }
                Err(a) => {
                    tracing::debug!("no token from {a}");
                    attempts.push(a)
                }
            }
        }
        Err(CredentialError { attempts })
    }

    /// Drop the credentials' cached tokens (ARM refused one): the next [`Self::get_token`]
    /// builds the selected credential anew, so it asks its token endpoint again.
    pub fn forget(&self) {
        for e in &self.entries {
            if !matches!(e.source, Source::Given(_)) {
                *e.built.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
        }
    }

    async fn try_entry(
        &self,
        i: usize,
        scope: &str,
        selected: bool,
    ) -> Result<AccessToken, CredentialAttempt> {
        let entry = &self.entries[i];
        let attempt = |failure| CredentialAttempt {
            credential: entry.name.clone(),
            failure,
        };
        let credential = self.credential(entry).map_err(attempt)?;
        let limit = match (&entry.source, &self.options) {
            (Source::Given(_), _) | (_, None) => None,
            (Source::ManagedIdentity { imds: true }, Some(o)) if !selected => {
                Some(o.imds_probe_timeout)
            }
            (_, Some(o)) => Some(o.credential_timeout),
        };
        let scopes = [scope];
        let asked = credential.get_token(&scopes, None);
        let answer = match limit {
            Some(limit) => tokio::time::timeout(limit, asked)
                .await
                .map_err(|_| attempt(AttemptFailure::TimedOut(limit)))?,
            None => asked.await,
        };
        answer.map_err(|e| attempt(AttemptFailure::Failed(flatten(&error_chain(&e)))))
    }

    fn credential(&self, entry: &Entry) -> Result<Arc<dyn TokenCredential>, AttemptFailure> {
        let mut built = entry.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = built.as_ref() {
            return Ok(c.clone());
        }
        let options = self
            .options
            .as_ref()
            .expect("only given credentials come without options");
        let c = build(&entry.source, options)?;
        *built = Some(c.clone());
        Ok(c)
    }
}

/// Longest message kept from one credential's failure (`az` writes its whole stderr there).
const MAX_ATTEMPT_MESSAGE_CHARS: usize = 1000;

/// One line (lines joined with `; ` where no sentence ended) of at most
/// [`MAX_ATTEMPT_MESSAGE_CHARS`]: azure_identity's messages end in a troubleshooting link on a
/// line of its own, and `az`'s stderr has many.
fn flatten(s: &str) -> String {
    let mut line = String::new();
    for l in s.lines() {
        let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
        if l.is_empty() {
            continue;
        }
        if !line.is_empty() {
            // A line that ended a sentence needs no separator of its own.
            line.push_str(if line.ends_with(['.', ':', ';']) {
                " "
            } else {
                "; "
            });
        }
        line.push_str(&l);
    }
    match line.char_indices().nth(MAX_ATTEMPT_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn client_options(o: &ChainOptions) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = o.authority_host.as_str().trim_end_matches('/').to_string();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(BufferedTransport {
            inner: o.transport.clone(),
            limit: MAX_TOKEN_RESPONSE_BYTES,
            timeouts: o.timeouts,
        }))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
        ..Default::default()
    }
}

fn build(source: &Source, o: &ChainOptions) -> Result<Arc<dyn TokenCredential>, AttemptFailure> {
    let failed = |e: Error| AttemptFailure::Failed(flatten(&error_chain(&e)));
    let assertion = |tenant: &str, client: &str, a: Assertion| {
        let options = ClientAssertionCredentialOptions {
            client_options: client_options(o),
        };
        ClientAssertionCredential::new(tenant.into(), client.into(), a, Some(options))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(failed)
    };
    match source {
        Source::ClientSecret {
            tenant,
            client,
            secret,
        } => {
            let options = ClientSecretCredentialOptions {
                client_options: client_options(o),
            };
            ClientSecretCredential::new(tenant, client.clone(), secret.clone(), Some(options))
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(failed)
        }
        Source::FederatedTokenFile {
            tenant,
            client,
            path,
        } => assertion(tenant, client, Assertion::File(path.clone())),
        Source::FederatedToken {
            tenant,
            client,
            token,
        } => assertion(tenant, client, Assertion::Token(token.clone())),
        Source::NoEnvironment(why) => Err(AttemptFailure::Unavailable(why.clone())),
        Source::ManagedIdentity { .. } => {
            let options = ManagedIdentityCredentialOptions {
                client_options: client_options(o),
                ..Default::default()
            };
            // Azure Arc, Cloud Shell, Service Fabric and Azure ML environments are refused here.
            ManagedIdentityCredential::new(Some(options))
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| AttemptFailure::Unavailable(flatten(&error_chain(&e))))
        }
        Source::AzureCli => AzureCliCredential::new(None)
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(failed),
        Source::Given(c) => Ok(c.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn source_of(vars: &[(&str, &str)]) -> (String, Source) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        environment_source(&|n| map.get(n).cloned())
    }

    #[test]
    fn environment_prefers_workload_identity_then_token_then_secret() {
        let ids = [("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")];
        let all = [
            ids[0],
            ids[1],
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
            ("AZURE_FEDERATED_TOKEN", "inline.jwt.token"),
            ("AZURE_CLIENT_SECRET", "a-client-secret"),
        ];
        let (name, s) = source_of(&all);
        assert_eq!(name, "environment (workload identity)");
        assert!(matches!(s, Source::FederatedTokenFile { .. }), "{s:?}");
        let (name, s) = source_of(&[all[0], all[1], all[3], all[4]]);
        assert_eq!(name, "environment (federated token)");
        assert!(matches!(s, Source::FederatedToken { .. }), "{s:?}");
        let (name, s) = source_of(&[all[0], all[1], all[4]]);
        assert_eq!(name, "environment (client secret)");
        match s {
            Source::ClientSecret {
                tenant,
                client,
                secret,
            } => assert_eq!(
                (tenant.as_str(), client.as_str(), secret.secret()),
                ("t", "c", "a-client-secret")
            ),
            other => panic!("{other:?}"),
        }
        // Blank values count as unset.
        let (name, s) = source_of(&[all[0], all[1], ("AZURE_CLIENT_SECRET", "  ")]);
        assert_eq!(name, "environment");
        assert!(matches!(s, Source::NoEnvironment(_)), "{s:?}");
    }

    #[test]
    fn an_incomplete_environment_says_what_is_missing() {
        let (_, s) = source_of(&[("AZURE_CLIENT_SECRET", "a-client-secret")]);
        let Source::NoEnvironment(why) = s else {
            panic!("{s:?}")
        };
        assert!(why.contains("AZURE_TENANT_ID and AZURE_CLIENT_ID"), "{why}");
        let (_, s) = source_of(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/tmp/cert.pem"),
        ]);
        let Source::NoEnvironment(why) = s else {
            panic!("{s:?}")
        };
        assert!(why.contains("client certificates"), "{why}");
        let (_, s) = source_of(&[]);
        assert!(matches!(s, Source::NoEnvironment(_)));
    }

    #[test]
    fn failures_are_one_bounded_line() {
        assert_eq!(
            flatten(
                "ClientSecretCredential authentication failed.\n  AADSTS7000215\n\nTo troubleshoot"
            ),
            "ClientSecretCredential authentication failed. AADSTS7000215; To troubleshoot"
        );
        let long = "e".repeat(MAX_ATTEMPT_MESSAGE_CHARS + 50);
        let cut = flatten(&long);
        assert_eq!(cut.chars().count(), MAX_ATTEMPT_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            flatten(&long[..MAX_ATTEMPT_MESSAGE_CHARS]).len(),
            MAX_ATTEMPT_MESSAGE_CHARS
        );
    }

    #[test]
    fn managed_identity_is_named_by_where_it_runs() {
        let opts = ChainOptions::new(
            Url::parse("https://login.microsoftonline.com").unwrap(),
            super::super::transport::build_http_client(HttpTimeouts::default()).unwrap(),
        );
        let chain = CredentialChain::from_lookup(opts.clone(), &|_| None);
        assert_eq!(
            chain.names(),
            ["environment", "managed identity (IMDS)", "Azure CLI"]
        );
        let app = |n: &str| match n {
            "IDENTITY_ENDPOINT" => Some("http://127.0.0.1:41741/msi/token".to_string()),
            "IDENTITY_HEADER" => Some("header-secret".to_string()),
            _ => None,
        };
        let chain = CredentialChain::from_lookup(opts, &app);
        assert_eq!(chain.names()[1], "managed identity (App Service)");
    }
}
