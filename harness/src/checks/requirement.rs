//! What a check needs from the machine. A requirement that is not met makes the check a
//! recorded skip with the reason, never a pass.

use isoprobe_probes::NsType;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Root,
    /// The kernel has this namespace type.
    Namespace(NsType),
    /// A cgroup of ours can use this controller (v1 hierarchy or delegated on v2).
    Controller(&'static str),
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Root => f.write_str("root"),
            Requirement::Namespace(ns) => write!(f, "{ns} namespace (Linux {}+)", ns.since()),
            Requirement::Controller(c) => write!(f, "cgroup controller {c}"),
        }
    }
}

impl Requirement {
    /// `Err(reason)` when the machine does not meet it.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Requirement::Root => {
                if nix::unistd::geteuid().is_root() {
                    Ok(())
                } else {
                    Err("needs root (namespaces, mounts and cgroups): run as root".into())
                }
            }
            Requirement::Namespace(ns) => {
                if std::path::Path::new("/proc/self/ns")
                    .join(ns.proc_name())
                    .exists()
                {
                    Ok(())
                } else {
                    Err(format!(
                        "this kernel has no {ns} namespace (/proc/self/ns/{} is missing; added in Linux {})",
                        ns.proc_name(),
                        ns.since()
                    ))
                }
            }
            Requirement::Controller(c) => crate::cgroup::locate(c)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}
