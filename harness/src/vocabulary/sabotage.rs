//! The sabotages that negative controls apply to an [`Isolation`]: each breaks one thing.

use super::{Devices, Isolation, RootMode};
use isoprobe_probes::NsType;

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
    /// Set no pids limit (the container then has no pids cgroup of its own).
    NoPidsLimit,
    /// Set no memory limit (the container then has no memory cgroup of its own).
    NoMemoryLimit,
    /// Leave mount propagation as the host has it.
    SharedMounts,
    /// pivot_root without detaching the old root.
    KeepOldRoot,
    /// Keep the full bounding set.
    KeepCapabilities,
    /// Leave no_new_privs unset.
    AllowNewPrivs,
    /// Keep a descriptor of the host's root open across exec into the container.
    LeakHostFd,
    /// Resolve the working directory on the host, before the root changes.
    CwdResolvedOnHost,
    /// Resolve bind targets on the host, following the image's symlinks out of the rootfs.
    BindsResolvedOnHost,
    /// Use the image's `/dev/null` as the source of the masks and of reopened stdio.
    DevNullFromImage,
    /// Mount proc where the image's `/proc` link points.
    ProcThroughImageLink,
    /// Write the engine's `/etc` files on the host, through the image's symlinks.
    EtcWrittenOnHost,
    /// Mask no path.
    NoMasking,
    /// Make no path read-only.
    NoReadonlyPaths,
    /// Run without a syscall filter.
    NoSeccomp,
    /// Keep the standard `/dev` but allow every device (no device cgroup).
    AllDevices,
}

impl Sabotage {
    pub fn describe(&self) -> String {
        match self {
            Sabotage::DropNamespace(ns) => format!("no {ns} namespace"),
            Sabotage::RootMode(m) => format!("root mode {} instead of pivot-root", m.name()),
            Sabotage::NoCpuQuota => "no CPU quota".to_string(),
            Sabotage::NoPidsLimit => "no pids limit".to_string(),
            Sabotage::NoMemoryLimit => "no memory limit".to_string(),
            Sabotage::SharedMounts => "mounts not made private".to_string(),
            Sabotage::KeepOldRoot => "old root not detached after pivot_root".to_string(),
            Sabotage::KeepCapabilities => "full capability bounding set".to_string(),
            Sabotage::AllowNewPrivs => "no_new_privs not set".to_string(),
            Sabotage::LeakHostFd => "a descriptor of the host's root leaked in".to_string(),
            Sabotage::CwdResolvedOnHost => {
                "working directory resolved on the host before the root change".to_string()
            }
            Sabotage::BindsResolvedOnHost => {
                "bind targets resolved on the host, symlinks followed out of the rootfs".to_string()
            }
            Sabotage::DevNullFromImage => {
                "the image's /dev/null used for the masks and reopened as stdio".to_string()
            }
            Sabotage::ProcThroughImageLink => {
                "proc mounted where the image's /proc link points".to_string()
            }
            Sabotage::EtcWrittenOnHost => {
                "the engine's /etc files written on the host, through the image's symlinks"
                    .to_string()
            }
            Sabotage::NoMasking => "no masked paths".to_string(),
            Sabotage::NoReadonlyPaths => "no read-only paths".to_string(),
            Sabotage::NoSeccomp => "no seccomp filter".to_string(),
            Sabotage::AllDevices => "every device allowed (no device cgroup)".to_string(),
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
                if ns == NsType::Time {
                    out.time_offsets = None;
                }
            }
            Sabotage::RootMode(m) => out.root = m,
            Sabotage::NoCpuQuota => out.cpu_quota = None,
            Sabotage::NoPidsLimit => out.pids_max = None,
            Sabotage::NoMemoryLimit => out.memory_max = None,
            Sabotage::SharedMounts => out.make_mounts_private = false,
            Sabotage::KeepOldRoot => out.detach_old_root = false,
            Sabotage::KeepCapabilities => out.drop_caps.clear(),
            Sabotage::AllowNewPrivs => out.no_new_privs = false,
            Sabotage::LeakHostFd => out.leak_host_dir = true,
            Sabotage::CwdResolvedOnHost => out.cwd_on_host = true,
            Sabotage::BindsResolvedOnHost => out.binds_on_host = true,
            Sabotage::DevNullFromImage => out.dev_null_from_image = true,
            Sabotage::ProcThroughImageLink => out.proc_through_link = true,
            Sabotage::EtcWrittenOnHost => out.etc_files_on_host = true,
            Sabotage::NoMasking => out.masked_paths.clear(),
            Sabotage::NoReadonlyPaths => out.readonly_paths.clear(),
            Sabotage::NoSeccomp => out.seccomp = None,
            Sabotage::AllDevices => {
                if out.devices == Devices::Standard {
                    out.devices = Devices::StandardNodesAnyDevice;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::CpuQuota;

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
        assert!(!Sabotage::SharedMounts.apply(&iso).make_mounts_private);
        assert!(!Sabotage::KeepOldRoot.apply(&iso).detach_old_root);
        assert!(Sabotage::LeakHostFd.apply(&iso).leak_host_dir);
        assert!(Sabotage::CwdResolvedOnHost.apply(&iso).cwd_on_host);
        assert!(Sabotage::BindsResolvedOnHost.apply(&iso).binds_on_host);
        assert!(Sabotage::EtcWrittenOnHost.apply(&iso).etc_files_on_host);
        assert!(Sabotage::DevNullFromImage.apply(&iso).dev_null_from_image);
        assert!(Sabotage::ProcThroughImageLink.apply(&iso).proc_through_link);
        let hardened = Isolation {
            mount_sys: true,
            masked_paths: vec!["/proc/keys".into()],
            readonly_paths: vec!["/proc/sys".into()],
            ..iso.clone()
        };
        let unmasked = Sabotage::NoMasking.apply(&hardened);
        assert!(unmasked.masked_paths.is_empty());
        assert_eq!(unmasked.readonly_paths, hardened.readonly_paths);
        assert!(unmasked.mount_sys);
        let writable = Sabotage::NoReadonlyPaths.apply(&hardened);
        assert!(writable.readonly_paths.is_empty());
        assert_eq!(writable.masked_paths, hardened.masked_paths);
        let filtered = Isolation {
            seccomp: Some(crate::vocabulary::SeccompProfile::Default),
            ..iso.clone()
        };
        assert_eq!(Sabotage::NoSeccomp.apply(&filtered), iso);
        let dev = Isolation {
            devices: Devices::Standard,
            ..Isolation::base()
        };
        assert_eq!(
            Sabotage::AllDevices.apply(&dev).devices,
            Devices::StandardNodesAnyDevice
        );
    }
}
