//! What the host sees of a finished container: how it ended and what its cgroups recorded.

use super::CgroupLimits;
use isoprobe_probes::parse::CpuStat;
use std::path::PathBuf;

/// How the container's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}

/// What the cgroups recorded, read after the container exited.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupSample {
    pub paths: Vec<PathBuf>,
    pub limits: CgroupLimits,
    pub cpu_stat: Result<CpuStat, StatError>,
    /// Forks refused by `pids.max` (`pids.events` `max`), when a pids limit was set.
    pub pids_refused: Option<Result<u64, StatError>>,
    /// OOM kills in the memory cgroup (v1 `memory.oom_control`, v2 `memory.events`), when a
    /// memory limit was set.
    pub oom_kills: Option<Result<u64, StatError>>,
    /// CPU time of the cgroup's tasks from a v1 `cpuacct` cgroup of the same name, where a
    /// runtime made one (runc makes one in every hierarchy; isoprobe's own cgroups have none,
    /// so this is `None` for them, and on v2, where `cpu.stat` has `usage_usec`).
    pub cpu_usage_usec: Option<u64>,
}

/// Why a statistic of the container's cgroup could not be read. Cloned into verdicts, so it
/// keeps the I/O error's text rather than the error itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatError {
    #[error("no {0} cgroup")]
    NoCgroup(&'static str),
    #[error("read {}: {reason}", .path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{}: {reason}", .path.display())]
    Parse { path: PathBuf, reason: String },
    #[error("{reason}")]
    Malformed { reason: String },
    #[error("{}/{file} has no `{key}` line", .dir.display())]
    NoKey {
        dir: PathBuf,
        file: &'static str,
        key: &'static str,
    },
}
