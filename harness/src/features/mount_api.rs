//! The new mount API (open_tree, move_mount, mount_setattr with idmapped mounts) and overlayfs.
//! Every call names descriptors that are not open or paths that do not exist, so no mount is
//! made, moved or changed.

use super::sys::{close_fd, is_root, result, NEVER_OPEN_FD};
use super::Entry;
use isoprobe_probes::parse::lists_filesystem;
use nix::errno::Errno;

/// `struct mount_attr` (`MOUNT_ATTR_SIZE_VER0`, 32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

// From linux/mount.h.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;

/// The answer of a call that, past ENOSYS, only has to be reached: `reached` names what the
/// errno proves. EPERM without root still shows that the call exists.
fn reached(tried: &str, r: Result<libc::c_long, Errno>, expected: Errno, since: &str) -> Entry {
    match r {
        Err(e) if e == expected => Entry::yes(format!(
            "{tried} -> {e:?}: the call exists (it got as far as the descriptor)"
        )),
        Err(Errno::ENOSYS) => Entry::no(format!(
            "{tried} -> ENOSYS: no such call (kernel before {since}, or a seccomp filter)"
        )),
        Err(Errno::EPERM) if !is_root() => Entry::yes(format!(
            "{tried} -> EPERM: the call exists (ENOSYS otherwise); needs root to go past the \
             permission check"
        )),
        Err(e) => Entry::no(format!("{tried} -> {e:?}: unexpected, taken as unusable")),
        Ok(fd) => {
            close_fd(fd);
            Entry::no(format!(
                "{tried} succeeded, which it cannot with a closed descriptor: not trusted"
            ))
        }
    }
}

/// mount_setattr asking for an idmapped mount (MOUNT_ATTR_IDMAP) with a user namespace
/// descriptor that is never open, on an empty path that does not resolve. The attributes are
/// checked before the path: EBADF means the flag is understood and its descriptor was looked
/// up; an unknown flag would be EINVAL.
pub(super) fn mount_setattr() -> Entry {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: NEVER_OPEN_FD as u64,
    };
    // SAFETY: a valid C string and a valid mount_attr of the size passed; the user namespace
    // descriptor and the path both fail, so no mount is changed.
    let r = result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1 as libc::c_int,
            c"".as_ptr(),
            0 as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    });
    let tried = "mount_setattr(-1, \"\", 0, {attr_set: MOUNT_ATTR_IDMAP, userns_fd: never open})";
    match r {
        Err(Errno::EBADF) => Entry::yes(format!(
            "{tried} -> EBADF: idmapped mounts are understood (the kernel looked up the user \
             namespace descriptor)"
        )),
        Err(Errno::EINVAL) => Entry::no(format!(
            "{tried} -> EINVAL: mount_setattr exists but MOUNT_ATTR_IDMAP is not understood"
        )),
        Err(Errno::EPERM) if !is_root() => Entry::yes(format!(
            "{tried} -> EPERM: mount_setattr exists (ENOSYS otherwise; it came with idmapped \
             mounts); needs root to try MOUNT_ATTR_IDMAP itself"
        )),
        Err(Errno::ENOENT) => Entry::yes(format!(
            "{tried} -> ENOENT: the call exists, but this kernel resolved the path before the \
             attributes, so MOUNT_ATTR_IDMAP itself was not tried"
        )),
        other => reached(tried, other, Errno::EBADF, "5.12"),
    }
}

pub(super) fn open_tree() -> Entry {
    // SAFETY: a valid C string; without OPEN_TREE_CLONE open_tree only opens a path (here
    // none: the descriptor -1 is not open). A returned descriptor is closed.
    let r = result(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            -1 as libc::c_int,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | OPEN_TREE_CLOEXEC,
        )
    });
    reached("open_tree(-1, \"\", AT_EMPTY_PATH)", r, Errno::EBADF, "5.2")
}

pub(super) fn move_mount() -> Entry {
    // SAFETY: valid C strings; both descriptors are -1 (not open), so nothing is moved.
    let r = result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            -1 as libc::c_int,
            c"".as_ptr(),
            -1 as libc::c_int,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    });
    reached(
        "move_mount(-1, \"\", -1, \"\", F_EMPTY_PATH|T_EMPTY_PATH)",
        r,
        Errno::EBADF,
        "5.2",
    )
}

/// Listed in `/proc/filesystems`, or (root only, when not listed) `fsopen("overlay")` gives a
/// file system context: the kernel loads the module on demand as a mount would. Nothing is
/// mounted; the context is closed.
pub(super) fn overlayfs() -> Entry {
    let listed = std::fs::read_to_string("/proc/filesystems")
        .map(|t| lists_filesystem(&t, "overlay"))
        .unwrap_or(false);
    if listed {
        return Entry::yes("/proc/filesystems lists overlay (not mounted to check)");
    }
    let not_listed = "/proc/filesystems does not list overlay";
    if !is_root() {
        return Entry::no(format!(
            "{not_listed}; a module not loaded yet is not listed, and trying fsopen(\"overlay\") \
             needs root"
        ));
    }
    // SAFETY: a valid C string; fsopen makes at most a file system context (no mount), whose
    // descriptor is closed.
    let r = result(unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) });
    let tried = format!("{not_listed}; fsopen(\"overlay\", FSOPEN_CLOEXEC)");
    match r {
        Ok(fd) => {
            close_fd(fd);
            Entry::yes(format!(
                "{tried} -> a context (closed; the kernel loaded the module on demand)"
            ))
        }
        Err(Errno::ENODEV) => Entry::no(format!("{tried} -> ENODEV: no overlay file system")),
        Err(e) => Entry::no(format!("{tried} -> {e:?}: could not try")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_attr_has_the_kernels_ver0_size() {
        assert_eq!(std::mem::size_of::<MountAttr>(), 32);
    }

    #[test]
    fn an_errno_is_read_as_documented() {
        let t = "call()";
        assert!(reached(t, Err(Errno::EBADF), Errno::EBADF, "5.2").available);
        let absent = reached(t, Err(Errno::ENOSYS), Errno::EBADF, "5.2");
        assert!(!absent.available);
        assert!(absent.how.contains("before 5.2"), "{}", absent.how);
        assert!(!reached(t, Err(Errno::EACCES), Errno::EBADF, "5.2").available);
    }
}
