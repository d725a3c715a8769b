//! Process creation: clone3, pidfd_open, and clone3's CLONE_INTO_CGROUP flag. Every call is
//! made with arguments the kernel must reject, so no process is created.

use super::sys::{close_fd, result, NEVER_OPEN_FD};
use super::Entry;
use nix::errno::Errno;

use crate::process::clone_args::{CloneArgs, CLONE_INTO_CGROUP};

pub(super) fn clone3() -> Entry {
    // SAFETY: a size below CLONE_ARGS_SIZE_VER0 is rejected (EINVAL) before the kernel reads
    // the (NULL) argument block or creates anything; a kernel without clone3 says ENOSYS.
    let r = result(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) });
    let tried = "clone3(NULL, 0)";
    match r {
        Err(Errno::EINVAL) => Entry::yes(format!(
            "{tried} -> EINVAL: the call exists (it rejected the empty argument block)"
        )),
        Err(Errno::ENOSYS) => Entry::no(format!(
            "{tried} -> ENOSYS: no clone3 (kernel before 5.3, or a seccomp filter hides it)"
        )),
        Err(e) => Entry::no(format!("{tried} -> {e:?}: unexpected, taken as unusable")),
        Ok(r) => Entry::no(format!(
            "{tried} -> {r}: success is impossible here, so the answer is not trusted"
        )),
    }
}

pub(super) fn pidfd_open() -> Entry {
    let pid = std::process::id() as libc::pid_t;
    // SAFETY: pidfd_open takes two integers and at most returns a new descriptor, closed below.
    let r = result(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) });
    let tried = "pidfd_open(own pid, 0)";
    match r {
        Ok(fd) => {
            close_fd(fd);
            Entry::yes(format!("{tried} -> a pidfd (closed again)"))
        }
        Err(Errno::ENOSYS) => Entry::no(format!(
            "{tried} -> ENOSYS: no pidfd_open (kernel before 5.3, or a seccomp filter)"
        )),
        Err(e) => Entry::no(format!("{tried} -> {e:?}")),
    }
}

/// clone3 with CLONE_INTO_CGROUP and a cgroup descriptor that can never be open: a kernel that
/// knows the flag looks the descriptor up and answers EBADF; 5.3-5.6 reject the flag (EINVAL)
/// or the longer argument block (E2BIG). The child would only be created after the
/// descriptor check, so none is.
pub(super) fn clone_into_cgroup() -> Entry {
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: NEVER_OPEN_FD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed. The kernel fails the call
    // (EBADF) before a child exists. Should a kernel create one anyway, the child is a copy
    // of this thread that returns 0 here and leaves at once with `_exit` (async-signal-safe,
    // nothing else runs in it); the parent reaps it below.
    let r = result(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    });
    if r == Ok(0) {
        // SAFETY: in the (impossible) child: only _exit.
        unsafe { libc::_exit(0) };
    }
    let tried = "clone3({flags: CLONE_INTO_CGROUP, cgroup: a descriptor that is never open})";
    match r {
        Err(Errno::EBADF) => Entry::yes(format!(
            "{tried} -> EBADF: the flag is understood (the kernel looked up the cgroup descriptor)"
        )),
        Err(e @ (Errno::EINVAL | Errno::E2BIG)) => Entry::no(format!(
            "{tried} -> {e:?}: the flag is not understood (kernel before 5.7)"
        )),
        Err(Errno::ENOSYS) => Entry::no(format!("{tried} -> ENOSYS: no clone3 at all")),
        Err(e) => Entry::no(format!("{tried} -> {e:?}: unexpected, taken as unusable")),
        Ok(pid) => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
            Entry::no(format!(
                "{tried} created a child (reaped): the descriptor was not checked, so the \
                 flag is not understood"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_args_has_the_kernels_ver2_size() {
        assert_eq!(std::mem::size_of::<CloneArgs>(), 88);
    }
}
