//! The Key Vault secrets data plane (issue 20), just what `moat rotate` needs: set a secret (a
//! new version with tags and expiry), get its latest version's tags and dates. Secrets API 7.4
//! (Azure/azure-rest-api-specs specification/keyvault/data-plane/Microsoft.KeyVault/stable/7.4).
//!
//! The endpoint is the vault's own (`properties.vaultUri` of the vault resource), checked to be
//! `https://{name}.{the cloud's vault suffix}/`; the token is asked for the cloud's vault scope
//! and is sent only to that origin ([`HttpArm`] refuses to follow any other). For the emulator,
//! `--vault-endpoint` names a loopback origin that serves every vault under
//! `/vaults/{vault host}/`; nothing but loopback, and only with a static token
//! (`MOAT_ACCESS_TOKEN`), is accepted there. Response bodies are bounded like ARM's.

use serde_json::{json, Map, Value};
use url::Url;
use zeroize::Zeroize;

use super::config::{is_loopback, Cloud};
use super::credential::{ChainOptions, CredentialChain};
use super::error::ArmError;
use super::http::{HttpArm, TokenSource};
use super::transport::{build_http_client, HttpTimeouts};
use super::{ArmApi, ArmRequest, Method};

/// The secrets API version moat sends.
pub const SECRETS_API_VERSION: &str = "7.4";

impl Cloud {
    /// DNS suffix of Key Vault endpoints in this cloud.
    pub fn vault_suffix(self) -> &'static str {
        match self {
            Cloud::Public => ".vault.azure.net",
            Cloud::Usgovernment => ".vault.usgovcloudapi.net",
            Cloud::China => ".vault.azure.cn",
        }
    }

    /// OAuth scope of Key Vault tokens in this cloud.
    pub fn vault_scope(self) -> &'static str {
        match self {
            Cloud::Public => "https://vault.azure.net/.default",
            Cloud::Usgovernment => "https://vault.usgovcloudapi.net/.default",
            Cloud::China => "https://vault.azure.cn/.default",
        }
    }
}

/// An account key on its way from `regenerateKey` to Key Vault. `Debug` and `Display` never
/// show it; its bytes are overwritten when it is dropped. (Copies made by serde_json and the
/// HTTP stack while a request is built are outside moat's types and are not zeroised.)
pub struct KeyMaterial(String);

impl KeyMaterial {
    /// Takes `v` out of a JSON value (leaving `null`), so the only copy is this one.
    pub fn take(v: &mut Value) -> Option<KeyMaterial> {
        match v.take() {
            Value::String(s) => Some(KeyMaterial(s)),
            _ => None,
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

impl std::fmt::Display for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Overwrite every string in `v` (a response that carried keys) before it is dropped.
pub fn scrub(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(scrub),
        Value::Object(o) => o.values_mut().for_each(scrub),
        _ => {}
    }
}

/// One secret version as moat sees it: never its value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SecretVersion {
    /// `https://{vault}/secrets/{name}/{version}`.
    pub id: String,
    pub version: String,
    pub tags: Map<String, Value>,
    /// Unix seconds.
    pub created: Option<i64>,
    pub expires: Option<i64>,
}

impl SecretVersion {
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).and_then(Value::as_str)
    }

    fn from_bundle(b: &Value) -> SecretVersion {
        let id = b["id"].as_str().unwrap_or_default().to_string();
        SecretVersion {
            version: id.rsplit('/').next().unwrap_or_default().to_string(),
            id,
            tags: b["tags"].as_object().cloned().unwrap_or_default(),
            created: b.pointer("/attributes/created").and_then(Value::as_i64),
            expires: b.pointer("/attributes/exp").and_then(Value::as_i64),
        }
    }
}

/// A connection to one vault's data plane.
pub struct Vault {
    http: HttpArm,
    /// Path prefix on the endpoint: empty for a real vault, `/vaults/{host}` for the emulator.
    prefix: String,
    /// The vault's host, for messages.
    pub host: String,
}

/// Where the data plane of `vault_uri` is, and with which token.
pub struct VaultOptions<'a> {
    pub cloud: Cloud,
    /// `--vault-endpoint` (the emulator's loopback origin).
    pub endpoint_override: Option<&'a str>,
    /// `MOAT_ACCESS_TOKEN`: with an override, the token sent to the emulator.
    pub static_token: Option<&'a str>,
    /// `MOAT_VAULT_ACCESS_TOKEN`: a Key Vault token for a real vault instead of the chain.
    pub vault_token: Option<&'a str>,
}

