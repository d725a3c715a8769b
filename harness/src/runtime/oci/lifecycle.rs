//! One container's life under an OCI runtime: the bundle written, `create` (the container
//! inherits the agent's stdout and stderr pipes and /dev/null), `state` for the init's host
//! pid (whose NSpid is read before it starts), `start`, the pipes read to EOF, `state` polled
//! until `stopped`, the cgroup statistics read, and `delete --force`, which also runs on every
//! error, timeout and Ctrl-C.

use super::bundle::{self, BundleInput};
use super::cli::{self, Cli, CliError, COMMAND_TIMEOUT};
use super::devdir;
use super::OciRuntime;
use crate::backoff::{Backoff, Budget};
use crate::cgroup;
use crate::process::{self, Bound, ChildGuard, WaitError};
use crate::record::{self, Item};
use crate::runtime::{parse_observation, Job, RunError, RunOutcome};
use crate::vocabulary::{CgroupLimits, ExitKind, HostStepError};
use nix::unistd::Pid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a failed `create` gets to finish writing its stderr.
const CREATE_STDERR_GRACE: Duration = Duration::from_secs(2);

impl OciRuntime {
    pub(super) fn run_container(&self, cli: &Cli, job: &Job) -> Result<RunOutcome, RunError> {
        let iso = job.isolation;
        let started = Instant::now();
        let bound = Bound::interruptible(started, job.timeout);
        let setup = |step: &'static str, path: &Path, e: std::io::Error| -> RunError {
            HostStepError::new(step, path, e).into()
        };
        let rootfs = job.resolved_rootfs()?;
        let id = cgroup::unique_name("oci");
        let mut argv = vec![job.agent.to_string()];
        argv.extend(job.args.to_argv());
        let no_pivot = self.no_pivot(iso);
        // Dropped last (declared first): the runtime is done with the bundle by then.
        let bundle_dir = crate::record::TempDir::new("bundle", None)
            .map_err(|e| setup("create the bundle dir", &std::env::temp_dir(), e))?;
        let etc_dir = bundle_dir.path().join("etc");
        if iso.etc_files {
            bundle::write_etc_sources(iso, &etc_dir)
                .map_err(|e| setup("write the engine's /etc files", &etc_dir, e))?;
        }
        let rootless = crate::rootless::active().is_some();
        let cgroups_path = cgroup::leaf::runtime_cgroups_path(&id);
        let dev_tmpfs = bundle::dev_tmpfs(iso);
        let spec = bundle::spec(&BundleInput {
            iso,
            rootfs: &rootfs,
            argv,
            cgroups_path: (!rootless).then_some(cgroups_path.as_str()),
            available_caps: &self.available_caps(),
            rootfs_propagation: self
                .facts()
                .flavor
                .rootfs_propagation(iso.make_mounts_private, no_pivot),
            dev_tmpfs,
            etc_sources: iso.etc_files.then_some(etc_dir.as_path()),
        })?;
        let config = bundle_dir.path().join("config.json");
        spec.save(&config)
            .map_err(|e| setup("write", &config, std::io::Error::other(e.to_string())))?;

