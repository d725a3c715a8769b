//! `default_caps`: the capability sets, then each capability the default set drops tried by a
//! call that needs it, and the kept ones the check names shown at work.
//!
//! Every dropped-capability call is one the kernel refuses with EPERM (EACCES for a lower nice
//! value) at its capability check, and that fails after that check with the capability held:
//! bad magic, a bad descriptor, an empty handle, a length out of range, a null pointer. Order
//! of checks, as the kernel has it (5.10 to 6.18):
//! - `finit_module(-1)`: `may_init_module` (CAP_SYS_MODULE) before the flags and the fd (EBADF).
//! - `ioctl(FIBMAP, NULL)`: `ioctl_fibmap` asks CAP_SYS_RAWIO before reading its argument
//!   (EFAULT).
//! - `adjtimex(ADJ_TICK, tick 0)`: `timekeeping_validate_timex` asks CAP_SYS_TIME for any mode
//!   before it checks the tick's range (EINVAL); nothing is set either way.
//! - `reboot(0, 0, 0)`: CAP_SYS_BOOT is asked before the magic numbers (EINVAL).
//! - `PTRACE_SEIZE` of a child of another uid: `__ptrace_may_access` lets a caller of another
//!   uid in only with CAP_SYS_PTRACE; with it the child is traced, then killed with the rest.
//! - `open_by_handle_at(AT_FDCWD, an 8-byte handle of type FILEID_INVALID)`: up to 6.x the
//!   kernel asks CAP_DAC_READ_SEARCH first; newer ones first check the handle's size and type
//!   (an empty one gives EINVAL there, whatever the capabilities) and the anchor, so the handle
//!   is well formed; past the check it decodes to nothing (ESTALE). A descriptor it gave would be
//!   read-only and closed at once.
//! - `syslog(SYSLOG_ACTION_CONSOLE_LEVEL, NULL, 0)`: an action other than reading the buffer
//!   needs CAP_SYSLOG whatever `dmesg_restrict` says; level 0 is out of range (EINVAL).
//! - `setpriority` one below its own nice value: EACCES without CAP_SYS_NICE; with it the
//!   agent's own priority rises and is put back.
//! - `sethostname(NULL, -1)`: CAP_SYS_ADMIN over the uts namespace is asked before the length
//!   (EINVAL).
//! - `SIOCSIFFLAGS` on `lo` with the flags it already has: `dev_ioctl` asks CAP_NET_ADMIN
//!   before it looks at the request, and writing the same flags changes nothing.
//!
//! The kept ones: chown of a file it made to another uid (CAP_CHOWN), signal 0 to its child of
//! another uid (CAP_KILL), bind to a port below 1024 in its own network namespace
//! (CAP_NET_BIND_SERVICE).

use crate::contract::{
    unit, CallError, Called, CapAttempt, CapSetsSeen, DefaultCapsArgs, DefaultCapsOutcome, Done,
};
use crate::parse::parse_cap_sets;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, OwnedFd};

/// A port below 1024 that nothing in a fresh network namespace holds.
const LOW_PORT: u16 = 1;
/// `FIBMAP` of `<linux/fs.h>`.
const FIBMAP: libc::c_ulong = 1;
/// `ADJ_TICK` of `<linux/timex.h>`.
const ADJ_TICK: libc::c_uint = 0x4000;
/// `SYSLOG_ACTION_CONSOLE_LEVEL`.
const CONSOLE_LEVEL: libc::c_int = 8;

pub fn run(args: &DefaultCapsArgs) -> DefaultCapsOutcome {
    let sets = Called::from_io(std::fs::read_to_string("/proc/self/status")).and_then_text(|t| {
        parse_cap_sets(&t)
            .map(|c| CapSetsSeen {
                effective: hex(c.effective),
                bounding: hex(c.bounding),
                permitted: hex(c.permitted),
                inheritable: hex(c.inheritable),
                ambient: c.ambient.map(hex),
            })
            .map_err(|e| e.to_string())
    });
    let child = OtherUid::start(args.other_uid);
    let on_child = |f: &dyn Fn(i32) -> Called<Done>| match &child {
        Ok(c) => f(c.pid),
        Err(e) => Called::Failed(e.clone()),
    };
    let attempts = vec![
        attempt("CAP_SYS_MODULE", "finit_module(-1)", finit_module()),
        attempt("CAP_SYS_RAWIO", "ioctl(FIBMAP, NULL)", fibmap()),
        attempt("CAP_SYS_TIME", "adjtimex(ADJ_TICK, tick 0)", adjtimex()),
        attempt("CAP_SYS_BOOT", "reboot with bad magic", reboot()),
        attempt(
            "CAP_SYS_PTRACE",
            "PTRACE_SEIZE of a child of another uid",
            on_child(&ptrace_seize),
        ),
        attempt(
            "CAP_DAC_READ_SEARCH",
            "open_by_handle_at with a bogus handle",
            open_by_handle(),
        ),
        attempt(
            "CAP_SYSLOG",
            "syslog(SYSLOG_ACTION_CONSOLE_LEVEL, level 0)",
            syslog(),
        ),
        attempt("CAP_SYS_NICE", "setpriority one below its own", nicer()),
        attempt("CAP_SYS_ADMIN", "sethostname(NULL, -1)", sethostname()),
        attempt(
            "CAP_NET_ADMIN",
            "SIOCSIFFLAGS on lo with its own flags",
            lo_flags(),
        ),
        attempt(
            "CAP_CHOWN",
            "chown of its own file to another uid",
            chown(args.other_uid),
        ),
        attempt(
            "CAP_KILL",
            "signal 0 to a child of another uid",
            on_child(&|pid| {
                unit(nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    None,
                ))
            }),
        ),
        attempt(
            "CAP_NET_BIND_SERVICE",
            &format!("bind to port {LOW_PORT}"),
            bind_low_port(),
        ),
    ];
    drop(child);
    DefaultCapsOutcome {
        sets,
        cap_last_cap: read_number("/proc/sys/kernel/cap_last_cap"),
        unprivileged_port_start: read_number("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
        attempts,
    }
}