/// Check `vault_uri` and connect to it.
pub fn connect_vault(vault_uri: &str, o: &VaultOptions) -> Result<Vault, ArmError> {
    let bad = |why: String| ArmError::Config(format!("vault URI {vault_uri:?} {why}"));
    let uri = Url::parse(vault_uri).map_err(|e| bad(format!("is not a URL ({e})")))?;
    let host = uri
        .host_str()
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let suffix = o.cloud.vault_suffix();
    let name = host.strip_suffix(suffix).unwrap_or_default();
    if uri.scheme() != "https"
        || name.is_empty()
        || name.contains('.')
        || uri.port().is_some()
        || !uri.username().is_empty()
        || uri.password().is_some()
        || !uri.path().trim_matches('/').is_empty()
    {
        return Err(bad(format!(
            "is not a Key Vault endpoint of the {} cloud (expected https://NAME{suffix}/)",
            o.cloud.name()
        )));
    }
    let timeouts = HttpTimeouts::default();
    let client = build_http_client(timeouts)?;
    let (endpoint, prefix, tokens) = match o.endpoint_override {
        Some(raw) => {
            let ep = Url::parse(raw.trim())
                .map_err(|e| ArmError::Config(format!("invalid --vault-endpoint {raw:?}: {e}")))?;
            let loopback = ep.host().as_ref().is_some_and(is_loopback);
            let origin_only = ep.path().trim_matches('/').is_empty()
                && ep.query().is_none()
                && ep.username().is_empty()
                && ep.password().is_none();
            if !loopback || !origin_only || !matches!(ep.scheme(), "http" | "https") {
                return Err(ArmError::Config(format!(
                    "refusing --vault-endpoint {raw:?}: it is for the emulator and must be a loopback origin (http://127.0.0.1:PORT); real vaults are reached at their own vaultUri"
                )));
            }
            let Some(token) = o.static_token.filter(|t| !t.trim().is_empty()) else {
                return Err(ArmError::Config(
                    "--vault-endpoint needs MOAT_ACCESS_TOKEN (the emulator's token); moat does not send an Azure token to a loopback endpoint".into(),
                ));
            };
            let tokens = TokenSource::Static(azure_core::credentials::Secret::new(
                token.trim().to_string(),
            ));
            (ep, format!("/vaults/{host}"), tokens)
        }
        None => {
            let tokens = match (o.vault_token, o.static_token) {
                (Some(t), _) if !t.trim().is_empty() => TokenSource::Static(
                    azure_core::credentials::Secret::new(t.trim().to_string()),
                ),
                (_, Some(_)) => {
                    return Err(ArmError::Config(
                        "MOAT_ACCESS_TOKEN is an ARM token and is not sent to Key Vault; set MOAT_VAULT_ACCESS_TOKEN (audience https://vault.azure.net) too, or sign in with the credential chain".into(),
                    ))
                }
                _ => {
                    let env_host = std::env::var("AZURE_AUTHORITY_HOST").ok();
                    let authority =
                        super::config::authority_host_url(o.cloud, env_host.as_deref())?;
                    let mut options = ChainOptions::new(authority, client.clone());
                    options.timeouts = timeouts;
                    TokenSource::Credential {
                        credential: std::sync::Arc::new(CredentialChain::from_env(options)),
                        scope: o.cloud.vault_scope().to_string(),
                    }
                }
            };
            let origin = Url::parse(&format!("https://{host}/")).expect("checked host");
            (origin, String::new(), tokens)
        }
    };
    Ok(Vault {
        http: HttpArm::new(endpoint, tokens).with_transport(client, timeouts),
        prefix,
        host,
    })
}

impl Vault {
    fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// The latest version of secret `name`, without its value (`None` when there is none),
    /// and the vault's clock (the answer's `Date`, Unix seconds): moat decides what is due by
    /// the vault's time, not the runner's.
    pub async fn latest(
        &self,
        name: &str,
    ) -> Result<(Option<SecretVersion>, Option<i64>), ArmError> {
        let req = ArmRequest::new(
            Method::Get,
            self.path(&format!("/secrets/{name}/")),
            SECRETS_API_VERSION,
        );
        let mut resp = self.http.send(req.clone()).await?;
        let server_now = resp.header("date").and_then(parse_http_date);
        match resp.status {
            200 => {
                let mut body = resp.body.take().unwrap_or(Value::Null);
                if let Some(v) = body.get_mut("value") {
                    scrub(v);
                }
                Ok((Some(SecretVersion::from_bundle(&body)), server_now))
            }
            404 => Ok((None, server_now)),
            _ => Err(ArmError::from_response(&req, &resp)),
        }
    }

