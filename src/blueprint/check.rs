//! The structural check of a YAML tree against the blueprint's shape (schema.rs): types, unknown
//! keys, enum values, formats and secrets, each reported where it was written; and the
//! `required` check, run on each instance once profiles and defaults are merged into it.

use super::diag::{Code, Diagnostic};
use super::formats::{self, Fmt};
use super::schema::{Obj, Ty};
use super::yaml::{Kind, Node};

/// ARM property names (and the seed's) people write by habit, and where they live in a blueprint.
const FAMILIAR_NAMES: &[(&str, &str)] = &[
    (
        "publicNetworkAccess",
        "controls.networkAccess.publicNetworkAccess",
    ),
    ("disableLocalAuth", "controls.localAuth.disabled"),
    ("networkAcls", "controls.networkAccess"),
    (
        "restrictOutboundNetworkAccess",
        "controls.outbound.restrict",
    ),
    ("allowedFqdnList", "controls.outbound.allowedFqdns"),
    ("customSubDomainName", "customSubdomain"),
    ("allowedContentLevel", "severityThreshold"),
    ("raiPolicyName", "controls.raiPolicy.name"),
    ("basePolicyName", "basePolicy"),
    ("workspaceId", "existing.logAnalyticsWorkspace"),
    ("subnetId", "existing.endpointSubnet"),
    ("subnet", "existing.endpointSubnet"),
    ("roleDefinitionId", "role"),
    ("sourceAddressPrefix", "source"),
    ("sourceAddressPrefixes", "source"),
    ("destinationAddressPrefix", "destination"),
    ("destinationAddressPrefixes", "destination"),
    ("destinationPortRange", "ports"),
    ("destinationPortRanges", "ports"),
    ("subscriptionId", "subscription"),
    ("resourceGroupName", "resourceGroup"),
];

/// Key names that only ever hold secrets.
const SECRET_KEYS: &[&str] = &[
    "apikey",
    "key",
    "key1",
    "key2",
    "primarykey",
    "secondarykey",
    "accesskey",
    "accountkey",
    "subscriptionkey",
    "clientsecret",
    "secret",
    "password",
    "passwd",
    "connectionstring",
    "sastoken",
    "sharedaccesskey",
    "token",
    "privatekey",
    "bearertoken",
];

const SECRET_HINT: &str =
    "moat authenticates with Entra ID and never needs keys; remove the value and rotate it, since it may already be in version control";

fn secret_key(name: &str) -> bool {
    let norm: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    SECRET_KEYS.contains(&norm.as_str())
}

/// What kind of secret a value looks like, if any.
fn secret_value(s: &str) -> Option<&'static str> {
    let lower = s.to_ascii_lowercase();
    for (marker, what) in [
        ("accountkey=", "a connection string"),
        ("sharedaccesskey=", "a connection string"),
        ("password=", "a connection string"),
        ("pwd=", "a connection string"),
        ("clientsecret=", "a connection string"),
        ("-----begin", "a private key"),
    ] {
        if lower.contains(marker) {
            return Some(what);
        }
    }
    if lower.contains("sig=") && lower.contains("sv=") {
        return Some("a SAS token");
    }
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some("an API key");
    }
    if s.starts_with("sk-") && s.len() >= 20 && !s.contains(' ') {
        return Some("an API key");
    }
    None
}

pub struct Checker<'a> {
    pub out: &'a mut Vec<Diagnostic>,
}

fn type_error(node: &Node, expected: &str, label: &str) -> Diagnostic {
    let hint = match &node.kind {
        Kind::Str(s)
            if matches!(
                s.as_str(),
                "yes" | "no" | "on" | "off" | "Yes" | "No" | "On" | "Off"
            ) =>
        {
            Some("write `true` or `false`".to_string())
        }
        Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) if expected == "a string" => {
            Some("quote the value to make it a string".to_string())
        }
        _ => None,
    };
    Diagnostic::error(
        &node.loc,
        format!(
            "expected {expected} for `{label}`, found {}",
            node.kind.type_name()
        ),
        hint,
    )
    .with_code(Code::Type)
}

