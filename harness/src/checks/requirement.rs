//! What a check needs from the machine. A requirement that is not met makes the check a
//! recorded skip with the reason, never a pass.

use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::NsType;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Root,
    /// The kernel has this namespace type.
    Namespace(NsType),
    /// A cgroup of ours can use this controller (v1 hierarchy or delegated on v2).
    Controller(&'static str),
    /// The kernel has this file system (`/proc/filesystems` lists it), e.g. `cgroup`: cgroup
    /// v1 hierarchies, which a kernel built without CONFIG_CGROUP_V1 cannot mount.
    Filesystem(&'static str),
    /// Named cgroup v1 hierarchies (`none,name=...`) are not disabled at boot
    /// (`cgroup_no_v1=named`).
    NamedCgroupV1,
    /// The kernel installs seccomp filters (CONFIG_SECCOMP_FILTER, Linux 3.5+), which is
    /// all an argument rule needs too.
    SeccompFilter,
    /// A cgroup of ours can restrict devices: a v1 devices hierarchy, or a cgroup2 mount to
    /// attach a device program to (BPF_PROG_TYPE_CGROUP_DEVICE, Linux 4.15+).
    DeviceCgroup,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Root => f.write_str("root"),
            Requirement::Namespace(ns) => write!(f, "{ns} namespace (Linux {}+)", ns.since()),
            Requirement::Controller(c) => write!(f, "cgroup controller {c}"),
            Requirement::Filesystem(fs) => write!(f, "file system {fs} (/proc/filesystems)"),
            Requirement::NamedCgroupV1 => {
                f.write_str("named cgroup v1 hierarchies (no cgroup_no_v1=named at boot)")
            }
            Requirement::SeccompFilter => f.write_str("seccomp filters (Linux 3.5+)"),
            Requirement::DeviceCgroup => {
                f.write_str("a device cgroup (v1 devices, or a v2 device program)")
            }
        }
    }
}

impl Requirement {
    /// What a check with this isolation and control needs from the machine: root; the
    /// namespace its control takes away (the mount namespace for a control on mounts or the
    /// root) and any namespace the isolation adds to the base; a controller for each cgroup
    /// the container gets. A check that needs something more says so itself.
    pub fn implied(iso: &Isolation, sabotage: Sabotage) -> Vec<Requirement> {
        let mut v = vec![Requirement::Root];
        let mut add = |r: Requirement| {
            if !v.contains(&r) {
                v.push(r);
            }
        };
        match sabotage {
            Sabotage::DropNamespace(ns) => add(Requirement::Namespace(ns)),
            Sabotage::SharedMounts
            | Sabotage::KeepOldRoot
            | Sabotage::RootMode(_)
            | Sabotage::LeakHostFd
            | Sabotage::CwdResolvedOnHost
            | Sabotage::BindsResolvedOnHost => add(Requirement::Namespace(NsType::Mnt)),
            Sabotage::NoMasking | Sabotage::NoReadonlyPaths => {
                add(Requirement::Namespace(NsType::Mnt))
            }
            _ => {}
        }
        let base = Isolation::base().namespaces;
        for ns in iso.namespaces.difference(&base) {
            add(Requirement::Namespace(*ns));
        }
        // The container's own cgroup is always made in the cpu hierarchy (it gives the CPU
        // statistics); pids and memory ones only for their limits.
        if iso.own_cgroup {
            add(Requirement::Controller("cpu"));
        }
        if iso.pids_max.is_some() {
            add(Requirement::Controller("pids"));
        }
        if iso.memory_max.is_some() {
            add(Requirement::Controller("memory"));
        }
        if iso.seccomp.is_some() {
            add(Requirement::SeccompFilter);
        }
        if iso.devices.restricted() {
            add(Requirement::DeviceCgroup);
        }
        v
    }

