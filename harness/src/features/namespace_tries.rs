//! Namespaces tried for real: a time namespace (on a throwaway thread) and a user namespace
//! made by an unprivileged process (a forked child).

use super::sys::{is_root, result};
use super::Entry;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// unshare(CLONE_NEWTIME) on a thread of its own. A time namespace made by unshare applies
/// only to the children the thread creates later, and the thread creates none and ends: the
/// process is not affected. `listed` (whether /proc/self/ns/time exists) is the answer when
/// the try needs root.
pub(super) fn time_namespaces(listed: bool) -> Entry {
    let tried = "unshare(CLONE_NEWTIME) on a helper thread";
    let outcome = std::thread::Builder::new()
        .name("isoprobe-timens".into())
        .spawn(|| {
            // SAFETY: unshare takes a flag word; CLONE_NEWTIME touches only this thread's
            // namespace for future children.
            result(unsafe { libc::unshare(libc::CLONE_NEWTIME) } as libc::c_long)
        })
        .map_err(|e| format!("cannot start the helper thread: {e}"))
        .and_then(|t| {
            t.join()
                .map_err(|_| "the helper thread panicked".to_string())
        });
    match outcome {
        Ok(Ok(_)) => Entry::yes(format!("{tried} -> ok (the thread made no child)")),
        Ok(Err(Errno::EINVAL)) => Entry::no(format!(
            "{tried} -> EINVAL: the kernel does not know CLONE_NEWTIME or has no CONFIG_TIME_NS"
        )),
        Ok(Err(Errno::EPERM)) if !is_root() => Entry {
            available: listed,
            how: format!(
                "{tried} -> EPERM: needs root; /proc/self/ns/time {}",
                if listed { "exists" } else { "does not exist" }
            ),
            version: None,
        },
        Ok(Err(e)) => Entry::no(format!("{tried} -> {e:?}")),
        Err(why) => Entry::no(format!("{tried}: {why}")),
    }
}

/// `nobody`/`nogroup` on Debian; any unprivileged ids would do.
const NOBODY: libc::c_long = 65534;

/// Exit codes of the child for a failed step before unshare (errnos stay below 200).
const EXIT_SETGROUPS: i32 = 201;
const EXIT_SETRESGID: i32 = 202;
const EXIT_SETRESUID: i32 = 203;

/// A forked child drops to uid/gid 65534 (when root; otherwise it already is unprivileged) and
/// unshares a user namespace, then exits with 0 or the errno.
pub(super) fn unprivileged_userns() -> Entry {
    let root = is_root();
    let who = if root {
        "a forked child as uid/gid 65534"
    } else {
        "a forked child (as this unprivileged user)"
    };
    let tried = format!("unshare(CLONE_NEWUSER) in {who}");
    let sysctls = sysctls();
    // SAFETY: the child runs only `try_userns_in_child`, which makes raw system calls and
    // _exits: async-signal-safe, as a fork of a multi-threaded process requires.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => try_userns_in_child(root),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return Entry::no(format!("{tried}: fork failed: {e:?}{sysctls}")),
    };
    let (available, outcome) = match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, 0)) => (true, "ok".to_string()),
        Ok(WaitStatus::Exited(_, EXIT_SETGROUPS)) => (false, "setgroups failed".into()),
        Ok(WaitStatus::Exited(_, EXIT_SETRESGID)) => (false, "setresgid failed".into()),
        Ok(WaitStatus::Exited(_, EXIT_SETRESUID)) => (false, "setresuid failed".into()),
        Ok(WaitStatus::Exited(_, code)) => (false, format!("{:?}", Errno::from_raw(code))),
        Ok(other) => (false, format!("the child ended oddly: {other:?}")),
        Err(e) => (false, format!("waitpid failed: {e:?}")),
    };
    let how = format!("{tried} -> {outcome}{sysctls}");
    Entry {
        available,
        how,
        version: None,
    }
}

fn try_userns_in_child(drop_to_nobody: bool) -> ! {
    // SAFETY: raw system calls on integers and a NULL list, then _exit; no allocation, no
    // lock, nothing the other (now absent) threads could have held.
    unsafe {
        if drop_to_nobody {
            if libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) != 0 {
                libc::_exit(EXIT_SETGROUPS);
            }
            if libc::syscall(libc::SYS_setresgid, NOBODY, NOBODY, NOBODY) != 0 {
                libc::_exit(EXIT_SETRESGID);
            }
            if libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY) != 0 {
                libc::_exit(EXIT_SETRESUID);
            }
        }
        if libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER as libc::c_long) != 0 {
            libc::_exit(*libc::__errno_location());
        }
        libc::_exit(0)
    }
}

/// The sysctls that gate unprivileged user namespaces, where this kernel has them.
fn sysctls() -> String {
    let mut seen = Vec::new();
    for file in [
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    ] {
        if let Ok(v) = std::fs::read_to_string(file) {
            let name = file.rsplit('/').next().unwrap_or(file);
            seen.push(format!("{name} {}", v.trim()));
        }
    }
    if seen.is_empty() {
        String::new()
    } else {
        format!(" ({})", seen.join(", "))
    }
}
