//! What a check asks of a runtime, said without naming a runtime.

use super::{CpuQuota, RootMode, SeccompProfile};
use isoprobe_probes::NsType;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A host directory made visible inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    /// An existing directory inside the rootfs, e.g. `/tmp`.
    pub target: String,
}

/// Offsets of a new time namespace's clocks against the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOffsets {
    pub monotonic_secs: i64,
    pub boottime_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    pub namespaces: BTreeSet<NsType>,
    pub root: RootMode,
    pub hostname: Option<String>,
    /// Give the container cgroups of its own (in the cpu hierarchy, and in the pids and memory
    /// hierarchies when those limits are set).
    pub own_cgroup: bool,
    pub cpu_quota: Option<CpuQuota>,
    /// `pids.max` of the container's cgroup.
    pub pids_max: Option<u64>,
    /// Memory limit in bytes (`memory.limit_in_bytes` on v1, `memory.max` on v2).
    pub memory_max: Option<u64>,
    /// Make every mount private before touching the root (off only in a negative control).
    pub make_mounts_private: bool,
    /// Detach the old root after pivot_root (off only in a negative control).
    pub detach_old_root: bool,
    /// Capabilities (numbers, see `capabilities(7)`) dropped from the bounding set before exec.
    pub drop_caps: Vec<u32>,
    pub no_new_privs: bool,
    /// Run the agent as this uid/gid (inside the container) instead of root.
    pub user: Option<(u32, u32)>,
    /// Clock offsets of the time namespace (needs `NsType::Time`).
    pub time_offsets: Option<TimeOffsets>,
    pub binds: Vec<Bind>,
    /// The syscall filter the container runs under (`None`: no filter).
    pub seccomp: Option<SeccompProfile>,
}

impl Isolation {
    /// What every container has: its own mount and pid namespaces and a pivoted root. A check
    /// adds what it is about.
    pub fn base() -> Isolation {
        Isolation {
            namespaces: [NsType::Mnt, NsType::Pid].into_iter().collect(),
            root: RootMode::PivotRoot,
            hostname: None,
            own_cgroup: false,
            cpu_quota: None,
            pids_max: None,
            memory_max: None,
            make_mounts_private: true,
            detach_old_root: true,
            drop_caps: Vec::new(),
            no_new_privs: false,
            user: None,
            time_offsets: None,
            binds: Vec::new(),
            seccomp: None,
        }
    }

    pub fn with_ns(mut self, ns: NsType) -> Isolation {
        self.namespaces.insert(ns);
        self
    }
}

/// Where a kept old root appears inside the container (see [`Sabotage::KeepOldRoot`]).
///
/// [`Sabotage::KeepOldRoot`]: super::Sabotage::KeepOldRoot
pub const OLD_ROOT: &str = "/.isoprobe-oldroot";
