//! Runtimes that are command-line programs (bubblewrap, util-linux unshare): start the binary
//! with /dev/null as stdin and its stdout/stderr captured, wait for it under a deadline while
//! polling for Ctrl-C, and kill and reap it on every path.
//!
//! Such a runtime stays the parent of the container until it ends (both are told to kill it
//! when they die). To stop one, the container (the runtime's child) is killed first, so that the
//! runtime reaps it and exits, and the runtime itself only if it does not.

use super::Isolation;
use crate::spawner::supervise::{self, ChildGuard};
use crate::spawner::SpawnError;
use crate::vocabulary::ExitKind;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) use supervise::{pipe, read_nspid};

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

/// A runtime's binary: looked up on every use, its version read once.
#[derive(Debug)]
pub(crate) struct Binary {
    name: &'static str,
    /// What to install when it is missing (`apt-get install bubblewrap`).
    install_hint: &'static str,
    version: OnceLock<String>,
}

impl Binary {
    pub(crate) const fn new(name: &'static str, install_hint: &'static str) -> Self {
        Binary {
            name,
            install_hint,
            version: OnceLock::new(),
        }
    }

    /// Its path, or why it is not installed.
    fn path(&self) -> Result<PathBuf, String> {
        find_binary(self.name)
            .ok_or_else(|| format!("{} is not installed ({})", self.name, self.install_hint))
    }

    /// For [`Runtime::available`](super::Runtime::available).
    pub(crate) fn available(&self) -> Result<(), String> {
        self.path().map(|_| ())
    }

    /// The last word of the first line `--version` prints ("bubblewrap 0.8.0", "unshare from
    /// util-linux 2.38.1"), or "not installed".
    pub(crate) fn version(&self) -> String {
        self.version
            .get_or_init(|| {
                find_binary(self.name)
                    .and_then(|b| version_line(&b))
                    .map(|l| l.rsplit(' ').next().unwrap_or(&l).to_string())
                    .unwrap_or_else(|| "not installed".into())
            })
            .clone()
    }

    /// The binary to run a job with, unless it is not installed or the runtime cannot build
    /// the job's isolation (`unsupported`, from [`Runtime::unsupported`](super::Runtime::unsupported)).
    pub(crate) fn for_job(&self, unsupported: Option<String>) -> Result<PathBuf, SpawnError> {
        let bin = self.path().map_err(SpawnError::InvalidSpec)?;
        if let Some(why) = unsupported {
            return Err(SpawnError::InvalidSpec(format!(
                "{} cannot run this setup: {why}",
                self.name
            )));
        }
        Ok(bin)
    }
}

/// All of `reasons` in one, or None when there are none (for `Runtime::unsupported`).
pub(crate) fn joined(reasons: Vec<String>) -> Option<String> {
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// What a runtime without cgroup support (`who`: "bwrap") cannot build of `iso`: limits, or
/// a cgroup of its own.
pub(crate) fn cgroup_reasons(who: &str, iso: &Isolation) -> Vec<String> {
    let mut r = Vec::new();
    if iso.cpu_quota.is_some() {
        r.push(format!("{who} cannot set a CPU quota"));
    }
    if iso.pids_max.is_some() {
        r.push(format!("{who} cannot set a pids limit"));
    }
    if iso.memory_max.is_some() {
        r.push(format!("{who} cannot set a memory limit"));
    }
    if iso.own_cgroup
        && iso.cpu_quota.is_none()
        && iso.pids_max.is_none()
        && iso.memory_max.is_none()
    {
        r.push(format!(
            "{who} cannot put the container in a cgroup of its own"
        ));
    }
    r
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
    let mut guard = ChildGuard::new(Pid::from_raw(child.id() as i32), kill_container_first);
    drop(inherit);
    let out: OwnedFd = child.stdout.take().expect("stdout is piped").into();
    let err: OwnedFd = child.stderr.take().expect("stderr is piped").into();
    let io = collect(&guard, out, err, side, started + timeout, timeout);
    let reaped = guard.reap();
    let (stdout, stderr) = io?;
    Ok(Finished {
        exit: reaped.exit,
        stdout,
        stderr,
        cpu_time: reaped.cpu_time,
    })
}

/// Reads stdout, stderr and the side channel until the runtime closed them, killing it when
/// the deadline passes or the user interrupts.
fn collect(
    child: &ChildGuard,
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
    let files = [Some(out.into()), Some(err.into()), side_fd];
    let [stdout, stderr, _] = supervise::collect(
        child,
        files,
        deadline,
        timeout,
        "read the runtime's output",
        |slot, buf, eof| match (slot, on_data.as_mut()) {
            (2, Some(f)) => f(buf, eof),
            _ => false,
        },
    )?;
    Ok((stdout, stderr))
}

/// How long a runtime gets to reap its killed container and exit by itself.
const REAP_GRACE: Duration = Duration::from_secs(2);

/// Kills the container first, then the runtime `pid` if it does not exit by itself. The
/// runtime is the container's parent: killed first, it would leave the container (killed by
/// its parent-death signal) for the host's init to reap, which on this project's machines
/// takes a while.
fn kill_container_first(pid: Pid) {
    let deadline = Instant::now() + REAP_GRACE;
    while Instant::now() < deadline {
        // Again on every round: a runtime still setting up forks its container later.
        for child in children(pid) {
            let _ = kill(child, Signal::SIGKILL);
        }
        // SAFETY: a zeroed siginfo_t is a valid value; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // WNOWAIT: only look, so that the guard's reap still gets the status and resource
        // usage.
        // SAFETY: plain syscall with a valid out-pointer.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid.as_raw() as libc::id_t,
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
    let _ = kill(pid, Signal::SIGKILL);
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

/// What the runtimes' root-only tests share: a real run, and a timeout that must leave no
/// agent behind.
#[cfg(test)]
pub(crate) mod live {
    use crate::rootfs::{FreshRootfs, AGENT_IN_ROOTFS};
    use crate::runtime::{Job, RunError, RunOutcome, Runtime};
    use crate::spawner::SpawnError;
    use crate::vocabulary::Isolation;
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
        let rootfs = FreshRootfs::build(crate::agent_binary::AGENT, None).unwrap();
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
        let rootfs = FreshRootfs::build(crate::agent_binary::AGENT, None).unwrap();
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

    #[test]
    fn a_runtime_binary_says_what_to_install_and_why_it_cannot_run() {
        let missing = Binary::new("isoprobe-surely-not-a-binary", "apt-get install nothing");
        assert_eq!(
            missing.available(),
            Err("isoprobe-surely-not-a-binary is not installed (apt-get install nothing)".into())
        );
        assert_eq!(missing.version(), "not installed");
        let e = missing.for_job(None).unwrap_err();
        assert!(e.to_string().contains("is not installed"), "{e}");
        let sh = Binary::new("sh", "-");
        assert!(sh.available().is_ok());
        assert!(sh.for_job(None).is_ok());
        let e = sh.for_job(Some("no hostname".into())).unwrap_err();
        assert!(
            e.to_string()
                .contains("sh cannot run this setup: no hostname"),
            "{e}"
        );
        assert_eq!(joined(vec![]), None);
        assert_eq!(joined(vec!["a".into(), "b".into()]), Some("a; b".into()));
    }
}
