//! What the resolvers (`resolve.rs`, `network.rs`, `controls.rs`) share: reading values from a
//! merged, structurally checked instance, and the context that collects findings and matches
//! weakenings with the instance's exceptions. It depends on none of them, so they can all use it.

use super::check::fits;
use super::diag::{Code, Diagnostic};
use super::resolved::{self, Exception};
use super::schema::{self, ExceptionKind, Obj, Ty};
use super::yaml::{Kind, Loc, Node};

/// An exception the instance declares, and whether anything relied on it.
pub struct Granted {
    pub exception: Exception,
    pub principal: Option<String>,
    pub loc: Loc,
    pub used: bool,
}

pub struct Ctx<'a> {
    pub out: &'a mut Vec<Diagnostic>,
    pub today: time::Date,
    /// Whether an expired exception is an error (see `load::Options`).
    pub expired_are_errors: bool,
    /// Logical name of the instance, for messages.
    pub instance: String,
    /// Where the instance was written (for "missing ..." findings).
    pub at: Loc,
    pub granted: Vec<Granted>,
    /// `existing` fields that are written but invalid (already reported): not "missing" too.
    pub bad_existing: Vec<String>,
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
                    .filter(|i| item_ty.is_none_or(|t| fits(i, t)))
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

pub fn exception_hint(kind: ExceptionKind) -> String {
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
        self.out
            .push(Diagnostic::error(&at, message, Some(hint.into())).with_code(Code::Required));
    }

    /// Like [`Ctx::missing`] for a field of `existing`, unless it is written but invalid.
    pub fn missing_existing(&mut self, key: &str, message: &str, hint: &str) {
        if !self.bad_existing.iter().any(|k| k == key) {
            self.missing(message, hint);
        }
    }

    /// A setting weaker than the strict baseline: an error unless an exception of `kind` (for
    /// `principal`, when it names one) allows it, then a warning that says so.
    pub fn weak(
        &mut self,
        kind: ExceptionKind,
        loc: &Loc,
        message: String,
        principal: Option<&str>,
    ) {
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
