//! Checks for the string formats a blueprint uses (GUIDs, CIDRs, ARM ids, ...), each returning
//! the message and hint the user sees, and the "did you mean" suggestion used everywhere.

use std::net::IpAddr;

use super::names::url_unsafe;
pub use super::names::{
    NameKind, MAX_NSG_DESCRIPTION_CHARS, MAX_ROLE_DESCRIPTION_CHARS, MAX_TAG_NAME_CHARS,
    MAX_TAG_VALUE_CHARS, MAX_TEXT_CHARS,
};
pub use super::suggest::suggest;

/// A string format. Each has a checker here and a pattern in the JSON Schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    /// Free text: non-empty, at most `MAX_TEXT_CHARS`, no control characters.
    Text,
    /// Free text sent to ARM with a lower limit (NSG rule and role assignment descriptions).
    Description(usize),
    Guid,
    /// An IP address or CIDR range.
    IpOrCidr,
    /// NSG address prefix: CIDR, IP, service tag or `*`.
    AddressPrefix,
    /// NSG port: `*`, `443` or `1024-65535`.
    PortRange,
    ArmId(ArmKind),
    Fqdn,
    KeyVaultUri,
    /// `YYYY-MM-DD`
    Date,
    ResourceGroup,
    /// A resource name, by ARM's rule for its kind (`names.rs`).
    Name(NameKind),
    /// A resource name in which `{vnet}` stands for a VNet's name (VNet link names).
    LinkName,
    /// DNS label used as the account's custom subdomain.
    Subdomain,
    Location,
    /// A `privatelink.` DNS zone name.
    DnsZone,
    /// A tag value: non-empty, at most `MAX_TAG_VALUE_CHARS`, no control characters.
    Label,
    /// A tag name: at most `MAX_TAG_NAME_CHARS`, none of `<>%&\?/`, no control characters.
    TagName,
    /// A Key Vault key version (32 hex digits, which would otherwise look like an API key).
    KeyVersion,
    /// An action group's short name (Azure: 1-12 characters, shown in e-mails and SMS).
    ShortName,
    /// An e-mail address (one `@`, a dotted domain).
    Email,
    /// A webhook an action group calls: `https://` to a host name, no user info, no query string
    /// (a URL that carries a secret belongs in an action group made outside the blueprint).
    WebhookUrl,
    /// A period: a whole number of days (`90d`) or hours (`24h`), see `rotation.rs`.
    Period,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmKind {
    Subnet,
    Vnet,
    Nsg,
    Workspace,
    UserIdentity,
    KeyVault,
    ActionGroup,
}

impl ArmKind {
    pub fn noun(self) -> &'static str {
        match self {
            ArmKind::Subnet => "subnet",
            ArmKind::Vnet => "virtual network",
            ArmKind::Nsg => "network security group",
            ArmKind::Workspace => "Log Analytics workspace",
            ArmKind::UserIdentity => "user-assigned identity",
            ArmKind::KeyVault => "key vault",
            ArmKind::ActionGroup => "action group",
        }
    }

    /// The kinds of the names in the id, in order.
    fn name_kinds(self) -> &'static [NameKind] {
        match self {
            ArmKind::Subnet => &[NameKind::Vnet, NameKind::Subnet],
            ArmKind::Vnet => &[NameKind::Vnet],
            ArmKind::Nsg => &[NameKind::Nsg],
            ArmKind::Workspace => &[NameKind::Workspace],
            ArmKind::UserIdentity => &[NameKind::UserIdentity],
            ArmKind::KeyVault => &[NameKind::KeyVault],
            ArmKind::ActionGroup => &[NameKind::ActionGroup],
        }
    }

    /// Provider segments after `/providers/`, with `*` for names.
    fn shape(self) -> &'static [&'static str] {
        match self {
            ArmKind::Subnet => &["Microsoft.Network", "virtualNetworks", "*", "subnets", "*"],
            ArmKind::Vnet => &["Microsoft.Network", "virtualNetworks", "*"],
            ArmKind::Nsg => &["Microsoft.Network", "networkSecurityGroups", "*"],
            ArmKind::Workspace => &["Microsoft.OperationalInsights", "workspaces", "*"],
            ArmKind::UserIdentity => &["Microsoft.ManagedIdentity", "userAssignedIdentities", "*"],
            ArmKind::KeyVault => &["Microsoft.KeyVault", "vaults", "*"],
            ArmKind::ActionGroup => &["Microsoft.Insights", "actionGroups", "*"],
        }
    }

    pub fn template(self) -> String {
        let tail: Vec<String> = self
            .shape()
            .iter()
            .map(|s| {
                if *s == "*" {
                    "{name}".to_string()
                } else {
                    s.to_string()
                }
            })
            .collect();
        format!(
            "/subscriptions/{{guid}}/resourceGroups/{{rg}}/providers/{}",
            tail.join("/")
        )
    }

    /// Regular expression for the JSON Schema (case-insensitive literals are spelled as written).
    pub fn pattern(self) -> String {
        let tail: Vec<String> = self
            .shape()
            .iter()
            .map(|s| {
                if *s == "*" {
                    "[^/]+".to_string()
                } else {
                    s.replace('.', "\\.")
                }
            })
            .collect();
        format!(
            "^/subscriptions/{GUID_RE}/resourceGroups/[^/]+/providers/{}$",
            tail.join("/")
        )
    }
}

