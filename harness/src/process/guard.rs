//! Killing and reaping a child on every path, and reading how it ended.

use super::{Bound, WaitError};
use crate::backoff::{Backoff, Budget};
use crate::vocabulary::ExitKind;
use nix::errno::Errno;
use nix::unistd::Pid;
use std::time::Duration;

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

    /// Waits for the child to end within `bound` and reaps it; at the deadline or on Ctrl-C
    /// it is left to the caller (or to the guard's drop) to stop.
    pub(crate) fn wait(&mut self, bound: Bound) -> Result<Reaped, WaitError> {
        let ended = Backoff::doubling(Duration::from_millis(1), Duration::from_millis(20)).retry(
            Budget::Until(bound.deadline),
            || {
                if has_ended(self.pid) {
                    Some(Ok(()))
                } else if bound.cancellable && crate::cancel::requested() {
                    Some(Err(WaitError::Interrupted))
                } else {
                    None
                }
            },
        );
        match ended {
            Some(Ok(())) => Ok(self.reap()),
            Some(Err(e)) => Err(e),
            None => Err(WaitError::Timeout(bound.timeout)),
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

/// Whether the child `pid` has ended, without reaping it (so that a later reap still gets its
/// status and resource usage).
pub(crate) fn has_ended(pid: Pid) -> bool {
    // SAFETY: a zeroed siginfo_t is a valid value; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall with a valid out-pointer.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid.as_raw() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is valid for the CLD_* codes waitid fills in.
    rc < 0 || unsafe { info.si_pid() } != 0
}

/// SIGKILL to `pid` itself: the plain way to stop a guarded child.
pub(crate) fn sigkill(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
}

/// An exit status in the words the standard library uses (`exit status: 1`, `signal: 9
/// (SIGKILL)`), which reasons and error texts have always shown.
pub(crate) fn status_text(exit: ExitKind) -> String {
    match exit {
        ExitKind::Code(c) => format!("exit status: {c}"),
        ExitKind::Signal(s) => match nix::sys::signal::Signal::try_from(s) {
            Ok(sig) => format!("signal: {s} ({})", sig.as_str()),
            Err(_) => format!("signal: {s}"),
        },
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
