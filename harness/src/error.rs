//! Errors that end a run before it can report, each with its exit code, and how each layer's
//! error becomes one.

use crate::agent_binary::AgentError;
use crate::cgroup::CgroupError;
use crate::checks::Unmet;
use crate::rootfs::RootfsError;
use crate::runtime::{RunError, Unavailable, UnknownRuntime};
use crate::spawner::SpawnError;
use std::path::PathBuf;

/// Exit codes, documented in the README.
pub mod exit {
    pub const PASS: i32 = 0;
    /// A check failed, a negative control was missed, or (with --require-all) a skip.
    pub const FAIL: i32 = 1;
    /// Bad usage or a setup error: the message says what to do.
    pub const USAGE: i32 = 2;
    /// `matrix --kernel`: the kernel could not be tested (it did not boot or report); what
    /// `git bisect run` takes as "skip this commit".
    pub const UNTESTED: i32 = 125;
    /// Interrupted (SIGINT/SIGTERM); everything was cleaned up.
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0}")]
    Usage(String),
    #[error("setup failed: {0}")]
    Setup(String),
    /// A runtime that cannot run here or refused the container: not the user's typing, but
    /// it exits like a setup error.
    #[error("runtime failed: {0}")]
    Runtime(String),
    #[error("interrupted; containers were killed and cgroups removed")]
    Interrupted,
    #[error(transparent)]
    BadInput(#[from] BadInput),
}

/// Input found wrong before any container starts: each says what is wrong, where, and what to
/// do. The README's "When things go wrong" table lists every one.
#[derive(Debug, thiserror::Error)]
pub enum BadInput {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// A runtime the user named cannot run here: skipping every check would exit 0 on a typo.
    #[error(
        "runtime `{runtime}` cannot be used: {reason}; install it, correct its path, or name \
         another runtime (`isoprobe compare` without --runtimes skips the missing ones)"
    )]
    RuntimeUnavailable {
        runtime: String,
        reason: Unavailable,
    },
    /// A runtime that cannot run from a rootless run's user namespace.
    #[error(
        "runtime `{runtime}` cannot run rootless: {why}; run isoprobe as root, or run rootless \
         with --runtime native, bwrap, runc, crun or youki"
    )]
    NotRootless { runtime: String, why: String },
    /// A check named with `--check` that this machine cannot run (a full run skips it).
    #[error(
        "check `{check}` cannot run on this machine: {reason}; leave out --check {check} (a \
         full run records it as skipped), or run on a kernel that has it"
    )]
    CheckCannotRun { check: String, reason: Unmet },
    /// The report could be written nowhere: found before the run rather than after it.
    #[error(
"--output `{}`: {why}", .path.display())]
    Output { path: PathBuf, why: String },
    /// No cgroup file system is mounted, or the layout cannot be read.
    #[error(
        "check `{check}` needs a cgroup of its own, and no cgroup hierarchy can be used: \
         {source}; mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup) or the v1 hierarchies"
    )]
    NoCgroupHierarchy {
        check: String,
        #[source]
        source: CgroupError,
    },
    /// The hierarchy is there, but isoprobe cannot create its cgroups in it.
    #[error(
        "check `{check}` needs a cgroup of its own under `{}` ({controller} controller), and \
         that hierarchy is {why}; remount it read-write (in a container: run it privileged, \
         or with --cgroupns=private and a writable /sys/fs/cgroup)",
        .dir.display()
    )]
    CgroupHierarchy {
        check: String,
        controller: String,
        dir: PathBuf,
        why: String,
    },
}

impl HarnessError {
    pub fn exit_code(&self) -> i32 {
        match self {
            HarnessError::Usage(_)
            | HarnessError::Setup(_)
            | HarnessError::Runtime(_)
            | HarnessError::BadInput(_) => exit::USAGE,
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

impl From<AgentError> for HarnessError {
    fn from(e: AgentError) -> Self {
        BadInput::from(e).into()
    }
}

impl From<RootfsError> for HarnessError {
    fn from(e: RootfsError) -> Self {
        BadInput::from(e).into()
    }
}

impl From<CgroupError> for HarnessError {
    fn from(e: CgroupError) -> Self {
        HarnessError::Setup(e.to_string())
    }
}

/// An unknown `--runtime` is the user's typing.
impl From<UnknownRuntime> for HarnessError {
    fn from(e: UnknownRuntime) -> Self {
        HarnessError::Usage(e.to_string())
    }
}

impl From<RunError> for HarnessError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Interrupted => HarnessError::Interrupted,
            RunError::Spawn(s) => s.into(),
            RunError::Unavailable(_)
            | RunError::Unsupported { .. }
            | RunError::Runtime { .. }
            | RunError::Timeout(_)
            | RunError::AgentFailed { .. }
            | RunError::BadOutput { .. } => HarnessError::Runtime(e.to_string()),
            RunError::Host(_) | RunError::Cgroup(_) | RunError::Bundle(_) => {
                HarnessError::Setup(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Unavailable;

    #[test]
    fn each_layer_keeps_its_exit_code_and_only_typing_is_usage() {
        let unknown = crate::runtime::by_name("lxc").err().unwrap();
        assert!(matches!(
            HarnessError::from(unknown),
            HarnessError::Usage(_)
        ));
        let missing = RunError::from(Unavailable::NotInstalled {
            runtime: "youki".into(),
            hint: "cargo install youki".into(),
        });
        let e = HarnessError::from(missing);
        assert!(matches!(e, HarnessError::Runtime(_)), "{e:?}");
        assert_eq!(e.exit_code(), exit::USAGE);
        let interrupted = HarnessError::from(RunError::from(SpawnError::Interrupted));
        assert_eq!(interrupted.exit_code(), exit::INTERRUPTED);
        assert_eq!(
            HarnessError::from(SpawnError::InvalidSpec("x".into())).exit_code(),
            exit::USAGE
        );
    }
}
