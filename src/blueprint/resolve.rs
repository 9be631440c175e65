//! From one merged instance (profile ⊕ defaults ⊕ instance, already structurally checked) to a
//! `resolved::Instance`: defaults filled in, names resolved, cross-field rules and the strict
//! baseline's exceptions enforced. Network controls are in `network.rs`, the others in
//! `controls.rs`.

use std::collections::BTreeMap;

use super::check::fits;
use super::diag::Diagnostic;
use super::resolved::{self, Exception, SoftDeleteAction};
use super::schema::{self, Obj, Ty, EXCEPTION, INSTANCE};
use super::yaml::{Kind, Loc, Node};

/// How many days before an exception expires validation starts warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

struct Granted {
    exception: Exception,
    principal: Option<String>,
    loc: Loc,
    used: bool,
}

pub struct Ctx<'a> {
    pub out: &'a mut Vec<Diagnostic>,
    pub today: time::Date,
    /// Logical name of the instance, for messages.
    pub instance: String,
    /// Where the instance was written (for "missing ..." findings).
    pub at: Loc,
    granted: Vec<Granted>,
    /// `existing` fields that are written but invalid (already reported): not "missing" too.
    bad_existing: Vec<String>,
}

/// The value of `key` when present, not null, and of the right shape (anything else has been
/// reported by the structural check already).
pub fn val<'n>(n: &'n Node, obj: &Obj, key: &str) -> Option<&'n Node> {
    let v = n.get(key)?;
    let field = obj.field(key)?;
    // Containers are checked shallowly, so one bad item does not hide its siblings (each item
    // is read, and skipped when bad, on its own).
    let ok = match (field.ty, &v.kind) {
        (Ty::Obj(_) | Ty::Map { .. }, Kind::Map(_)) => true,
        (Ty::List(_), Kind::Seq(_)) => true,
        (Ty::OneOrMany(item), Kind::Seq(items)) => items.iter().all(|i| fits(i, item)),
        (Ty::Obj(_) | Ty::Map { .. } | Ty::List(_), _) => false,
        (ty, _) => fits(v, ty),
    };
    (v.kind != Kind::Null && ok).then_some(v)
}

pub fn text(n: &Node, obj: &Obj, key: &str) -> Option<String> {
    val(n, obj, key).and_then(Node::scalar_text)
}

pub fn flag(n: &Node, obj: &Obj, key: &str) -> Option<bool> {
    match val(n, obj, key)?.kind {
        Kind::Bool(b) => Some(b),
        _ => None,
    }
}

/// A list (or one-or-many) of strings; empty when absent.
pub fn texts(n: &Node, obj: &Obj, key: &str) -> Vec<String> {
    match val(n, obj, key) {
        Some(v) => match &v.kind {
            Kind::Seq(items) => {
                let item_ty = match obj.field(key).map(|f| f.ty) {
                    Some(Ty::List(t) | Ty::OneOrMany(t)) => Some(*t),
                    _ => None,
                };
                items
                    .iter()
                    .filter(|i| item_ty.map_or(true, |t| fits(i, t)))
                    .filter_map(Node::scalar_text)
                    .collect()
            }
            _ => v.scalar_text().into_iter().collect(),
        },
        None => Vec::new(),
    }
}

/// The nodes of a list field with their values (for per-item positions).
pub fn items<'n>(n: &'n Node, obj: &Obj, key: &str) -> Vec<&'n Node> {
    match val(n, obj, key).map(|v| &v.kind) {
        Some(Kind::Seq(items)) => items.iter().collect(),
        Some(_) => val(n, obj, key).into_iter().collect(),
        None => Vec::new(),
    }
}

pub fn exception_hint(kind: &str) -> String {
    format!("if this is intended, add to the instance `exceptions: [{{allows: {kind}, reason: \"...\"}}]`")
}

