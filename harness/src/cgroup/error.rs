//! How the cgroup layer fails: a controller a cgroup of ours cannot use (the reason is what a
//! check's skip says), the host's layout unreadable, or a step on our own cgroup.

use crate::vocabulary::HostStepError;
use isoprobe_probes::parse::{ParseError, Unlocated};
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The controller cannot be had under the caller's cgroup.
    #[error(transparent)]
    ControllerUnavailable(#[from] Unlocated),
    #[error("cannot read {}: {source}", .path.display())]
    ReadHost {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot tell the cgroup layout from /proc/self/mountinfo: {0}")]
    Layout(#[source] ParseError),
    /// A read of one of our own cgroup's files.
    #[error("read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A step on one of our own cgroups (mkdir, a limit written, a process added, rmdir).
    #[error(transparent)]
    Host(#[from] HostStepError),
}