pub const GUID_RE: &str =
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// Service tags accepted in NSG rules (a regional suffix such as `Storage.EastUS` is accepted too).
pub const SERVICE_TAGS: &[&str] = &[
    "*",
    "VirtualNetwork",
    "AzureLoadBalancer",
    "Internet",
    "AzureCloud",
    "ApiManagement",
    "AppService",
    "AzureActiveDirectory",
    "AzureFrontDoor.Backend",
    "AzureMonitor",
    "AzureTrafficManager",
    "GatewayManager",
    "Storage",
    "Sql",
    "AzureKeyVault",
    "CognitiveServicesManagement",
    "AzureMachineLearning",
];

pub type Problem = (String, Option<String>);

fn problem(message: String, hint: &str) -> Problem {
    (message, Some(hint.to_string()))
}

pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn is_ip_or_cidr(s: &str) -> bool {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    match len {
        None => true,
        Some(l) => {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            !l.is_empty()
                && l.len() <= 3
                && l.bytes().all(|b| b.is_ascii_digit())
                && l.parse::<u32>().is_ok_and(|n| n <= max)
        }
    }
}

fn is_service_tag(s: &str) -> bool {
    let base = match s.split_once('.') {
        // `AzureFrontDoor.Backend` is a tag in its own right; otherwise `Tag.Region`.
        Some(_) if SERVICE_TAGS.contains(&s) => return true,
        Some((b, region)) => {
            if region.is_empty() || !region.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return false;
            }
            b
        }
        None => s,
    };
    SERVICE_TAGS.contains(&base)
}

fn is_port_range(s: &str) -> bool {
    let port = |p: &str| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    };
    if s == "*" {
        return true;
    }
    match s.split_once('-') {
        Some((a, b)) => port(a) && port(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok(),
        None => port(s),
    }
}

fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_fqdn(s: &str) -> bool {
    let s = s.strip_prefix("*.").unwrap_or(s);
    s.len() <= 253 && s.contains('.') && s.split('.').all(|l| is_dns_label(l, 63))
}

pub fn is_date(s: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &format).is_ok()
}

/// Splits an ARM id of `kind` into (subscription, resource group, names...) when it matches:
/// the shape, and every name by ARM's rule for its kind.
pub fn parse_arm_id(s: &str, kind: ArmKind) -> Option<(String, String, Vec<String>)> {
    if url_unsafe(s).is_some() {
        return None;
    }
    let segs: Vec<&str> = s.split('/').collect();
    let shape = kind.shape();
    if segs.len() != 6 + shape.len()
        || !segs[0].is_empty()
        || !segs[1].eq_ignore_ascii_case("subscriptions")
        || !is_guid(segs[2])
        || !segs[3].eq_ignore_ascii_case("resourceGroups")
        || !is_resource_group(segs[4])
        || !segs[5].eq_ignore_ascii_case("providers")
    {
        return None;
    }
    let mut names = Vec::new();
    let mut kinds = kind.name_kinds().iter();
    for (seg, want) in segs[6..].iter().zip(shape) {
        if *want == "*" {
            if !kinds.next().is_some_and(|k| k.is_valid(seg)) {
                return None;
            }
            names.push(seg.to_string());
        } else if !seg.eq_ignore_ascii_case(want) {
            return None;
        }
    }
    Some((segs[2].to_lowercase(), segs[4].to_string(), names))
}

