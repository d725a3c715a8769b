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
            Sabotage::SharedMounts | Sabotage::KeepOldRoot | Sabotage::RootMode(_) => {
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
}
