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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
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
