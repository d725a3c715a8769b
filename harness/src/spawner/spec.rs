//! What the native spawner is asked to build.

use crate::vocabulary::{CgroupLimits, Devices, IdMap, RootMode, SeccompProfile};
use isoprobe_probes::NsType;
use std::collections::BTreeSet;
use std::path::{Component, PathBuf};
use std::time::Duration;

/// Where the container's cgroup goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CgroupPlacement {
    /// No cgroup of its own: the child stays in the caller's.
    #[default]
    None,
    /// Fresh `isoprobe-...` cgroups under the caller's own, with these limits (none at all
    /// still gives the child its own cgroup and CPU statistics).
    Own(CgroupLimits),
}

/// Everything the spawner needs. Build it with [`SpawnSpec::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    pub rootfs: PathBuf,
    pub root_mode: RootMode,
    pub namespaces: BTreeSet<NsType>,
    /// Set inside a new uts namespace; ignored without one (like a runtime that refuses to
    /// change the host's name).
    pub hostname: Option<String>,
    pub uid_map: IdMap,
    pub gid_map: IdMap,
    /// Make every mount private before touching the root, so that nothing propagates to the
    /// host (turned off only by a negative control).
    pub make_mounts_private: bool,
    pub cgroup: CgroupPlacement,
    /// Host directories bound onto existing directories of the rootfs (source, target inside).
    pub binds: Vec<(PathBuf, String)>,
    /// Join bind targets to the rootfs naively, so that the host follows a symlink there (the
    /// weak variant a negative control needs); otherwise they are resolved inside the rootfs.
    pub binds_on_host: bool,
    /// Detach the old root after pivot_root; when false it stays at `/.isoprobe-oldroot`.
    pub detach_old_root: bool,
    /// Capability numbers dropped from the bounding set before exec.
    pub drop_caps: Vec<u32>,
    pub no_new_privs: bool,
    /// The syscall filter the child installs just before exec (compiled by the parent).
    pub seccomp: Option<SeccompProfile>,
    /// uid and gid (inside) the command runs as; root when `None`.
    pub user: Option<(u32, u32)>,
    /// Monotonic and boottime offsets in seconds of the time namespace: the spawn thread
    /// unshares it and writes them before the clone, so the child starts inside it.
    pub time_offsets: Option<(i64, i64)>,
    /// The working directory the command starts in (after the root changed); `/` when `None`.
    pub cwd: Option<String>,
    /// Resolve `cwd` under the rootfs on the host, before the root changes (the weak variant
    /// a negative control needs).
    pub cwd_before_root: bool,
    /// Fail the spawn when the rootfs's `/dev/null` is there and not the null device 1:3
    /// (unless a standard `/dev` covers it): it is never used, and a container must not have
    /// a `/dev/null` that is something else.
    pub dev_null: bool,
    /// Mask with the rootfs's own `/dev/null` (followed one link inside the rootfs) and reopen
    /// stdio through it, unchecked (the weak variant a negative control needs).
    pub dev_null_from_image: bool,
    /// Mount proc where the rootfs's `/proc` link points (followed inside the rootfs) instead
    /// of refusing a `/proc` that is not a directory (the weak variant a negative control
    /// needs).
    pub proc_through_link: bool,
    /// Write the engine's `/etc` files (hostname, hosts, resolv.conf) into the rootfs before
    /// the clone, each resolved inside it.
    pub etc_files: bool,
    /// Write them through the image's symlinks on the host (the weak variant a negative
    /// control needs).
    pub etc_files_on_host: bool,
    /// A host directory whose descriptor the command inherits (a negative control's leak).
    pub leak_dir: Option<PathBuf>,
    /// Mount a read-only sysfs at `/sys` of the rootfs.
    pub mount_sys: bool,
    /// Paths inside the container masked after /proc and /sys are mounted (see
    /// `Isolation::masked_paths`); absent ones are skipped.
    pub masked_paths: Vec<String>,
    /// Paths inside the container bound read-only onto themselves; absent ones are skipped.
    pub readonly_paths: Vec<String>,
    /// The standard `/dev` (a tmpfs with the standard nodes) and a device cgroup allowing only
    /// those.
    pub devices: Devices,
    /// argv[0] is a path inside the rootfs.
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Duration,
}

