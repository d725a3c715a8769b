//! What a check asks of a runtime, said without naming a runtime.

use super::{CpuQuota, IdMap, RootMode, SeccompProfile};
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
    /// The uid and gid map of the user namespace (needs `NsType::User`).
    pub id_map: IdMap,
    /// Clock offsets of the time namespace (needs `NsType::Time`).
    pub time_offsets: Option<TimeOffsets>,
    pub binds: Vec<Bind>,
    /// The process's working directory inside the container (`process.cwd`); `None` is `/`.
    pub cwd: Option<String>,
    /// Resolve `cwd` on the host, before the root changes (on only in a negative control).
    pub cwd_on_host: bool,
    /// Hand the container a descriptor of the host's root (on only in a negative control).
    pub leak_host_dir: bool,
    /// Mount a fresh sysfs, read-only, at `/sys` (with a network namespace: sysfs shows the
    /// network devices of the mounter's).
    pub mount_sys: bool,
    /// Paths inside the container made to show nothing: a file covered by `/dev/null`, a
    /// directory by an empty read-only tmpfs (OCI `linux.maskedPaths`). A path the kernel does
    /// not have is left alone.
    pub masked_paths: Vec<String>,
    /// Paths inside the container bound read-only onto themselves (OCI
    /// `linux.readonlyPaths`). A path the kernel does not have is left alone.
    pub readonly_paths: Vec<String>,
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
            id_map: IdMap::DEFAULT,
            time_offsets: None,
            binds: Vec::new(),
            cwd: None,
            cwd_on_host: false,
            leak_host_dir: false,
            mount_sys: false,
            masked_paths: Vec::new(),
            readonly_paths: Vec::new(),
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