fn hex(set: u64) -> String {
    format!("{set:016x}")
}

fn attempt(cap: &str, call: &str, result: Called<Done>) -> CapAttempt {
    CapAttempt {
        cap: cap.into(),
        call: call.into(),
        result,
    }
}

trait AndThenText<T> {
    fn and_then_text<U>(self, f: impl FnOnce(T) -> Result<U, String>) -> Called<U>;
}

impl<T> AndThenText<T> for Called<T> {
    fn and_then_text<U>(self, f: impl FnOnce(T) -> Result<U, String>) -> Called<U> {
        match self {
            Called::Done(v) => {
                f(v).map_or_else(|e| Called::Failed(CallError::text(e)), Called::Done)
            }
            Called::Failed(e) => Called::Failed(e),
        }
    }
}

fn read_number(path: &str) -> Called<u32> {
    Called::from_io(std::fs::read_to_string(path)).and_then_text(|t| {
        t.trim()
            .parse()
            .map_err(|_| format!("{path}: {:?} is not a number", t.trim()))
    })
}

/// A raw system call's result: `-1` is the errno.
fn sys(r: libc::c_long) -> Called<Done> {
    unit(if r < 0 { Err(Errno::last()) } else { Ok(()) })
}

fn finit_module() -> Called<Done> {
    // SAFETY: a bad descriptor and an empty argument string: nothing is read from memory
    // but the string.
    sys(unsafe { libc::syscall(libc::SYS_finit_module, -1, c"".as_ptr(), 0) })
}

fn fibmap() -> Called<Done> {
    let exe = match std::fs::File::open("/proc/self/exe") {
        Ok(f) => f,
        Err(e) => return Called::Failed(CallError::from_io(&e).at("open /proc/self/exe")),
    };
    // SAFETY: a null argument pointer; the kernel's copy from it fails with EFAULT.
    sys(unsafe { libc::ioctl(exe.as_raw_fd(), FIBMAP as _, std::ptr::null_mut::<i32>()) } as _)
}

fn adjtimex() -> Called<Done> {
    // SAFETY: timex is plain old data; all-zero is a valid value.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    t.modes = ADJ_TICK;
    t.tick = 0;
    // SAFETY: `t` is a valid timex the call reads (and, on success, writes).
    sys(unsafe { libc::adjtimex(&mut t) } as _)
}

fn reboot() -> Called<Done> {
    // SAFETY: magic numbers the kernel refuses; the pointer is null and never read.
    sys(unsafe { libc::syscall(libc::SYS_reboot, 0, 0, 0, std::ptr::null::<libc::c_void>()) })
}