impl Checker<'_> {
    fn str_value(&mut self, node: &Node, s: &str, fmt: Fmt) {
        if let Some(what) = secret_value(s).filter(|_| fmt != Fmt::KeyVersion) {
            self.out.push(
                Diagnostic::error(
                    &node.loc,
                    format!("this value looks like {what}; secrets do not belong in a blueprint"),
                    Some(SECRET_HINT.into()),
                )
                .with_code(Code::Secret),
            );
            return;
        }
        if let Err((message, hint)) = formats::check(fmt, s) {
            self.out
                .push(Diagnostic::error(&node.loc, message, hint).with_code(Code::Value));
        }
    }

    /// Checks `node` against `ty`; `label` names the field in messages.
    pub fn check(&mut self, node: &Node, ty: &Ty, label: &str) {
        match (ty, &node.kind) {
            (Ty::Str(fmt), Kind::Str(s)) => self.str_value(node, s, *fmt),
            (Ty::Str(_), _) => self.out.push(type_error(node, "a string", label)),
            (Ty::Bool, Kind::Bool(_)) => {}
            (Ty::Bool, _) => self.out.push(type_error(node, "true or false", label)),
            (Ty::Int { min, max }, Kind::Int(i)) => {
                if i < min || i > max {
                    let message = if min == max {
                        format!("`{label}` must be {min}, found {i}")
                    } else {
                        format!("`{label}` must be between {min} and {max}, found {i}")
                    };
                    self.out
                        .push(Diagnostic::error(&node.loc, message, None).with_code(Code::Value));
                }
            }
            (Ty::Int { .. }, _) => self.out.push(type_error(node, "an integer", label)),
            (Ty::Enum { what, values }, Kind::Str(s)) => {
                if !values.contains(&s.as_str()) {
                    let hint = match formats::suggest(s, values) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("expected one of: {}", values.join(", ")),
                    };
                    self.out.push(
                        Diagnostic::error(
                            &node.loc,
                            format!("`{s}` is not a valid {what}"),
                            Some(hint),
                        )
                        .with_code(Code::Value),
                    );
                }
            }
            (Ty::Enum { values, .. }, _) => self.out.push(
                Diagnostic::error(
                    &node.loc,
                    format!(
                        "expected one of {} for `{label}`, found {}",
                        values.join(", "),
                        node.kind.type_name()
                    ),
                    None,
                )
                .with_code(Code::Type),
            ),
            (Ty::Version, Kind::Str(s)) => self.str_value(node, s, Fmt::Text),
            (Ty::Version, Kind::Int(_)) => {}
            (Ty::Version, _) => self.out.push(type_error(node, "a version string", label)),
            (Ty::List(item), Kind::Seq(items)) => {
                for it in items {
                    self.check(it, item, label);
                }
            }
            (Ty::List(_), _) => self.out.push(type_error(node, "a list", label)),
            (Ty::OneOrMany(item), Kind::Seq(items)) => {
                if items.is_empty() {
                    self.out.push(
                        Diagnostic::error(&node.loc, format!("`{label}` must not be empty"), None)
                            .with_code(Code::Value),
                    );
                }
                for it in items {
                    self.check(it, item, label);
                }
            }
            (Ty::OneOrMany(item), _) => self.check(node, item, label),
            (Ty::Map { key, what, value }, Kind::Map(entries)) => {
                for (k, v) in entries {
                    // `~` removes an entry inherited from a profile (e.g. an NSG rule).
                    if v.kind == Kind::Null && matches!(value, Ty::Obj(_)) {
                        continue;
                    }
                    if secret_key(&k.name) && !matches!(v.kind, Kind::Map(_)) {
                        self.secret_key(k, label);
                        continue;
                    }
                    if let Err((message, hint)) = formats::check(*key, &k.name) {
                        self.out.push(
                            Diagnostic::error(&k.loc, format!("{what} name: {message}"), hint)
                                .with_code(Code::Value),
                        );
                    }
                    self.check(v, value, &format!("{label}.{}", k.name));
                }
            }
            (Ty::Map { .. }, _) => self.out.push(type_error(node, "a mapping", label)),
            (Ty::Obj(obj), Kind::Map(_)) => self.object(node, obj),
            (Ty::Obj(_), _) => self.out.push(type_error(node, "a mapping", label)),
        }
    }

    fn secret_key(&mut self, key: &super::yaml::Key, _label: &str) {
        self.out.push(
            Diagnostic::error(
                &key.loc,
                format!(
                    "`{}` holds a secret; secrets do not belong in a blueprint",
                    key.name
                ),
                Some(SECRET_HINT.into()),
            )
            .with_code(Code::Secret),
        );
    }

    fn object(&mut self, node: &Node, obj: &Obj) {
        let Some(entries) = node.as_map() else { return };
        for (k, v) in entries {
            match obj.field(&k.name) {
                Some(field) => {
                    if obj.nullable && v.kind == Kind::Null {
                        continue;
                    }
                    self.check(v, field.ty, field.name);
                }
                None if secret_key(&k.name) => self.secret_key(k, obj.title),
                None => {
                    let names: Vec<&str> = obj.fields.iter().map(|f| f.name).collect();
                    let hint = if let Some(s) = formats::suggest(&k.name, &names) {
                        format!("did you mean `{s}`?")
                    } else if let Some((_, at)) = FAMILIAR_NAMES
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&k.name))
                    {
                        let note = if *at == "severityThreshold" {
                            " (ARM's name; the seed's `allowedContentLevel` is not ARM's)"
                        } else {
                            ""
                        };
                        format!("in a blueprint this is `{at}`{note}")
                    } else {
                        format!("valid keys here: {}", names.join(", "))
                    };
                    self.out.push(
                        Diagnostic::error(
                            &k.loc,
                            format!("unknown key `{}` in {}", k.name, obj.title),
                            Some(hint),
                        )
                        .with_code(Code::UnknownKey),
                    );
                }
            }
        }
    }

    /// Reports required fields missing from a merged object (recursively). `what` describes the
    /// object in messages ("instance `prod`", "NSG rule `Deny-All`").
    pub fn required(&mut self, node: &Node, obj: &Obj, what: &str, hint: Option<&str>) {
        let Some(entries) = node.as_map() else { return };
        for field in obj.fields {
            let value = entries
                .iter()
                .find(|(k, _)| k.name == field.name)
                .map(|(_, v)| v);
            // `resourceGrup: x` is reported as an unknown key; do not also report
            // `resourceGroup` as missing.
            let misspelled = || {
                entries.iter().any(|(k, _)| {
                    obj.field(&k.name).is_none()
                        && formats::suggest(&k.name, &[field.name]).is_some()
                })
            };
            match value {
                None if field.required && misspelled() => {}
                None
                | Some(Node {
                    kind: Kind::Null, ..
                }) if field.required => {
                    self.out.push(
                        Diagnostic::error(
                            &node.loc,
                            format!("{what} is missing `{}`", field.name),
                            Some(hint.unwrap_or(field.doc).to_owned()),
                        )
                        .with_code(Code::Required),
                    );
                }
                Some(v) => self.required_in(v, field.ty),
                None => {}
            }
        }
    }

    fn required_in(&mut self, node: &Node, ty: &Ty) {
        match (ty, &node.kind) {
            (Ty::Obj(obj), Kind::Map(_)) => {
                let what = if obj.title.starts_with(char::is_lowercase) && !obj.title.contains(' ')
                {
                    format!("`{}`", obj.title)
                } else {
                    obj.title.to_string()
                };
                self.required(node, obj, &what, None)
            }
            (Ty::List(item), Kind::Seq(items)) => {
                for it in items {
                    self.required_in(it, item);
                }
            }
            (Ty::Map { value, .. }, Kind::Map(entries)) => {
                for (k, v) in entries {
                    if let (Ty::Obj(obj), Kind::Map(_)) = (value, &v.kind) {
                        self.required(v, obj, &format!("{} `{}`", obj.title, k.name), None);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether `node` fits `ty` (silently; used by the resolver to skip values already reported).
pub fn fits(node: &Node, ty: &Ty) -> bool {
    let mut out = Vec::new();
    Checker { out: &mut out }.check(node, ty, "");
    out.is_empty()
}