        let (out_r, out_w) = process::pipe()?;
        let (err_r, err_w) = process::pipe()?;
        let outputs: [Option<File>; 2] = [Some(out_r.into()), Some(err_r.into())];
        // Dropped in reverse after an error: the container is deleted, the lock released, and
        // the rootfs's /dev put back as it was. A tmpfs on /dev keeps the runtime out of it.
        let (dev, creating) = match dev_tmpfs {
            true => (None, None),
            false => {
                let (dev, creating) = devdir::DevSnapshot::take(&rootfs);
                (Some(dev), Some(creating))
            }
        };
        // Rootless, the runtime's default state root (`/run/runc`, `/run/crun`) is the
        // machine's: its state goes in the bundle's directory, removed after the container.
        let rooted;
        let cli = if rootless {
            rooted = cli.with_state_root(bundle_dir.path().join("state"));
            &rooted
        } else {
            cli
        };
        let container = Created::noted(cli, &id);
        let mut create_args: Vec<std::ffi::OsString> =
            vec!["create".into(), "--bundle".into(), bundle_dir.path().into()];
        if no_pivot {
            create_args.push("--no-pivot".into());
        }
        create_args.push(id.as_str().into());
        let mut create = cli.command(&create_args);
        create.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        let spawned = create.spawn();
        // Our copies of the write ends go now: EOF must mean that the container closed them.
        drop(create);
        let child = spawned.map_err(|e| setup("run", &cli.binary, e))?;
        // Killed and reaped on every early return, before the container is deleted.
        let mut creator = ChildGuard::new(Pid::from_raw(child.id() as i32), process::sigkill);
        let created = creator.wait(bound);
        if let (Some(dev), Some(held)) = (&dev, &creating) {
            dev.restore(held);
        }
        drop(creating);
        let exit = created?.exit;
        if exit != ExitKind::Code(0) {
            // The runtime has given up and closed its ends; what it said is on stderr.
            let [_, stderr] = process::collect(
                outputs,
                Bound::uninterruptible(CREATE_STDERR_GRACE),
                "read the runtime's stderr",
                || {},
                |_, _, _| false,
            )
            .unwrap_or_default();
            let stderr = String::from_utf8_lossy(&stderr).into_owned();
            return Err(self.refused("create", &id, CliError::Failed { exit, stderr }));
        }
        let state = container.state()?;
        let pid = state["pid"]
            .as_i64()
            .filter(|p| *p > 0)
            .map(|p| p as i32)
            .ok_or_else(|| self.failed("state", &id, format!("no init pid in {state}")))?;
        // Before `start`: the init exists, in the cgroups the runtime made, and waits.
        let host_nspid = process::read_nspid(pid);
        let host_cgroup = process::read_cgroup(pid);
        cli.run(["start", id.as_str()], COMMAND_TIMEOUT)
            .and_then(cli::Output::ok)
            .map_err(|e| self.refused("start", &id, e))?;
        let [stdout, stderr] = process::collect(
            outputs,
            bound,
            "read the container's output",
            || container.kill(),
            |_, _, _| false,
        )?;
        container.wait_stopped(bound).map_err(|e| {
            container.kill();
            RunError::from(e)
        })?;
        let limits = CgroupLimits {
            cpu_quota: iso.cpu_quota,
            pids_max: iso.pids_max,
            memory_max: iso.memory_max,
        };
        let own_cgroup = iso.own_cgroup || limits != CgroupLimits::default();
        // Read before `delete` removes the cgroups.
        let sample = own_cgroup
            .then(|| cgroup::sample_runtime_cgroups(&id, limits))
            .transpose()?;
        drop(container);
        drop(bundle_dir);
        let exit = ExitKind::Code(0);
        let observation = parse_observation(exit, &stdout, &stderr).map_err(|e| match e {
            RunError::AgentFailed { stderr, .. } => self.failed(
                "run the agent in",
                &id,
                format!(
                    "the agent printed no observation (its exit status is not visible: the \
                     container's init is not isoprobe's child); its stderr: {stderr}"
                ),
            ),
            other => other,
        })?;
        Ok(RunOutcome {
            observation,
            exit,
            host_pid: Some(pid),
            host_nspid,
            host_cgroup,
            cpu_time: None,
            cgroup: sample,
        })
    }

    fn failed(&self, step: &'static str, id: &str, detail: String) -> RunError {
        RunError::Runtime {
            runtime: self.who(),
            step,
            container: id.to_string(),
            detail,
            exit: None,
            stderr_tail: String::new(),
        }
    }

    /// A runtime command of `step` that failed.
    fn refused(&self, step: &'static str, id: &str, e: CliError) -> RunError {
        refusal(self.who(), step, id, e)
    }
}

fn refusal(runtime: String, step: &'static str, id: &str, e: CliError) -> RunError {
    let (exit, stderr_tail) = e.exit_and_stderr();
    RunError::Runtime {
        runtime,
        step,
        container: id.to_string(),
        detail: e.to_string(),
        exit,
        stderr_tail,
    }
}

/// A container the runtime may have made: `delete --force` on drop, whatever happened.
struct Created<'a> {
    cli: &'a Cli,
    id: &'a str,
    /// The container and the cgroups the runtime may make for it, in the run's record.
    noted: Vec<(Option<PathBuf>, record::Noted)>,
}

