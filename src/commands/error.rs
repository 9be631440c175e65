//! What can stop a command.

/// Everything that can stop a command; printed as `error:` / `Caused by:` / `hint:`.
#[derive(Debug, thiserror::Error)]
pub enum MoatError {
    /// Diagnostics were already printed.
    #[error(
        "{file}: the blueprint is not valid ({count} problem(s) above); nothing was sent to Azure"
    )]
    InvalidBlueprint { file: String, count: usize },
    #[error(transparent)]
    Observe(Box<crate::observe::ObserveError>),
    #[error(transparent)]
    Arm(Box<crate::arm::ArmError>),
    #[error(transparent)]
    SavedPlan(#[from] crate::render::json::LoadError),
    #[error("{0}")]
    Usage(String),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the saved plan is stale: live state changed since it was made\n{0}")]
    StalePlan(String),
    #[error("apply refused: {0}")]
    Refused(String),
    #[error("destroy refused: {0}")]
    DestroyRefused(String),
    #[error("{0}")]
    Emulator(String),
}

impl From<crate::observe::ObserveError> for MoatError {
    fn from(e: crate::observe::ObserveError) -> Self {
        MoatError::Observe(Box::new(e))
    }
}

impl From<crate::arm::ArmError> for MoatError {
    fn from(e: crate::arm::ArmError) -> Self {
        MoatError::Arm(Box::new(e))
    }
}
