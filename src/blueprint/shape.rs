//! The vocabulary the schema tables (`schema.rs`, `schema_controls.rs`) are written in: types,
//! fields and mappings, the field builders, and the types many fields share.

use super::formats::{Fmt, NameKind};

#[derive(Debug)]
pub enum Ty {
    Str(Fmt),
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Enum {
        what: &'static str,
        values: &'static [&'static str],
    },
    /// A model version: a string, or an integer written without quotes (`version: 1`).
    Version,
    List(&'static Ty),
    /// One value or a list of them (`source: 10.10.1.0/24` or `source: [a, b]`).
    OneOrMany(&'static Ty),
    /// A mapping whose keys are names the user chooses (rule names, tag keys, ...).
    Map {
        key: Fmt,
        what: &'static str,
        value: &'static Ty,
    },
    Obj(&'static Obj),
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: &'static Ty,
    pub doc: &'static str,
    pub default: Option<&'static str>,
    /// The ARM property the field drives.
    pub arm: Option<&'static str>,
    /// Must be present once profiles, defaults and the instance are merged.
    pub required: bool,
}

#[derive(Debug)]
pub struct Obj {
    pub title: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
    /// Fields may be `null` (`~`), which removes a value inherited from a profile or defaults.
    pub nullable: bool,
}

impl Obj {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

pub(super) const fn f(name: &'static str, ty: &'static Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        doc,
        default: None,
        arm: None,
        required: false,
    }
}

impl Field {
    pub(super) const fn def(self, d: &'static str) -> Self {
        Field {
            default: Some(d),
            ..self
        }
    }
    pub(super) const fn arm(self, a: &'static str) -> Self {
        Field {
            arm: Some(a),
            ..self
        }
    }
    pub(super) const fn req(self) -> Self {
        Field {
            required: true,
            ..self
        }
    }
}

pub(super) const TEXT: Ty = Ty::Str(Fmt::Text);
pub(super) const LABEL: Ty = Ty::Str(Fmt::Label);
pub(super) const GUID: Ty = Ty::Str(Fmt::Guid);
pub(super) const BOOL: Ty = Ty::Bool;
pub(super) const NAME: Ty = Ty::Str(Fmt::Name(NameKind::Moat));
pub(super) const MODE: Ty = Ty::Enum {
    what: "mode",
    values: &["managed", "verify"],
};
pub(super) const MODE_DOC: &str =
    "`managed`: moat converges the control; `verify`: moat only checks it and reports drift (e.g. a DNS zone group that Azure Policy owns).";