fn ptrace_seize(pid: i32) -> Called<Done> {
    // SAFETY: a ptrace request on our own child with null addr/data; the child is killed and
    // reaped afterwards whether the seize worked or not.
    sys(unsafe {
        libc::ptrace(
            libc::PTRACE_SEIZE,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    })
}

fn open_by_handle() -> Called<Done> {
    // struct file_handle: handle_bytes, handle_type (FILEID_INVALID), then 8 zero bytes.
    let mut handle = [8u32, 0xff, 0, 0];
    // SAFETY: `handle` is a valid file_handle of 8 bytes; a descriptor it returned would be
    // closed at once.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            libc::AT_FDCWD,
            handle.as_mut_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd >= 0 {
        // SAFETY: the descriptor is ours.
        unsafe { libc::close(fd as i32) };
    }
    sys(fd)
}

fn syslog() -> Called<Done> {
    // SAFETY: a null buffer of length 0, never read.
    sys(unsafe { libc::klogctl(CONSOLE_LEVEL, std::ptr::null_mut(), 0) } as _)
}

fn nicer() -> Called<Done> {
    Errno::clear();
    // SAFETY: plain calls on the agent's own process.
    let now = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    if now == -1 && Errno::last() != Errno::UnknownErrno {
        return Called::Failed(CallError::from_errno(Errno::last()).at("getpriority"));
    }
    if now <= -20 {
        return Called::Failed(CallError::text(format!(
            "its nice value is already {now}: there is none below"
        )));
    }
    // SAFETY: as above.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, now - 1) };
    let result = sys(r as _);
    if r == 0 {
        // SAFETY: as above; the capability that allowed the change allows putting it back.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, now) };
    }
    result
}

fn sethostname() -> Called<Done> {
    // SAFETY: length -1 is refused before the null name is read.
    sys(unsafe { libc::syscall(libc::SYS_sethostname, std::ptr::null::<u8>(), -1i64) })
}

fn lo_flags() -> Called<Done> {
    let sock = match socket(libc::SOCK_DGRAM) {
        Ok(s) => s,
        Err(e) => return Called::Failed(CallError::from_errno(e).at("socket")),
    };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the ioctls read and write `req`, a valid ifreq naming `lo`.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Called::Failed(CallError::from_errno(Errno::last()).at("SIOCGIFFLAGS"));
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Called::Failed(CallError::from_errno(Errno::last()).at("SIOCSIFFLAGS"));
        }
    }
    Called::Done(Done::Ok)
}

fn socket(kind: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: a plain socket call; the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn chown(uid: u32) -> Called<Done> {
    let path = format!("/tmp/isoprobe-chown-{}", std::process::id());
    if let Err(e) = std::fs::write(&path, b"") {
        return Called::Failed(CallError::from_io(&e).at("create a file in /tmp"));
    }
    let r = std::os::unix::fs::chown(&path, Some(uid), Some(uid));
    let _ = std::fs::remove_file(&path);
    Called::from_io(r.map(|()| Done::Ok))
}

fn bind_low_port() -> Called<Done> {
    let sock = match socket(libc::SOCK_STREAM) {
        Ok(s) => s,
        Err(e) => return Called::Failed(CallError::from_errno(e).at("socket")),
    };
    // SAFETY: sockaddr_in is plain old data; all-zero is INADDR_ANY.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = LOW_PORT.to_be();
    // SAFETY: `addr` is a valid sockaddr_in of the length given.
    sys(unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    } as _)
}

/// A child that has switched to another uid and waits to be killed.
struct OtherUid {
    pid: i32,
}

impl OtherUid {
    fn start(uid: u32) -> Result<OtherUid, CallError> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| CallError::from_errno(e).at("pipe for the other-uid child"))?;
        // SAFETY: the child makes system calls only, then pauses until it is killed.
        match unsafe { nix::unistd::fork() } {
            Err(e) => Err(CallError::from_errno(e).at("fork the other-uid child")),
            Ok(nix::unistd::ForkResult::Child) => unsafe {
                drop(r);
                // Raw calls: the child of a possibly threaded process only makes system calls.
                if libc::syscall(libc::SYS_setresgid, uid, uid, uid) == 0
                    && libc::syscall(libc::SYS_setresuid, uid, uid, uid) == 0
                {
                    libc::write(w.as_raw_fd(), b"u".as_ptr().cast(), 1);
                    loop {
                        libc::pause();
                    }
                }
                libc::_exit(1)
            },
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                drop(w);
                let me = OtherUid {
                    pid: child.as_raw(),
                };
                let mut b = [0u8; 1];
                match nix::unistd::read(&r, &mut b) {
                    Ok(1) => Ok(me),
                    _ => Err(
                        CallError::text(format!("the child could not switch to uid {uid}"))
                            .at("start the other-uid child"),
                    ),
                }
            }
        }
    }
}

impl Drop for OtherUid {
    fn drop(&mut self) {
        // SAFETY: our own child, killed and reaped.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), libc::__WALL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_trimmed_and_bad_text_is_a_failure_not_a_zero() {
        let dir = std::env::temp_dir().join(format!("isoprobe-capnum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        let bad = dir.join("bad");
        std::fs::write(&good, "40\n").unwrap();
        std::fs::write(&bad, "forty\n").unwrap();
        assert_eq!(read_number(&good.to_string_lossy()), Called::Done(40));
        let e = read_number(&bad.to_string_lossy());
        assert!(
            e.failed().is_some_and(|e| e.error.contains("not a number")),
            "{e:?}"
        );
        assert_eq!(read_number("/nonexistent/isoprobe").errno(), Some("ENOENT"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_raw_call_keeps_its_errno() {
        // SAFETY: close of a descriptor that cannot be open.
        let r = sys(unsafe { libc::close(-1) } as _);
        assert_eq!(r.errno(), Some("EBADF"));
        assert_eq!(sys(0), Called::Done(Done::Ok));
    }
}
