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
    /// Root of the machine's user namespace, for what a user namespace never gives its root
    /// (the phrase says what). Met by root; a rootless run skips with "needs root: …".
    MachineRoot(&'static str),
    /// Uids and gids `first..first + count` exist where the containers are made: always as
    /// root; rootless, only what the run's mapping holds (its own id as 0, and a subordinate
    /// range from 1).
    MappedIds {
        first: u32,
        count: u32,
    },
    /// The container may call setgroups (to drop supplementary groups when it switches user):
    /// a rootless single mapping denies setgroups, subordinate ranges do not.
    Setgroups,
}

/// The sentence a rootless skip starts with.
pub const NEEDS_ROOT: &str = "needs root: ";

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
            Requirement::MachineRoot(what) => write!(f, "the machine's root for {what}"),
            Requirement::MappedIds { first, count } => {
                write!(f, "{} mapped", id_span(*first, *count))
            }
            Requirement::Setgroups => f.write_str("setgroups allowed"),
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
        for r in Requirement::beyond_user_ns(iso) {
            add(r);
        }
        v
    }

    /// What `iso` needs that a user namespace made by an unprivileged user may not give (all
    /// met as root). The engine asks it of a control's sabotaged setup as well.
    pub fn beyond_user_ns(iso: &Isolation) -> Vec<Requirement> {
        let mut v = Vec::new();
        if iso.devices.standard_dev() {
            v.push(Requirement::MachineRoot(
                "mknod of the standard device nodes, refused inside a user namespace",
            ));
        }
        // proc is mounted for the pid namespace the container is in: the machine's, without
        // one of its own, which only the machine's root may mount.
        if iso.root != crate::vocabulary::RootMode::None && !iso.namespaces.contains(&NsType::Pid) {
            v.push(Requirement::MachineRoot(
                "a proc mount of the machine's pid namespace (a container without its own)",
            ));
        }
        if iso.namespaces.contains(&NsType::User) {
            // Root alone is always mapped.
            if iso.id_map.outside > 0 || iso.id_map.count > 1 {
                v.push(Requirement::MappedIds {
                    first: iso.id_map.outside,
                    count: iso.id_map.count,
                });
            }
        } else if let Some((uid, gid)) = iso.user {
            v.push(Requirement::MappedIds {
                first: uid.min(gid),
                count: uid.max(gid) - uid.min(gid) + 1,
            });
            v.push(Requirement::Setgroups);
        }
        v
    }

    /// Why the machine does not meet it, if it does not.
    pub fn check(&self) -> Result<(), Unmet> {
        if let Some(rootless) = crate::rootless::active() {
            if let Some(unmet) = self.unmet_rootless(rootless) {
                return Err(unmet);
            }
        }
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
            Requirement::MachineRoot(_)
            | Requirement::MappedIds { .. }
            | Requirement::Setgroups => Ok(()),
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

impl Requirement {
    /// What a rootless run's user namespace (`crate::rootless`) cannot give of this.
    fn unmet_rootless(&self, r: &crate::report::Rootless) -> Option<Unmet> {
        let needs = |why: String| Some(Unmet::NeedsRoot { why });
        match self {
            Requirement::MachineRoot(what) => needs(what.to_string()),
            Requirement::MappedIds { first, count } => {
                let inside = r.uids_inside.min(r.gids_inside);
                (u64::from(last_id(*first, *count)) >= inside).then(|| Unmet::NeedsRoot {
                    why: format!(
                        "{} in the user namespace, whose {} mapping has only {} (a range for \
                         uid {} in /etc/subuid and /etc/subgid gives more)",
                        id_span(*first, *count),
                        r.mapping,
                        id_span(0, u32::try_from(inside).unwrap_or(u32::MAX)),
                        r.uid
                    ),
                })
            }
            Requirement::Setgroups if r.mapping == crate::report::Rootless::SINGLE => needs(
                "setgroups, which a single-id user namespace denies (a range for the user in \
                 /etc/subuid and /etc/subgid allows it)"
                    .into(),
            ),
            Requirement::Controller(c) => match crate::cgroup::locate(c) {
                Ok(loc) => {
                    let dir = loc.caller_dir();
                    nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK)
                        .is_err()
                        .then(|| Unmet::NeedsRoot {
                            why: format!(
                                "cgroup controller {c}: `{}` is not delegated to uid {} (a \
                                 rootless run cannot create cgroups in it)",
                                dir.display(),
                                r.uid
                            ),
                        })
                }
                Err(e) => Some(Unmet::Controller(e)),
            },
            Requirement::DeviceCgroup => needs(
                "a device cgroup (a v1 devices cgroup, or a v2 device program, which needs \
                 CAP_SYS_ADMIN of the machine)"
                    .into(),
            ),
            Requirement::NamedCgroupV1 => {
                needs("mounting a named cgroup v1 hierarchy (only the machine's root may)".into())
            }
            _ => None,
        }
    }
}

