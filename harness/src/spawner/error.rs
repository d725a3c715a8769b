//! How a spawn fails, with the step, the path and the errno, and what to do.

use super::step::Step;
use crate::vocabulary::{hint, HostStepError};
use nix::errno::Errno;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The spec cannot be built as asked; nothing was started.
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),

    /// A setup step in the parent failed.
    #[error(transparent)]
    Parent(#[from] HostStepError),

    /// A setup step in the child failed; it reported the step and errno before exiting.
    #[error("container setup failed at step `{}` on `{}`: {errno} ({}){}", .step.name(), .path.display(), .errno.desc(), hint(.advice))]
    Child {
        step: Step,
        errno: Errno,
        path: PathBuf,
        advice: &'static str,
    },

    /// The spec asks for a cgroup that this machine cannot give.
    #[error("cgroup unavailable: {0}")]
    CgroupUnavailable(#[from] crate::cgroup::CgroupError),

    #[error("timed out after {} s; the container was killed", crate::vocabulary::seconds(*.0))]
    Timeout(std::time::Duration),

    #[error("interrupted; the container was killed and its cgroup removed")]
    Interrupted,
}

impl SpawnError {
    pub fn parent(step: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SpawnError::Parent(HostStepError::new(step, path, source))
    }
}

/// A spawn's wait ends in the spawner's own words.
impl From<crate::process::WaitError> for SpawnError {
    fn from(e: crate::process::WaitError) -> Self {
        use crate::process::WaitError;
        match e {
            WaitError::Timeout(t) => SpawnError::Timeout(t),
            WaitError::Interrupted => SpawnError::Interrupted,
            WaitError::Host(h) => SpawnError::Parent(h),
        }
    }
}