pub fn is_resource_group(s: &str) -> bool {
    (1..=90).contains(&s.len())
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
}

/// In a VNet link name, stands for the name of the VNet linked.
pub const VNET_PLACEHOLDER: &str = "{vnet}";

/// A value as quoted in a message: control characters escaped, at most 300 characters (ARM ids are long; a 10 MB
/// value is not printed back).
pub fn shown(v: &str) -> String {
    let mut out: String = v.chars().take(300).flat_map(char::escape_debug).collect();
    if v.chars().nth(300).is_some() {
        out.push('…');
    }
    out
}

/// Length and control characters of free text, before its format.
fn text_problem(fmt: Fmt, value: &str) -> Option<Problem> {
    let max = match fmt {
        Fmt::Text => MAX_TEXT_CHARS,
        Fmt::Description(max) => max,
        Fmt::Label => MAX_TAG_VALUE_CHARS,
        Fmt::TagName => MAX_TAG_NAME_CHARS,
        _ => return None,
    };
    if value.trim().is_empty() {
        return Some(("must not be empty".to_string(), None));
    }
    let n = value.chars().count();
    if n > max {
        return Some((format!("too long: {n} characters, at most {max}"), None));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Some((
            format!("contains the control character {}", c.escape_unicode()),
            Some("write it on one line, without control characters".into()),
        ));
    }
    if fmt == Fmt::TagName {
        if let Some(c) = value.chars().find(|c| "<>%&\\?/".contains(*c)) {
            return Some((
                format!("tag names cannot contain `{c}`"),
                Some("ARM refuses `<`, `>`, `%`, `&`, `\\`, `?` and `/` in tag names".into()),
            ));
        }
    }
    None
}

