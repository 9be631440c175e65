//! Renderings of one plan structure: terminal text, markdown for pull requests, JSON for
//! pipelines. They draw the same data, so they cannot disagree.

pub mod diagnostics;
pub mod json;
pub mod markdown;
mod parts;
pub mod schema;
pub mod text;

use crate::model::Plan;

// The shared pieces live in a leaf file that knows neither this dispatcher nor the renderings;
// text.rs and markdown.rs name them through these re-exports (`super::show_value`).
pub use parts::{
    action_word, field_diff, is_multiline, layout, line_diff, show_value, summary_line, visible,
    FAILED_LINE,
};

/// Output format of `moat plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

pub fn render(plan: &Plan, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render(plan, color),
        Format::Markdown => markdown::render(plan),
        Format::Json => json::render(plan),
    }
}
