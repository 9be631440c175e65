//! The one interface every resource provider implements, and the registry the core reaches
//! providers through. The core (engine, routes, server, lro) never names a provider: it asks the
//! registry for the provider of a type and calls this trait. The list itself is installed once,
//! at start, from `providers::all()`.

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::config::EmulatorConfig;
use super::cx::Cx;
use super::error::{ApiError, HResult};
use super::ids::{parse_id, ResId, Route};
use super::spec::{install_types, Cond, TypeDef};
use super::store::{merge_patch, State};

/// A request as the routing layer sees it, for [`Provider::serve`].
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub route: &'a Route,
    pub query: &'a [(String, String)],
    pub body: &'a Value,
    pub cond: &'a Cond,
}

impl Request<'_> {
    pub fn param(&self, name: &str) -> Option<&str> {
        param(self.query, name)
    }

    /// The resource id of a provider route.
    pub fn id(&self) -> Option<&ResId> {
        match self.route {
            Route::Provider(id) | Route::Tenant(id) => Some(id),
            _ => None,
        }
    }
}

/// A query parameter (case-insensitive name).
pub fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What a provider is: its namespace, the api-versions it accepts, the types it serves.
pub struct Info {
    /// The namespace whose api-versions this provider answers for (`Microsoft.Network`).
    pub namespace: &'static str,
    pub api_versions: &'static [&'static str],
    /// The resource types served, with their static behaviour.
    pub types: &'static [TypeDef],
}

/// A write to validate: PUT body (or the full body a PATCH asks for), without the server-owned
/// envelope, and the stored body it replaces.
pub struct Write<'a> {
    pub id: &'a ResId,
    pub body: Value,
    pub existing: Option<&'a Value>,
}

/// One ARM resource provider (or a coherent part of one). Only `info` is required: a simple
/// resource type is a [`TypeDef`] plus, if it validates or defaults anything, `prepare`. Every
/// hook receives ids of this provider's own types.
pub trait Provider: Sync {
    fn info(&self) -> &'static Info;

    fn namespace(&self) -> &'static str {
        self.info().namespace
    }

    fn api_versions(&self) -> &'static [&'static str] {
        self.info().api_versions
    }

    fn types(&self) -> &'static [TypeDef] {
        self.info().types
    }

    /// Errors use the flat `{code, message}` envelope (Microsoft.Insights).
    fn flat_errors(&self) -> bool {
        false
    }

    /// Answer a request the generic verbs do not cover (actions, built-in instances, lists with
    /// their own scope rules, routes that are not resources). `None`: not this provider's.
    /// Called with the owner of the path's type first; non-resource routes go to every provider.
    fn serve(&self, _cx: &mut Cx, _req: &Request) -> Option<HResult> {
        None
    }

    /// Validate a write and fill in server-side defaults. `body` has no server-owned envelope.
    fn prepare(&self, _cx: &mut Cx, w: Write) -> Result<Value, ApiError> {
        Err(not_writable(w.id))
    }

    /// The full body a PATCH asks for: by default an RFC 7396 merge that replaces `tags` whole.
    fn patch_body(&self, _cx: &Cx, existing: &Value, patch: &Value) -> Result<Value, ApiError> {
        let mut out = existing.clone();
        merge_patch(&mut out, patch);
        // PATCH replaces the whole tag map (RPC).
        if let Some(t) = patch.get("tags") {
            out["tags"] = if t.is_null() { json!({}) } else { t.clone() };
        }
        Ok(out)
    }

    /// Side effects of a stored final body.
    fn after_commit(&self, _cx: &mut Cx, _id: &ResId, _body: &Value) {}

    /// Refuse deletes Azure refuses (resources in use).
    fn before_delete(&self, _cx: &mut Cx, _id: &ResId, _body: &Value) -> Result<(), ApiError> {
        Ok(())
    }

    /// Side effects of a removed resource (`body` is what was stored).
    fn after_delete(&self, _cx: &mut Cx, _id: &ResId, _body: &Value) {}

    /// Derived parts GET shows (children inline, counters, back-references).
    fn render(&self, _st: &State, _cfg: &EmulatorConfig, _key: &str, _body: &mut Value) {}

    /// Keys of other resources a running PUT on `body` holds a lock on (a private endpoint
    /// being created locks the account it connects to).
    fn locks(&self, _st: &State, _body: &Value) -> Vec<String> {
        Vec::new()
    }

    /// Seed a resource some other way than through PUT. `None`: seed with PUT.
    fn seed(&self, _cx: &mut Cx, _id: &ResId, _body: &Value) -> Option<Result<(), ApiError>> {
        None
    }
}

fn not_writable(id: &ResId) -> ApiError {
    ApiError::bad_request(
        "NoRegisteredProviderFound",
        format!(
            "The emulator does not implement writes of resource type '{}'.",
            id.full_type
        ),
    )
}

type List = &'static [&'static dyn Provider];

static PROVIDERS: OnceLock<List> = OnceLock::new();

/// Register the providers (once per process; they are static, so later calls change nothing).
pub fn install(list: List) {
    if PROVIDERS.set(list).is_ok() {
        install_types(list.iter().flat_map(|p| p.types()).collect());
    }
}

pub fn all() -> List {
    PROVIDERS.get().copied().unwrap_or(&[])
}

/// The provider serving a registered type.
pub fn of_type(ty: &TypeDef) -> Option<&'static dyn Provider> {
    all()
        .iter()
        .find(|p| p.types().iter().any(|t| t.name == ty.name))
        .copied()
}

/// The provider of an id: the one serving its type, or else the longest registered prefix of
/// its type path (`accounts/{a}/listKeys` belongs to the accounts provider).
pub fn owner(id: &ResId) -> Option<&'static dyn Provider> {
    if let Some(p) = id.ty.and_then(of_type) {
        return Some(p);
    }
    let mut cur = id.parent();
    while let Some(p) = cur {
        if let Some(found) = p.ty.and_then(of_type) {
            return Some(found);
        }
        cur = p.parent();
    }
    None
}

/// The provider answering api-versions and error style for a namespace and type.
pub fn for_namespace(ns: &str, id: Option<&ResId>) -> Option<&'static dyn Provider> {
    id.and_then(owner)
        .filter(|p| p.namespace().eq_ignore_ascii_case(ns))
        .or_else(|| {
            all()
                .iter()
                .find(|p| p.namespace().eq_ignore_ascii_case(ns))
                .copied()
        })
}

/// A stored body's id, parsed, with its provider.
pub fn of_body(body: &Value) -> Option<(ResId, &'static dyn Provider)> {
    let id = body["id"].as_str().and_then(parse_id)?;
    let p = id.ty.and_then(of_type)?;
    Some((id, p))
}

/// The body as GET shows it: stored body plus derived parts.
pub fn render(st: &State, cfg: &EmulatorConfig, key: &str) -> Value {
    let Some(mut body) = st.get(key).cloned() else {
        return Value::Null;
    };
    if let Some((_, p)) = of_body(&body) {
        p.render(st, cfg, key, &mut body);
    }
    body
}

/// Side effects of a removed resource, by its provider.
pub fn after_delete(cx: &mut Cx, body: &Value) {
    if let Some((id, p)) = of_body(body) {
        p.after_delete(cx, &id, body);
    }
}
