//! The cgroup part of the inventory: the mode, which controllers sit where, and which cgroup2
//! interface files a new cgroup gets on this kernel.
//!
//! The files are found by creating a cgroup (`isoprobe-features-<pid>-<n>`, under this
//! process's own cgroup2 cgroup), listing it and removing it again. Only that cgroup is ever
//! written; the caller's cgroup and its `cgroup.subtree_control` are only read. A controller's
//! files (`cpu.max.burst`, `memory.peak`...) appear in the new cgroup only when the parent
//! enables the controller for its children, so an absent controller file means "not
//! delegated here" unless the controller is in `v2_probe_controllers`.

use super::sys::is_root;
use crate::backoff::{Backoff, Budget};
use isoprobe_probes::parse::{
    cgroup_path, controller_list, enabled_kernel_controllers, CgroupLayout,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cgroup2 files the inventory looks for. Core files (`cgroup.*`, `cpu.stat.local`) are
/// in every non-root cgroup of a kernel that has them; the others also need their controller
/// enabled for the probe cgroup.
pub const V2_FILES_OF_INTEREST: [&str; 16] = [
    "cgroup.freeze",
    "cgroup.kill",
    "cgroup.pressure",
    "cgroup.stat.local",
    "cpu.idle",
    "cpu.max",
    "cpu.max.burst",
    "cpu.stat.local",
    "io.max",
    "memory.oom.group",
    "memory.peak",
    "memory.reclaim",
    "memory.swap.peak",
    "memory.zswap.max",
    "pids.events.local",
    "pids.peak",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupFeatures {
    /// `v1`, `v2`, `hybrid`, or `none` when no cgroup file system is mounted.
    pub mode: String,
    /// Controllers `/proc/cgroups` marks enabled: what the kernel has, wherever it is bound.
    pub kernel_controllers: Vec<String>,
    /// Controllers bound to a mounted v1 hierarchy (named hierarchies left out).
    pub v1_controllers: Vec<String>,
    /// The cgroup2 root's `cgroup.controllers` (empty without a cgroup2 mount).
    pub v2_controllers: Vec<String>,
    /// The probe cgroup's `cgroup.controllers`: the controllers its parent (this process's
    /// cgroup) enables for children, so the ones whose files can show in `v2_files`.
    pub v2_probe_controllers: Vec<String>,
    /// File of [`V2_FILES_OF_INTEREST`] -> whether the probe cgroup has it. Empty when the
    /// probe did not run (then `v2_files_skipped` says why).
    pub v2_files: BTreeMap<String, bool>,
    /// Why `v2_files` is empty: not root, no cgroup2 mount, the cgroup could not be made...
    pub v2_files_skipped: Option<String>,
}

pub(super) fn detect() -> CgroupFeatures {
    let kernel_controllers = fs::read_to_string("/proc/cgroups")
        .map(|t| enabled_kernel_controllers(&t))
        .unwrap_or_default();
    let layout = match crate::cgroup::detect_layout() {
        Ok(l) => l,
        Err(e) => {
            return CgroupFeatures {
                mode: "none".into(),
                kernel_controllers,
                v1_controllers: Vec::new(),
                v2_controllers: Vec::new(),
                v2_probe_controllers: Vec::new(),
                v2_files: BTreeMap::new(),
                v2_files_skipped: Some(e.to_string()),
            }
        }
    };
    let v2_controllers = layout
        .v2_mount
        .as_ref()
        .and_then(|m| fs::read_to_string(m.join("cgroup.controllers")).ok())
        .map(|t| controller_list(&t))
        .unwrap_or_default();
    let (v2_probe_controllers, v2_files, v2_files_skipped) = match list_v2_files(&layout) {
        Ok((controllers, files)) => (controllers, files, None),
        Err(why) => (Vec::new(), BTreeMap::new(), Some(why.to_string())),
    };
    CgroupFeatures {
        mode: layout.mode.to_string(),
        kernel_controllers,
        v1_controllers: v1_controllers(&layout),
        v2_controllers,
        v2_probe_controllers,
        v2_files,
        v2_files_skipped,
    }
}

fn v1_controllers(layout: &CgroupLayout) -> Vec<String> {
    let mut list: Vec<String> = layout
        .v1_mounts
        .iter()
        .flat_map(|(controllers, _)| controllers.iter())
        .filter(|c| !c.starts_with("name="))
        .cloned()
        .collect();
    list.sort();
    list.dedup();
    list
}

type Listed = (Vec<String>, BTreeMap<String, bool>);

/// Why the cgroup2 files were not listed; the text is the inventory's `v2_files_skipped`.
#[derive(Debug, thiserror::Error)]
enum NotListed {
    #[error("no cgroup2 mount")]
    NoCgroup2,
    #[error("needs root: the files are listed in a cgroup made for the purpose")]
    NotRoot,
    #[error("/proc/self/cgroup has no `0::` line")]
    NoUnifiedLine,
    #[error("cannot read /proc/self/cgroup: {0}")]
    OwnCgroup(#[source] std::io::Error),
    #[error("cannot create the probe cgroup {}: {source}", .path.to_string_lossy())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read cgroup.controllers of the probe cgroup: {0}")]
    Controllers(#[source] std::io::Error),
    #[error("cannot list the probe cgroup: {0}")]
    List(#[source] std::io::Error),
}

/// Makes the scratch cgroup, reads what it has, removes it.
fn list_v2_files(layout: &CgroupLayout) -> Result<Listed, NotListed> {
    let Some(mount) = &layout.v2_mount else {
        return Err(NotListed::NoCgroup2);
    };
    if !is_root() {
        return Err(NotListed::NotRoot);
    }
    let own = crate::cgroup::leaf::own_cgroup_text()
        .map_err(|e| NotListed::OwnCgroup(std::io::Error::other(e.to_string())))?;
    let own = cgroup_path(&own, None).ok_or(NotListed::NoUnifiedLine)?;
    let parent = mount.join(own.trim_start_matches('/'));
    let scratch = ScratchCgroup::create(&parent)?;
    let controllers = fs::read_to_string(scratch.path.join("cgroup.controllers"))
        .map(|t| controller_list(&t))
        .map_err(NotListed::Controllers)?;
    let names: Vec<String> = fs::read_dir(&scratch.path)
        .map_err(NotListed::List)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let files = V2_FILES_OF_INTEREST
        .iter()
        .map(|f| (f.to_string(), names.iter().any(|n| n == f)))
        .collect();
    Ok((controllers, files))
}

/// The scratch cgroup, removed on drop (also when a read above fails or panics).
struct ScratchCgroup {
    path: PathBuf,
    noted: Option<crate::record::Noted>,
}

impl ScratchCgroup {
    fn create(parent: &Path) -> Result<ScratchCgroup, NotListed> {
        let path = parent.join(crate::cgroup::unique_name("features"));
        let noted = crate::record::note(crate::record::Item::Cgroup { path: path.clone() });
        match fs::create_dir(&path) {
            Ok(()) => Ok(ScratchCgroup {
                path,
                noted: Some(noted),
            }),
            Err(source) => {
                noted.done();
                Err(NotListed::Create { path, source })
            }
        }
    }
}

impl Drop for ScratchCgroup {
    fn drop(&mut self) {
        // No process ever entered it, so rmdir succeeds at once; a few retries cover a
        // kernel that is still tearing down the freshly made cgroup.
        let removed = Backoff::every(Duration::from_millis(10)).retry(Budget::Tries(20), || {
            match fs::remove_dir(&self.path) {
                Ok(()) => Some(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(()),
                Err(_) => None,
            }
        });
        if removed.is_some() {
            self.noted
                .take()
                .into_iter()
                .for_each(crate::record::Noted::done);
        } else {
            eprintln!(
                "isoprobe: could not remove the probe cgroup {}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_cgroup_is_removed_on_drop() {
        // A plain directory stands in for the cgroup: the guard only makes and removes it.
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let scratch = ScratchCgroup::create(dir.path()).unwrap();
            assert!(scratch.path.is_dir());
            let name = scratch
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(
                name.starts_with(&format!("isoprobe-features-{}-", std::process::id())),
                "{name}"
            );
            scratch.path.clone()
        };
        assert!(!path.exists(), "{} left behind", path.display());
    }

    #[test]
    fn v1_controllers_leave_out_named_hierarchies() {
        let layout = CgroupLayout {
            mode: crate::cgroup::CgroupMode::Hybrid,
            v1_mounts: vec![
                (vec!["cpu".into()], "/sys/fs/cgroup/cpu".into()),
                (
                    vec!["cpuacct".into(), "cpu".into()],
                    "/sys/fs/cgroup/cpu,cpuacct".into(),
                ),
                (vec!["name=systemd".into()], "/sys/fs/cgroup/systemd".into()),
            ],
            v2_mount: Some("/sys/fs/cgroup/unified".into()),
        };
        assert_eq!(v1_controllers(&layout), ["cpu", "cpuacct"]);
    }
}
