//! `moat validate`'s findings for machines: a versioned JSON object for scripts, and SARIF 2.1.0
//! for code scanning (GitHub's among them). The text rendering is the blueprint's own
//! (`blueprint::render_text`); all three draw from the same [`Validated`] list.

use std::path::{Component, Path};

use serde_json::{json, Map, Value};

use crate::blueprint::{Code, Diagnostic, Severity, Validated};

/// Output format of `moat validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnosticFormat {
    Text,
    Json,
    Sarif,
}

/// The `format_version` of `moat validate --format json`; raised when a field changes meaning
/// or goes away (new fields do not raise it).
pub const VALIDATE_FORMAT_VERSION: u32 = 1;

/// Where SARIF's own schema lives (the one `tests/fixtures/sarif-schema-2.1.0.json` vendors).
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Render `files` in `format`; `cwd` is the directory SARIF's artifact URIs are relative to.
pub fn render(files: &[Validated], format: DiagnosticFormat, cwd: &Path) -> String {
    match format {
        DiagnosticFormat::Text => crate::blueprint::render_text(files),
        DiagnosticFormat::Json => pretty(&json_report(files)),
        DiagnosticFormat::Sarif => pretty(&sarif(files, cwd)),
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn all(files: &[Validated]) -> impl Iterator<Item = &Diagnostic> {
    files.iter().flat_map(|f| f.diagnostics.0.iter())
}

/// `--format json`: `{format_version, summary, files: [{file, valid, errors, warnings}],
/// diagnostics: [{file, line, column, code, message, hint?, severity}]}`.
pub fn json_report(files: &[Validated]) -> Value {
    let diagnostics: Vec<Value> = all(files)
        .map(|d| {
            let mut o = Map::new();
            o.insert("file".into(), d.file.clone().into());
            o.insert("line".into(), d.line.into());
            o.insert("column".into(), d.column.into());
            o.insert("code".into(), d.code.id().into());
            o.insert("message".into(), d.message.clone().into());
            if let Some(h) = &d.hint {
                o.insert("hint".into(), h.clone().into());
            }
            o.insert("severity".into(), severity(d.severity).into());
            Value::Object(o)
        })
        .collect();
    let per_file: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "file": f.name,
                "valid": !f.has_errors(),
                "errors": f.diagnostics.errors(),
                "warnings": f.diagnostics.warnings(),
            })
        })
        .collect();
    json!({
        "format_version": VALIDATE_FORMAT_VERSION,
        "summary": {
            "files": files.len(),
            "errors": files.iter().map(|f| f.diagnostics.errors()).sum::<usize>(),
            "warnings": files.iter().map(|f| f.diagnostics.warnings()).sum::<usize>(),
        },
        "files": per_file,
        "diagnostics": diagnostics,
    })
}

/// `--format sarif`: one run of the tool `moat`, a rule per code the findings use, a result per
/// finding located by artifact URI (relative to `cwd`) and 1-based line and column.
pub fn sarif(files: &[Validated], cwd: &Path) -> Value {
    let mut used: Vec<Code> = all(files).map(|d| d.code).collect();
    used.sort();
    used.dedup();
    let rules: Vec<Value> = used
        .iter()
        .map(|c| {
            json!({
                "id": c.id(),
                "name": rule_name(*c),
                "shortDescription": {"text": c.description()},
            })
        })
        .collect();
    let results: Vec<Value> = all(files)
        .map(|d| {
            let index = used.iter().position(|c| *c == d.code).unwrap_or_default();
            let text = match &d.hint {
                Some(h) => format!("{}\nhint: {h}", d.message),
                None => d.message.clone(),
            };
            json!({
                "ruleId": d.code.id(),
                "ruleIndex": index,
                "level": severity(d.severity),
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": artifact_uri(&d.file, cwd)},
                        "region": {"startLine": d.line.max(1), "startColumn": d.column.max(1)},
                    }
                }],
            })
        })
        .collect();
    sarif_log(rules, results)
}

/// A SARIF 2.1.0 log of one run of the tool `moat` with these rules and results: the envelope
/// `moat validate` and `moat audit` share.
pub fn sarif_log(rules: Vec<Value>, results: Vec<Value>) -> Value {
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "moat",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

/// `moat/unknown-key` → `UnknownKey` (SARIF's `name` is an identifier, not a sentence).
fn rule_name(c: Code) -> String {
    let id = c.id().trim_start_matches("moat/");
    id.split('-')
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The artifact URI of a finding's file: a relative reference with forward slashes when the file
/// is under `cwd` (or was named relatively), a `file://` URI otherwise; every byte outside the
/// unreserved set and `/` percent-encoded (a `:` in a relative path would read as a scheme).
pub fn artifact_uri(file: &str, cwd: &Path) -> String {
    let path = Path::new(file);
    let (absolute, rel) = match path.strip_prefix(cwd) {
        Ok(r) if path.is_absolute() => (false, r),
        _ => (path.is_absolute(), path),
    };
    let segments: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(encode(&s.to_string_lossy())),
            Component::ParentDir => Some("..".into()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    let joined = segments.join("/");
    if absolute {
        format!("file:///{joined}")
    } else {
        joined
    }
}

fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_are_relative_with_forward_slashes_and_encoded() {
        let cwd = Path::new("/work/repo");
        assert_eq!(artifact_uri("/work/repo/bp/a b.yaml", cwd), "bp/a%20b.yaml");
        assert_eq!(artifact_uri("bp/x:y.yaml", cwd), "bp/x%3Ay.yaml");
        assert_eq!(artifact_uri("../other/x.yaml", cwd), "../other/x.yaml");
        assert_eq!(artifact_uri("/etc/x.yaml", cwd), "file:///etc/x.yaml");
    }

    #[test]
    fn rule_names_are_identifiers() {
        assert_eq!(rule_name(Code::UnknownKey), "UnknownKey");
        assert_eq!(rule_name(Code::Syntax), "YamlSyntax");
    }
}
