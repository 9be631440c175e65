//! Renderings of one plan structure: terminal text, markdown for pull requests, JSON for
//! pipelines. They draw the same data, so they cannot disagree.

pub mod diagnostics;
pub mod json;
pub mod markdown;
mod md_parts;
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

/// The plan in `format`, markdown with the default budget and marker.
pub fn render(plan: &Plan, format: Format, color: bool) -> String {
    render_with(plan, format, color, &markdown::Options::default())
}

/// The plan in `format`; `md` says how markdown is sized and marked (the other formats ignore it).
pub fn render_with(plan: &Plan, format: Format, color: bool, md: &markdown::Options) -> String {
    match format {
        Format::Text => text::render(plan, color),
        Format::Markdown => markdown::render_with(plan, md),
        Format::Json => json::render(plan),
    }
}
