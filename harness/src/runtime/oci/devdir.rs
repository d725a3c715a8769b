//! The rootfs's `/dev` as it was before a run, put back after it, where no tmpfs covers it.
//!
//! An OCI runtime sets up `/dev` itself (runc's `needsSetupDev`): it makes the default device
//! nodes (`null`, `zero`, `tty`, ...) and symlinks (`fd`, `stdin`, `ptmx`, ...) in whatever is
//! at the container's `/dev`. Every bundle mounts a tmpfs there (`bundle::dev_tmpfs`), as
//! engines do, except `image.dev-null-symlink`'s, which must face the image's own `/dev`: there
//! these entries land in the rootfs, which every run of a suite shares (a user's `--rootfs` is
//! only read: its containers get a view whose upper layer takes these writes, shared by the
//! runs of one check, see `rootfs/view.rs`). Left there, they would be the next run's starting
//! point: runc inside a user namespace then fails to bind over a `tty` node a run without one
//! made (`open .../dev/tty: no such device or address`), and youki fails on any `/dev/fd` it
//! finds (`failed to symlink defaults: File exists`). So what appeared is removed as soon as
//! `create` is done: by then the runtime has set the container up (runc has checked its
//! `/dev/null`), and the agent runs with the rootfs's `/dev` as the image has it.
//!
//! Two containers may start side by side in the same rootfs (the uts check's two do, and the
//! engine runs several checks at once), and no runtime's `/dev` setup is safe against
//! another's in the same directory: per `/dev` directory, the snapshot, `create` and the
//! removal are serialised. The engine gives each of its workers a rootfs of its own, so
//! containers in different rootfses never wait for each other here.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The `/dev` directories a runtime may be writing now.
static HELD: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static FREED: Condvar = Condvar::new();

fn held() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held while a runtime may be writing the `/dev` directory `dir`.
#[derive(Debug)]
pub struct DevLock {
    dir: PathBuf,
}

pub fn lock(dir: &Path) -> DevLock {
    let mut held = held();
    while held.contains(dir) {
        held = FREED.wait(held).unwrap_or_else(|e| e.into_inner());
    }
    held.insert(dir.to_path_buf());
    DevLock {
        dir: dir.to_path_buf(),
    }
}

impl Drop for DevLock {
    fn drop(&mut self) {
        held().remove(&self.dir);
        FREED.notify_all();
    }
}

pub struct DevSnapshot {
    dir: PathBuf,
    /// `None`: the rootfs had no `/dev` at all.
    before: Option<BTreeSet<OsString>>,
}

fn entries(dir: &Path) -> Option<BTreeSet<OsString>> {
    fs::read_dir(dir)
        .ok()
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
}

impl DevSnapshot {
    /// The snapshot, and the lock to hold until the runtime's `create` is done (drop it
    /// before the snapshot, whose removal takes the lock again).
    pub fn take(rootfs: &Path) -> (DevSnapshot, DevLock) {
        let dir = rootfs.join("dev");
        let guard = lock(&dir);
        let snap = DevSnapshot {
            before: entries(&dir),
            dir,
        };
        (snap, guard)
    }

    /// Removes what appeared since [`DevSnapshot::take`] (never following a symlink: a
    /// runtime's `/dev/fd` points at `/proc/self/fd`, which on the host is isoprobe's). Only
    /// with the lock held (the guard [`DevSnapshot::take`] gave, or [`lock`]).
    pub fn restore(&self, _held: &DevLock) {
        let Some(before) = &self.before else {
            let _ = fs::remove_dir_all(&self.dir);
            return;
        };
        for name in entries(&self.dir).unwrap_or_default() {
            if before.contains(&name) {
                continue;
            }
            let p = self.dir.join(&name);
            let _ = match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&p),
                Ok(_) => fs::remove_file(&p),
                Err(_) => Ok(()),
            };
        }
    }
}

/// Also after an error between `take` and the removal; a no-op after it.
impl Drop for DevSnapshot {
    fn drop(&mut self) {
        let held = lock(&self.dir);
        self.restore(&held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_appeared() {
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("dev");
        fs::create_dir(&dev).unwrap();
        fs::write(dev.join("mine"), "x").unwrap();
        {
            let (_snap, creating) = DevSnapshot::take(root.path());
            drop(creating);
            fs::write(dev.join("null"), "").unwrap();
            std::os::unix::fs::symlink("/proc/self/fd", dev.join("fd")).unwrap();
            fs::create_dir(dev.join("pts")).unwrap();
        }
        let left: Vec<_> = fs::read_dir(&dev)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["mine"]);
    }

    #[test]
    fn only_the_same_dev_directory_waits() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let held_a = lock(a.path());
        // Another directory is free at once.
        drop(lock(b.path()));
        let waited = std::thread::scope(|s| {
            let t = s.spawn(|| {
                let started = std::time::Instant::now();
                drop(lock(a.path()));
                started.elapsed()
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(held_a);
            t.join().unwrap()
        });
        assert!(waited >= std::time::Duration::from_millis(40), "{waited:?}");
    }

    #[test]
    fn a_dev_made_by_the_run_goes_whole() {
        let root = tempfile::tempdir().unwrap();
        {
            let (_snap, creating) = DevSnapshot::take(root.path());
            drop(creating);
            fs::create_dir_all(root.path().join("dev/pts")).unwrap();
        }
        assert!(!root.path().join("dev").exists());
    }
}