impl Ctx<'_> {
    pub fn error(&mut self, loc: &Loc, message: impl Into<String>, hint: Option<String>) {
        self.out.push(Diagnostic::error(loc, message, hint));
    }

    pub fn warning(&mut self, loc: &Loc, message: impl Into<String>, hint: Option<String>) {
        self.out.push(Diagnostic::warning(loc, message, hint));
    }

    /// Something the instance needs but does not have: reported at the instance.
    pub fn missing(&mut self, message: impl Into<String>, hint: impl Into<String>) {
        let at = self.at.clone();
        let message = format!("instance `{}`: {}", self.instance, message.into());
        self.error(&at, message, Some(hint.into()));
    }

    /// Like [`Ctx::missing`] for a field of `existing`, unless it is written but invalid.
    pub fn missing_existing(&mut self, key: &str, message: &str, hint: &str) {
        if !self.bad_existing.iter().any(|k| k == key) {
            self.missing(message, hint);
        }
    }

    /// A setting weaker than the strict baseline: an error unless an exception of `kind` (for
    /// `principal`, when it names one) allows it, then a warning that says so.
    pub fn weak(&mut self, kind: &str, loc: &Loc, message: String, principal: Option<&str>) {
        let found = self.granted.iter_mut().find(|g| {
            g.exception.allows == kind
                && match (&g.principal, principal) {
                    (Some(p), Some(q)) => p.eq_ignore_ascii_case(q),
                    (Some(_), None) => false,
                    (None, _) => true,
                }
        });
        match found {
            Some(g) => {
                g.used = true;
                let reason = g.exception.reason.clone();
                self.warning(
                    loc,
                    format!("{message} (allowed by exception `{kind}`: {reason})"),
                    None,
                );
            }
            None => {
                let hint = match principal {
                    Some(p) => format!("if this is intended, add to the instance `exceptions: [{{allows: {kind}, principalId: {p}, reason: \"...\"}}]`"),
                    None => exception_hint(kind),
                };
                self.error(loc, message, Some(hint))
            }
        }
    }
}

fn exceptions(ctx: &mut Ctx, m: &Node) {
    for item in items(m, &INSTANCE, "exceptions") {
        let (Some(allows), Some(reason)) = (
            text(item, &EXCEPTION, "allows"),
            text(item, &EXCEPTION, "reason"),
        ) else {
            continue;
        };
        if reason.trim().chars().count() < 10 {
            let loc = item.get("reason").map_or(&item.loc, |r| &r.loc).clone();
            ctx.error(
                &loc,
                "an exception needs a real reason (at least 10 characters)",
                Some("say why the baseline cannot be met and who agreed".into()),
            );
        }
        let principal = text(item, &EXCEPTION, "principalId").map(|p| p.to_lowercase());
        if principal.is_some() && allows != "privileged-role" {
            ctx.error(
                item.key_loc("principalId"),
                "`principalId` only narrows a `privileged-role` exception",
                None,
            );
        }
        let expires = text(item, &EXCEPTION, "expires");
        if let (Some(date), Some(node)) = (&expires, item.get("expires")) {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            if let Ok(d) = time::Date::parse(date, &format) {
                let days = (d - ctx.today).whole_days();
                if days < 0 {
                    ctx.error(
                        &node.loc,
                        format!("exception `{allows}` expired on {date}"),
                        Some(
                            "renew it with a new date and reason, or remove the setting it allows"
                                .into(),
                        ),
                    );
                } else if days <= EXPIRY_WARNING_DAYS {
                    ctx.warning(
                        &node.loc,
                        format!("exception `{allows}` expires on {date} (in {days} days)"),
                        None,
                    );
                }
            }
        }
        ctx.granted.push(Granted {
            exception: Exception {
                allows,
                reason,
                expires,
            },
            principal,
            loc: item.loc.clone(),
            used: false,
        });
    }
}

