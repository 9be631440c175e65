//! Resource ids: parsing request paths into what they address, canonical casing of the literal
//! segments and type names, and the lower-cased store key (ARM matches ids case-insensitively but
//! preserves the casing of the names the caller last wrote).

use serde_json::Value;

use super::error::ApiError;
use super::spec::{lookup, Placement, TypeDef};

/// Which polling resource of a long-running operation a path addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpPoll {
    /// `.../locations/{l}/operationStatuses/{id}` (Azure-AsyncOperation).
    Status,
    /// `.../locations/{l}/operationResults/{id}` (Location).
    Result,
}

/// Registered type and canonical type name for a namespace and its type segments. Unregistered
/// types keep the caller's casing and have no type (generic: readable when seeded, not writable).
pub fn classify(ns: &str, types: &[String]) -> (Option<&'static TypeDef>, String) {
    let full = format!("{ns}/{}", types.join("/"));
    match lookup(&full) {
        Some(t) => (Some(t), t.name.to_string()),
        None => (None, full),
    }
}

/// A parsed resource path: scope, provider namespace, type segments and names. An *instance*
/// has as many names as types; a *collection* (list, or POST action) has one name fewer.
#[derive(Debug, Clone, PartialEq)]
pub struct ResId {
    pub sub: String,
    pub rg: Option<String>,
    /// Display scope: `/subscriptions/{s}`, `/subscriptions/{s}/resourceGroups/{rg}` or (for
    /// extension resources) any resource id.
    pub scope: String,
    pub ns: String,
    pub types: Vec<String>,
    pub names: Vec<String>,
    /// The registered type (`None`: not modelled).
    pub ty: Option<&'static TypeDef>,
    /// Canonical `{ns}/{type}[/{child}]`.
    pub full_type: String,
}

impl ResId {
    pub fn is_instance(&self) -> bool {
        self.names.len() == self.types.len()
    }

    /// Whether this is a registered type of that canonical name.
    pub fn is(&self, full_type: &str) -> bool {
        self.ty.is_some_and(|t| t.name == full_type)
    }

    pub fn placement(&self) -> Placement {
        self.ty.map_or(Placement::Resource, |t| t.placement)
    }

    /// An operation's polling resource (any provider namespace).
    pub fn op_poll(&self) -> Option<OpPoll> {
        if self.types.len() != 2 || !self.types[0].eq_ignore_ascii_case("locations") {
            return None;
        }
        if self.types[1].eq_ignore_ascii_case("operationStatuses") {
            Some(OpPoll::Status)
        } else if self.types[1].eq_ignore_ascii_case("operationResults") {
            Some(OpPoll::Result)
        } else {
            None
        }
    }

    /// The top-level resource this id belongs to (`accounts/a/deployments/d` → `accounts/a`).
    pub fn root(&self) -> ResId {
        let mut r = self.clone();
        r.types.truncate(1);
        r.names.truncate(1);
        let (ty, full) = classify(&r.ns, &r.types);
        r.ty = ty;
        r.full_type = full;
        r
    }

    /// The id with canonical literal and type casing and the caller's name casing.
    pub fn display(&self) -> String {
        let mut out = format!(
            "{}/providers/{}",
            self.scope,
            self.full_type.split('/').next().unwrap_or(&self.ns)
        );
        let canon: Vec<&str> = self.full_type.split('/').skip(1).collect();
        for (i, t) in self.types.iter().enumerate() {
            let t = canon.get(i).copied().unwrap_or(t.as_str());
            out.push('/');
            out.push_str(t);
            if let Some(n) = self.names.get(i) {
                out.push('/');
                out.push_str(n);
            }
        }
        out
    }

    pub fn key(&self) -> String {
        self.display().to_ascii_lowercase()
    }

    pub fn name(&self) -> &str {
        self.names.last().map(String::as_str).unwrap_or("")
    }

    /// The enclosing resource of a child (`accounts/a/deployments/d` → `accounts/a`), or of a
    /// collection/action (`accounts/a/listKeys` → `accounts/a`).
    pub fn parent(&self) -> Option<ResId> {
        if self.types.len() < 2 {
            return None;
        }
        let mut p = self.clone();
        if p.is_instance() {
            p.names.pop();
        }
        p.types.pop();
        let (ty, full) = classify(&p.ns, &p.types);
        p.ty = ty;
        p.full_type = full;
        Some(p)
    }

    /// `Some(scope id)` when the scope is itself a resource (extension resources on a resource).
    pub fn scope_is_resource(&self) -> bool {
        self.scope.to_ascii_lowercase().contains("/providers/")
    }

