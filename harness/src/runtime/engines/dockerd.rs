//! The docker daemon the `docker` runtime talks to: the one at `DOCKER_HOST` when one answers
//! there, else a private `dockerd` isoprobe starts and always stops.
//!
//! The private daemon keeps to itself: its data root, exec root, pid file and socket are in a
//! recorded temporary directory; it makes no bridge and touches neither iptables nor IP
//! forwarding; it runs in network, IPC and UTS namespaces of its own and in a private mount
//! view where `/run` (containerd's shim sockets, its plugin directory) and `/etc/docker` (its
//! trust key) are directories of that temporary directory; its containers' cgroups nest under
//! one `isoprobe-docker-...` parent under the caller's cgroup. It is stopped by its pid
//! (SIGTERM, which stops its containers and its containerd, then SIGKILL), and `isoprobe clean`
//! stops one a killed run left, through its pid file.

use super::view::{self, Cover};
use super::CgroupParent;
use crate::backoff::{Backoff, Budget};
use crate::process;
use crate::record::{self, Item, Noted, TempDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a daemon gets to answer after it started.
const START_BUDGET: Duration = Duration::from_secs(40);
/// How long a daemon gets to stop its containers and exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// One `docker version` probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the docker client sends its commands.
#[derive(Debug)]
pub enum Daemon {
    /// A daemon someone else runs, at this `DOCKER_HOST`.
    External {
        host: String,
        version: String,
    },
    Own(OwnDaemon),
}

impl Daemon {
    /// `-H <host>` for every client command.
    pub fn host(&self) -> String {
        match self {
            Daemon::External { host, .. } => host.clone(),
            Daemon::Own(d) => d.host(),
        }
    }

    pub fn version(&self) -> String {
        match self {
            Daemon::External { version, .. } => format!("{version} (DOCKER_HOST)"),
            Daemon::Own(d) => format!("{} (isoprobe's own dockerd)", d.version),
        }
    }

    /// The daemon at `DOCKER_HOST` if one answers there, else a private one, started now.
    pub fn connect(client: &Path) -> Result<Daemon, String> {
        if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
            if let Ok(version) = server_version(client, &host) {
                return Ok(Daemon::External { host, version });
            }
        }
        OwnDaemon::start(client).map(Daemon::Own)
    }
}

