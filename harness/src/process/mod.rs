//! Supervising a process the harness started: the native spawner's container, a runtime
//! binary (bwrap, unshare, an OCI runtime's commands), or a container an OCI runtime made.
//! One place owns the pipes, reading output under a deadline while polling for Ctrl-C
//! ([`crate::cancel`]), killing and reaping on every path ([`ChildGuard`]), wait4's resource
//! usage, how an exit status reads as an [`ExitKind`](crate::vocabulary::ExitKind), and where
//! an executable is found.

pub(crate) mod clone_args;
mod collect;
mod command;
mod exec_file;
mod guard;
mod users_of;
mod which;

pub(crate) use collect::{collect, Bound};
pub(crate) use command::{run, Finished, RunOptions, SideChannel};
pub(crate) use exec_file::{copy_executable, write_executable};
pub(crate) use guard::{has_ended, sigkill, status_text, ChildGuard};
pub(crate) use users_of::{kill_matching, stop_users_of};
pub use which::which;
pub(crate) use which::{is_executable, LOOKED_IN};

use crate::vocabulary::HostStepError;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// Why supervision ended before the process did: the deadline, the user, or the host.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("timed out after {} s; the container was killed", crate::vocabulary::seconds(*.0))]
    Timeout(Duration),
    #[error("interrupted; the container was killed and its cgroup removed")]
    Interrupted,
    #[error(transparent)]
    Host(#[from] HostStepError),
}

/// Makes the process `cmd` starts die (SIGKILL) when the thread that starts it ends, the whole
/// of isoprobe killed included: a host-side helper that outlives a SIGKILLed run would be left
/// on the machine, which neither the run's cgroups nor its record reach. Also when the starter
/// is already gone by the time the child asks.
pub(crate) fn dies_with_starter(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let starter = std::process::id() as libc::pid_t;
    // SAFETY: prctl, getppid and kill are async-signal-safe; nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != starter {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
}

/// A pipe whose both ends are close-on-exec: (read, write). A container started at the same
/// time by another thread must never inherit the harness's ends.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), HostStepError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| HostStepError::errno("pipe2", "-", e))
}

/// Closes every descriptor from 3 up but those in `keep`, without allocating: for a child
/// cloned from a multi-threaded process, whose copies of other threads' descriptors (a pipe's
/// write end, an executable being written) would otherwise live until it execs or exits.
pub(crate) fn close_all_but(keep: &mut [libc::c_int]) {
    keep.sort_unstable();
    let mut first: libc::c_uint = 3;
    for &fd in keep.iter() {
        let Ok(fd) = libc::c_uint::try_from(fd) else {
            continue;
        };
        if fd < first {
            continue;
        }
        if first < fd {
            // SAFETY: closing descriptors of this process; no pointers.
            unsafe { libc::syscall(libc::SYS_close_range, first, fd - 1, 0) };
        }
        first = fd + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) };
}

/// `NSpid` of a host process, if it is still there.
pub(crate) fn read_nspid(pid: i32) -> Option<Vec<i32>> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| isoprobe_probes::parse::parse_nspid(&t).ok().flatten())
}

/// The lines of a host process's `/proc/<pid>/cgroup`, as the harness's cgroup namespace names
/// them, if it is still there.
pub(crate) fn read_cgroup(pid: i32) -> Option<Vec<String>> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .map(|t| t.lines().map(str::to_string).collect())
}