impl<'a> Created<'a> {
    /// Records the container before `create` makes it.
    fn noted(cli: &'a Cli, id: &'a str) -> Created<'a> {
        let mut noted = vec![(
            None,
            record::note(Item::Container {
                runtime: cli.binary.clone(),
                id: id.to_string(),
                view: cli.plan().clone(),
                state_root: cli.state_root().map(Path::to_path_buf),
            }),
        )];
        for path in cgroup::in_every_hierarchy(id) {
            let n = record::note(Item::Cgroup { path: path.clone() });
            noted.push((Some(path), n));
        }
        Created { cli, id, noted }
    }

    fn state(&self) -> Result<serde_json::Value, RunError> {
        let runtime = || self.cli.binary.display().to_string();
        let out = self
            .cli
            .run(["state", self.id], COMMAND_TIMEOUT)
            .and_then(cli::Output::ok)
            .map_err(|e| refusal(runtime(), "state", self.id, e))?;
        serde_json::from_str(&out).map_err(|e| RunError::Runtime {
            runtime: runtime(),
            step: "state",
            container: self.id.to_string(),
            detail: format!("not JSON ({e}): {out}"),
            exit: None,
            stderr_tail: String::new(),
        })
    }

    /// Polls `state` until the runtime says `stopped` (the agent closed its output first, so
    /// this is normally the first answer).
    fn wait_stopped(&self, bound: Bound) -> Result<(), WaitError> {
        Backoff::doubling(Duration::from_millis(1), Duration::from_millis(50))
            .retry(Budget::Until(bound.deadline), || match self.state() {
                Ok(s) if s["status"] == "stopped" => Some(Ok(())),
                // Gone already: nothing runs.
                Err(_) => Some(Ok(())),
                Ok(_) if bound.cancellable && crate::cancel::requested() => {
                    Some(Err(WaitError::Interrupted))
                }
                Ok(_) => None,
            })
            .unwrap_or(Err(WaitError::Timeout(bound.timeout)))
    }

    fn kill(&self) {
        let _ = self.cli.run(["kill", self.id, "KILL"], COMMAND_TIMEOUT);
    }
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        // A runtime's delete can fail for a moment (youki 0.7 sealing its own executable got
        // EBUSY under load), which would leave the container and its cgroups behind: tried
        // again while the container is still listed. A create that failed leaves nothing to
        // delete; only a container still listed at the end is a leak worth a warning.
        let mut last = None;
        let gone = DELETE_AGAIN.retry(Budget::Tries(4), || {
            match self
                .cli
                .run(["delete", "--force", self.id], COMMAND_TIMEOUT)
                .and_then(cli::Output::ok)
            {
                Ok(_) => Some(()),
                Err(e) if self.state().is_ok() => {
                    last = Some(e);
                    None
                }
                Err(_) => Some(()),
            }
        });
        // The runtime removes its cgroups with the container; what is still there stays in
        // the record for `isoprobe clean`.
        for (path, noted) in std::mem::take(&mut self.noted) {
            match path {
                None if gone.is_some() => noted.done(),
                Some(p) if !p.exists() => noted.done(),
                _ => {}
            }
        }
        if let (None, Some(e)) = (gone, last) {
            eprintln!(
                "isoprobe: warning: could not delete container {} with {}: {e}",
                self.id,
                self.cli.binary.display()
            );
        }
    }
}

/// Between attempts to delete a container.
const DELETE_AGAIN: Backoff =
    Backoff::doubling(Duration::from_millis(50), Duration::from_millis(400));

/// Deletes a container a dead run left: `Ok(true)` when it was there. Run as that run ran the
/// runtime (same binary, same mount view, same state root), so the runtime finds its state
/// and cgroups.
pub(crate) fn delete_leftover(
    binary: &Path,
    view: &super::MountView,
    state_root: Option<&Path>,
    id: &str,
) -> Result<bool, CliError> {
    let cli = match state_root {
        // A rootless run's: its user may not make a mount namespace here, outside a user
        // namespace, and needs none: the container has no cgroups, and `state` and `delete`
        // of runc 1.1 and crun 1.8 do not look at the cgroup layout.
        Some(dir) => Cli::new(binary.to_path_buf(), &super::MountView::default())?
            .with_state_root(dir.to_path_buf()),
        None => Cli::new(binary.to_path_buf(), view)?,
    };
    // The dead run's `create` may still be making it (the runtime is in a process group of
    // its own, so the kill did not reach it): it would write the state and the rootfs while
    // they are removed.
    stop_creators_of(id);
    if cli.run(["state", id], COMMAND_TIMEOUT)?.ok().is_err() {
        return Ok(false);
    }
    cli.run(["delete", "--force", id], COMMAND_TIMEOUT)?
        .ok()
        .map(|_| true)
}

/// How long a SIGKILLed `create` gets to be gone.
const CREATOR_GONE: Backoff =
    Backoff::doubling(Duration::from_millis(1), Duration::from_millis(50));

/// SIGKILLs the runtime processes still running `create ... <id>` and waits (up to a second)
/// until they are dead: the id carries the pid of the dead run, so no other process has it.
fn stop_creators_of(id: &str) {
    let mut killed = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if creates_container(&cmdline, id) {
            let pid = Pid::from_raw(pid);
            if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok() {
                killed.push(pid);
            }
        }
    }
    // Dead once gone or a zombie (its new parent, not isoprobe, reaps it).
    let dead = |pid: &Pid| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    CREATOR_GONE.until(
        Budget::within(Duration::from_secs(1)),
        || killed.iter().all(dead),
        || false,
    );
}

/// Whether a command line (NUL-separated) is an OCI runtime's `create ... <id>`: the id last,
/// as isoprobe passes it.
fn creates_container(cmdline: &[u8], id: &str) -> bool {
    let args: Vec<&[u8]> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    args.contains(&b"create".as_slice()) && args.last() == Some(&id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::creates_container;

    #[test]
    fn a_creator_is_known_by_the_container_it_makes() {
        let line =
            b"/usr/bin/crun\0--root\0/tmp/b/state\0create\0--bundle\0/tmp/b\0isoprobe-oci-7-4\0";
        assert!(creates_container(line, "isoprobe-oci-7-4"));
        assert!(!creates_container(line, "isoprobe-oci-7-40"));
        assert!(!creates_container(
            b"/usr/sbin/runc\0delete\0--force\0isoprobe-oci-7-4\0",
            "isoprobe-oci-7-4"
        ));
    }
}
