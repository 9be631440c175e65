//! What `moat import` is asked for, shared by the module and the instance writer.

/// The prefix of every placeholder reason import writes: `validate` accepts it, a reviewer
/// replaces it (docs/import.md).
pub const PLACEHOLDER: &str = crate::blueprint::acknowledged::PLACEHOLDER;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep today's posture: an exception with a placeholder reason per violated control.
    pub as_is: bool,
    /// What `imports:` names, relative to the written file; `None`: [`super::BASELINE_FILE`],
    /// moat's strict baseline written beside it.
    pub baseline: Option<String>,
}
