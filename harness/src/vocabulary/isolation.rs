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

/// The container's `/dev` and which devices it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    /// The rootfs's own `/dev` and no device cgroup: what every check had before devices were
    /// checked.
    Unrestricted,
    /// A tmpfs on `/dev` holding only the standard nodes ([`STANDARD_DEVICES`], a devpts with
    /// `ptmx`, the `fd` and stdio links), and a device cgroup that allows only those.
    Standard,
    /// The same `/dev`, but every device allowed (only in a negative control).
    StandardNodesAnyDevice,
}

impl Devices {
    /// A tmpfs on `/dev` with the standard nodes.
    pub fn standard_dev(self) -> bool {
        self != Devices::Unrestricted
    }
    /// A device cgroup allowing only [`STANDARD_DEVICES`] (and the pty slaves).
    pub fn restricted(self) -> bool {
        self == Devices::Standard
    }
}

/// A character device of the standard `/dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardDevice {
    pub name: &'static str,
    pub major: u32,
    pub minor: u32,
}

/// The standard character devices every runtime makes in `/dev` (the OCI runtime spec's
/// default devices), besides `ptmx` (a link to `pts/ptmx`, the devpts's own node, 5:2).
pub const STANDARD_DEVICES: [StandardDevice; 6] = [
    StandardDevice {
        name: "null",
        major: 1,
        minor: 3,
    },
    StandardDevice {
        name: "zero",
        major: 1,
        minor: 5,
    },
    StandardDevice {
        name: "full",
        major: 1,
        minor: 7,
    },
    StandardDevice {
        name: "random",
        major: 1,
        minor: 8,
    },
    StandardDevice {
        name: "urandom",
        major: 1,
        minor: 9,
    },
    StandardDevice {
        name: "tty",
        major: 5,
        minor: 0,
    },
];

/// The devpts multiplexer `/dev/pts/ptmx` and the major of the pty slaves it makes.
pub const PTMX: (u32, u32) = (5, 2);
pub const PTY_SLAVE_MAJOR: u32 = 136;

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
    /// Follow a symlink at a bind's target on the host instead of inside the rootfs (on only in
    /// a negative control).
    pub binds_on_host: bool,
    /// The process's working directory inside the container (`process.cwd`); `None` is `/`.
    pub cwd: Option<String>,
    /// Resolve `cwd` on the host, before the root changes (on only in a negative control).
    pub cwd_on_host: bool,
    /// The container's `/dev/null` is the null device whatever the image has there (the OCI
    /// spec's default devices): native refuses a rootfs `/dev/null` that is anything else,
    /// bwrap binds the host's over it, OCI runtimes must make it. A standard `/dev` has it.
    pub dev_null: bool,
    /// Take the image's `/dev/null` (whatever it is, resolved inside the rootfs) as the source
    /// of the masks and reopen stdio through it, as runc before CVE-2025-31133's fix did (on
    /// only in a negative control).
    pub dev_null_from_image: bool,
    /// Mount proc where the image's `/proc` link points (inside the rootfs) instead of refusing
    /// it (on only in a negative control).
    pub proc_through_link: bool,
    /// Hand the container a descriptor of the host's root (on only in a negative control).
    pub leak_host_dir: bool,
    /// Put the engine's files in place ([`ETC_FILES`]: `/etc/hostname`, `/etc/hosts`,
    /// `/etc/resolv.conf`) as an engine does: native and unshare write them inside the rootfs,
    /// an OCI runtime and bwrap bind files the adapter wrote onto them (Docker's way).
    pub etc_files: bool,
    /// Write those files on the host through whatever the image has at their paths (on only
    /// in a negative control).
    pub etc_files_on_host: bool,
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
    pub devices: Devices,
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
            binds_on_host: false,
            cwd: None,
            cwd_on_host: false,
            dev_null: false,
            dev_null_from_image: false,
            proc_through_link: false,
            leak_host_dir: false,
            etc_files: false,
            etc_files_on_host: false,
            mount_sys: false,
            masked_paths: Vec::new(),
            readonly_paths: Vec::new(),
            seccomp: None,
            devices: Devices::Unrestricted,
        }
    }

    pub fn with_ns(mut self, ns: NsType) -> Isolation {
        self.namespaces.insert(ns);
        self
    }
}

/// The files an engine puts in a container's `/etc`, in this order.
pub const ETC_FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// What an engine writes into each of [`ETC_FILES`] for a container with this hostname
/// (`isoprobe` without one). Short: the agent reads no more than 64 bytes of a file.
pub fn etc_file_contents(hostname: Option<&str>) -> [(&'static str, String); 3] {
    let name = hostname.unwrap_or("isoprobe");
    [
        (ETC_FILES[0], format!("{name}\n")),
        (
            ETC_FILES[1],
            format!("127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n"),
        ),
        (ETC_FILES[2], "nameserver 127.0.0.1\n".to_string()),
    ]
}

/// Where a kept old root appears inside the container (see [`Sabotage::KeepOldRoot`]).
///
/// [`Sabotage::KeepOldRoot`]: super::Sabotage::KeepOldRoot
pub const OLD_ROOT: &str = "/.isoprobe-oldroot";
