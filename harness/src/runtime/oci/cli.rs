//! Invoking an OCI runtime binary: every call bounded in time, in a process group of its own
//! (a Ctrl-C at the terminal reaches isoprobe, which then deletes the container, instead of
//! killing the runtime halfway through a create), and, where the runtime needs it, in a mount
//! namespace of its own that shows it the cgroup hierarchies it can work with.

use super::flavor::Flavor;
use crate::cancel;
use crate::cgroup::{CgroupLayout, CgroupMode};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a runtime command other than `create` may take (a `state` takes 15 ms here).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait-loop granularity: Ctrl-C is noticed within this.
const POLL: Duration = Duration::from_millis(100);

/// The mount namespace a runtime's invocations run in, when the host's does not suit it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountView {
    /// A cgroup2 mount hidden from the runtime (crun on a hybrid host).
    pub hide: Option<PathBuf>,
    /// `(isoprobe's cgroup directory, hierarchy mount point)`: the first bound over the
    /// second, so that a runtime which puts a relative cgroupsPath at a hierarchy's root puts
    /// it under isoprobe's own cgroup, as runc does.
    pub binds: Vec<(PathBuf, PathBuf)>,
}

impl MountView {
    /// What `flavor` needs on a host with `layout`, isoprobe being in the cgroups that
    /// `proc_self_cgroup` (the text of `/proc/self/cgroup`) names.
    pub fn plan(flavor: Flavor, layout: &CgroupLayout, proc_self_cgroup: &str) -> MountView {
        let hide = (flavor.refuses_hybrid() && layout.mode == CgroupMode::Hybrid)
            .then(|| layout.v2_mount.clone())
            .flatten();
        let mut binds = Vec::new();
        if flavor.roots_relative_cgroups() {
            let own = |controller: Option<&str>| {
                isoprobe_probes::parse::cgroup_path(proc_self_cgroup, controller)
                    .map(|p| p.trim_start_matches('/').to_string())
                    .filter(|p| !p.is_empty())
            };
            for (controllers, mount) in &layout.v1_mounts {
                if let Some(rel) = controllers.first().and_then(|c| own(Some(c))) {
                    binds.push((mount.join(rel), mount.clone()));
                }
            }
            if let (Some(v2), None) = (&layout.v2_mount, &hide) {
                if let Some(rel) = own(None) {
                    binds.push((v2.join(rel), v2.clone()));
                }
            }
        }
        MountView { hide, binds }
    }

    pub fn is_empty(&self) -> bool {
        self.hide.is_none() && self.binds.is_empty()
    }

    /// A few words for the runtime's version string, so that a report says how it was run.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.hide.is_some() {
            parts.push("cgroup2 hidden: hybrid host".to_string());
        }
        if !self.binds.is_empty() {
            parts.push("cgroup hierarchies rooted at isoprobe's cgroups".to_string());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// The C strings the child uses between fork and exec, prepared beforehand: nothing may be
/// allocated there.
#[derive(Debug)]
struct PreparedView {
    hide: Option<CString>,
    binds: Vec<(CString, CString)>,
}

fn c_path(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{} has a NUL byte", p.display()))
}

impl PreparedView {
    fn new(view: &MountView) -> Result<PreparedView, String> {
        Ok(PreparedView {
            hide: view.hide.as_deref().map(c_path).transpose()?,
            binds: view
                .binds
                .iter()
                .map(|(s, t)| Ok((c_path(s)?, c_path(t)?)))
                .collect::<Result<_, String>>()?,
        })
    }

    /// Runs in the forked child before exec: async-signal-safe system calls only.
    fn enter(&self) -> io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: plain system calls on C strings prepared before the fork.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            // A slave, not private: the host's mount events still reach the runtime and its
            // containers (whose own rootfsPropagation decides what they keep), while nothing
            // done here propagates back to the host.
            check(libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            ))?;
            if let Some(h) = &self.hide {
                check(libc::umount2(h.as_ptr(), libc::MNT_DETACH))?;
            }
            for (source, target) in &self.binds {
                check(libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
            }
        }
        Ok(())
    }
}

/// One runtime binary and how to invoke it.
#[derive(Debug, Clone)]
pub struct Cli {
    pub binary: PathBuf,
    view: Option<Arc<PreparedView>>,
}

