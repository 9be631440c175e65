//! The field reference of docs/blueprint.md, generated from the shape description so the
//! documentation cannot fall behind the validator (a test compares the two).

use std::fmt::Write;

use super::formats::Fmt;
use super::schema::{Field, Obj, Ty, DOCUMENT};

fn type_name(t: &Ty) -> String {
    match t {
        Ty::Str(fmt) => format!("string ({})", fmt_name(*fmt)),
        Ty::Bool => "boolean".into(),
        Ty::Int { min, max } if min == max => format!("integer ({min})"),
        Ty::Int { min, max } => format!("integer ({min}–{max})"),
        Ty::Enum { values, .. } => values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" \\| "),
        Ty::Version => "string or integer".into(),
        Ty::List(item) => format!("list of {}", type_name(item)),
        Ty::OneOrMany(item) => format!("{0} or list of {0}", type_name(item)),
        Ty::Map { what, value, .. } => format!("map: {what} name → {}", type_name(value)),
        Ty::Obj(obj) => format!("[{}](#{})", obj.title, anchor(obj)),
    }
}

fn anchor(obj: &Obj) -> String {
    format!("ref-{}", obj.title.to_lowercase().replace(' ', "-"))
}

fn row(out: &mut String, f: &Field) {
    let default = match (f.required, f.default) {
        (true, _) => "**required**".to_string(),
        (false, Some(d)) => format!("`{d}`"),
        (false, None) => "unset".to_string(),
    };
    let arm = f
        .arm
        .map(|a| format!("`{a}`"))
        .unwrap_or_else(|| "—".into());
    let _ = writeln!(
        out,
        "| `{}` | {} | {} | {} | {} |",
        f.name,
        type_name(f.ty),
        default,
        arm,
        f.doc
    );
}

fn collect(obj: &'static Obj, seen: &mut Vec<&'static Obj>) {
    if seen.iter().any(|o| std::ptr::eq(*o, obj)) {
        return;
    }
    seen.push(obj);
    fn visit(t: &'static Ty, seen: &mut Vec<&'static Obj>) {
        match t {
            Ty::Obj(o) => collect(o, seen),
            Ty::List(i) | Ty::OneOrMany(i) => visit(i, seen),
            Ty::Map { value, .. } => visit(value, seen),
            _ => {}
        }
    }
    for f in obj.fields {
        visit(f.ty, seen);
    }
}

/// Markdown tables, one per mapping of the blueprint, in document order.
pub fn markdown_reference() -> String {
    let mut objs = Vec::new();
    collect(&DOCUMENT, &mut objs);
    let mut out = String::new();
    for obj in objs {
        let _ = writeln!(
            out,
            "<a id=\"{}\"></a>\n#### {}\n\n{}\n",
            anchor(obj),
            obj.title,
            obj.doc
        );
        let _ = writeln!(
            out,
            "| key | type | default | ARM property | meaning |\n|---|---|---|---|---|"
        );
        for f in obj.fields {
            row(&mut out, f);
        }
        out.push('\n');
    }
    out
}

/// A format as the reference names it: `name: account (2-64)`, `text (at most 1024)`.
fn fmt_name(fmt: Fmt) -> String {
    match (fmt, super::formats::length(fmt)) {
        (Fmt::Name(kind), Some((min, max))) => {
            format!("{}, {min}-{max}", kind.noun())
        }
        (Fmt::Description(_), Some((_, max))) => format!("text, at most {max}"),
        (f, Some((_, max))) => format!("{}, at most {max}", format!("{f:?}").to_lowercase()),
        (f, None) => format!("{f:?}").to_lowercase(),
    }
}