/// Checks `value` against `fmt`; `Err` carries the message and hint.
pub fn check(fmt: Fmt, value: &str) -> Result<(), Problem> {
    if let Some(p) = text_problem(fmt, value) {
        return Err(p);
    }
    let ok = match fmt {
        Fmt::Text | Fmt::Description(_) | Fmt::Label | Fmt::TagName => true,
        Fmt::KeyVersion => value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        Fmt::Guid => is_guid(value),
        Fmt::IpOrCidr => is_ip_or_cidr(value),
        Fmt::AddressPrefix => is_ip_or_cidr(value) || is_service_tag(value),
        Fmt::PortRange => is_port_range(value),
        Fmt::ArmId(kind) => parse_arm_id(value, kind).is_some(),
        Fmt::Fqdn => is_fqdn(value),
        Fmt::KeyVaultUri => value
            .strip_prefix("https://")
            .map(|h| h.trim_end_matches('/'))
            .is_some_and(|h| is_fqdn(h) && (h.contains(".vault.") || h.contains(".managedhsm."))),
        Fmt::Date => is_date(value),
        Fmt::ResourceGroup => is_resource_group(value),
        Fmt::Name(kind) => kind.is_valid(value),
        Fmt::LinkName => NameKind::VnetLink.is_valid(&value.replace(VNET_PLACEHOLDER, "vnet")),
        Fmt::Subdomain => is_dns_label(value, 64) && value.len() >= 2,
        Fmt::Location => {
            !value.is_empty()
                && value.len() <= 40
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        }
        Fmt::DnsZone => is_fqdn(value) && value.starts_with("privatelink."),
        Fmt::ShortName => {
            (1..=12).contains(&value.chars().count()) && !value.chars().any(char::is_control)
        }
        Fmt::WebhookUrl => is_webhook_url(value),
        Fmt::Period => super::period::parse_period(value).is_some(),
        Fmt::Email => value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !local.contains(char::is_whitespace)
                && is_fqdn(domain)
                && domain.contains('.')
        }),
    };
    if ok {
        return Ok(());
    }
    let v = &shown(value);
    Err(match fmt {
        Fmt::Text | Fmt::Description(_) | Fmt::Label | Fmt::TagName => {
            unreachable!("free text is checked above")
        }
        Fmt::KeyVersion => problem(
            format!("`{v}` is not a Key Vault key version"),
            "32 hex digits, the last segment of the key identifier",
        ),
        Fmt::Guid => problem(
            format!("`{v}` is not a GUID"),
            "write 32 hex digits as 8-4-4-4-12, e.g. 9d2f7c41-5b8e-4f3a-a6d2-7e1c0b9f8a34",
        ),
        Fmt::IpOrCidr => problem(
            format!("`{v}` is not an IP address or CIDR range"),
            "e.g. 203.0.113.7 or 10.10.1.0/24 (prefix length 0-32 for IPv4, 0-128 for IPv6)",
        ),
        Fmt::AddressPrefix
            if v.starts_with(|c: char| c.is_ascii_digit()) || v.contains(['/', ':']) =>
        {
            return check(Fmt::IpOrCidr, v);
        }
        Fmt::AddressPrefix => {
            let hint = match suggest(v, SERVICE_TAGS) {
                Some(s) => format!("did you mean the service tag `{s}`?"),
                None if v.eq_ignore_ascii_case("any") => "ARM spells \"any\" as `*`".to_string(),
                None => "use a CIDR range (10.10.1.0/24), an IP address, `*` or a service tag such as VirtualNetwork, AzureLoadBalancer, Internet".to_string(),
            };
            (
                format!("`{v}` is not a CIDR range, IP address or service tag"),
                Some(hint),
            )
        }
        Fmt::PortRange => problem(
            format!("`{v}` is not a port or port range"),
            "use `*`, a port (443) or a range (1024-65535), ports 0-65535",
        ),
        Fmt::ArmId(kind) => match url_unsafe(value) {
            Some(c) => (
                format!(
                    "`{v}` is not a {} resource id: it contains {}",
                    kind.noun(),
                    match c {
                        '%' => "`%` (URL encodings such as `%2F` are not part of ARM ids)".into(),
                        '?' | '#' => format!("`{c}`, which would end the URL's path"),
                        c => format!("the character {}", c.escape_unicode()),
                    }
                ),
                Some(format!("expected {}", kind.template())),
            ),
            None => (
                format!("`{v}` is not a {} resource id", kind.noun()),
                Some(arm_id_hint(value, kind)),
            ),
        },
        Fmt::Fqdn => problem(
            format!("`{v}` is not a fully qualified domain name"),
            "e.g. api.contoso.com or *.blob.core.windows.net",
        ),
        Fmt::KeyVaultUri => problem(
            format!("`{v}` is not a Key Vault URI"),
            "e.g. https://kv-contoso.vault.azure.net/",
        ),
        Fmt::Date => problem(
            format!("`{v}` is not a date"),
            "write YYYY-MM-DD, e.g. 2027-01-31",
        ),
        Fmt::ResourceGroup => problem(
            format!("`{v}` is not a valid resource group name"),
            "1-90 letters, digits, `-`, `_`, `.`, `(`, `)`, not ending with `.`",
        ),
        Fmt::Name(kind) => (
            format!("`{v}` is not a valid {}", kind.noun()),
            Some(kind.hint()),
        ),
        Fmt::LinkName => (
            format!("`{v}` is not a valid link name"),
            Some(format!(
                "{}; `{{vnet}}` stands for each VNet's name",
                NameKind::VnetLink.hint()
            )),
        ),
        Fmt::Subdomain => problem(
            format!("`{v}` is not a valid custom subdomain"),
            "2-64 letters, digits and `-`, not starting or ending with `-`",
        ),
        Fmt::Location => problem(
            format!("`{v}` is not an Azure region name"),
            "e.g. eastus, westeurope, \"East US\"",
        ),
        Fmt::DnsZone => problem(
            format!("`{v}` is not a privatelink DNS zone name"),
            "e.g. privatelink.openai.azure.com",
        ),
        Fmt::ShortName => problem(
            format!("`{v}` is not a valid action group short name"),
            "1-12 characters (Azure refuses a longer groupShortName)",
        ),
        Fmt::Period => problem(
            format!("`{v}` is not a period"),
            super::period::PERIOD_HINT,
        ),
        Fmt::Email => problem(
            format!("`{v}` is not an e-mail address"),
            "e.g. secops@contoso.com",
        ),
        Fmt::WebhookUrl => problem(
            "not a webhook moat writes: it takes `https://host/path` without user info or a query string".to_string(),
            "a webhook whose URL carries a secret (a token in the query) belongs in an action group made outside the blueprint: name it with `actionGroupId`",
        ),
    })
}

