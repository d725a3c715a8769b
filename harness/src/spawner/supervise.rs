//! Supervising a process the harness started (the native spawner's container, or a runtime
//! binary such as bwrap): reading its output under a deadline while polling for Ctrl-C, and
//! killing and reaping it on every path.

use super::{ExitKind, SpawnError};
use crate::cancel;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// Output beyond this is dropped: the agent prints a few KiB.
const MAX_OUTPUT: usize = 4 << 20;

/// A pipe whose both ends are close-on-exec: (read, write).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SpawnError::parent("pipe2", "-", e.into()))
}

/// `NSpid` of a host process, if it is still there.
pub(crate) fn read_nspid(pid: i32) -> Option<Vec<i32>> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| isoprobe_probes::parse::parse_nspid(&t).ok().flatten())
}

/// How a reaped child ended, and the CPU time it used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reaped {
    pub exit: ExitKind,
    /// User + system time of the child and the descendants it reaped (from wait4).
    pub cpu_time: Duration,
}

/// Kills and reaps a child on every path that does not reap it normally (errors, panics).
pub(crate) struct ChildGuard {
    pid: Pid,
    reaped: bool,
    /// How to stop it: at a deadline, on Ctrl-C, and when the guard drops unreaped.
    kill: fn(Pid),
}

impl ChildGuard {
    /// Guards `pid`, stopped with `kill` (e.g. [`sigkill`]).
    pub(crate) fn new(pid: Pid, kill: fn(Pid)) -> Self {
        ChildGuard {
            pid,
            reaped: false,
            kill,
        }
    }

    pub(crate) fn kill(&self) {
        (self.kill)(self.pid);
    }

    /// Waits for the child (retrying on EINTR) and decodes how it ended.
    pub(crate) fn reap(&mut self) -> Reaped {
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid value; wait4 fills it.
        let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: plain syscall with valid out-pointers.
            let rc = unsafe { libc::wait4(self.pid.as_raw(), &mut status, 0, &mut rusage) };
            if rc >= 0 || Errno::last() != Errno::EINTR {
                break;
            }
        }
        self.reaped = true;
        Reaped {
            exit: decode_status(status),
            cpu_time: timeval(rusage.ru_utime) + timeval(rusage.ru_stime),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            self.reap();
        }
    }
}

/// SIGKILL to `pid` itself: the plain way to stop a guarded child.
pub(crate) fn sigkill(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
}

/// Reads `files` until all are closed (or `on_read` closes them), killing `child` when the
/// deadline passes or the user interrupts. After every read, `on_read(slot, all read on that
/// slot so far, end of file)` says whether that slot is done (at end of file it always is).
/// `reading` names the step in a read error. Returns what arrived on each slot.
pub(crate) fn collect<const N: usize>(
    child: &ChildGuard,
    mut files: [Option<fs::File>; N],
    deadline: Instant,
    timeout: Duration,
    reading: &'static str,
    mut on_read: impl FnMut(usize, &[u8], bool) -> bool,
) -> Result<[Vec<u8>; N], SpawnError> {
    let mut bufs: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
    loop {
        if cancel::requested() {
            child.kill();
            return Err(SpawnError::Interrupted);
        }
        let now = Instant::now();
        if now >= deadline {
            child.kill();
            return Err(SpawnError::Timeout(timeout));
        }
        let open: Vec<usize> = (0..N).filter(|i| files[*i].is_some()).collect();
        if open.is_empty() {
            return Ok(bufs);
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|i| PollFd::new(files[*i].as_ref().unwrap().as_fd(), PollFlags::POLLIN))
            .collect();
        let wait = (deadline - now).min(Duration::from_millis(100));
        match poll(
            &mut fds,
            PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(SpawnError::parent("poll", "-", e.into())),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (slot, is_ready) in open.into_iter().zip(ready) {
            if !is_ready {
                continue;
            }
            let mut chunk = [0u8; 8192];
            let eof = match files[slot].as_mut().unwrap().read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    if bufs[slot].len() < MAX_OUTPUT {
                        bufs[slot].extend_from_slice(&chunk[..n]);
                    }
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SpawnError::parent(reading, "-", e)),
            };
            if on_read(slot, &bufs[slot], eof) || eof {
                files[slot] = None;
            }
        }
    }
}

fn decode_status(status: libc::c_int) -> ExitKind {
    if libc::WIFSIGNALED(status) {
        ExitKind::Signal(libc::WTERMSIG(status))
    } else {
        ExitKind::Code(libc::WEXITSTATUS(status))
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}
