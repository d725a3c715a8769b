//! The agent's report: what it saw, never what that means.

use crate::contract::{self, NotTried, Outcome, Tried};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One cheap reading: a value, or the error that kept the agent from reading it. Errors are
/// observations too (a missing `/proc` says something about the container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading<T> {
    Ok(T),
    Err(String),
}

impl<T> Reading<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Reading::Ok(v) => Some(v),
            Reading::Err(_) => None,
        }
    }

    pub fn from_result<E: std::fmt::Display>(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Reading::Ok(v),
            Err(e) => Reading::Err(e.to_string()),
        }
    }
}

/// A namespace's identity: device and inode of `/proc/self/ns/<type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsId {
    pub dev: u64,
    pub ino: u64,
}

/// Everything the agent reports. Cheap observations are always made; the active ones (CPU
/// spin, escape attempt) only when asked for, so they are `Option`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub agent_version: String,
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub gid: u32,
    /// The `NSpid` line of `/proc/self/status` as the container's /proc shows it.
    pub nspid: Reading<Vec<i32>>,
    pub hostname: Reading<String>,
    /// Keyed by the `/proc/self/ns/` name.
    pub namespaces: BTreeMap<String, Reading<NsId>>,
    /// The numeric entries of `/proc`: the processes this container can see.
    pub proc_pids: Reading<Vec<i32>>,
    /// The lines of `/proc/self/cgroup`, as `hierarchy:controllers:path`.
    pub cgroup: Reading<Vec<String>>,
    /// Mount points listed in `/proc/self/mountinfo`.
    pub mount_points: Reading<Vec<String>>,
    pub cpu: Option<CpuSample>,
    pub escape: Option<EscapeReport>,
    /// When the agent lingered (`--linger-ms`), so that the host can tell whether two
    /// containers were alive at the same time rather than assume it.
    #[serde(default)]
    pub lingered: Option<Span>,
    /// The outcome of every try asked for with `--try`, in order.
    #[serde(default)]
    pub tried: Vec<Tried>,
}

impl Observation {
    /// The outcome of the try whose outcome type is `O`, or why there is none.
    pub fn tried<O: Outcome>(&self) -> Result<&O, NotTried> {
        contract::find(&self.tried)
    }
}

/// An interval of `CLOCK_REALTIME`, in nanoseconds since the epoch: the one clock a time
/// namespace does not offset, so that two containers' spans compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub from_ns: u64,
    pub to_ns: u64,
}

impl Span {
    /// Whether the two spans share a moment.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.from_ns.max(other.from_ns) < self.to_ns.min(other.to_ns)
    }
}

/// A busy loop's cost as the agent measured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSample {
    /// Wall time of the loop (CLOCK_MONOTONIC).
    pub wall_ns: u64,
    /// CPU time the process used in it (CLOCK_PROCESS_CPUTIME_ID).
    pub cpu_ns: u64,
}

impl CpuSample {
    pub fn wall_share(&self) -> f64 {
        if self.wall_ns == 0 {
            0.0
        } else {
            self.cpu_ns as f64 / self.wall_ns as f64
        }
    }
}

/// What each escape attempt reached when it tried to read the host's canary file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscapeReport {
    pub canary_path: String,
    pub attempts: Vec<EscapeAttempt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscapeAttempt {
    /// `direct-open`, `chroot-dotdot`, `chroot-fchdir` or `umount-setns`.
    pub method: String,
    pub end: EscapeEnd,
}

/// How an escape attempt ended. A refusal and an attempt that could not be made are kept
/// apart, because only the first says something about the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscapeEnd {
    /// The canary's path was opened where the attempt led: its content (truncated).
    Read(String),
    /// A step of the attempt was refused, or the canary's path did not open where it led.
    Blocked(String),
    /// The attempt never got as far as trying (no fork, no directory to chroot into, a child
    /// that reported nothing).
    NotMade(String),
}
