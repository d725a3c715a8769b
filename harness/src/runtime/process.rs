//! Runtimes that are command-line programs (bubblewrap, util-linux unshare): start the binary
//! with /dev/null as stdin and its stdout/stderr captured, wait for it under a deadline while
//! polling for Ctrl-C, and kill and reap it on every path.
//!
//! Such a runtime stays the parent of the container until it ends (both are told to kill it
//! when they die). To stop one, the container (the runtime's child) is killed first, so that the
//! runtime reaps it and exits, and the runtime itself only if it does not.

use crate::cancel;
use crate::spawner::{ExitKind, SpawnError};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output beyond this is dropped: the agent prints a few KiB.
const MAX_OUTPUT: usize = 4 << 20;

/// `name` on PATH, or in the usual system directories when PATH is minimal (sudo, cron).
pub(crate) fn find_binary(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The first line `bin --version` prints (to stdout or stderr), if it runs.
pub(crate) fn version_line(bin: &Path) -> Option<String> {
    let out = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// How the runtime's process ended and what it printed.
#[derive(Debug)]
pub(crate) struct Finished {
    pub exit: ExitKind,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// User + system time of the runtime and the descendants it reaped (the container).
    pub cpu_time: Duration,
}

/// Called with all that arrived on a side channel so far, and whether it was end of file.
pub(crate) type OnData<'a> = Box<dyn FnMut(&[u8], bool) -> bool + 'a>;

/// A pipe the runtime writes to while it runs (bwrap's `--info-fd`). `on_data` sees all that
/// has arrived so far after every read, and once more at end of file; it returns true when it
/// has what it needs, and the pipe is closed then.
pub(crate) struct SideChannel<'a> {
    pub read: OwnedFd,
    pub on_data: OnData<'a>,
}

/// Starts `cmd` and waits for it. `inherit` are descriptors the runtime gets under their own
/// numbers (its command line names them); the harness's copies are closed once it started.
pub(crate) fn run(
    cmd: &mut Command,
    timeout: Duration,
    inherit: Vec<OwnedFd>,
    side: Option<SideChannel>,
) -> Result<Finished, SpawnError> {
    let started = Instant::now();
    let keep: Vec<RawFd> = inherit.iter().map(AsRawFd::as_raw_fd).collect();
    // The harness's descriptors stay close-on-exec, so that a container started at the same
    // time by another thread never inherits them; only this child clears the flag.
    // SAFETY: fcntl is async-signal-safe and `keep` was allocated before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &keep {
                if libc::fcntl(*fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = PathBuf::from(cmd.get_program());
    let mut child = cmd
        .spawn()
        .map_err(|e| SpawnError::parent("start", &program, e))?;
    let mut guard = Reaper {
        pid: Pid::from_raw(child.id() as i32),
        reaped: false,
    };
    drop(inherit);
    let out: OwnedFd = child.stdout.take().expect("stdout is piped").into();
    let err: OwnedFd = child.stderr.take().expect("stderr is piped").into();
    let io = collect(&guard, out, err, side, started + timeout, timeout);
    let (status, rusage) = guard.reap();
    let (stdout, stderr) = io?;
    Ok(Finished {
        exit: decode_status(status),
        stdout,
        stderr,
        cpu_time: timeval(rusage.ru_utime) + timeval(rusage.ru_stime),
    })
}

/// Reads stdout, stderr and the side channel until the runtime closed them, killing it when
/// the deadline passes or the user interrupts.
fn collect(
    child: &Reaper,
    out: OwnedFd,
    err: OwnedFd,
    side: Option<SideChannel>,
    deadline: Instant,
    timeout: Duration,
) -> Result<(Vec<u8>, Vec<u8>), SpawnError> {
    let (side_fd, mut on_data) = match side {
        Some(s) => (Some(fs::File::from(s.read)), Some(s.on_data)),
        None => (None, None),
    };
    let mut files: [Option<fs::File>; 3] = [Some(out.into()), Some(err.into()), side_fd];
    let mut bufs: [Vec<u8>; 3] = Default::default();
    loop {
        if cancel::requested() {
            child.kill();
            return Err(SpawnError::Interrupted);
        }
        let now = Instant::now();
        if now >= deadline {
            child.kill();
            return Err(SpawnError::Timeout(timeout));
        }
        let open: Vec<usize> = (0..3).filter(|i| files[*i].is_some()).collect();
        if open.is_empty() {
            return Ok((std::mem::take(&mut bufs[0]), std::mem::take(&mut bufs[1])));
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|i| PollFd::new(files[*i].as_ref().unwrap().as_fd(), PollFlags::POLLIN))
            .collect();
        let wait = (deadline - now).min(Duration::from_millis(100));
        match poll(
            &mut fds,
            PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(SpawnError::parent("poll", "-", e.into())),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (slot, is_ready) in open.into_iter().zip(ready) {
            if !is_ready {
                continue;
            }
            let mut chunk = [0u8; 8192];
            let eof = match files[slot].as_mut().unwrap().read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    if bufs[slot].len() < MAX_OUTPUT {
                        bufs[slot].extend_from_slice(&chunk[..n]);
                    }
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SpawnError::parent("read the runtime's output", "-", e)),
            };
            let done = match (slot, on_data.as_mut()) {
                (2, Some(f)) => f(&bufs[2], eof) || eof,
                _ => eof,
            };
            if done {
                files[slot] = None;
            }
        }
    }
}

/// Kills and reaps the runtime on every path that does not reap it normally.
struct Reaper {
    pid: Pid,
    reaped: bool,
}

/// How long a runtime gets to reap its killed container and exit by itself.
const REAP_GRACE: Duration = Duration::from_secs(2);

impl Reaper {
    /// Kills the container first, then the runtime if it does not exit by itself. The
    /// runtime is the container's parent: killed first, it would leave the container (killed
    /// by its parent-death signal) for the host's init to reap, which on this project's
    /// machines takes a while.
    fn kill(&self) {
        let deadline = Instant::now() + REAP_GRACE;
        while Instant::now() < deadline {
            // Again on every round: a runtime still setting up forks its container later.
            for child in children(self.pid) {
                let _ = kill(child, Signal::SIGKILL);
            }
            // SAFETY: a zeroed siginfo_t is a valid value; waitid fills it.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // WNOWAIT: only look, so that `reap` still gets the status and resource usage.
            // SAFETY: plain syscall with a valid out-pointer.
            let rc = unsafe {
                libc::waitid(
                    libc::P_PID,
                    self.pid.as_raw() as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                )
            };
            // SAFETY: si_pid is valid for the CLD_* codes waitid fills in.
            if rc < 0 || unsafe { info.si_pid() } != 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = kill(self.pid, Signal::SIGKILL);
    }

    fn reap(&mut self) -> (libc::c_int, libc::rusage) {
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid value; wait4 fills it.
        let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: plain syscall with valid out-pointers.
            let rc = unsafe { libc::wait4(self.pid.as_raw(), &mut status, 0, &mut rusage) };
            if rc >= 0 || Errno::last() != Errno::EINTR {
                break;
            }
        }
        self.reaped = true;
        (status, rusage)
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            self.reap();
        }
    }
}