impl SpawnSpec {
    pub fn new(rootfs: impl Into<PathBuf>, argv: Vec<String>) -> SpawnSpec {
        SpawnSpec {
            rootfs: rootfs.into(),
            root_mode: RootMode::PivotRoot,
            namespaces: [NsType::Mnt].into_iter().collect(),
            hostname: None,
            uid_map: IdMap::DEFAULT,
            gid_map: IdMap::DEFAULT,
            make_mounts_private: true,
            cgroup: CgroupPlacement::None,
            binds: Vec::new(),
            binds_on_host: false,
            detach_old_root: true,
            drop_caps: Vec::new(),
            no_new_privs: false,
            seccomp: None,
            user: None,
            time_offsets: None,
            cwd: None,
            cwd_before_root: false,
            dev_null: false,
            dev_null_from_image: false,
            proc_through_link: false,
            etc_files: false,
            etc_files_on_host: false,
            leak_dir: None,
            mount_sys: false,
            masked_paths: Vec::new(),
            readonly_paths: Vec::new(),
            devices: Devices::Unrestricted,
            argv,
            env: vec!["PATH=/".into()],
            timeout: Duration::from_secs(30),
        }
    }

    pub fn has(&self, ns: NsType) -> bool {
        self.namespaces.contains(&ns)
    }

    /// The rootfs's `inside` (absolute, e.g. `/dev/null`) followed one link, lexically and
    /// inside the rootfs: where the negative controls of `dev_null_from_image` and
    /// `proc_through_link` go. A target with `..` is refused, as it could lead out of the
    /// rootfs. `None` when the image has nothing there.
    pub(super) fn image_link(&self, inside: &str) -> Result<Option<PathBuf>, String> {
        let link = self.rootfs.join(inside.trim_start_matches('/'));
        let dir = link.parent().unwrap_or(&self.rootfs).to_path_buf();
        if std::fs::symlink_metadata(&link).is_err() {
            return Ok(None);
        }
        match std::fs::read_link(&link) {
            Err(_) => Ok(Some(link)),
            Ok(t) if t.components().any(|c| c == Component::ParentDir) => Err(format!(
                "the image's {inside} points at `{}`, which may leave the rootfs",
                t.display()
            )),
            Ok(t) => Ok(Some(match t.strip_prefix("/") {
                Ok(rest) => self.rootfs.join(rest),
                Err(_) => dir.join(t),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_images_link_is_followed_one_link_inside_the_rootfs() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("dev")).unwrap();
        let spec = SpawnSpec::new(root.path(), vec!["/a".into()]);
        assert_eq!(spec.image_link("/dev/null"), Ok(None));
        let link = root.path().join("dev/null");
        std::os::unix::fs::symlink("/proc/sys/net/ipv4/ip_default_ttl", &link).unwrap();
        assert_eq!(
            spec.image_link("/dev/null"),
            Ok(Some(root.path().join("proc/sys/net/ipv4/ip_default_ttl")))
        );
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("zero", &link).unwrap();
        assert_eq!(
            spec.image_link("/dev/null"),
            Ok(Some(root.path().join("dev/zero")))
        );
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("/../../etc/passwd", &link).unwrap();
        assert!(spec
            .image_link("/dev/null")
            .unwrap_err()
            .contains("may leave the rootfs"));
        std::fs::remove_file(&link).unwrap();
        std::fs::write(&link, "").unwrap();
        assert_eq!(spec.image_link("/dev/null"), Ok(Some(link)));
    }
}
