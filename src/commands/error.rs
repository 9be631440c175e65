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
    #[error("cannot read the saved plan {0}")]
    SavedPlanUnreadable(String),
    /// One line per difference, field by field.
    #[error("the saved plan is stale: live state changed since it was made\n{0}")]
    StalePlan(String),
    /// One line per difference between the approved changes and the fresh plan's.
    #[error(
        "apply refused: the saved plan is not what moat would do now, so it approves nothing\n{0}"
    )]
    NotApproved(String),
    #[error("apply refused: the blueprint {0}")]
    BlueprintChanged(String),
    #[error("apply refused: {0}")]
    Refused(String),
    #[error("destroy refused: {0}")]
    DestroyRefused(String),
    #[error("{0}")]
    Emulator(String),
    /// `moat rotate` stopped for these instances (each line names one).
    #[error("rotate failed for {0}")]
    Rotate(String),
}

impl MoatError {
    /// What to do next, printed as `hint:` after the error and its causes.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            MoatError::StalePlan(_)
            | MoatError::NotApproved(_)
            | MoatError::BlueprintChanged(_) => Some(
                "run `moat plan` again (with `--out`), review the new plan, and apply that one",
            ),
            _ => None,
        }
    }
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