/// The children of a single-threaded process (bwrap and unshare are).
fn children(pid: Pid) -> Vec<Pid> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .map(Pid::from_raw)
        .collect()
}

fn decode_status(status: libc::c_int) -> ExitKind {
    if libc::WIFSIGNALED(status) {
        ExitKind::Signal(libc::WTERMSIG(status))
    } else {
        ExitKind::Code(libc::WEXITSTATUS(status))
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// A pipe whose both ends are close-on-exec: (read, write).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SpawnError::parent("pipe2", "-", e.into()))
}

/// `NSpid` of a host process, if it is still there.
pub(crate) fn read_nspid(pid: i32) -> Option<Vec<i32>> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| isoprobe_probes::parse::parse_nspid(&t).ok().flatten())
}

/// What the runtimes' root-only tests share: a real run, and a timeout that must leave no
/// agent behind.
#[cfg(test)]
pub(crate) mod live {
    use crate::runtime::{Isolation, Job, RunError, RunOutcome, Runtime};
    use crate::spawner::SpawnError;
    use isoprobe_fixtures::{TestRootfs, AGENT_IN_ROOTFS};
    use isoprobe_probes::AgentArgs;
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};

    /// Why the live tests cannot run here, if they cannot.
    pub fn unmet(binary: &str) -> Option<String> {
        if !nix::unistd::geteuid().is_root() {
            return Some("needs root".into());
        }
        super::find_binary(binary)
            .is_none()
            .then(|| format!("{binary} is not installed"))
    }

    pub fn run(rt: &dyn Runtime, iso: &Isolation) -> RunOutcome {
        let rootfs = TestRootfs::build(crate::agent_binary::AGENT, None).unwrap();
        rt.run(&Job {
            isolation: iso,
            rootfs: rootfs.path(),
            agent: AGENT_IN_ROOTFS,
            args: AgentArgs::default(),
            timeout: Duration::from_secs(20),
        })
        .unwrap_or_else(|e| panic!("{}: {e}", rt.name()))
    }

    /// A lingering agent is killed at the deadline, and no process runs its binary afterwards.
    pub fn timeout_leaves_nothing(rt: &dyn Runtime) {
        let rootfs = TestRootfs::build(crate::agent_binary::AGENT, None).unwrap();
        let agent = std::fs::metadata(rootfs.agent_host_path()).unwrap();
        let started = Instant::now();
        let r = rt.run(&Job {
            isolation: &Isolation::base(),
            rootfs: rootfs.path(),
            agent: AGENT_IN_ROOTFS,
            args: AgentArgs {
                linger_ms: 30_000,
                ..AgentArgs::default()
            },
            timeout: Duration::from_millis(300),
        });
        assert!(
            matches!(r, Err(RunError::Spawn(SpawnError::Timeout(_)))),
            "{}: {r:?}",
            rt.name()
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        // The container is killed through its parent's death signal: give it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left: Vec<String> = std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter(|e| {
                    std::fs::metadata(e.path().join("exe"))
                        .is_ok_and(|m| (m.dev(), m.ino()) == (agent.dev(), agent.ino()))
                })
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: agent processes left: {left:?}",
                rt.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_exit() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let f = run(&mut cmd, Duration::from_secs(10), vec![], None).unwrap();
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr, b"err\n");
        assert_eq!(f.exit, ExitKind::Code(3));
    }

    #[test]
    fn a_timeout_kills_and_reaps() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "exec sleep 30"]);
        let t = Instant::now();
        match run(&mut cmd, Duration::from_millis(200), vec![], None) {
            Err(SpawnError::Timeout(_)) => {}
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn an_inherited_descriptor_feeds_the_side_channel() {
        let (r, w) = pipe().unwrap();
        let fd = w.as_raw_fd();
        let mut seen = Vec::new();
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", &format!("printf hello >&{fd}; echo done")]);
        let side = SideChannel {
            read: r,
            on_data: Box::new(|b: &[u8], eof| {
                if eof {
                    seen = b.to_vec();
                }
                eof
            }),
        };
        let f = run(&mut cmd, Duration::from_secs(10), vec![w], Some(side)).unwrap();
        assert_eq!(f.stdout, b"done\n");
        assert_eq!(seen, b"hello");
    }

    #[test]
    fn a_missing_binary_is_a_start_error() {
        let mut cmd = Command::new("/nonexistent/isoprobe-nothing");
        let e = run(&mut cmd, Duration::from_secs(1), vec![], None).unwrap_err();
        assert!(e.to_string().contains("start"), "{e}");
        assert!(find_binary("isoprobe-surely-not-a-binary").is_none());
        assert!(find_binary("sh").is_some());
    }
}
