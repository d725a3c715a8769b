//! What checks do on the host around a run: unguessable tokens and canary files, setup
//! errors, bounded waits, and mounts that are undone on every path.

use super::Verdict;
use crate::backoff::{Backoff, Budget};
use crate::runtime::{RunError, RunOutcome};
use crate::vocabulary::HostStepError;
use isoprobe_probes::contract::Outcome;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Poll interval of host-side waits: short next to a container's start-up.
const POLL: Duration = Duration::from_millis(10);

/// 16 random bytes as hex: nobody could guess it or find it on the disk by accident.
pub(super) fn token() -> String {
    // One word (no `-`), so that the report's scrubbing of temp names takes all of it; the pid
    // keeps the tokens of two runs apart.
    format!(
        "{}_{}",
        std::process::id(),
        crate::random::hex(&crate::random::bytes::<16>())
    )
}

/// A host file outside the rootfs holding an unguessable secret: whoever reads the secret
/// reached the file. It lives in its own `isoprobe-canary-*` directory in the scratch dir,
/// removed with the file on drop.
pub(super) struct Canary {
    _dir: tempfile::TempDir,
    path: PathBuf,
    secret: String,
}

impl Canary {
    pub fn create(scratch: &Path) -> Result<Canary, RunError> {
        let dir = tempfile::Builder::new()
            .prefix("isoprobe-canary-")
            .tempdir_in(scratch)
            .map_err(|e| setup("create the canary dir", scratch, e))?;
        let path = dir.path().join("canary");
        let secret = format!("isoprobe-canary-{}", token());
        std::fs::write(&path, &secret).map_err(|e| setup("write the canary", &path, e))?;
        Ok(Canary {
            _dir: dir,
            path,
            secret,
        })
    }
    /// The canary's host path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The canary's content.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

/// The outcome of the try a check asked for, or the failing verdict of its absence.
pub(super) fn tried<O: Outcome>(out: &RunOutcome) -> Result<&O, Verdict> {
    out.observation.tried::<O>().map_err(Verdict::not_tried)
}

/// A typed value as reports show it: the agent's outcomes keep the JSON shapes reports and
/// reasons have always quoted (an errno object, `"ok"`, `{"code": 0}`).
pub(super) fn shown<T: serde::Serialize + ?Sized>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// A host-side preparation step that failed: the check cannot run.
pub(super) fn setup(step: &'static str, path: &Path, e: std::io::Error) -> RunError {
    HostStepError::new(step, path, e).into()
}

/// Polls `ready` until it holds or `limit` passes, or `give_up` says waiting is pointless.
pub(super) fn wait_until(
    limit: Duration,
    ready: impl FnMut() -> bool,
    give_up: impl FnMut() -> bool,
) -> bool {
    Backoff::every(POLL).until(Budget::within(limit), ready, give_up)
}

/// Mounts a tmpfs at `target`.
pub(super) fn mount_tmpfs(source: &str, target: &Path) -> Result<(), std::io::Error> {
    nix::mount::mount(
        Some(source),
        target,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some("size=64k"),
    )
    .map_err(std::io::Error::from)
}

/// Host mount points to take away on drop, innermost (last pushed) first, then whatever else
/// appeared below a watched directory, then directories to remove. Every step is tried,
/// whatever failed before it.
#[derive(Default)]
pub(super) struct HostMounts {
    mounts: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    /// A directory and the mount points at or below it before the check touched anything.
    watched: Option<(PathBuf, Vec<String>)>,
}

impl HostMounts {
    /// Also takes away, on drop, every mount that appears at or below `root` from now on: a
    /// container whose mounts propagate can leave its own there (on a host whose `/` is
    /// shared, the spawner's bind of the rootfs onto itself and its /proc).
    pub fn watch(&mut self, root: &Path) {
        self.watched = Some((root.to_path_buf(), mounts_under(root)));
    }
    pub fn mounted(&mut self, target: &Path) {
        self.mounts.push(target.to_path_buf());
    }
    pub fn created_dir(&mut self, dir: &Path) {
        self.dirs.push(dir.to_path_buf());
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            detach_all(m);
        }
        if let Some((root, before)) = &self.watched {
            for m in new_mounts(before, mounts_under(root)) {
                detach_once(Path::new(&m));
            }
        }
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The host's mount points, as often as each is mounted (none if the table is unreadable).
pub(super) fn mount_points() -> Vec<String> {
    // The calling thread's table: a check runs on a thread inside a stand-in host, whose mount
    // namespace is not the process's.
    std::fs::read_to_string("/proc/thread-self/mountinfo")
        .ok()
        .and_then(|t| isoprobe_probes::parse::mount_points(&t).ok())
        .unwrap_or_default()
}

/// The host's mount points at `root` or below it, as often as each is mounted.
pub(super) fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy();
    let below = format!("{}/", root.trim_end_matches('/'));
    mount_points()
        .into_iter()
        .filter(|m| *m == root || m.starts_with(&below))
        .collect()
}

/// The mounts of `after` that `before` does not account for, deepest first (so that a mount
/// goes before the one it sits on).
fn new_mounts(before: &[String], mut after: Vec<String>) -> Vec<String> {
    for b in before {
        if let Some(i) = after.iter().position(|m| m == b) {
            after.remove(i);
        }
    }
    after.sort_by_key(|m| std::cmp::Reverse(m.matches('/').count()));
    after
}

fn detach_once(target: &Path) -> bool {
    let Ok(c) = CString::new(target.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) == 0 }
}

/// Lazily unmounts everything stacked at `target` (a mount may have been made there twice:
/// once by us, once propagated), stopping when nothing is left or after a bound.
pub(super) fn detach_all(target: &Path) {
    for _ in 0..8 {
        if !detach_once(target) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_mounts_counts_stacked_ones_and_goes_deepest_first() {
        let before = ["/r".to_string()];
        let after = ["/r", "/r", "/r/proc", "/r/a/b", "/r/proc"].map(String::from);
        assert_eq!(
            new_mounts(&before, after.to_vec()),
            ["/r/a/b", "/r/proc", "/r/proc", "/r"]
        );
        assert!(new_mounts(&before, vec!["/r".into()]).is_empty());
    }
}