/// The server version the daemon at `host` reports, or why it does not answer.
pub fn server_version(client: &Path, host: &str) -> Result<String, String> {
    let mut cmd = Command::new(client);
    cmd.args(["-H", host, "version", "--format", "{{.Server.Version}}"]);
    let out = process::run(&mut cmd, process::RunOptions::plain(PROBE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.exit == crate::vocabulary::ExitKind::Code(0) && !text.is_empty() {
        Ok(text)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[derive(Debug)]
pub struct OwnDaemon {
    child: Option<Child>,
    noted: Option<Noted>,
    version: String,
    /// Removed after the daemon stopped (its containers' cgroups are gone by then).
    cgroup_parent: CgroupParent,
    /// Dropped last.
    dir: TempDir,
}

/// What dockerd and its containerd write machine-wide whatever the flags say.
const COVERED: [&str; 2] = ["/run", "/etc/docker"];

impl OwnDaemon {
    pub fn start(client: &Path) -> Result<OwnDaemon, String> {
        let dockerd = process::which("dockerd").ok_or_else(|| {
            "no daemon answers at DOCKER_HOST and dockerd is not installed (apt-get install \
             docker.io)"
                .to_string()
        })?;
        let dir = TempDir::new("dockerd", None)
            .map_err(|e| format!("cannot make the daemon's directory: {e}"))?;
        let covers: Vec<Cover> = view::covers(&dir.path().join("covers"), &COVERED)
            .map_err(|e| format!("cannot make the daemon's mount covers: {e}"))?;
        let at = |p: &str| dir.path().join(p);
        let log = fs::File::create(at("dockerd.log"))
            .map_err(|e| format!("cannot create {}: {e}", at("dockerd.log").display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot duplicate the log's descriptor: {e}"))?;
        let cgroup_parent = CgroupParent::new("docker");
        let noted = record::note(Item::Daemon {
            pidfile: at("dockerd.pid"),
        });
        let mut cmd = Command::new(&dockerd);
        cmd.arg("--data-root")
            .arg(at("data"))
            .arg("--exec-root")
            .arg(at("exec"))
            .arg("--pidfile")
            .arg(at("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", at("docker.sock").display()))
            .args([
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--default-ulimit",
                &format!("nofile={0}:{0}", super::flags::NOFILE),
                "--cgroup-parent",
                &cgroup_parent.name,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .current_dir("/")
            // Its own process group: a Ctrl-C at the terminal is isoprobe's to handle.
            .process_group(0);
        view::apply(
            &mut cmd,
            &covers,
            libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS,
            &[],
        );
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                noted.done();
                return Err(format!("cannot start {}: {e}", dockerd.display()));
            }
        };
        let mut own = OwnDaemon {
            child: Some(child),
            noted: Some(noted),
            version: String::new(),
            cgroup_parent,
            dir,
        };
        let host = own.host();
        let mut last = String::new();
        let answered = Backoff::doubling(Duration::from_millis(50), Duration::from_millis(500))
            .retry(Budget::within(START_BUDGET), || {
                if let Some(Ok(Some(status))) = own.child.as_mut().map(Child::try_wait) {
                    return Some(Err(format!("dockerd exited with {status}")));
                }
                match server_version(client, &host) {
                    Ok(v) => Some(Ok(v)),
                    Err(e) => {
                        last = e;
                        None
                    }
                }
            });
        match answered {
            Some(Ok(v)) => {
                own.version = v;
                Ok(own)
            }
            failed => {
                let why = match failed {
                    Some(Err(e)) => e,
                    _ => format!(
                        "it did not answer within {} s ({last})",
                        START_BUDGET.as_secs()
                    ),
                };
                let log =
                    fs::read_to_string(own.dir.path().join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                Err(format!(
                    "isoprobe's own dockerd did not start: {why}; its log ends: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ))
            }
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for OwnDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
        self.cgroup_parent.remove();
        if let Some(n) = self.noted.take() {
            n.done();
        }
    }
}

/// SIGTERM (dockerd then stops its containers and its containerd), SIGKILL to its process
/// group after the grace, and the reap.
fn stop(child: &mut Child) {
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let ended = Backoff::doubling(Duration::from_millis(20), Duration::from_millis(500)).until(
        Budget::within(STOP_GRACE),
        || matches!(child.try_wait(), Ok(Some(_))),
        || false,
    );
    if !ended {
        let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
        let _ = child.wait();
    }
}

/// Stops a daemon a dead run left, through its pid file: only a process whose command line
/// names that pid file is signalled. `Ok(true)` when one was running.
pub fn stop_leftover(pidfile: &Path) -> std::io::Result<bool> {
    let Ok(text) = fs::read_to_string(pidfile) else {
        return Ok(false);
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Ok(false);
    };
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let named = cmdline
        .split(|b| *b == 0)
        .any(|a| a == pidfile.as_os_str().as_encoded_bytes());
    if !named {
        return Ok(false);
    }
    let pid = Pid::from_raw(pid);
    kill(pid, Signal::SIGTERM).map_err(std::io::Error::from)?;
    // Not our child: gone, or a zombie its new parent has yet to reap.
    let gone = || {
        fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |st| {
            st.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    let ended = Backoff::doubling(Duration::from_millis(20), Duration::from_millis(500)).until(
        Budget::within(STOP_GRACE),
        gone,
        || false,
    );
    if !ended {
        let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::stop_leftover;

    #[test]
    fn only_a_process_naming_the_pid_file_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("dockerd.pid");
        assert!(!stop_leftover(&pidfile).unwrap(), "no pid file");
        // This test's own pid: a live process whose command line does not name the file.
        std::fs::write(&pidfile, std::process::id().to_string()).unwrap();
        assert!(!stop_leftover(&pidfile).unwrap());
        std::fs::write(&pidfile, "not a pid").unwrap();
        assert!(!stop_leftover(&pidfile).unwrap());
    }
}