/// JSON Schema `pattern` for a format, when one can be expressed.
pub fn pattern(fmt: Fmt) -> Option<String> {
    Some(match fmt {
        Fmt::Guid => format!("^{GUID_RE}$"),
        Fmt::KeyVersion => "^[0-9a-fA-F]{32}$".into(),
        Fmt::ArmId(kind) => kind.pattern(),
        Fmt::Date => "^[0-9]{4}-[0-9]{2}-[0-9]{2}$".into(),
        Fmt::PortRange => "^(\\*|[0-9]{1,5}(-[0-9]{1,5})?)$".into(),
        Fmt::IpOrCidr => "^[0-9a-fA-F:.]+(/[0-9]{1,3})?$".into(),
        Fmt::Name(kind) => kind.pattern(),
        Fmt::LinkName => "^([a-zA-Z0-9]|\\{vnet\\})([a-zA-Z0-9_.-]|\\{vnet\\})+$".into(),
        Fmt::Subdomain => "^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}[a-zA-Z0-9]$".into(),
        Fmt::DnsZone => "^privatelink\\.".into(),
        Fmt::KeyVaultUri => "^https://".into(),
        Fmt::WebhookUrl => "^https://[^/?#@]+(/[^?#]*)?$".into(),
        Fmt::ShortName => "^.{1,12}$".into(),
        Fmt::Period => super::period::PERIOD_PATTERN.into(),
        _ => return None,
    })
}

/// `minLength` and `maxLength` for a format, where they are fixed.
pub fn length(fmt: Fmt) -> Option<(usize, usize)> {
    Some(match fmt {
        Fmt::Name(kind) => kind.len_range(),
        Fmt::Text => (1, MAX_TEXT_CHARS),
        Fmt::Description(max) => (1, max),
        Fmt::Label => (1, MAX_TAG_VALUE_CHARS),
        Fmt::TagName => (1, MAX_TAG_NAME_CHARS),
        _ => return None,
    })
}

/// The hint for an id of the right shape whose names break ARM's rules, else the template.
fn arm_id_hint(value: &str, kind: ArmKind) -> String {
    let segs: Vec<&str> = value.split('/').collect();
    let names = kind
        .shape()
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == "*")
        .map(|(i, _)| segs.get(6 + i).copied());
    for (name, k) in names.zip(kind.name_kinds()) {
        if let Some(name) = name.filter(|n| !n.is_empty() && !k.is_valid(n)) {
            return format!(
                "`{}` is not a valid {}: {}",
                shown(name),
                k.noun(),
                k.hint()
            );
        }
    }
    format!("expected {}", kind.template())
}

/// `https://host[/path]`: a host name (or IP), no user info, port allowed, no query or fragment.
fn is_webhook_url(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("https://") else {
        return false;
    };
    if v.len() > 2048
        || rest.contains(['?', '#', '@'])
        || v.chars().any(|c| c.is_control() || c == ' ')
    {
        return false;
    }
    let host = rest.split('/').next().unwrap_or_default();
    let host =
        host.rsplit_once(':').map_or(
            host,
            |(h, port)| {
                if port.parse::<u16>().is_ok() {
                    h
                } else {
                    host
                }
            },
        );
    is_fqdn(host) || host.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
#[path = "formats_tests.rs"]
mod tests;