    /// Why the machine does not meet it, if it does not.
    pub fn check(&self) -> Result<(), Unmet> {
        match self {
            Requirement::Root => {
                if nix::unistd::geteuid().is_root() {
                    Ok(())
                } else {
                    Err(Unmet::NotRoot)
                }
            }
            Requirement::Namespace(ns) => {
                if std::path::Path::new("/proc/self/ns")
                    .join(ns.proc_name())
                    .exists()
                {
                    Ok(())
                } else {
                    Err(Unmet::NoNamespace { ns: *ns })
                }
            }
            Requirement::Controller(c) => crate::cgroup::locate(c)
                .map(|_| ())
                .map_err(Unmet::Controller),
            Requirement::Filesystem(name) => match std::fs::read_to_string("/proc/filesystems") {
                Ok(t) if isoprobe_probes::parse::lists_filesystem(&t, name) => Ok(()),
                Ok(_) => Err(Unmet::NoFilesystem { name }),
                Err(e) => Err(Unmet::Unreadable {
                    path: "/proc/filesystems",
                    error: e.to_string(),
                }),
            },
            Requirement::NamedCgroupV1 => match std::fs::read_to_string("/proc/cmdline") {
                Ok(t) if isoprobe_probes::parse::boot_disables_named_cgroup_v1(&t) => {
                    Err(Unmet::NamedCgroupV1Disabled)
                }
                // The kernel makes new v1 hierarchies only for the initial cgroup namespace.
                Ok(_) if crate::cgroup::leaf::in_initial_cgroup_namespace() == Some(false) => {
                    Err(Unmet::NotInitialCgroupNamespace)
                }
                Ok(_) => Ok(()),
                Err(e) => Err(Unmet::Unreadable {
                    path: "/proc/cmdline",
                    error: e.to_string(),
                }),
            },
            Requirement::SeccompFilter => {
                // A null program fails after the mode is recognised (EFAULT) on a kernel with
                // filters, and with EINVAL on one without; nothing is installed either way.
                // SAFETY: prctl with a null pointer, which the kernel refuses to read.
                let rc = unsafe {
                    libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        std::ptr::null::<libc::sock_fprog>(),
                    )
                };
                if rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINVAL {
                    Err(Unmet::NoSeccompFilter)
                } else {
                    Ok(())
                }
            }
            // A v2 program the kernel refuses is a clear error of the run, not a skip: the
            // kernels isoprobe supports all have it.
            Requirement::DeviceCgroup => match crate::cgroup::locate("devices") {
                Ok(_) => Ok(()),
                Err(e) => match crate::cgroup::detect_layout() {
                    Ok(l) if l.v2_mount.is_some() => Ok(()),
                    _ => Err(Unmet::Controller(e)),
                },
            },
        }
    }
}

/// A requirement the machine does not meet; the message is the check's skip reason.
#[derive(Debug, thiserror::Error)]
pub enum Unmet {
    #[error("needs root (namespaces, mounts and cgroups): run as root")]
    NotRoot,
    #[error(
        "this kernel has no {ns} namespace (/proc/self/ns/{} is missing; added in Linux {})",
        .ns.proc_name(),
        .ns.since()
    )]
    NoNamespace { ns: NsType },
    #[error(transparent)]
    Controller(crate::cgroup::CgroupError),
    #[error(
        "this kernel has no `{name}` file system (/proc/filesystems does not list it): it was \
         built without it"
    )]
    NoFilesystem { name: &'static str },
    #[error(
        "named cgroup v1 hierarchies are disabled at boot (`cgroup_no_v1=named` in \
         /proc/cmdline)"
    )]
    NamedCgroupV1Disabled,
    #[error(
        "isoprobe runs in a cgroup namespace of its own (a container's), and the kernel mounts \
         a new cgroup v1 hierarchy only from the initial cgroup namespace (EPERM); run it with \
         the host's cgroup namespace (--cgroupns=host) to test this"
    )]
    NotInitialCgroupNamespace,
    #[error("cannot read {path}: {error}")]
    Unreadable { path: &'static str, error: String },
    #[error(
        "this kernel installs no seccomp filters (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) \
         gives EINVAL; CONFIG_SECCOMP_FILTER, Linux 3.5+)"
    )]
    NoSeccompFilter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_system_the_kernel_lacks_is_unmet_with_its_name() {
        let missing = Requirement::Filesystem("isoprobe-no-such-fs");
        match missing.check() {
            Err(e @ Unmet::NoFilesystem { .. }) => {
                assert!(e.to_string().contains("`isoprobe-no-such-fs`"), "{e}")
            }
            other => panic!("want NoFilesystem, got {other:?}"),
        }
        // Every Linux lists proc.
        assert!(Requirement::Filesystem("proc").check().is_ok());
        assert_eq!(
            Requirement::Filesystem("cgroup").to_string(),
            "file system cgroup (/proc/filesystems)"
        );
    }

    #[test]
    fn the_release_agent_check_needs_cgroup_v1_and_user_and_cgroup_namespaces() {
        let check = crate::checks::select(&["cgroup.release-agent-protected".into()]).unwrap();
        let r = check[0].requirements();
        for want in [
            Requirement::Root,
            Requirement::Namespace(NsType::User),
            Requirement::Namespace(NsType::Cgroup),
            Requirement::Filesystem("cgroup"),
            Requirement::NamedCgroupV1,
        ] {
            assert!(r.contains(&want), "{want}: {r:?}");
        }
    }
}
