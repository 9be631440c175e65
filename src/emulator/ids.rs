//! Resource ids: parsing request paths into what they address, canonical casing of the literal
//! segments and type names, and the lower-cased store key (ARM matches ids case-insensitively but
//! preserves the casing of the names the caller last wrote).

/// The resource kinds the emulator implements. `Generic` is anything seeded whose type the
/// emulator does not model (readable, not writable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Account,
    Deployment,
    RaiPolicy,
    PrivateEndpointConnection,
    VirtualNetwork,
    Subnet,
    Nsg,
    SecurityRule,
    PrivateEndpoint,
    ZoneGroup,
    DnsZone,
    VnetLink,
    RecordSet,
    RoleAssignment,
    RoleDefinition,
    DiagnosticSetting,
    DiagnosticCategory,
    Workspace,
    DeletedAccount,
    OperationStatus,
    OperationResult,
    PrivateLinkResource,
    DefaultSecurityRule,
    Generic,
}

/// Record types of private DNS zones.
pub const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "PTR", "SOA", "SRV", "TXT"];

/// Canonical full type names.
const TYPES: &[(&str, Kind)] = &[
    ("Microsoft.CognitiveServices/accounts", Kind::Account),
    (
        "Microsoft.CognitiveServices/accounts/deployments",
        Kind::Deployment,
    ),
    (
        "Microsoft.CognitiveServices/accounts/raiPolicies",
        Kind::RaiPolicy,
    ),
    (
        "Microsoft.CognitiveServices/accounts/privateEndpointConnections",
        Kind::PrivateEndpointConnection,
    ),
    (
        "Microsoft.CognitiveServices/accounts/privateLinkResources",
        Kind::PrivateLinkResource,
    ),
    (
        "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts",
        Kind::DeletedAccount,
    ),
    (
        "Microsoft.CognitiveServices/deletedAccounts",
        Kind::DeletedAccount,
    ),
    ("Microsoft.Network/virtualNetworks", Kind::VirtualNetwork),
    ("Microsoft.Network/virtualNetworks/subnets", Kind::Subnet),
    ("Microsoft.Network/networkSecurityGroups", Kind::Nsg),
    (
        "Microsoft.Network/networkSecurityGroups/securityRules",
        Kind::SecurityRule,
    ),
    (
        "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
        Kind::DefaultSecurityRule,
    ),
    ("Microsoft.Network/privateEndpoints", Kind::PrivateEndpoint),
    (
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        Kind::ZoneGroup,
    ),
    ("Microsoft.Network/privateDnsZones", Kind::DnsZone),
    (
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        Kind::VnetLink,
    ),
    (
        "Microsoft.Authorization/roleAssignments",
        Kind::RoleAssignment,
    ),
    (
        "Microsoft.Authorization/roleDefinitions",
        Kind::RoleDefinition,
    ),
    (
        "Microsoft.Insights/diagnosticSettings",
        Kind::DiagnosticSetting,
    ),
    (
        "Microsoft.Insights/diagnosticSettingsCategories",
        Kind::DiagnosticCategory,
    ),
    ("Microsoft.OperationalInsights/workspaces", Kind::Workspace),
];

impl Kind {
    /// Extension resources hang off any scope (`{scope}/providers/{ns}/{type}/{name}`).
    pub fn is_extension(self) -> bool {
        matches!(
            self,
            Kind::RoleAssignment
                | Kind::RoleDefinition
                | Kind::DiagnosticSetting
                | Kind::DiagnosticCategory
        )
    }

    /// Kinds living under `/subscriptions/{s}/providers/...` rather than in a resource group.
    pub fn is_subscription_level(self) -> bool {
        matches!(
            self,
            Kind::DeletedAccount | Kind::OperationStatus | Kind::OperationResult
        )
    }
}

/// Kind and canonical type name for a namespace and its type segments.
pub fn classify(ns: &str, types: &[String]) -> (Kind, String) {
    let full = format!("{ns}/{}", types.join("/"));
    for (name, kind) in TYPES {
        if name.eq_ignore_ascii_case(&full) {
            return (*kind, name.to_string());
        }
    }
    if types.len() == 2
        && ns.eq_ignore_ascii_case("Microsoft.Network")
        && types[0].eq_ignore_ascii_case("privateDnsZones")
    {
        if let Some(rt) = RECORD_TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(&types[1]))
        {
            return (
                Kind::RecordSet,
                format!("Microsoft.Network/privateDnsZones/{rt}"),
            );
        }
    }
    if types.len() == 2
        && types[0].eq_ignore_ascii_case("locations")
        && (types[1].eq_ignore_ascii_case("operationStatuses")
            || types[1].eq_ignore_ascii_case("operationResults"))
    {
        let kind = if types[1].eq_ignore_ascii_case("operationStatuses") {
            Kind::OperationStatus
        } else {
            Kind::OperationResult
        };
        return (kind, full);
    }
    (Kind::Generic, full)
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
    pub kind: Kind,
    /// Canonical `{ns}/{type}[/{child}]`.
    pub full_type: String,
}

impl ResId {
    pub fn is_instance(&self) -> bool {
        self.names.len() == self.types.len()
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
        let (kind, full) = classify(&p.ns, &p.types);
        p.kind = kind;
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
    /// Built-in role definitions are also readable at `/providers/Microsoft.Authorization/...`.
    TenantRoleDefinition {
        name: String,
    },
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
    if segs.len() == 4
        && segs[0].eq_ignore_ascii_case("providers")
        && segs[1].eq_ignore_ascii_case("Microsoft.Authorization")
        && segs[2].eq_ignore_ascii_case("roleDefinitions")
    {
        return Route::TenantRoleDefinition {
            name: segs[3].to_string(),
        };
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
    let (kind, full_type) = classify(&ns, &types);
    Route::Provider(ResId {
        sub,
        rg,
        scope,
        ns,
        types,
        names,
        kind,
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

/// Resource group id in canonical casing.
pub fn rg_display(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_child_and_extension_ids() {
        let Route::Provider(r) = parse(
            "/SUBSCRIPTIONS/s1/resourcegroups/RG/providers/microsoft.cognitiveservices/ACCOUNTS/Acc/deployments/d1",
        ) else {
            panic!("not a provider route")
        };
        assert_eq!(r.kind, Kind::Deployment);
        assert_eq!(
            r.display(),
            "/subscriptions/s1/resourceGroups/RG/providers/Microsoft.CognitiveServices/accounts/Acc/deployments/d1"
        );
        assert_eq!(r.parent().unwrap().kind, Kind::Account);

        let Route::Provider(ra) = parse(
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Authorization/roleAssignments/g",
        ) else {
            panic!()
        };
        assert_eq!(ra.kind, Kind::RoleAssignment);
        assert!(ra.scope_is_resource());
        assert_eq!(ra.rg.as_deref(), Some("rg"));
    }

    #[test]
    fn parses_record_sets_lists_and_groups() {
        let Route::Provider(r) =
            parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/z.com/a/rec")
        else {
            panic!()
        };
        assert_eq!(r.kind, Kind::RecordSet);
        assert_eq!(r.full_type, "Microsoft.Network/privateDnsZones/A");
        assert_eq!(
            parse("/subscriptions/s/resourcegroups"),
            Route::ResourceGroups { sub: "s".into() }
        );
        assert_eq!(
            parse("/subscriptions/s/resourcegroups/x"),
            Route::ResourceGroup {
                sub: "s".into(),
                rg: "x".into()
            }
        );
        assert_eq!(normalize_location("West US"), "westus");
    }
}
