//! The error a run of ember ends with, whichever front end it came from, and its exit status.

use crate::engine::EngineError;
use crate::models::ResolveError;

/// What went wrong, mapped to an exit status.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The command line, config or role asks for something that cannot be: exit status 2.
    #[error("{0}")]
    Usage(String),
    /// Input, history or the terminal failed.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("writing the answer: {0}")]
    Output(std::io::Error),
}

impl AppError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            // A grammar llama.cpp refused is the user's to fix, like one ember refused.
            AppError::Usage(_) | AppError::Engine(EngineError::Grammar(_)) => 2,
            AppError::Input(_) | AppError::Engine(_) | AppError::Output(_) => 1,
        }
    }
}

impl From<ResolveError> for AppError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::NotFound { .. } => AppError::Input(e.to_string()),
            ResolveError::Ambiguous { .. } => AppError::Usage(e.to_string()),
        }
    }
}
