//! Diagnostics: what validation reports, one per finding, each with a position.
//!
//! Display format (stable; tests pin it, docs/blueprint.md documents it):
//! `FILE:LINE:COLUMN: error: MESSAGE` (or `warning:`), then `  hint: HINT` on the next line when
//! there is a hint. Lines and columns are 1-based.

use std::fmt;

use super::yaml::Loc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// What kind of finding a diagnostic is: a stable code, the rule id in `moat validate --format
/// sarif` and the `code` of `--format json`. One per validation stage (and, for the schema check,
/// per kind of mismatch), so that a code-scanning tool can group findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The file cannot be read, or is too large.
    Read,
    /// Not well-formed YAML, or YAML moat does not accept (unknown aliases, deep nesting).
    Syntax,
    /// A key the schema does not know.
    UnknownKey,
    /// A value of the wrong type.
    Type,
    /// A value of the right type that is not allowed: enum, range, format, empty list.
    Value,
    /// A required field is missing.
    Required,
    /// A secret where none belongs.
    Secret,
    /// Imports: cycles, depth, unreadable or non-blueprint files, ignored sections.
    Import,
    /// Profiles: unknown, cyclic or defined twice.
    Profile,
    /// Instances that collide (name, account, subdomain) or disagree on a shared resource.
    Conflict,
    /// A declaration that is well-typed but inconsistent or unsafe (cross-field rules, roles,
    /// network, baseline exceptions).
    Semantic,
}

impl Code {
    pub const ALL: [Code; 11] = [
        Code::Read,
        Code::Syntax,
        Code::UnknownKey,
        Code::Type,
        Code::Value,
        Code::Required,
        Code::Secret,
        Code::Import,
        Code::Profile,
        Code::Conflict,
        Code::Semantic,
    ];

    /// The stable identifier (`moat/unknown-key`).
    pub fn id(self) -> &'static str {
        match self {
            Code::Read => "moat/read",
            Code::Syntax => "moat/yaml-syntax",
            Code::UnknownKey => "moat/unknown-key",
            Code::Type => "moat/type",
            Code::Value => "moat/value",
            Code::Required => "moat/required",
            Code::Secret => "moat/secret",
            Code::Import => "moat/import",
            Code::Profile => "moat/profile",
            Code::Conflict => "moat/conflict",
            Code::Semantic => "moat/semantic",
        }
    }

    /// One line on what the code means (SARIF `shortDescription`).
    pub fn description(self) -> &'static str {
        match self {
            Code::Read => "The blueprint file cannot be read or is too large",
            Code::Syntax => "The file is not well-formed YAML",
            Code::UnknownKey => "A key the blueprint schema does not know",
            Code::Type => "A value of the wrong type",
            Code::Value => "A value the blueprint schema does not allow",
            Code::Required => "A required field is missing",
            Code::Secret => "A secret in the blueprint",
            Code::Import => "An import that cannot be used",
            Code::Profile => "A profile that is unknown, cyclic or defined twice",
            Code::Conflict => "Declarations that collide across instances",
            Code::Semantic => "A declaration that is inconsistent or weakens the hardening",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
    pub severity: Severity,
}

impl Diagnostic {
    pub fn error(loc: &Loc, message: impl Into<String>, hint: Option<String>) -> Self {
        Diagnostic {
            file: loc.file.to_string(),
            line: loc.line,
            column: loc.column,
            code: Code::Semantic,
            message: message.into(),
            hint,
            severity: Severity::Error,
        }
    }

    pub fn warning(loc: &Loc, message: impl Into<String>, hint: Option<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(loc, message, hint)
        }
    }

    /// The same finding under another code (the default is [`Code::Semantic`]).
    pub fn with_code(self, code: Code) -> Self {
        Diagnostic { code, ..self }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every finding of a load, errors and warnings, in file / line / column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.0.len() - self.errors()
    }

    /// Sorts by position and drops exact repeats (a profile shared by several instances reports
    /// its findings once).
    pub fn normalize(&mut self, file_order: &[String]) {
        let rank = |f: &str| file_order.iter().position(|x| x == f).unwrap_or(usize::MAX);
        self.0.sort_by(|a, b| {
            (
                rank(&a.file),
                &a.file,
                a.line,
                a.column,
                a.severity,
                &a.message,
            )
                .cmp(&(
                    rank(&b.file),
                    &b.file,
                    b.line,
                    b.column,
                    b.severity,
                    &b.message,
                ))
        });
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