/// Why a bounded wait ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    TimedOut,
    Cancelled,
}

/// A finished command: its status and what it printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// `Ok(stdout)` when the command succeeded, else a sentence with its status and stderr.
    pub fn ok(self) -> Result<String, String> {
        if self.status.success() {
            Ok(self.stdout)
        } else {
            Err(failure_text(self.status, &self.stderr))
        }
    }
}

pub fn failure_text(status: ExitStatus, stderr: &str) -> String {
    // youki follows each error with a stack backtrace of unresolved frames: noise here.
    let stderr = stderr.split("Stack backtrace:").next().unwrap_or("").trim();
    let stderr: String = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    if stderr.is_empty() {
        format!("{status}, nothing on stderr")
    } else {
        format!(
            "{status}: {}",
            stderr.chars().take(1000).collect::<String>()
        )
    }
}

impl Cli {
    pub fn new(binary: PathBuf, view: &MountView) -> Result<Cli, String> {
        let view = if view.is_empty() {
            None
        } else {
            Some(Arc::new(PreparedView::new(view)?))
        };
        Ok(Cli { binary, view })
    }

    /// The runtime with `args`, ready to spawn; stdin is /dev/null.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.binary);
        cmd.args(args).stdin(Stdio::null()).process_group(0);
        if let Some(view) = &self.view {
            let view = Arc::clone(view);
            // SAFETY: `enter` makes only async-signal-safe system calls on prepared strings.
            unsafe {
                cmd.pre_exec(move || view.enter());
            }
        }
        cmd
    }

    /// Runs the runtime with `args` to its end (at most `timeout`), capturing its output.
    pub fn run<I, S>(&self, args: I, timeout: Duration) -> Result<Output, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let pipes: Vec<OwnedFd> = [
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
        ]
        .into_iter()
        .flatten()
        .collect();
        let deadline = Instant::now() + timeout;
        let mut reader = Reader::new(pipes);
        // Read while waiting: a command that prints more than a pipe holds would block.
        let drained = reader.drain(deadline, false);
        let status = match drained {
            Ok(()) => wait_child(&mut child, deadline, false),
            Err(cut) => Err(cut),
        };
        let status = match status {
            Ok(s) => s,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {timeout:?}; it was killed"));
            }
        };
        let mut out = reader.into_outputs();
        let stderr = String::from_utf8_lossy(&out.pop().unwrap_or_default()).into_owned();
        let stdout = String::from_utf8_lossy(&out.pop().unwrap_or_default()).into_owned();
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// Waits for `child` until `deadline` (and, if `cancellable`, until Ctrl-C). The child is left
/// as it is when the wait is cut.
pub fn wait_child(
    child: &mut Child,
    deadline: Instant,
    cancellable: bool,
) -> Result<ExitStatus, Cut> {
    let mut delay = Duration::from_millis(1);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status);
        }
        if cancellable && cancel::requested() {
            return Err(Cut::Cancelled);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Cut::TimedOut);
        }
        std::thread::sleep(delay.min(deadline - now));
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

/// Collects what arrives on a few pipes until each is closed by every writer.
pub struct Reader {
    fds: Vec<(File, Vec<u8>, bool)>,
}

impl Reader {
    pub fn new(fds: Vec<OwnedFd>) -> Reader {
        Reader {
            fds: fds
                .into_iter()
                .map(|f| (File::from(f), Vec::new(), false))
                .collect(),
        }
    }

