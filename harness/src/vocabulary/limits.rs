//! How the container is built: its root, its CPU, pids and memory limits, its id mappings.

/// How the container gets its root directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RootMode {
    /// Bind the rootfs onto itself, `pivot_root` into it and detach the old root: nothing of
    /// the host's tree stays reachable.
    #[default]
    PivotRoot,
    /// `chroot` only: the weak mode, kept on purpose as a negative control (the old root stays
    /// reachable to a root process).
    Chroot,
    /// Stay in the host's root.
    None,
}

impl RootMode {
    pub fn name(self) -> &'static str {
        match self {
            RootMode::PivotRoot => "pivot-root",
            RootMode::Chroot => "chroot",
            RootMode::None => "none",
        }
    }
}

/// A CPU bandwidth limit: `quota_us` of CPU time in every `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    pub quota_us: u64,
    pub period_us: u64,
}

impl CpuQuota {
    pub fn share(&self) -> f64 {
        self.quota_us as f64 / self.period_us as f64
    }
}

/// The limits a container's cgroup gets. A cgroup in the cpu hierarchy is always made (it
/// gives the CPU statistics); pids and memory ones only for their limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CgroupLimits {
    pub cpu_quota: Option<CpuQuota>,
    pub pids_max: Option<u64>,
    pub memory_max: Option<u64>,
}

/// One contiguous uid or gid mapping of a user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl IdMap {
    /// Root inside is host uid 100000: unprivileged outside, the usual subuid range start.
    pub const DEFAULT: IdMap = IdMap {
        inside: 0,
        outside: 100_000,
        count: 65_536,
    };

    /// Root inside is the host's root and no other uid is mapped: what `unshare -r` or bwrap
    /// run by root make, and what a root container that unshares a user namespace itself gets
    /// (the path of CVE-2022-0492). Files the host's root owns stay root's inside.
    pub const HOST_ROOT: IdMap = IdMap {
        inside: 0,
        outside: 0,
        count: 1,
    };

    pub fn map_line(&self) -> String {
        format!("{} {} {}\n", self.inside, self.outside, self.count)
    }
}
