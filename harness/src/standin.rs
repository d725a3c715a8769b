//! The stand-in host: network, IPC, UTS and mount namespaces isoprobe makes to play the host
//! for one run of a check. The engine runs the check inside it ([`StandIn::within`]): what the
//! check does "on the host" (a sysctl read and written back, IPC objects, the hostname, mounts,
//! a loopback listener) and every container the runtime starts happen there. A sabotaged
//! container that shares "the host's" namespace shares the stand-in's, never the machine's.
//!
//! Nothing of it outlives isoprobe: the namespaces are held only by descriptors, so a SIGKILL
//! at any moment frees them and leaves the machine as it was.
//!
//! The stand-in behaves like the host for what checks judge: its hostname is the machine's,
//! its loopback is up, its mounts are copies of the machine's. They are slaves of the
//! machine's, so that a mount made in the stand-in never propagates back to the machine.
//!
//! No pid namespace: the checks' host-side pids (NSpid, a sleeper) are the machine's view, and
//! nothing a container does to a process can reach beyond isoprobe's own sleeper.

use isoprobe_probes::NsType;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};

/// The namespaces a stand-in makes, in the order they are entered (the mount namespace last:
/// it changes the thread's root and working directory).
pub const KINDS: [NsType; 4] = [NsType::Net, NsType::Ipc, NsType::Uts, NsType::Mnt];

/// Why a stand-in host could not be made or entered.
#[derive(Debug, thiserror::Error)]
#[error("the stand-in host: {step}: {errno} ({})", .errno.desc())]
pub struct StandInError {
    pub step: &'static str,
    pub errno: Errno,
}

fn fail(step: &'static str) -> impl Fn(Errno) -> StandInError {
    move |errno| StandInError { step, errno }
}

/// Namespaces that play the host, held by descriptors.
#[derive(Debug)]
pub struct StandIn {
    namespaces: Vec<(NsType, OwnedFd)>,
}

/// The steps of the holder's set-up, reported back by number when one fails.
const HOLDER_STEPS: [&str; 5] = [
    "make its mounts slaves of the machine's",
    "open a socket to set lo up",
    "read lo's flags",
    "set lo up",
    "set the hostname",
];

impl StandIn {
    /// Makes the namespaces: a short-lived holder process is cloned into them, sets them up,
    /// and waits while their descriptors are opened; then it exits.
    pub fn create() -> Result<StandIn, StandInError> {
        let hostname = nix::unistd::gethostname().map_err(fail("read the machine's hostname"))?;
        let hostname = hostname.as_encoded_bytes().to_vec();
        let (ready_r, ready_w) = pipe()?;
        let (release_r, release_w) = pipe()?;
        let flags = CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWNS;
        let mut stack = vec![0u8; 64 * 1024];
        let ends = Ends {
            ready: ready_w.as_raw_fd(),
            release: release_r.as_raw_fd(),
        };
        // SAFETY: the child runs `hold`, which makes only system calls on memory prepared here
        // (no allocation: the caller may be multi-threaded), then exits.
        let pid = unsafe {
            nix::sched::clone(
                Box::new(|| hold(ends, &hostname)),
                &mut stack,
                flags,
                Some(libc::SIGCHLD),
            )
        }
        .map_err(fail("clone the holder into new namespaces"))?;
        let mut holder = Holder(Some(pid));
        drop((ready_w, release_r));
        let made = read_ready(&ready_r).and_then(|()| {
            KINDS
                .iter()
                .map(|ns| open_ns(pid, *ns).map(|fd| (*ns, fd)))
                .collect::<Result<Vec<_>, _>>()
        });
        // Closing the release pipe lets the holder exit; the descriptors keep the namespaces.
        drop(release_w);
        holder.reap();
        Ok(StandIn { namespaces: made? })
    }