    /// `/subscriptions/{s}/resourceGroups/{rg}` of this id, if any.
    pub fn rg_id(&self) -> Option<String> {
        self.rg
            .as_ref()
            .map(|rg| format!("/subscriptions/{}/resourceGroups/{rg}", self.sub))
    }
}

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Subscription {
        sub: String,
    },
    ResourceGroups {
        sub: String,
    },
    ResourceGroup {
        sub: String,
        rg: String,
    },
    Provider(ResId),
    /// `/providers/{ns}/{type}/{name}` of a type registered as tenant-readable (built-in role
    /// definitions); `sub` and `scope` are empty.
    Tenant(ResId),
    Unknown,
}

fn canon_scope(segs: &[&str]) -> Option<(String, String, Option<String>)> {
    // segs = ["subscriptions", s, ("resourceGroups", rg, ("providers", ns, t, n ...))?]
    if segs.len() < 2 || !segs[0].eq_ignore_ascii_case("subscriptions") {
        return None;
    }
    let sub = segs[1].to_string();
    let mut out = format!("/subscriptions/{sub}");
    let mut rg = None;
    let mut i = 2;
    if segs.len() >= 4 && segs[2].eq_ignore_ascii_case("resourceGroups") {
        out.push_str(&format!("/resourceGroups/{}", segs[3]));
        rg = Some(segs[3].to_string());
        i = 4;
    }
    for s in &segs[i..] {
        out.push('/');
        if s.eq_ignore_ascii_case("providers") {
            out.push_str("providers");
        } else {
            out.push_str(s);
        }
    }
    Some((out, sub, rg))
}

/// Parse a request path (no query string).
pub fn parse(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() == 4 && segs[0].eq_ignore_ascii_case("providers") {
        let types = vec![segs[2].to_string()];
        let (ty, full_type) = classify(segs[1], &types);
        if ty.is_some_and(|t| t.tenant) {
            return Route::Tenant(ResId {
                sub: String::new(),
                rg: None,
                scope: String::new(),
                ns: segs[1].to_string(),
                types,
                names: vec![segs[3].to_string()],
                ty,
                full_type,
            });
        }
    }
    if segs.len() < 2 || !segs[0].eq_ignore_ascii_case("subscriptions") {
        return Route::Unknown;
    }
    let sub = segs[1].to_string();
    let last_prov = segs
        .iter()
        .rposition(|s| s.eq_ignore_ascii_case("providers"));
    let Some(p) = last_prov.filter(|p| p + 2 < segs.len() && *p >= 2) else {
        return match segs.len() {
            2 => Route::Subscription { sub },
            3 if segs[2].eq_ignore_ascii_case("resourceGroups") => Route::ResourceGroups { sub },
            4 if segs[2].eq_ignore_ascii_case("resourceGroups") => Route::ResourceGroup {
                sub,
                rg: segs[3].to_string(),
            },
            _ => Route::Unknown,
        };
    };
    let Some((scope, sub, rg)) = canon_scope(&segs[..p]) else {
        return Route::Unknown;
    };
    let ns = segs[p + 1].to_string();
    let rest = &segs[p + 2..];
    let types: Vec<String> = rest.iter().step_by(2).map(|s| s.to_string()).collect();
    let names: Vec<String> = rest
        .iter()
        .skip(1)
        .step_by(2)
        .map(|s| s.to_string())
        .collect();
    let (ty, full_type) = classify(&ns, &types);
    Route::Provider(ResId {
        sub,
        rg,
        scope,
        ns,
        types,
        names,
        ty,
        full_type,
    })
}

/// Parse a resource id (as found in bodies) into an instance id.
pub fn parse_id(id: &str) -> Option<ResId> {
    match parse(id) {
        Route::Provider(r) if r.is_instance() => Some(r),
        _ => None,
    }
}

/// ARM accepts any case/whitespace variant of a location; it reports the compact lowercase form.
pub fn normalize_location(loc: &str) -> String {
    loc.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The location of a write (or of the stored body it replaces), normalised; ARM's 400
/// LocationRequired when neither has one.
pub fn required_location(body: &Value, existing: Option<&Value>) -> Result<String, ApiError> {
    body.get("location")
        .or_else(|| existing.and_then(|e| e.get("location")))
        .and_then(Value::as_str)
        .map(normalize_location)
        .ok_or_else(|| {
            ApiError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })
}

/// Resource group id in canonical casing.
pub fn rg_display(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}