    /// Reads until every pipe is at EOF, `deadline` passes, or (if `cancellable`) Ctrl-C.
    pub fn drain(&mut self, deadline: Instant, cancellable: bool) -> Result<(), Cut> {
        loop {
            if self.fds.iter().all(|(_, _, eof)| *eof) {
                return Ok(());
            }
            if cancellable && cancel::requested() {
                return Err(Cut::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Cut::TimedOut);
            }
            let wait = POLL.min(deadline - now);
            let open: Vec<usize> = (0..self.fds.len()).filter(|i| !self.fds[*i].2).collect();
            let ready: Vec<usize> = {
                let mut pfds: Vec<PollFd> = open
                    .iter()
                    .map(|i| PollFd::new(self.fds[*i].0.as_fd(), PollFlags::POLLIN))
                    .collect();
                let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
                match poll(&mut pfds, PollTimeout::from(ms)) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => return Err(Cut::TimedOut),
                }
                open.iter()
                    .zip(&pfds)
                    .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(i, _)| *i)
                    .collect()
            };
            for i in ready {
                let (fd, buf, eof) = &mut self.fds[i];
                let mut chunk = [0u8; 8192];
                match fd.read(&mut chunk) {
                    Ok(0) => *eof = true,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => *eof = true,
                }
            }
        }
    }

    /// What each pipe delivered, in the order given.
    pub fn into_outputs(self) -> Vec<Vec<u8>> {
        self.fds.into_iter().map(|(_, b, _)| b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::parse::parse_layout;

    const HYBRID_CGROUP: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n\
                                 2:cpuacct:/\n1:cpu:/\n0::/\n";

    fn hybrid() -> CgroupLayout {
        CgroupLayout {
            mode: CgroupMode::Hybrid,
            v1_mounts: vec![
                (vec!["name=systemd".into()], "/sys/fs/cgroup/systemd".into()),
                (vec!["pids".into()], "/sys/fs/cgroup/pids".into()),
                (vec!["memory".into()], "/sys/fs/cgroup/memory".into()),
                (vec!["cpu".into()], "/sys/fs/cgroup/cpu".into()),
            ],
            v2_mount: Some("/sys/fs/cgroup/unified".into()),
        }
    }

    #[test]
    fn runc_runs_in_the_hosts_mount_namespace() {
        assert!(MountView::plan(Flavor::Runc, &hybrid(), HYBRID_CGROUP).is_empty());
    }

    #[test]
    fn crun_on_a_hybrid_host_loses_cgroup2_and_sees_memory_rooted_at_ours() {
        let v = MountView::plan(Flavor::Crun, &hybrid(), HYBRID_CGROUP);
        assert_eq!(v.hide, Some("/sys/fs/cgroup/unified".into()));
        assert_eq!(
            v.binds,
            [(
                PathBuf::from("/sys/fs/cgroup/memory/process_api/abc"),
                PathBuf::from("/sys/fs/cgroup/memory")
            )]
        );
        assert_eq!(
            v.describe().unwrap(),
            "cgroup2 hidden: hybrid host; cgroup hierarchies rooted at isoprobe's cgroups"
        );
    }

    #[test]
    fn youki_keeps_cgroup2_and_binds_every_nested_hierarchy() {
        let own = "4:memory:/m\n1:cpu:/c\n0::/u\n";
        let v = MountView::plan(Flavor::Youki, &hybrid(), own);
        assert_eq!(v.hide, None);
        let targets: Vec<_> = v.binds.iter().map(|(_, t)| t.clone()).collect();
        assert_eq!(
            targets,
            [
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/unified"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn a_layout_read_from_mountinfo_plans_the_same() {
        let mountinfo = isoprobe_fixtures::text("proc/mountinfo-hybrid").unwrap();
        let layout = parse_layout(&mountinfo).unwrap();
        let v = MountView::plan(Flavor::Crun, &layout, HYBRID_CGROUP);
        assert!(v.hide.is_some());
        assert!(v
            .binds
            .iter()
            .all(|(s, t)| s.starts_with(t) && s.ends_with("process_api/abc")));
    }

    #[test]
    fn run_captures_output_and_bounds_time() {
        let sh = Cli::new("/bin/sh".into(), &MountView::default()).unwrap();
        let out = sh
            .run(["-c", "echo out; echo err >&2; exit 3"], COMMAND_TIMEOUT)
            .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.status.code(), Some(3));
        assert!(out.ok().unwrap_err().contains("err"));
        let youki = sh
            .run(
                [
                    "-c",
                    "echo 'ERROR x: failed\n\n Stack backtrace:\n 0: <unknown>' >&2; exit 1",
                ],
                COMMAND_TIMEOUT,
            )
            .unwrap();
        assert_eq!(youki.ok().unwrap_err(), "exit status: 1: ERROR x: failed");
        let slow = sh.run(["-c", "sleep 5"], Duration::from_millis(200));
        assert!(slow.unwrap_err().contains("killed"));
    }
}
