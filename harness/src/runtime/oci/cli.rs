//! Invoking an OCI runtime binary: every call bounded in time, in a process group of its own
//! (a Ctrl-C at the terminal reaches isoprobe, which then deletes the container, instead of
//! killing the runtime halfway through a create), and, where the runtime needs it, in a mount
//! namespace of its own that shows it the cgroup hierarchies it can work with.

use super::flavor::Flavor;
use crate::cgroup::{CgroupLayout, CgroupMode};
use crate::process::{self, RunOptions, WaitError};
use crate::vocabulary::ExitKind;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// How long a runtime command other than `create` may take (a `state` takes 15 ms here).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How one runtime command failed; the text is what a reason or an error shows.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot run {}: {source}", .binary.display())]
    Start {
        binary: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("timed out after {} s; it was killed", crate::vocabulary::seconds(*.0))]
    Timeout(Duration),
    #[error(transparent)]
    Wait(WaitError),
    /// It ran and failed: its status and what it said.
    #[error("{}", failure_text(*.exit, .stderr))]
    Failed { exit: ExitKind, stderr: String },
    #[error("{} has a NUL byte", .0.display())]
    NulInPath(PathBuf),
}

impl CliError {
    /// How the command ended and the end of its stderr, when it ran and failed.
    pub fn exit_and_stderr(&self) -> (Option<ExitKind>, String) {
        match self {
            CliError::Failed { exit, stderr } => (Some(*exit), stderr_tail(stderr)),
            _ => (None, String::new()),
        }
    }
}

/// The mount namespace a runtime's invocations run in, when the host's does not suit it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountView {
    /// A cgroup2 mount hidden from the runtime (crun on a hybrid host).
    pub hide: Option<PathBuf>,
    /// `hide` is covered with an empty tmpfs instead of unmounted: in a rootless run the
    /// mount namespace belongs to isoprobe's user namespace, where the mounts inherited from
    /// the machine's are locked together and unmounting one is refused (EINVAL).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cover: bool,
    /// Rootless youki on a host with v1 hierarchies: a cgroup2 of a cgroup namespace of the
    /// runtime's own mounted over the cgroup root (see [`Flavor::joins_cgroups_v1_regardless`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cgroup2_root: bool,
    /// `(isoprobe's cgroup directory, hierarchy mount point)`: the first bound over the
    /// second, so that a runtime which puts a relative cgroupsPath at a hierarchy's root puts
    /// it under isoprobe's own cgroup, as runc does.
    pub binds: Vec<(PathBuf, PathBuf)>,
}

