//! The child's masks and read-only paths, and what it does with the rootfs's own `/dev/null`:
//! an image may make that a link to anything (CVE-2025-31133's class), so it is checked to be
//! the null device and never used, except by the negative control that reproduces the flaw.
//! Like the rest of the child, system calls only.

use super::child::{check, fail, mount, ChildPlan};
use super::step::Step;
use std::ffi::CStr;

/// The mount flags a read-only remount of a bind keeps from the mount it was made from: a
/// remount replaces them all, and one that clears a locked flag fails in a user namespace.
/// statvfs's `ST_*` bits have the values of the `MS_*` ones.
const KEPT_MOUNT_FLAGS: libc::c_ulong = libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME;

/// Whether the last call failed because the path does not exist: what a kernel lacks is left
/// alone, as runc does, and the check records it.
fn absent() -> bool {
    nix::errno::Errno::last() == nix::errno::Errno::ENOENT
}

/// Covers `path` as runc does: `/dev/null` over a file, an empty read-only tmpfs over a
/// directory. The source is the host's `/dev/null`, reachable because this runs before the
/// root changes (the rootfs need not have a `/dev/null` of its own, and the one it has is the
/// image's, never trusted); in a negative control it is the image's.
pub(super) fn mask(plan: &ChildPlan, path: &CStr) {
    // SAFETY: stat into a zeroed struct on this stack; mount on prepared C strings.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(path.as_ptr(), &mut st) < 0 {
            if absent() {
                return;
            }
            fail(plan, Step::MaskPath);
        }
        let rc = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            mount(c"tmpfs", path, Some(c"tmpfs"), flags)
        } else {
            mount(&plan.mask_source, path, None, libc::MS_BIND)
        };
        check(plan, Step::MaskPath, rc);
    }
}

/// Binds `path` onto itself and remounts that bind read-only, keeping the flags it had.
pub(super) fn make_readonly(plan: &ChildPlan, path: &CStr) {
    if mount(path, path, None, libc::MS_BIND | libc::MS_REC) < 0 {
        if absent() {
            return;
        }
        fail(plan, Step::ReadonlyPath);
    }
    // SAFETY: statvfs into a zeroed struct on this stack. glibc takes the flags from statfs's
    // f_flags (valid since Linux 2.6.36) and allocates nothing.
    let kept = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        check(
            plan,
            Step::ReadonlyPath,
            libc::statvfs(path.as_ptr(), &mut st) as _,
        );
        st.f_flag as libc::c_ulong & KEPT_MOUNT_FLAGS
    };
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | kept;
    check(plan, Step::ReadonlyPath, mount(path, path, None, flags));
}

/// Fails the spawn (ENODEV) when the rootfs's `/dev/null` exists and is not the character
/// device 1:3; an absent one is left alone (the container then has none).
pub(super) fn verify_dev_null(plan: &ChildPlan, path: &CStr) {
    // SAFETY: lstat into a zeroed struct on this stack; errno is this thread's.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::lstat(path.as_ptr(), &mut st) < 0 {
            if absent() {
                return;
            }
            fail(plan, Step::ImageDevNull);
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
            *libc::__errno_location() = libc::ENODEV;
            fail(plan, Step::ImageDevNull);
        }
    }
}

/// Points descriptors 0 to 2 at `path`, opened read-write: what runc 1.1's `reOpenDevNull`
/// did with the container's `/dev/null` (only in a negative control).
pub(super) fn reopen_stdio(plan: &ChildPlan, path: &CStr) {
    // SAFETY: open, dup2 and close on a prepared path and descriptors this child owns.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        check(plan, Step::ReopenStdio, fd as _);
        for target in 0..3 {
            check(plan, Step::ReopenStdio, libc::dup2(fd, target) as _);
        }
        libc::close(fd);
    }
}

/// Fails the spawn (ENOTDIR) when `path` is a link: before the root changes, an absolute link
/// in the rootfs resolves against the host's root.
pub(super) fn verify_not_link(plan: &ChildPlan, path: &CStr) {
    // SAFETY: lstat into a zeroed struct on this stack; errno is this thread's.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::lstat(path.as_ptr(), &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            *libc::__errno_location() = libc::ENOTDIR;
            fail(plan, Step::ImageProc);
        }
    }
}
