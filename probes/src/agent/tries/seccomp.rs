//! `seccomp`: makes each named system call and reports how it ended, plus the `Seccomp:` lines
//! of /proc/self/status. Every call is made with arguments that fail after the permission
//! check (and after any filter, which runs before the call), so that nothing changes whether
//! the call is allowed or not: an invalid command, a null pointer, invalid flags, a descriptor
//! of -1, a path that does not exist. The host knows which calls a filter should deny; the
//! agent only reports.
//!
//! Calls of another ABI (x32, i386) are made in a forked child, since a filter's answer to
//! those is to kill the caller.

use crate::contract::{CallError, Called, Returned, SeccompArgs, SeccompOutcome, SyscallTried};
use crate::parse::parse_seccomp;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

pub fn run(args: &SeccompArgs) -> SeccompOutcome {
    let (mode, filters) = status();
    SeccompOutcome {
        mode,
        filters,
        calls: args
            .calls
            .iter()
            .map(|name| SyscallTried {
                name: name.clone(),
                result: call(name),
            })
            .collect(),
    }
}

fn status() -> (Called<Option<u32>>, Called<Option<u32>>) {
    let parsed = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| CallError::from_io(&e))
        .and_then(|t| parse_seccomp(&t).map_err(|e| CallError::text(e.to_string())));
    match parsed {
        Ok((m, f)) => (Called::Done(m), Called::Done(f)),
        Err(e) => (Called::Failed(e.clone()), Called::Failed(e)),
    }
}

/// The calls this agent knows, by the names the host asks for.
#[cfg(test)]
const KNOWN: &[&str] = &[
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "mount",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "unshare",
    "clone",
    "clone3",
    "x32:getpid",
    "i386:getpid",
    "getpid",
    "uname",
    "fork",
    "thread",
    "unshare-newuts",
];

type Sys = libc::c_long;

/// A path that exists in no rootfs isoprobe makes.
const NO_SUCH_PATH: &std::ffi::CStr = c"/isoprobe-no-such-dir";
const NO_SUCH_MODULE: &std::ffi::CStr = c"isoprobe_no_such_module";

fn call(name: &str) -> Called<Returned> {
    let newuser = libc::CLONE_NEWUSER as Sys;
    let path = NO_SUCH_PATH.as_ptr() as Sys;
    match name {
        // An invalid command: EOPNOTSUPP.
        "keyctl" => raw(libc::SYS_keyctl, [-1, 0, 0, 0, 0]),
        // A null key type: EFAULT.
        "add_key" => raw(libc::SYS_add_key, [0, 0, 0, 0, 0]),
        "request_key" => raw(libc::SYS_request_key, [0, 0, 0, 0, 0]),
        // An unknown command (a known one with zeroed attributes would create a map): EINVAL.
        "bpf" => raw(libc::SYS_bpf, [i32::MAX as Sys, 0, 0, 0, 0]),
        // A null attribute: EFAULT.
        "perf_event_open" => raw(libc::SYS_perf_event_open, [0, 0, -1, -1, 0]),
        // Every flag bit: EINVAL.
        "userfaultfd" => raw(libc::SYS_userfaultfd, [!0, 0, 0, 0, 0]),
        // Too many segments and an unknown architecture: EINVAL (0 segments would unload the
        // loaded kexec image).
        "kexec_load" => raw(libc::SYS_kexec_load, [0, 1000, 0, 0xFFFF_0000, 0]),
        // Every flag bit (one of them is "unload"): EINVAL.
        "kexec_file_load" => raw(libc::SYS_kexec_file_load, [-1, -1, 0, 0, !0]),
        // An image shorter than an ELF header: ENOEXEC.
        "init_module" => raw(libc::SYS_init_module, [0, 0, 0, 0, 0]),
        "finit_module" => raw(libc::SYS_finit_module, [-1, 0, 0, 0, 0]),
        "delete_module" => raw(
            libc::SYS_delete_module,
            [
                NO_SUCH_MODULE.as_ptr() as Sys,
                libc::O_NONBLOCK as Sys,
                0,
                0,
                0,
            ],
        ),
        "open_by_handle_at" => raw(libc::SYS_open_by_handle_at, [-1, 0, 0, 0, 0]),
        // A target that does not exist: ENOENT.
        "mount" => raw(libc::SYS_mount, [0, path, 0, 0, 0]),
        // A null parameter block: EFAULT.
        "io_uring_setup" => raw(libc::SYS_io_uring_setup, [1, 0, 0, 0, 0]),
        "io_uring_enter" => raw(libc::SYS_io_uring_enter, [-1, 0, 0, 0, 0]),
        "io_uring_register" => raw(libc::SYS_io_uring_register, [-1, 0, 0, 0, 0]),
        // A new user namespace with a flag unshare does not take: EINVAL.
        "unshare" => raw(
            libc::SYS_unshare,
            [newuser | libc::CLONE_PARENT as Sys, 0, 0, 0, 0],
        ),
        // A new user namespace sharing the file system information: EINVAL.
        "clone" => raw(
            libc::SYS_clone,
            [
                newuser | (libc::CLONE_FS | libc::SIGCHLD) as Sys,
                0,
                0,
                0,
                0,
            ],
        ),
        // A null argument block: EINVAL.
        "clone3" => raw(libc::SYS_clone3, [0, 0, 0, 0, 0]),
        "x32:getpid" => in_child(x32_getpid),
        "i386:getpid" => in_child(i386_getpid),
        "getpid" => raw(libc::SYS_getpid, [0; 5]),
        "uname" => {
            let mut u = std::mem::MaybeUninit::<libc::utsname>::uninit();
            // SAFETY: uname fills the buffer it is given.
            let rc = unsafe { libc::uname(u.as_mut_ptr()) };
            returned(rc as i64)
        }
        // libc's fork: clone without CLONE_NEWUSER.
        "fork" => in_child(|| 0),
        // A thread: libc may try clone3 first and falls back to clone on ENOSYS.
        "thread" => match std::thread::Builder::new().spawn(|| 7i64) {
            Ok(t) => t.join().map_or_else(
                |_| Called::Failed(CallError::text("the thread panicked")),
                |v| Called::Done(Returned::Value(v)),
            ),
            Err(e) => Called::Failed(CallError::from_io(&e)),
        },
        // Allowed (no new user namespace) and failing on the extra flag: EINVAL.
        "unshare-newuts" => raw(
            libc::SYS_unshare,
            [(libc::CLONE_NEWUTS | libc::CLONE_PARENT) as Sys, 0, 0, 0, 0],
        ),
        _ => Called::Failed(CallError::text(format!(
            "the agent knows no call named {name:?}"
        ))),
    }
}