impl MountView {
    /// What `flavor` needs on a host with `layout`, isoprobe being in the cgroups that
    /// `proc_self_cgroup` (the text of `/proc/self/cgroup`) names; `rootless` in a rootless
    /// run, whose containers get no cgroups (so nothing is bound).
    pub fn plan(
        flavor: Flavor,
        layout: &CgroupLayout,
        proc_self_cgroup: &str,
        rootless: bool,
    ) -> MountView {
        let hide = (flavor.refuses_hybrid() && layout.mode == CgroupMode::Hybrid)
            .then(|| layout.v2_mount.clone())
            .flatten();
        let cover = rootless && hide.is_some();
        let cgroup2_root =
            rootless && flavor.joins_cgroups_v1_regardless() && layout.mode != CgroupMode::V2;
        let mut binds = Vec::new();
        if flavor.roots_relative_cgroups() && !rootless {
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
        MountView {
            hide,
            cover,
            cgroup2_root,
            binds,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hide.is_none() && !self.cgroup2_root && self.binds.is_empty()
    }

    /// A few words for the runtime's version string, so that a report says how it was run.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.hide.is_some() {
            parts.push("cgroup2 hidden: hybrid host".to_string());
        }
        if self.cover {
            parts.push("covered, rootless".to_string());
        }
        if self.cgroup2_root {
            parts.push("a cgroup2 of its own over /sys/fs/cgroup, rootless".to_string());
        }
        if !self.binds.is_empty() {
            parts.push("cgroup hierarchies rooted at isoprobe's cgroups".to_string());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The C strings the child uses between fork and exec, prepared beforehand: nothing may be
/// allocated there.
#[derive(Debug)]
struct PreparedView {
    hide: Option<CString>,
    cover: bool,
    cgroup2_root: bool,
    binds: Vec<(CString, CString)>,
}

fn c_path(p: &Path) -> Result<CString, CliError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| CliError::NulInPath(p.to_path_buf()))
}

impl PreparedView {
    fn new(view: &MountView) -> Result<PreparedView, CliError> {
        Ok(PreparedView {
            hide: view.hide.as_deref().map(c_path).transpose()?,
            cover: view.cover,
            cgroup2_root: view.cgroup2_root,
            binds: view
                .binds
                .iter()
                .map(|(s, t)| Ok((c_path(s)?, c_path(t)?)))
                .collect::<Result<_, CliError>>()?,
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
            match (&self.hide, self.cover) {
                (Some(h), true) => check(libc::mount(
                    c"isoprobe-hidden".as_ptr(),
                    h.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ))?,
                (Some(h), false) => check(libc::umount2(h.as_ptr(), libc::MNT_DETACH))?,
                (None, _) => {}
            }
            if self.cgroup2_root {
                mount_cgroup2_root()?;
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

/// Mounts cgroup2 over `/sys/fs/cgroup` in this mount namespace. Mounting it takes a cgroup
/// namespace owned by isoprobe's user namespace, which a forked helper makes and mounts from:
/// the runtime stays in the cgroup namespace it was in (a container that asks for none must
/// share that one, or a control would pass unseen). Called between fork and exec: system
/// calls only.
fn mount_cgroup2_root() -> io::Result<()> {
    // SAFETY: the process is the single-threaded child of a fork; the helper runs only
    // system calls and `_exit`s.
    unsafe {
        match libc::fork() {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                let mounted = libc::unshare(libc::CLONE_NEWCGROUP) == 0
                    && libc::mount(
                        c"isoprobe-cgroup2".as_ptr(),
                        c"/sys/fs/cgroup".as_ptr(),
                        c"cgroup2".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        std::ptr::null(),
                    ) == 0;
                let errno = if mounted {
                    0
                } else {
                    *libc::__errno_location()
                };
                libc::_exit(errno.clamp(0, 255))
            }
            helper => {
                let mut status = 0;
                while libc::waitpid(helper, &mut status, 0) == -1 {
                    if *libc::__errno_location() != libc::EINTR {
                        return Err(io::Error::last_os_error());
                    }
                }
                match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
                    (true, 0) => Ok(()),
                    (true, errno) => Err(io::Error::from_raw_os_error(errno)),
                    _ => Err(io::Error::other("the cgroup2 mounting helper was killed")),
                }
            }
        }
    }
}

/// One runtime binary and how to invoke it.
#[derive(Debug, Clone)]
pub struct Cli {
    pub binary: PathBuf,
    view: Option<Arc<PreparedView>>,
    /// Kept for the run's record, from which a leftover container is deleted the same way.
    plan: MountView,
    /// `--root DIR`: where the runtime keeps its containers' state, when not its default
    /// (a rootless run may not write `/run/runc`).
    state_root: Option<PathBuf>,
}

/// A finished command: its status and what it printed.
#[derive(Debug)]
pub struct Output {
    pub exit: ExitKind,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// `Ok(stdout)` when the command succeeded, else its status and stderr.
    pub fn ok(self) -> Result<String, CliError> {
        if self.exit == ExitKind::Code(0) {
            Ok(self.stdout)
        } else {
            Err(CliError::Failed {
                exit: self.exit,
                stderr: self.stderr,
            })
        }
    }
}

/// What a person needs of a runtime's stderr: youki follows each error with a stack
/// backtrace of unresolved frames, noise here; whitespace is folded and the text bounded.
pub fn stderr_tail(stderr: &str) -> String {
    let stderr = stderr.split("Stack backtrace:").next().unwrap_or("").trim();
    let folded = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    folded.chars().take(1000).collect()
}

pub fn failure_text(exit: ExitKind, stderr: &str) -> String {
    let status = process::status_text(exit);
    let stderr = stderr_tail(stderr);
    if stderr.is_empty() {
        format!("{status}, nothing on stderr")
    } else {
        format!("{status}: {stderr}")
    }
}

impl Cli {
    pub fn new(binary: PathBuf, view: &MountView) -> Result<Cli, CliError> {
        let plan = view.clone();
        let view = if view.is_empty() {
            None
        } else {
            Some(Arc::new(PreparedView::new(view)?))
        };
        Ok(Cli {
            binary,
            view,
            plan,
            state_root: None,
        })
    }

    /// The same runtime keeping its state in `dir` (`--root DIR`).
    pub fn with_state_root(&self, dir: PathBuf) -> Cli {
        Cli {
            state_root: Some(dir),
            ..self.clone()
        }
    }

    pub fn plan(&self) -> &MountView {
        &self.plan
    }

    pub fn state_root(&self) -> Option<&Path> {
        self.state_root.as_deref()
    }

    /// The runtime with `args`, ready to spawn; stdin is /dev/null.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.binary);
        if let Some(dir) = &self.state_root {
            // A global option: before the command.
            cmd.arg("--root").arg(dir);
        }
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
    /// Ctrl-C does not cut it: a `delete` after an interrupt must still run.
    pub fn run<I, S>(&self, args: I, timeout: Duration) -> Result<Output, CliError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let opts = RunOptions {
            cancellable: false,
            ..RunOptions::plain(timeout)
        };
        let finished = process::run(&mut self.command(args), opts).map_err(|e| match e {
            WaitError::Host(h) if h.step == "start" => CliError::Start {
                binary: self.binary.clone(),
                source: h.source,
            },
            WaitError::Timeout(t) => CliError::Timeout(t),
            other => CliError::Wait(other),
        })?;
        Ok(Output {
            exit: finished.exit,
            stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
        })
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
        assert!(MountView::plan(Flavor::Runc, &hybrid(), HYBRID_CGROUP, false).is_empty());
    }

    #[test]
    fn crun_on_a_hybrid_host_loses_cgroup2_and_sees_memory_rooted_at_ours() {
        let v = MountView::plan(Flavor::Crun, &hybrid(), HYBRID_CGROUP, false);
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
    fn rootless_crun_covers_cgroup2_and_binds_nothing() {
        let v = MountView::plan(Flavor::Crun, &hybrid(), HYBRID_CGROUP, true);
        assert_eq!(v.hide, Some("/sys/fs/cgroup/unified".into()));
        assert!(v.cover);
        assert!(v.binds.is_empty());
        assert_eq!(
            v.describe().unwrap(),
            "cgroup2 hidden: hybrid host; covered, rootless"
        );
        assert!(MountView::plan(Flavor::Runc, &hybrid(), HYBRID_CGROUP, true).is_empty());
    }

    #[test]
    fn rootless_youki_gets_a_cgroup2_root_where_v1_hierarchies_are() {
        let v = MountView::plan(Flavor::Youki, &hybrid(), HYBRID_CGROUP, true);
        assert!(v.cgroup2_root);
        assert_eq!((v.hide.as_ref(), v.binds.len()), (None, 0));
        assert!(!v.is_empty());
        assert_eq!(
            v.describe().unwrap(),
            "a cgroup2 of its own over /sys/fs/cgroup, rootless"
        );
        let unified = CgroupLayout {
            mode: CgroupMode::V2,
            ..hybrid()
        };
        assert!(MountView::plan(Flavor::Youki, &unified, HYBRID_CGROUP, true).is_empty());
        for flavor in [Flavor::Runc, Flavor::Crun, Flavor::Other] {
            assert!(!MountView::plan(flavor, &hybrid(), HYBRID_CGROUP, true).cgroup2_root);
        }
        assert!(!MountView::plan(Flavor::Youki, &hybrid(), HYBRID_CGROUP, false).cgroup2_root);
    }

    #[test]
    fn youki_keeps_cgroup2_and_binds_every_nested_hierarchy() {
        let own = "4:memory:/m\n1:cpu:/c\n0::/u\n";
        let v = MountView::plan(Flavor::Youki, &hybrid(), own, false);
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
        let v = MountView::plan(Flavor::Crun, &layout, HYBRID_CGROUP, false);
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
        assert_eq!(out.exit, ExitKind::Code(3));
        assert!(out.ok().unwrap_err().to_string().contains("err"));
        let youki = sh
            .run(
                [
                    "-c",
                    "echo 'ERROR x: failed\n\n Stack backtrace:\n 0: <unknown>' >&2; exit 1",
                ],
                COMMAND_TIMEOUT,
            )
            .unwrap();
        assert_eq!(
            youki.ok().unwrap_err().to_string(),
            "exit status: 1: ERROR x: failed"
        );
        let slow = sh.run(["-c", "sleep 5"], Duration::from_millis(200));
        assert!(slow.unwrap_err().to_string().contains("killed"));
    }
}