    /// Every version of secret `name` (Key Vault lists them without values), all pages, in the
    /// order the vault lists them; empty when the secret does not exist.
    pub async fn versions(&self, name: &str) -> Result<Vec<SecretVersion>, ArmError> {
        let req = ArmRequest::new(
            Method::Get,
            self.path(&format!("/secrets/{name}/versions")),
            SECRETS_API_VERSION,
        );
        let mut items = self.http.list_query(req).await?;
        for item in &mut items {
            if let Some(v) = item.get_mut("value") {
                scrub(v);
            }
        }
        Ok(items.iter().map(SecretVersion::from_bundle).collect())
    }

    /// A new version of secret `name` holding `value`, with `tags` and expiry `exp` (Unix
    /// seconds). Returns the version written (its value scrubbed from the answer).
    pub async fn set(
        &self,
        name: &str,
        value: &KeyMaterial,
        tags: &Map<String, Value>,
        exp: i64,
    ) -> Result<SecretVersion, ArmError> {
        let body = json!({
            "value": value.expose(),
            "contentType": "text/plain; moat-rotate",
            "tags": tags,
            "attributes": { "enabled": true, "exp": exp },
        });
        // The request without its body, for error messages.
        let sent = ArmRequest::new(
            Method::Put,
            self.path(&format!("/secrets/{name}")),
            SECRETS_API_VERSION,
        );
        let mut resp = self.http.send(sent.clone().with_body(body)).await?;
        if !resp.is_success() {
            return Err(ArmError::from_response(&sent, &resp));
        }
        let mut answer = resp.body.take().unwrap_or(Value::Null);
        if let Some(v) = answer.get_mut("value") {
            scrub(v);
        }
        Ok(SecretVersion::from_bundle(&answer))
    }
}

/// An HTTP `Date` header as Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(cloud: Cloud) -> VaultOptions<'static> {
        VaultOptions {
            cloud,
            endpoint_override: None,
            static_token: None,
            vault_token: Some("t"),
        }
    }

    #[test]
    fn vault_uris_per_cloud() {
        assert!(connect_vault("https://kv-1.vault.azure.net/", &opts(Cloud::Public)).is_ok());
        assert!(connect_vault("https://kv-1.vault.azure.cn/", &opts(Cloud::China)).is_ok());
        assert!(connect_vault(
            "https://kv-1.vault.usgovcloudapi.net",
            &opts(Cloud::Usgovernment)
        )
        .is_ok());
        for bad in [
            "http://kv-1.vault.azure.net/",
            "https://kv-1.vault.azure.net.evil.example/",
            "https://kv-1.vault.azure.cn/",
            "https://a.b.vault.azure.net/",
            "https://kv-1.vault.azure.net:8443/",
            "https://u:p@kv-1.vault.azure.net/",
            "https://kv-1.vault.azure.net/secrets/x",
        ] {
            assert!(connect_vault(bad, &opts(Cloud::Public)).is_err(), "{bad}");
        }
        assert_eq!(
            Cloud::China.vault_scope(),
            "https://vault.azure.cn/.default"
        );
    }

    #[test]
    fn the_override_is_loopback_only_and_needs_a_static_token() {
        let with = |ep: &'static str, token: Option<&'static str>| VaultOptions {
            cloud: Cloud::Public,
            endpoint_override: Some(ep),
            static_token: token,
            vault_token: None,
        };
        let uri = "https://kv-1.vault.azure.net/";
        assert!(connect_vault(uri, &with("http://127.0.0.1:9/", Some("t"))).is_ok());
        assert!(connect_vault(uri, &with("http://127.0.0.1:9/", None)).is_err());
        assert!(connect_vault(uri, &with("http://10.0.0.1:9/", Some("t"))).is_err());
        assert!(connect_vault(uri, &with("https://example.com/", Some("t"))).is_err());
        assert!(connect_vault(uri, &with("http://127.0.0.1:9/x", Some("t"))).is_err());
        // An ARM token is not sent to a real vault.
        let arm_token = VaultOptions {
            cloud: Cloud::Public,
            endpoint_override: None,
            static_token: Some("arm"),
            vault_token: None,
        };
        assert!(connect_vault(uri, &arm_token).is_err());
    }

    #[test]
    fn key_material_never_shows() {
        let mut v = json!("sentinel-key-0123456789");
        let k = KeyMaterial::take(&mut v).unwrap();
        assert_eq!(v, Value::Null);
        assert_eq!(format!("{k} {k:?}"), "<redacted> KeyMaterial(<redacted>)");
        assert_eq!(k.expose(), "sentinel-key-0123456789");
        assert_eq!(
            parse_http_date("Thu, 01 Jan 2026 00:00:00 GMT"),
            Some(1_767_225_600)
        );
    }
}
