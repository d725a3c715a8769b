//! podman's private store: its `--root`, `--runroot`, `--tmpdir`, network configuration and
//! volumes, and runc's state, all in one recorded temporary directory, so that the machine's
//! own podman storage is never touched; and one cgroup parent for its containers.

use super::view::{self, Cover};
use super::CgroupParent;
use crate::record::TempDir;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub struct Store {
    pub covers: Vec<Cover>,
    /// Removed before the directory (fields drop in order).
    pub cgroup_parent: CgroupParent,
    runc: PathBuf,
    pub dir: TempDir,
}

/// A conmon outlives its container when the client that ran it was killed (a timeout, an
/// interrupt): its exit command would write the store back after the directory is removed,
/// and when it is ended half-way it leaves the container's /dev/shm mounted in the store.
impl Drop for Store {
    fn drop(&mut self) {
        crate::process::stop_users_of(self.dir.path());
        if let Err(e) = crate::record::unmount(self.dir.path()) {
            eprintln!(
                "isoprobe: warning: could not unmount inside {}: {e}",
                self.dir.path().display()
            );
        }
    }
}

/// What podman and its conmon write machine-wide whatever the flags say.
const COVERED: [&str; 2] = ["/run", "/dev/shm"];

impl Store {
    pub fn create(runc: PathBuf) -> io::Result<Store> {
        let dir = TempDir::new("podman", None)?;
        let covers = view::covers(&dir.path().join("covers"), &COVERED)?;
        Ok(Store {
            covers,
            cgroup_parent: CgroupParent::new("podman"),
            runc,
            dir,
        })
    }

    /// podman's global flags for this store.
    pub fn global_args(&self) -> Vec<String> {
        let at = |p: &str| self.dir.path().join(p).display().to_string();
        vec![
            "--root".into(),
            at("root"),
            "--runroot".into(),
            at("runroot"),
            "--tmpdir".into(),
            at("tmp"),
            "--network-config-dir".into(),
            at("networks"),
            "--volumepath".into(),
            at("volumes"),
            // podman's default, crun 1.8, refuses this project's hybrid cgroup layout.
            "--runtime".into(),
            self.runc.display().to_string(),
            "--runtime-flag".into(),
            format!("root={}", at("runc")),
            // No systemd here; journald events need it too.
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
        ]
    }

    /// The `run` flags every podman container of this store gets: conmon stays in the
    /// caller's cgroup (podman would move it to a cgroup under each hierarchy's root, out of
    /// the machine's memory cgroup), and the container's cgroup nests under the caller's.
    pub fn run_args(&self) -> Vec<String> {
        vec![
            "--cgroups".into(),
            "no-conmon".into(),
            "--cgroup-parent".into(),
            self.cgroup_parent.name.clone(),
        ]
    }
}