/// Resolves one merged instance. Returns `None` only when a value the resolved form cannot do
/// without is missing (already reported).
pub fn instance(
    m: &Node,
    out: &mut Vec<Diagnostic>,
    today: time::Date,
) -> Option<resolved::Instance> {
    let account_name = text(m, &INSTANCE, "accountName")?;
    let name = text(m, &INSTANCE, "name").unwrap_or_else(|| account_name.clone());
    let mut ctx = Ctx {
        out,
        today,
        instance: name.clone(),
        at: m.loc.clone(),
        granted: Vec::new(),
        bad_existing: Vec::new(),
    };
    exceptions(&mut ctx, m);
    let soft_delete = match text(m, &INSTANCE, "softDelete").as_deref() {
        Some("restore") => SoftDeleteAction::Restore,
        Some("purge") => {
            let loc = m.get("softDelete").map_or(&m.loc, |n| &n.loc).clone();
            ctx.weak(
                "soft-delete-purge",
                &loc,
                "`softDelete: purge` permanently destroys a soft-deleted account and its data"
                    .into(),
                None,
            );
            SoftDeleteAction::Purge
        }
        _ => SoftDeleteAction::Block,
    };
    let tags: BTreeMap<String, String> = val(m, &INSTANCE, "tags")
        .and_then(Node::as_map)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.name.clone(), v.scalar_text()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut inst = resolved::Instance {
        name,
        subscription: text(m, &INSTANCE, "subscription")?.to_lowercase(),
        resource_group: text(m, &INSTANCE, "resourceGroup")?,
        account_name,
        location: text(m, &INSTANCE, "location")?,
        kind: text(m, &INSTANCE, "kind")?,
        sku: text(m, &INSTANCE, "sku").unwrap_or_else(|| "S0".into()),
        custom_subdomain: text(m, &INSTANCE, "customSubdomain"),
        tags,
        create_if_missing: flag(m, &INSTANCE, "createIfMissing").unwrap_or(false),
        soft_delete,
        controls: resolved::Controls::default(),
        exceptions: Vec::new(),
    };
    if inst.create_if_missing && inst.custom_subdomain.is_none() {
        ctx.missing(
            "a new account (`createIfMissing: true`) needs `customSubdomain`",
            "Entra ID auth and private endpoints need it, and setting it later is irreversible; the account name is the usual choice",
        );
    }
    let empty = Node {
        kind: Kind::Map(Vec::new()),
        loc: m.loc.clone(),
    };
    let controls = val(m, &INSTANCE, "controls").unwrap_or(&empty);
    let existing = val(m, &INSTANCE, "existing").unwrap_or(&empty);
    for (k, v) in existing.as_map().unwrap_or_default() {
        if schema::EXISTING
            .field(&k.name)
            .is_some_and(|f| !fits(v, f.ty))
        {
            ctx.bad_existing.push(k.name.clone());
        }
    }
    super::network::resolve(&mut ctx, &mut inst, controls, existing);
    super::controls::resolve(&mut ctx, &mut inst, controls, existing);
    let unused: Vec<(Loc, String)> = ctx
        .granted
        .iter()
        .filter(|g| !g.used && g.exception.allows != "delete-diagnostic-setting")
        .map(|g| (g.loc.clone(), g.exception.allows.clone()))
        .collect();
    for (loc, allows) in unused {
        let message = format!(
            "exception `{allows}` is not needed: nothing in instance `{}` relies on it",
            ctx.instance
        );
        ctx.warning(
            &loc,
            message,
            Some("remove it so it cannot hide a future weakening".into()),
        );
    }
    inst.exceptions = ctx.granted.iter().map(|g| g.exception.clone()).collect();
    Some(inst)
}

/// Where `key` is written in `node`, else the node itself.
pub fn at(node: &Node, key: &str) -> Loc {
    node.key_loc(key).clone()
}

/// Where the value of `key` is written, else where the node is.
pub fn value_at(node: &Node, key: &str) -> Loc {
    node.get(key).map_or(&node.loc, |v| &v.loc).clone()
}

/// The control mode (default managed).
pub fn mode(node: &Node, obj: &Obj) -> resolved::Mode {
    match text(node, obj, "mode").as_deref() {
        Some("verify") => resolved::Mode::Verify,
        _ => resolved::Mode::Managed,
    }
}

pub fn control<T>(node: &Node, obj: &Obj, spec: T) -> Option<resolved::Control<T>> {
    Some(resolved::Control {
        mode: mode(node, obj),
        spec,
    })
}

/// The control's node when the instance declares it.
pub fn declared<'n>(controls: &'n Node, key: &str) -> Option<&'n Node> {
    val(controls, &schema::CONTROLS, key)
}
