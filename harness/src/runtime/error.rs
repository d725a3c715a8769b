//! How a runtime fails, in the runtime layer's own words: not there at all, unable to build
//! the setup, refused by the runtime binary, out of time, interrupted, or an agent that said
//! nothing useful. The native spawner's and the cgroup layer's errors come through as they are.

use super::oci::BundleError;
use crate::cgroup::CgroupError;
use crate::process::WaitError;
use crate::spawner::SpawnError;
use crate::vocabulary::{ExitKind, HostStepError};
use std::path::PathBuf;
use std::time::Duration;

/// Why a runtime cannot run on this machine at all: every check is skipped with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// `hint` says what to install (and, for some, where isoprobe looked).
    #[error("{runtime} is not installed ({hint})")]
    NotInstalled { runtime: String, hint: String },
    #[error("{} is not an executable file ({hint})", .path.display())]
    NotExecutable { path: PathBuf, hint: &'static str },
    /// It is there but does not work (`--version` fails, say).
    #[error("{0}")]
    Broken(String),
}

/// A `--runtime` name that names no runtime: a usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownRuntime {
    #[error(
        "unknown runtime `{name}`; known runtimes: {known}, or oci:PATH for any OCI runtime binary"
    )]
    Unknown { name: String, known: String },
    #[error("`{0}`: give the runtime binary's path after `oci:`")]
    NoOciPath(String),
    #[error("--engine-defaults applies to the engines (podman, docker), not to `{0}`")]
    NotAnEngine(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The native spawner failed (its timeouts and interrupts become [`RunError::Timeout`] and
    /// [`RunError::Interrupted`]).
    #[error(transparent)]
    Spawn(SpawnError),
    /// A step the host took around the container (an adapter's or a check's set-up) failed.
    #[error(transparent)]
    Host(#[from] HostStepError),
    #[error("cgroup unavailable: {0}")]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// Asked for a setup that [`Runtime::unsupported`](super::Runtime::unsupported) names.
    #[error("{runtime} cannot run this setup: {reason}")]
    Unsupported { runtime: String, reason: String },
    #[error("invalid container spec: {0}")]
    Bundle(#[from] BundleError),
    /// The runtime binary refused a step of the container's life. `detail` is the sentence a
    /// person reads (exit status and stderr, or what else went wrong).
    #[error("{step} `{container}`: {runtime}: {detail}")]
    Runtime {
        runtime: String,
        step: &'static str,
        container: String,
        detail: String,
        /// How the runtime's command ended, when it ended by itself.
        exit: Option<ExitKind>,
        /// The end of what it printed on stderr.
        stderr_tail: String,
    },
    #[error("timed out after {} s; the container was killed", crate::vocabulary::seconds(*.0))]
    Timeout(Duration),
    #[error("interrupted; the container was killed and its cgroup removed")]
    Interrupted,
    #[error("the agent exited with {exit:?} and printed no observation; its stderr: {stderr}")]
    AgentFailed { exit: ExitKind, stderr: String },
    /// `field` is the path of the value that did not match (`.` when the text is no JSON).
    #[error("the agent's output is not an observation (field `{field}`: {error}): {stdout}")]
    BadOutput {
        field: String,
        error: String,
        stdout: String,
    },
}

impl RunError {
    /// An interrupt is not a check's result: it ends the run.
    pub fn is_interrupt(&self) -> bool {
        matches!(
            self,
            RunError::Interrupted | RunError::Spawn(SpawnError::Interrupted)
        )
    }
}

impl From<SpawnError> for RunError {
    fn from(e: SpawnError) -> Self {
        match e {
            SpawnError::Timeout(t) => RunError::Timeout(t),
            SpawnError::Interrupted => RunError::Interrupted,
            other => RunError::Spawn(other),
        }
    }
}

impl From<WaitError> for RunError {
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::Timeout(t) => RunError::Timeout(t),
            WaitError::Interrupted => RunError::Interrupted,
            WaitError::Host(h) => RunError::Host(h),
        }
    }
}
