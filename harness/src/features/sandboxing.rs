//! Sandboxing a runtime can add on top of namespaces: seccomp user notification and Landlock.
//! Both are asked questions that change nothing.

use super::sys::result;
use super::Entry;
use nix::errno::Errno;

/// `LANDLOCK_CREATE_RULESET_VERSION` from linux/landlock.h.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// seccomp(SECCOMP_GET_NOTIF_SIZES) answers only on a kernel with user notification (5.0).
pub(super) fn seccomp_user_notif() -> Entry {
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one seccomp_notif_sizes to the pointer, which
    // points at one; it installs no filter.
    let r = result(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_NOTIF_SIZES,
            0 as libc::c_uint,
            &mut sizes as *mut libc::seccomp_notif_sizes,
        )
    });
    let tried = "seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes)";
    match r {
        Ok(_) => Entry::yes(format!(
            "{tried} -> ok (notif {} bytes, resp {}, data {})",
            sizes.seccomp_notif, sizes.seccomp_notif_resp, sizes.seccomp_data
        )),
        Err(Errno::EINVAL) => Entry::no(format!(
            "{tried} -> EINVAL: seccomp without user notification (kernel before 5.0)"
        )),
        Err(Errno::ENOSYS) => Entry::no(format!("{tried} -> ENOSYS: no seccomp() call")),
        Err(e) => Entry::no(format!("{tried} -> {e:?}")),
    }
}

/// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) returns the ABI version.
pub(super) fn landlock() -> Entry {
    // SAFETY: with the VERSION flag the kernel reads no attribute block (NULL, size 0) and
    // creates no ruleset; it returns a number.
    let r = result(unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    });
    let tried = "landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)";
    match r {
        Ok(abi) => Entry {
            version: u64::try_from(abi).ok(),
            ..Entry::yes(format!("{tried} -> ABI version {abi}"))
        },
        Err(Errno::EOPNOTSUPP) => Entry::no(format!(
            "{tried} -> EOPNOTSUPP: built in but not enabled at boot (not in lsm=)"
        )),
        Err(Errno::ENOSYS) => Entry::no(format!(
            "{tried} -> ENOSYS: not built in (or kernel before 5.13)"
        )),
        Err(e) => Entry::no(format!("{tried} -> {e:?}")),
    }
}
