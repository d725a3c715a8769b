//! Errors that end a run before it can report, each with its exit code.

use crate::spawner::SpawnError;

/// Exit codes, documented in the README.
pub mod exit {
    pub const PASS: i32 = 0;
    /// A check failed, a negative control was missed, or (with --require-all) a skip.
    pub const FAIL: i32 = 1;
    /// Bad usage or a setup error: the message says what to do.
    pub const USAGE: i32 = 2;
    /// Interrupted (SIGINT/SIGTERM); everything was cleaned up.
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0}")]
    Usage(String),
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("interrupted; containers were killed and cgroups removed")]
    Interrupted,
}

impl HarnessError {
    pub fn exit_code(&self) -> i32 {
        match self {
            HarnessError::Usage(_) | HarnessError::Setup(_) => exit::USAGE,
            HarnessError::Interrupted => exit::INTERRUPTED,
        }
    }
}

impl From<SpawnError> for HarnessError {
    fn from(e: SpawnError) -> Self {
        match e {
            SpawnError::Interrupted => HarnessError::Interrupted,
            SpawnError::InvalidSpec(m) => HarnessError::Usage(m),
            other => HarnessError::Setup(other.to_string()),
        }
    }
}