fn returned(rc: i64) -> Called<Returned> {
    if rc < 0 {
        Called::Failed(CallError::from_errno(Errno::last()))
    } else {
        Called::Done(Returned::Value(rc))
    }
}

fn raw(nr: Sys, a: [Sys; 5]) -> Called<Returned> {
    // SAFETY: every argument list above is invalid in a way the kernel checks before it acts;
    // pointers are null or point to static strings.
    let rc = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4]) };
    if rc == 0 && nr == libc::SYS_clone {
        // A clone that worked after all: the child leaves at once.
        // SAFETY: the child only exits.
        unsafe { libc::_exit(0) }
    }
    let r = returned(rc);
    if rc > 0 && nr == libc::SYS_clone {
        let _ = waitpid(nix::unistd::Pid::from_raw(rc as i32), None);
    }
    r
}

/// Runs `f` in a forked child, which exits with 0 when it worked and with the errno when it
/// failed; a signal that killed the child is reported as such.
fn in_child(f: fn() -> i64) -> Called<Returned> {
    // SAFETY: the child only makes system calls, then exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let rc = f();
            let code = if rc < 0 { Errno::last_raw() } else { 0 };
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Called::Done(Returned::Value(0)),
            Ok(WaitStatus::Exited(_, e)) => {
                Called::Failed(CallError::from_errno(Errno::from_raw(e)))
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                Called::Done(Returned::KilledBy(sig.as_str().to_string()))
            }
            Ok(other) => Called::Failed(CallError::text(format!("child ended as {other:?}"))),
            Err(e) => Called::Failed(CallError::from_errno(e).at("waitpid")),
        },
        Err(e) => Called::Failed(CallError::from_errno(e).at("fork")),
    }
}

/// getpid through the x32 ABI: the x86_64 number with `__X32_SYSCALL_BIT`.
fn x32_getpid() -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: getpid takes no arguments.
        unsafe { libc::syscall(libc::SYS_getpid | 0x4000_0000) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Errno::set_raw(libc::ENOSYS);
        -1
    }
}

/// getpid (20) through the i386 ABI (`int 0x80`).
fn i386_getpid() -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        let rax: i64;
        // SAFETY: a system call without pointers; the i386 entry preserves the registers it
        // does not return in, and r8-r11 are marked clobbered to be safe.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inlateout("rax") 20i64 => rax,
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                options(nostack)
            );
        }
        if (-4095..0).contains(&rax) {
            Errno::set_raw(-rax as i32);
            -1
        } else {
            rax
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Errno::set_raw(libc::ENOSYS);
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tried(names: &[&str]) -> SeccompOutcome {
        run(&SeccompArgs {
            calls: names.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn the_allowed_calls_work_here() {
        let v = tried(&["getpid", "uname", "fork", "thread"]);
        for c in &v.calls {
            assert!(c.result.done().is_some(), "{c:?}");
        }
        assert_eq!(v.calls[3].result, Called::Done(Returned::Value(7)));
        assert!(v.mode.done().is_some(), "{v:?}");
    }

    #[test]
    fn every_known_call_fails_or_returns_and_changes_nothing() {
        // Outside a container, unfiltered (or under the test runner's own filter): each denied
        // candidate must fail, whatever the privileges.
        let denied: Vec<&str> = KNOWN
            .iter()
            .copied()
            .filter(|n| {
                ![
                    "getpid",
                    "uname",
                    "fork",
                    "thread",
                    "x32:getpid",
                    "i386:getpid",
                ]
                .contains(n)
            })
            .collect();
        let v = tried(&denied);
        for c in &v.calls {
            assert!(c.result.errno().is_some(), "{} did not fail: {c:?}", c.name);
        }
        let mount = v.calls.iter().find(|c| c.name == "mount").unwrap();
        assert!(
            matches!(mount.result.errno(), Some("ENOENT" | "EPERM")),
            "{mount:?}"
        );
        let unknown = tried(&["frobnicate"]);
        assert!(unknown.calls[0].result.failed().unwrap().errno.is_none());
    }
}
