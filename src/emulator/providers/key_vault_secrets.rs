//! The Key Vault secrets data plane, minimal (issue 20): set a secret (a new version), get its
//! latest or a given version, list its versions. Served on the emulator's loopback origin under
//! `/vaults/{vault host}/` — a vault's real endpoint is its own host (`properties.vaultUri`,
//! `https://{name}.vault.azure.net/`), which a loopback server cannot be, so moat's
//! `--vault-endpoint` override (loopback only) puts the host in the path instead.
//!
//! Bodies as in Azure/azure-rest-api-specs specification/keyvault/data-plane/Microsoft.KeyVault/
//! stable/7.4/examples/SetSecret-example.json, GetSecret-example.json and
//! GetSecretVersions-example.json: `id` is `{vaultUri}secrets/{name}/{version}` (32 hex digits),
//! `attributes` carry `enabled`, `exp`, `created`, `updated` as Unix seconds, list items carry no
//! `value`. Errors are `{"error": {"code", "message"}}` (`SecretNotFound`). Simplifications: no
//! data-plane RBAC check, no soft delete, no paging (a secret's versions fit in one page here).

use serde_json::{json, Map, Value};

use crate::emulator::cx::Cx;
use crate::emulator::error::{ApiError, HResult, Reply};
use crate::emulator::provider::Request;

/// The vault type (as `key_vault.rs` serves it; named here too so neither file imports the other).
const VAULT_TYPE: &str = "Microsoft.KeyVault/vaults";

/// The path prefix of the data plane on the emulator's origin.
pub const PREFIX: &str = "/vaults/";
/// Secrets API versions served (7.4 is the oldest with the current secret shape moat needs).
const API_VERSIONS: &[&str] = &["7.4", "7.5", "7.6"];
/// Key Vault's limit on a secret value (25 KiB).
const MAX_VALUE_BYTES: usize = 25 * 1024;
/// Key Vault allows 15 tags per object.
const MAX_TAGS: usize = 15;

/// `None` unless the path is on the data plane.
pub fn serve(cx: &mut Cx, req: &Request) -> Option<HResult> {
    let rest = req.path.strip_prefix(PREFIX)?;
    Some(handle(cx, req, rest))
}

fn handle(cx: &mut Cx, req: &Request, rest: &str) -> HResult {
    let version = req.param("api-version").unwrap_or_default();
    if !API_VERSIONS.contains(&version) {
        return Err(kv_error(
            400,
            "BadParameter",
            &format!(
                "The specified version ({version}) is not recognized. Consider using the latest supported version ({}).",
                API_VERSIONS[API_VERSIONS.len() - 1]
            ),
        ));
    }
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let (host, name, tail) = match segs.as_slice() {
        [host, "secrets", name, tail @ ..] => (host.to_ascii_lowercase(), *name, tail),
        _ => return Err(kv_error(404, "NotFound", "No route.")),
    };
    let Some(vault_uri) = vault_uri_of(cx, &host) else {
        return Err(kv_error(
            404,
            "VaultNotFound",
            &format!("No vault with the host {host} exists in the emulator."),
        ));
    };
    if name.is_empty()
        || name.len() > 127
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(kv_error(
            400,
            "BadParameter",
            "The secret name must be 1-127 characters: letters, digits and dashes.",
        ));
    }
    let key = format!("{host}/{}", name.to_ascii_lowercase());
    match (req.method, tail) {
        ("PUT", []) => set(cx, &key, &vault_uri, name, req.body),
        ("GET", ["versions"]) => Ok(list(cx, &key)),
        ("GET", []) => get(cx, &key, name, None),
        ("GET", [v]) => get(cx, &key, name, Some(v)),
        _ => Err(kv_error(405, "MethodNotAllowed", "Not supported here.")),
    }
}

/// The `vaultUri` of the emulated vault whose host is `host`.
fn vault_uri_of(cx: &Cx, host: &str) -> Option<String> {
    cx.st
        .resources
        .values()
        .filter(|v| {
            v["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(VAULT_TYPE))
        })
        .filter_map(|v| v.pointer("/properties/vaultUri")?.as_str())
        .find(|uri| {
            url::Url::parse(uri)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .as_deref()
                == Some(host)
        })
        .map(|uri| format!("{}/", uri.trim_end_matches('/')))
}

fn set(cx: &mut Cx, key: &str, vault_uri: &str, name: &str, body: &Value) -> HResult {
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return Err(kv_error(
            400,
            "BadParameter",
            "The parameter value is required.",
        ));
    };
    if value.len() > MAX_VALUE_BYTES {
        return Err(kv_error(
            400,
            "BadParameter",
            "The secret value exceeds 25 KB.",
        ));
    }
    let tags = body.get("tags").cloned().unwrap_or(json!({}));
    if tags.as_object().is_some_and(|t| t.len() > MAX_TAGS) {
        return Err(kv_error(
            400,
            "BadParameter",
            "A secret may have at most 15 tags.",
        ));
    }
    let now = cx.now.as_secs();
    let mut attributes = Map::new();
    attributes.insert("enabled".into(), json!(true));
    if let Some(a) = body.get("attributes").and_then(Value::as_object) {
        for k in ["enabled", "exp", "nbf"] {
            if let Some(v) = a.get(k) {
                attributes.insert(k.into(), v.clone());
            }
        }
    }
    attributes.insert("created".into(), json!(now));
    attributes.insert("updated".into(), json!(now));
    attributes.insert("recoveryLevel".into(), json!("Recoverable+Purgeable"));
    attributes.insert("recoverableDays".into(), json!(90));
    let version = cx.st.new_guid("secret-version").replace('-', "");
    let mut bundle = json!({
        "value": value,
        "id": format!("{vault_uri}secrets/{name}/{version}"),
        "attributes": attributes,
        "tags": tags,
    });
    if let Some(ct) = body.get("contentType") {
        bundle["contentType"] = ct.clone();
    }
    cx.st
        .secrets
        .entry(key.to_string())
        .or_default()
        .push(bundle.clone());
    cx.st.dirty = true;
    Ok(Reply::json(200, bundle))
}

fn get(cx: &Cx, key: &str, name: &str, version: Option<&str>) -> HResult {
    let versions = cx
        .st
        .secrets
        .get(key)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let found = match version {
        None => versions.last(),
        Some(v) => versions.iter().find(|b| {
            b["id"]
                .as_str()
                .and_then(|id| id.rsplit('/').next())
                .is_some_and(|x| x.eq_ignore_ascii_case(v))
        }),
    };
    match found {
        Some(b) => Ok(Reply::json(200, b.clone())),
        None => Err(kv_error(
            404,
            "SecretNotFound",
            &format!("A secret with (name/id) {name} was not found in this key vault."),
        )),
    }
}

fn list(cx: &Cx, key: &str) -> Reply {
    let items: Vec<Value> = cx
        .st
        .secrets
        .get(key)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|b| {
            let mut item = b.clone();
            if let Some(o) = item.as_object_mut() {
                o.remove("value");
            }
            item
        })
        .collect();
    Reply::json(200, json!({ "value": items, "nextLink": null }))
}

/// Key Vault's error shape; its codes are not ARM's.
fn kv_error(status: u16, code: &str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}