    /// Runs `f` on a thread of its own that has entered the stand-in's namespaces, so that it
    /// and every process it starts live there; the caller's thread is never moved.
    pub fn within<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, StandInError> {
        let cwd = std::env::current_dir().ok();
        std::thread::scope(|s| {
            let thread = s.spawn(|| {
                self.enter()?;
                // Entering a mount namespace moves the thread to its root; the copy has the
                // same tree, so the same directory is there.
                if let Some(dir) = &cwd {
                    let _ = std::env::set_current_dir(dir);
                }
                Ok(f())
            });
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn enter(&self) -> Result<(), StandInError> {
        // The thread shares its root and working directory with the whole process until it
        // asks for its own; the kernel refuses a new mount namespace to a shared one.
        nix::sched::unshare(CloneFlags::CLONE_FS).map_err(fail("unshare CLONE_FS"))?;
        for (ns, fd) in &self.namespaces {
            nix::sched::setns(fd, CloneFlags::from_bits_retain(ns.clone_flag()))
                .map_err(fail(step_of(*ns)))?;
        }
        Ok(())
    }
}

/// For tests of host-side steps: `f` run in a fresh stand-in host, as the engine runs checks.
#[cfg(test)]
pub(crate) fn in_a_stand_in<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    StandIn::create()
        .and_then(|host| host.within(f))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn step_of(ns: NsType) -> &'static str {
    match ns {
        NsType::Net => "enter its network namespace",
        NsType::Ipc => "enter its IPC namespace",
        NsType::Uts => "enter its UTS namespace",
        NsType::Mnt => "enter its mount namespace",
        _ => "enter a namespace",
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StandInError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(fail("pipe2"))
}

fn open_ns(pid: Pid, ns: NsType) -> Result<OwnedFd, StandInError> {
    let path = format!("/proc/{pid}/ns/{}", ns.proc_name());
    nix::fcntl::open(
        path.as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(fail("open a namespace of the holder"))
}

/// The holder's word: one zero byte when it is set up, or the failed step's number and errno.
fn read_ready(fd: &OwnedFd) -> Result<(), StandInError> {
    let mut word = [0u8; 5];
    let n = loop {
        match nix::unistd::read(fd, &mut word) {
            Err(Errno::EINTR) => continue,
            other => break other.map_err(fail("read the holder's word"))?,
        }
    };
    match n {
        1 if word[0] == 0 => Ok(()),
        5 => Err(StandInError {
            step: HOLDER_STEPS
                .get(usize::from(word[0]).wrapping_sub(1))
                .copied()
                .unwrap_or("set itself up"),
            errno: Errno::from_raw(i32::from_ne_bytes([word[1], word[2], word[3], word[4]])),
        }),
        _ => Err(StandInError {
            step: "hear from the holder (it died)",
            errno: Errno::EPIPE,
        }),
    }
}

/// Reaps the holder on every path; kills it first if it is still waiting.
struct Holder(Option<Pid>);

impl Holder {
    fn reap(&mut self) {
        if let Some(pid) = self.0.take() {
            while let Err(Errno::EINTR) = nix::sys::wait::waitpid(pid, None) {}
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        self.reap();
    }
}

/// The holder's ends of the two pipes: the only descriptors it keeps.
#[derive(Clone, Copy)]
struct Ends {
    ready: i32,
    release: i32,
}

/// The holder, inside the new namespaces: set them up, say so, wait for the release (or the
/// parent's death, which closes the pipe too), exit.
fn hold(ends: Ends, hostname: &[u8]) -> isize {
    let Ends { ready, release } = ends;
    // Every descriptor but its own two ends goes: the parent's ends (so the release pipe reads
    // EOF) and whatever other threads had open at the clone, such as the ends of a stand-in
    // made at the same time, whose holder would otherwise never see its release.
    crate::process::close_all_but(&mut [ready, release]);
    let report = |step: u8, errno: i32| {
        let e = errno.to_ne_bytes();
        let word = [step, e[0], e[1], e[2], e[3]];
        // SAFETY: writing a stack buffer to a pipe.
        unsafe { libc::write(ready, word.as_ptr().cast(), word.len()) };
        // SAFETY: ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(1) }
    };
    let last = || Errno::last_raw();
    // SAFETY (all calls below): system calls on stack memory and static C strings.
    unsafe {
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ) != 0
        {
            report(1, last());
        }
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            report(2, last());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut ifr) != 0 {
            report(3, last());
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock, libc::SIOCSIFFLAGS, &ifr) != 0 {
            report(4, last());
        }
        libc::close(sock);
        if libc::sethostname(hostname.as_ptr().cast(), hostname.len()) != 0 {
            report(5, last());
        }
        let ok = [0u8];
        libc::write(ready, ok.as_ptr().cast(), 1);
        // Returns at EOF: the parent closed its end, or died.
        let mut byte = [0u8];
        while libc::read(release, byte.as_mut_ptr().cast(), 1) < 0 && last() == libc::EINTR {}
        libc::_exit(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ns_id(path: &str) -> (u64, u64) {
        let m = std::fs::metadata(path).unwrap();
        (m.dev(), m.ino())
    }

    #[test]
    #[serial_test::serial(machine)]
    fn a_stand_in_has_namespaces_of_its_own_that_behave_like_the_host() {
        crate::require_root!("standin::a_stand_in_has_namespaces_of_its_own");
        let machine_ttl = std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap();
        let machine_host = nix::unistd::gethostname().unwrap();
        let s = StandIn::create().unwrap();
        let inside = s
            .within(|| {
                // Written inside: the machine's value must not move.
                std::fs::write("/proc/sys/net/ipv4/ip_default_ttl", "99\n").unwrap();
                nix::unistd::sethostname("isoprobe-standin-test").unwrap();
                let lo = std::fs::read_to_string("/sys/class/net/lo/flags").ok();
                (
                    ns_id("/proc/thread-self/ns/net"),
                    ns_id("/proc/thread-self/ns/mnt"),
                    std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap(),
                    lo,
                )
            })
            .unwrap();
        assert_ne!(inside.0, ns_id("/proc/self/ns/net"));
        assert_ne!(inside.1, ns_id("/proc/self/ns/mnt"));
        assert_eq!(inside.2.trim(), "99");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap(),
            machine_ttl
        );
        assert_eq!(nix::unistd::gethostname().unwrap(), machine_host);
        // A second stand-in starts from the machine's values again.
        let again = StandIn::create().unwrap();
        let (ttl, host) = again
            .within(|| {
                (
                    std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap(),
                    nix::unistd::gethostname().unwrap(),
                )
            })
            .unwrap();
        assert_eq!(ttl.trim(), "64");
        assert_eq!(host, machine_host);
    }
}
