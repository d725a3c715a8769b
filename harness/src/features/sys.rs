//! The few helpers every detection shares: a raw system call's result as `Result`, and whether
//! this process is root.

use nix::errno::Errno;

/// `ret` of `libc::syscall` as the value or the errno it set.
pub(super) fn result(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Closes a descriptor a successful probe returned.
pub(super) fn close_fd(fd: libc::c_long) {
    if let Ok(fd) = libc::c_int::try_from(fd) {
        // SAFETY: `fd` was just returned to us by the kernel and nothing else holds it.
        unsafe { libc::close(fd) };
    }
}

/// Root of the machine: uid 0 with its capabilities over the initial user namespace. A rootless
/// run is uid 0 too, of the user namespace it made, where a probe that needs the machine's root
/// meets EPERM, and the user it would drop to (65534) is not mapped.
pub(super) fn is_root() -> bool {
    nix::unistd::geteuid().is_root() && crate::rootless::active().is_none()
}

/// A descriptor number that can never be open: above the largest `RLIMIT_NOFILE` the kernel
/// allows (`fs.nr_open` stops below `INT_MAX`), yet a valid `int`, so a call must look it up
/// and answer EBADF instead of rejecting it as out of range (EINVAL).
pub(super) const NEVER_OPEN_FD: i32 = i32::MAX;
