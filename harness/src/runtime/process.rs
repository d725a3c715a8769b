//! Runtimes that are command-line programs (bubblewrap, util-linux unshare): the binary found
//! and its version read, and a run supervised by [`crate::process`] with the stop that fits
//! such a runtime.
//!
//! Such a runtime stays the parent of the container until it ends (both are told to kill it
//! when they die). To stop one, the container (the runtime's child) is killed first, so that the
//! runtime reaps it and exits, and the runtime itself only if it does not.

use super::{Isolation, RunError, Unavailable};
use crate::backoff::{Backoff, Budget};
use crate::process::{self, Finished, RunOptions, SideChannel};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub(crate) use crate::process::{pipe, read_cgroup, read_nspid};

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
    fn path(&self) -> Result<PathBuf, Unavailable> {
        process::which(self.name).ok_or_else(|| Unavailable::NotInstalled {
            runtime: self.name.to_string(),
            hint: self.install_hint.to_string(),
        })
    }

    /// For [`Runtime::available`](super::Runtime::available).
    pub(crate) fn available(&self) -> Result<(), Unavailable> {
        self.path().map(|_| ())
    }

    /// The last word of the first line `--version` prints ("bubblewrap 0.8.0", "unshare from
    /// util-linux 2.38.1"), or "not installed".
    pub(crate) fn version(&self) -> String {
        self.version
            .get_or_init(|| {
                process::which(self.name)
                    .and_then(|b| version_line(&b))
                    .map(|l| l.rsplit(' ').next().unwrap_or(&l).to_string())
                    .unwrap_or_else(|| "not installed".into())
            })
            .clone()
    }

    /// The binary to run a job with, unless it is not installed or the runtime cannot build
    /// the job's isolation (`unsupported`, from [`Runtime::unsupported`](super::Runtime::unsupported)).
    pub(crate) fn for_job(&self, unsupported: Option<String>) -> Result<PathBuf, RunError> {
        let bin = self.path()?;
        if let Some(reason) = unsupported {
            return Err(RunError::Unsupported {
                runtime: self.name.to_string(),
                reason,
            });
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

/// What only isoprobe's own spawner can do wrong on request (`who`: "bwrap"): the negative
/// controls of the descriptor and working-directory checks. Another runtime is never broken on
/// purpose, so those controls are recorded skips under it; the checks themselves run.
pub(crate) fn negative_control_only(who: &str, iso: &Isolation) -> Vec<String> {
    [
        (
            iso.leak_host_dir,
            "leak a host descriptor into the container",
        ),
        (iso.cwd_on_host, "resolve the working directory on the host"),
        (
            iso.binds_on_host,
            "follow a bind target's symlink on the host",
        ),
        (
            iso.proc_through_link,
            "mount proc where the image's /proc link points",
        ),
        (
            iso.etc_files_on_host,
            "write the engine's /etc files through the image's links",
        ),
        (
            iso.dev_null_from_image,
            "take the image's /dev/null for its masks and stdio",
        ),
    ]
    .into_iter()
    .filter(|(asked, _)| *asked)
    .map(|(_, what)| format!("{who} cannot be made to {what}"))
    .collect()
}

/// Starts the runtime `cmd` and waits for it, stopping it container first. `inherit` are
/// descriptors it gets under their own numbers (its command line names them).
pub(crate) fn run(
    cmd: &mut Command,
    timeout: Duration,
    inherit: Vec<OwnedFd>,
    side: Option<SideChannel>,
) -> Result<Finished, RunError> {
    let opts = RunOptions {
        inherit,
        side,
        stop: kill_container_first,
        ..RunOptions::plain(timeout)
    };
    Ok(process::run(cmd, opts)?)
}

/// How long a runtime gets to reap its killed container and exit by itself.
const REAP_GRACE: Duration = Duration::from_secs(2);

/// Kills the container first, then the runtime `pid` if it does not exit by itself. The
/// runtime is the container's parent: killed first, it would leave the container (killed by
/// its parent-death signal) for the host's init to reap, which on this project's machines
/// takes a while.
fn kill_container_first(pid: Pid) {
    let ended = Backoff::every(Duration::from_millis(5)).until(
        Budget::within(REAP_GRACE),
        || {
            // Again on every round: a runtime still setting up forks its container later.
            for child in children(pid) {
                let _ = kill(child, Signal::SIGKILL);
            }
            process::has_ended(pid)
        },
        || false,
    );
    if !ended {
        let _ = kill(pid, Signal::SIGKILL);
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

/// What the runtimes' root-only tests share: a real run, and a timeout that must leave no
/// agent behind.
#[cfg(test)]
pub(crate) mod live {
    use crate::backoff::{Backoff, Budget};
    use crate::rootfs::{FreshRootfs, AGENT_IN_ROOTFS};
    use crate::runtime::{Job, RunError, RunOutcome, Runtime};
    use crate::vocabulary::Isolation;
    use isoprobe_probes::AgentArgs;
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};

    /// Why the live tests cannot run here, if they cannot.
    pub fn unmet(binary: &str) -> Option<String> {
        if let Some(why) = crate::testing::not_root() {
            return Some(why);
        }
        crate::process::which(binary)
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
            matches!(r, Err(RunError::Timeout(_))),
            "{}: {r:?}",
            rt.name()
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        // The container is killed through its parent's death signal: give it a moment.
        let left = || -> Vec<String> {
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter(|e| {
                    std::fs::metadata(e.path().join("exe"))
                        .is_ok_and(|m| (m.dev(), m.ino()) == (agent.dev(), agent.ino()))
                })
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        let gone = Backoff::every(Duration::from_millis(20)).until(
            Budget::within(Duration::from_secs(5)),
            || left().is_empty(),
            || false,
        );
        assert!(gone, "{}: agent processes left: {:?}", rt.name(), left());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_binary_says_what_to_install_and_why_it_cannot_run() {
        let missing = Binary::new("isoprobe-surely-not-a-binary", "apt-get install nothing");
        assert_eq!(
            missing.available().unwrap_err().to_string(),
            "isoprobe-surely-not-a-binary is not installed (apt-get install nothing)"
        );
        assert_eq!(missing.version(), "not installed");
        let e = missing.for_job(None).unwrap_err();
        assert!(matches!(e, RunError::Unavailable(_)), "{e}");
        let sh = Binary::new("sh", "-");
        assert!(sh.available().is_ok());
        assert!(sh.for_job(None).is_ok());
        let e = sh.for_job(Some("no hostname".into())).unwrap_err();
        assert_eq!(e.to_string(), "sh cannot run this setup: no hostname");
        assert_eq!(joined(vec![]), None);
        assert_eq!(joined(vec!["a".into(), "b".into()]), Some("a; b".into()));
    }

    #[test]
    fn a_timeout_stops_the_runtime_and_its_child() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "sleep 30; true"]);
        let t = std::time::Instant::now();
        let r = run(&mut cmd, Duration::from_millis(200), Vec::new(), None);
        assert!(matches!(r, Err(RunError::Timeout(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
