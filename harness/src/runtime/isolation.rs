//! What a check asks of a runtime, said without naming a runtime, and the sabotages that
//! negative controls apply to it.

use crate::spawner::{CpuQuota, RootMode};
use isoprobe_probes::NsType;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    pub namespaces: BTreeSet<NsType>,
    pub root: RootMode,
    pub hostname: Option<String>,
    /// Give the container a cgroup of its own in the cpu hierarchy.
    pub cpu_cgroup: bool,
    pub cpu_quota: Option<CpuQuota>,
}

impl Isolation {
    /// What every container has: its own mount and pid namespaces and a pivoted root. A check
    /// adds what it is about.
    pub fn base() -> Isolation {
        Isolation {
            namespaces: [NsType::Mnt, NsType::Pid].into_iter().collect(),
            root: RootMode::PivotRoot,
            hostname: None,
            cpu_cgroup: false,
            cpu_quota: None,
        }
    }

    pub fn with_ns(mut self, ns: NsType) -> Isolation {
        self.namespaces.insert(ns);
        self
    }
}

/// The one thing a negative control breaks. A check whose control is not detected cannot tell
/// isolation from its absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// Do not unshare this namespace.
    DropNamespace(NsType),
    /// Enter the rootfs with this mode instead.
    RootMode(RootMode),
    /// Keep the cgroup but set no CPU quota.
    NoCpuQuota,
}

impl Sabotage {
    pub fn describe(&self) -> String {
        match self {
            Sabotage::DropNamespace(ns) => format!("no {ns} namespace"),
            Sabotage::RootMode(m) => format!("root mode {} instead of pivot-root", m.name()),
            Sabotage::NoCpuQuota => "no CPU quota".to_string(),
        }
    }

    pub fn apply(&self, iso: &Isolation) -> Isolation {
        let mut out = iso.clone();
        match *self {
            Sabotage::DropNamespace(ns) => {
                out.namespaces.remove(&ns);
                // Without a mount namespace there is nothing to pivot in: the container stays
                // in the host's root, which is exactly the weakness the control shows.
                if ns == NsType::Mnt {
                    out.root = RootMode::None;
                }
            }
            Sabotage::RootMode(m) => out.root = m,
            Sabotage::NoCpuQuota => out.cpu_quota = None,
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sabotage_changes_exactly_one_thing() {
        let iso = Isolation::base().with_ns(NsType::Net);
        let s = Sabotage::DropNamespace(NsType::Net).apply(&iso);
        assert!(!s.namespaces.contains(&NsType::Net));
        assert_eq!(s.root, iso.root);
        let m = Sabotage::DropNamespace(NsType::Mnt).apply(&iso);
        assert_eq!(m.root, RootMode::None);
        let q = Isolation {
            cpu_quota: Some(CpuQuota {
                quota_us: 1,
                period_us: 2,
            }),
            ..Isolation::base()
        };
        assert_eq!(Sabotage::NoCpuQuota.apply(&q).cpu_quota, None);
        assert_eq!(
            Sabotage::RootMode(RootMode::Chroot).apply(&iso).root,
            RootMode::Chroot
        );
    }
}
