//! `moat schema`: the JSON Schema (draft-07, what editors' YAML plugins understand best) of a
//! blueprint file, generated from the same shape description the validator uses.
//!
//! The schema describes files as written: since profiles and defaults fill in instances, only
//! `version` is required at the top, and required fields are enforced for list items (which are
//! replaced whole, never merged). Cross-field rules (exceptions, private endpoint needs a custom
//! subdomain, ...) are beyond JSON Schema; `moat validate` checks them.

use serde_json::{json, Map, Value};

use super::formats::{self, Fmt};
use super::schema::{Field, Obj, Ty, DOCUMENT, INSTANCE};

fn describe(field: &Field) -> String {
    let mut d = field.doc.to_string();
    if let Some(def) = field.default {
        d.push_str(&format!(" Default: {def}."));
    }
    if let Some(arm) = field.arm {
        d.push_str(&format!(" ARM: {arm}."));
    }
    d
}

fn string(fmt: Fmt) -> Value {
    let mut s = json!({"type": "string", "minLength": 1});
    if let Some(p) = formats::pattern(fmt) {
        s["pattern"] = Value::String(p);
    }
    if let Some((min, max)) = formats::length(fmt) {
        s["minLength"] = min.into();
        s["maxLength"] = max.into();
    }
    s
}

fn ty(t: &Ty, strict_required: bool) -> Value {
    match t {
        Ty::Str(fmt) => string(*fmt),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Ty::Enum { values, .. } => json!({"type": "string", "enum": values}),
        Ty::Version => json!({"type": ["string", "integer"]}),
        // List items are replaced whole, never merged, so they must be complete, except
        // instances, which inherit from their profile and `defaults`.
        Ty::List(item) => {
            let complete = !matches!(item, Ty::Obj(o) if std::ptr::eq(*o, &INSTANCE));
            json!({"type": "array", "items": ty(item, complete)})
        }
        Ty::OneOrMany(item) => {
            let one = ty(item, true);
            json!({"oneOf": [one.clone(), {"type": "array", "minItems": 1, "items": one}]})
        }
        // `~` removes an entry inherited from a profile (e.g. an NSG rule).
        Ty::Map {
            value: value @ Ty::Obj(_),
            ..
        } => json!({
            "type": "object",
            "additionalProperties": {"oneOf": [ty(value, false), {"type": "null"}]}
        }),
        Ty::Map { value, .. } => {
            json!({"type": "object", "additionalProperties": ty(value, false)})
        }
        Ty::Obj(obj) => object(obj, strict_required),
    }
}

fn object(obj: &Obj, strict_required: bool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for field in obj.fields {
        // Nested mappings merge with profiles and defaults: nothing is required in them.
        let mut s = ty(field.ty, false);
        if obj.nullable {
            s = json!({"oneOf": [s, {"type": "null"}]});
        }
        if let Value::Object(m) = &mut s {
            m.insert("description".into(), Value::String(describe(field)));
            if let Some(def) = field.default {
                m.insert("x-moat-default".into(), Value::String(def.into()));
            }
        }
        props.insert(field.name.into(), s);
        if field.required && strict_required {
            required.push(field.name);
        }
    }
    let mut o = json!({
        "type": "object",
        "title": obj.title,
        "description": obj.doc,
        "properties": props,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

/// The JSON Schema of a blueprint file.
pub fn json_schema() -> Value {
    let mut doc = object(&DOCUMENT, true);
    doc["$schema"] = json!("http://json-schema.org/draft-07/schema#");
    doc["$id"] = json!("urn:moat:blueprint:v1");
    doc
}