fn last_id(first: u32, count: u32) -> u32 {
    first.saturating_add(count.saturating_sub(1))
}

/// `id 0`, `ids 100000-165535`.
fn id_span(first: u32, count: u32) -> String {
    match last_id(first, count) {
        last if last == first => format!("id {first}"),
        last => format!("ids {first}-{last}"),
    }
}

/// A requirement the machine does not meet; the message is the check's skip reason.
#[derive(Debug, thiserror::Error)]
pub enum Unmet {
    #[error("needs root (namespaces, mounts and cgroups): run as root")]
    NotRoot,
    /// What a rootless run cannot do.
    #[error("needs root: {why}")]
    NeedsRoot { why: String },
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

    fn rootless(mapping: &str, inside: u64) -> crate::report::Rootless {
        crate::report::Rootless {
            uid: 1000,
            gid: 1000,
            mapping: mapping.into(),
            uid_map: String::new(),
            gid_map: String::new(),
            uids_inside: inside,
            gids_inside: inside,
        }
    }

    fn reason(r: &Requirement, rl: &crate::report::Rootless) -> Option<String> {
        r.unmet_rootless(rl).map(|u| u.to_string())
    }

    #[test]
    fn a_single_mapping_has_only_root_and_no_setgroups() {
        let single = rootless("single", 1);
        let root_only = Requirement::MappedIds { first: 0, count: 1 };
        assert_eq!(reason(&root_only, &single), None);
        let default_map = Requirement::MappedIds {
            first: 100_000,
            count: 65_536,
        };
        let why = reason(&default_map, &single).unwrap();
        assert!(why.starts_with(NEEDS_ROOT), "{why}");
        assert!(
            why.contains(
                "ids 100000-165535 in the user namespace, whose single mapping has only id 0"
            ),
            "{why}"
        );
        assert!(reason(&Requirement::Setgroups, &single)
            .unwrap()
            .contains("setgroups"));
    }

    #[test]
    fn a_range_maps_what_it_covers_and_allows_setgroups() {
        let ranges = rootless("subordinate ranges", 1 + 200_000);
        for (first, count, met) in [
            (100_000, 65_536, true),
            (65534, 1, true),
            (150_000, 65_536, false),
        ] {
            let r = Requirement::MappedIds { first, count };
            assert_eq!(reason(&r, &ranges).is_none(), met, "{first}+{count}");
        }
        assert_eq!(reason(&Requirement::Setgroups, &ranges), None);
    }

    #[test]
    fn what_only_the_machine_root_does_is_unmet_rootless_with_its_reason() {
        let single = rootless("single", 1);
        for r in [
            Requirement::MachineRoot("mknod of the standard device nodes"),
            Requirement::NamedCgroupV1,
            Requirement::DeviceCgroup,
        ] {
            let why = reason(&r, &single).unwrap_or_else(|| panic!("{r} met rootless"));
            assert!(why.starts_with(NEEDS_ROOT), "{why}");
        }
        // What a user namespace gives is not its business.
        for r in [
            Requirement::Root,
            Requirement::Namespace(NsType::Net),
            Requirement::SeccompFilter,
        ] {
            assert_eq!(reason(&r, &single), None, "{r}");
        }
    }

    #[test]
    fn a_control_without_a_pid_namespace_cannot_mount_proc_rootless() {
        let base = Isolation::base();
        assert!(Requirement::beyond_user_ns(&base).is_empty());
        let shared_pids = Sabotage::DropNamespace(NsType::Pid).apply(&base);
        assert!(matches!(
            Requirement::beyond_user_ns(&shared_pids)[..],
            [Requirement::MachineRoot(_)]
        ));
        let other_user = Isolation {
            user: Some((1000, 1000)),
            ..Isolation::base()
        };
        assert_eq!(
            Requirement::beyond_user_ns(&other_user),
            [
                Requirement::MappedIds {
                    first: 1000,
                    count: 1
                },
                Requirement::Setgroups
            ]
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
