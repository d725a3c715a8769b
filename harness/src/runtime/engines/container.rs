//! One container's life under an engine: (docker) the rootfs imported as an image; `run`
//! attached, the agent's stdout read until its observation is complete (the agent then holds,
//! so that its container and cgroups are still there); the init's host pid from `inspect`, its
//! NSpid and `/proc/<pid>/cgroup`, and its cgroups' statistics read; then `rm --force`, which
//! also runs on every error, timeout and Ctrl-C, and (docker) `rmi --force`. Both are in the
//! run's record before they are created.

use super::view::{self, Cover};
use super::Engine;
use crate::cgroup;
use crate::process::{self, Bound, ChildGuard, RunOptions, WaitError};
use crate::record::{self, Item, Noted};
use crate::runtime::{parse_observation, Job, RunError, RunOutcome};
use crate::vocabulary::{CgroupLimits, ExitKind, HostStepError};
use nix::unistd::Pid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One engine command that is not the container's run (inspect, rm, import).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a failed run gets to finish writing its stderr.
const STDERR_GRACE: Duration = Duration::from_secs(5);

/// How to reach an engine: its client, the global flags (podman's store, docker's `-H`), and
/// the mount view its commands run in.
#[derive(Debug, Clone)]
pub struct Client {
    pub engine: Engine,
    pub bin: PathBuf,
    pub global: Vec<String>,
    pub covers: Vec<Cover>,
}

impl Client {
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.global).args(args).current_dir("/");
        if !self.covers.is_empty() {
            // The calling thread's: a check runs on a thread inside a stand-in host.
            let mountinfo =
                std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap_or_default();
            let hide = view::named_isoprobe_hierarchies(&mountinfo);
            view::apply(&mut cmd, &self.covers, 0, &hide);
        }
        cmd
    }

    /// Runs a short command to its end, not cut by Ctrl-C (clean-up must finish): its
    /// stdout, or its exit status and stderr.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = self.command(args);
        let out = process::run(
            &mut cmd,
            RunOptions {
                cancellable: false,
                ..RunOptions::plain(COMMAND_TIMEOUT)
            },
        )
        .map_err(|e| e.to_string())?;
        if out.exit == ExitKind::Code(0) {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{}: {}",
                process::status_text(out.exit),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn item_command(&self) -> Vec<String> {
        let mut v = vec![self.bin.display().to_string()];
        v.extend(self.global.iter().cloned());
        v
    }
}

/// Something of the engine's, named, removed with `<client> <remove...> <name>` on drop.
struct Removed<'a> {
    client: &'a Client,
    remove: &'static [&'static str],
    name: String,
    noted: Option<Noted>,
}

impl<'a> Removed<'a> {
    fn noted(client: &'a Client, item: Item, remove: &'static [&'static str], name: &str) -> Self {
        Removed {
            client,
            remove,
            name: name.to_string(),
            noted: Some(record::note(item)),
        }
    }
}

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let mut args: Vec<&str> = self.remove.to_vec();
        args.push(&self.name);
        match self.client.run(&args) {
            Ok(_) => {
                if let Some(n) = self.noted.take() {
                    n.done();
                }
            }
            // Never made (the run failed before), or gone already.
            Err(e) if e.contains("no such") || e.contains("No such") => {
                if let Some(n) = self.noted.take() {
                    n.done();
                }
            }
            Err(e) => eprintln!(
                "isoprobe: warning: `{} {}` failed: {e}",
                self.client.engine.name(),
                args.join(" ")
            ),
        }
    }
}

/// The part of the command line that names the container's root: podman takes the directory
/// (`--rootfs DIR`); docker an image imported from it.
pub enum Root<'a> {
    Podman { run_args: &'a [String] },
    Docker,
}

/// Runs `job` in a new container with `flags` (the isolation in the engine's words).
pub fn run(
    client: &Client,
    root: Root,
    job: &Job,
    flags: &[String],
) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let bound = Bound::interruptible(started, job.timeout);
    let setup = |step: &'static str, path: &Path, e: std::io::Error| -> RunError {
        HostStepError::new(step, path, e).into()
    };
    let rootfs = job.resolved_rootfs()?;
    let name = cgroup::unique_name(client.engine.name());
    let refused = |step: &'static str, detail: String| RunError::Runtime {
        runtime: client.engine.name().to_string(),
        step,
        container: name.clone(),
        detail: detail.clone(),
        exit: None,
        stderr_tail: detail,
    };
    let mut argv: Vec<String> = vec!["run".into(), "--name".into(), name.clone()];
    argv.extend(super::flags::start_flags(client.engine));
    argv.extend(flags.iter().cloned());
    // Declared before the container: dropped (removed) after it.
    let _image = match root {
        Root::Podman { run_args } => {
            if job
                .isolation
                .namespaces
                .contains(&isoprobe_probes::NsType::User)
            {
                bind_targets(&rootfs)
                    .map_err(|e| setup("make podman's bind targets in", &rootfs, e))?;
            }
            argv.extend(run_args.iter().cloned());
            argv.extend(["--rootfs".into(), rootfs.display().to_string()]);
            None
        }
        Root::Docker => {
            let image = import(client, &rootfs, &name).map_err(|e| refused("import", e))?;
            argv.extend(["--pull".into(), "never".into(), name.clone()]);
            Some(image)
        }
    };
    // The agent holds after printing until the container is removed (or the run's time is up).
    let mut args = job.args.clone();
    args.hold_ms = job.timeout.as_millis() as u64;
    argv.push(job.agent.to_string());
    argv.extend(args.to_argv());

    let container = Removed::noted(
        client,
        Item::EngineContainer {
            engine: client.engine.name().to_string(),
            command: client.item_command(),
            covers: client.covers.clone(),
            name: name.clone(),
        },
        client.engine.remove_container(),
        &name,
    );
    let (out_r, out_w) = process::pipe()?;
    let (err_r, err_w) = process::pipe()?;
    let mut cmd = client.command(&argv);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w));
    let spawned = cmd.spawn();
    // Our copies of the write ends go now: EOF must mean that the engine closed them.
    drop(cmd);
    let child = spawned.map_err(|e| setup("run", &client.bin, e))?;
    let mut runner = ChildGuard::new(Pid::from_raw(child.id() as i32), process::sigkill);
    let [stdout] = process::collect(
        [Some(File::from(out_r))],
        bound,
        "read the container's output",
        || runner.kill(),
        |_, buf, _| observation_complete(buf),
    )?;
    if !observation_complete(&stdout) {
        // The engine gave up, or the agent ended without a whole observation.
        let reaped = runner.wait(Bound::uninterruptible(STDERR_GRACE));
        let [stderr] = process::collect(
            [Some(File::from(err_r))],
            Bound::uninterruptible(STDERR_GRACE),
            "read the engine's stderr",
            || {},
            |_, _, _| false,
        )
        .unwrap_or_default();
        let exit = reaped.map(|r| r.exit).unwrap_or(ExitKind::Signal(9));
        return match parse_observation(exit, &stdout, &stderr) {
            Err(RunError::AgentFailed { .. }) => Err(RunError::Runtime {
                runtime: client.engine.name().to_string(),
                step: "run",
                container: name.clone(),
                detail: format!(
                    "{}: {}",
                    process::status_text(exit),
                    String::from_utf8_lossy(&stderr).trim()
                ),
                exit: Some(exit),
                stderr_tail: tail(&String::from_utf8_lossy(&stderr)),
            }),
            Err(e) => Err(e),
            Ok(_) => Err(refused("run", "the observation ended early".into())),
        };
    }
    // The agent holds: its process and cgroups are there to be read.
    let pid = client
        .run(&["inspect", "--format", "{{.State.Pid}}", &name])
        .map_err(|e| refused("inspect", e))?
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0);
    let host_nspid = pid.and_then(process::read_nspid);
    let host_cgroup = pid.and_then(process::read_cgroup);
    let iso = job.isolation;
    let limits = CgroupLimits {
        cpu_quota: iso.cpu_quota,
        pids_max: iso.pids_max,
        memory_max: iso.memory_max,
    };
    let sample = match (
        &host_cgroup,
        iso.own_cgroup || limits != CgroupLimits::default(),
    ) {
        (Some(lines), true) => Some(cgroup::sample_cgroups_of(lines, limits)?),
        _ => None,
    };
    drop(container);
    let _ = runner.wait(Bound::uninterruptible(STDERR_GRACE));
    let observation = parse_observation(ExitKind::Code(0), &stdout, b"")?;
    Ok(RunOutcome {
        observation,
        // The agent printed all of it and was holding when it was removed: as for the OCI
        // runtimes, its own exit status is not what the host saw end it.
        exit: ExitKind::Code(0),
        host_pid: pid,
        host_nspid,
        host_cgroup,
        cpu_time: None,
        cgroup: sample,
    })
}

/// podman binds its own /etc/hostname, /etc/hosts, /etc/resolv.conf and /run/.containerenv
/// into a `--rootfs`, and runc makes a missing target as the container's root, which a root
/// mapped to an unprivileged uid cannot do in a root-owned directory: the targets are made
/// (empty) first. (A user's image is seen through a view whose writes land in a tmpfs, never
/// in the image.)
fn bind_targets(rootfs: &Path) -> std::io::Result<()> {
    for f in [
        "etc/hostname",
        "etc/hosts",
        "etc/resolv.conf",
        "run/.containerenv",
    ] {
        let target = rootfs.join(f);
        let dir_there = target.parent().is_some_and(Path::is_dir);
        if dir_there && target.symlink_metadata().is_err() {
            File::create(&target)?;
        }
    }
    Ok(())
}

/// The last lines of an engine's stderr.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim().lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// The agent prints its observation as one JSON object and a newline.
fn observation_complete(buf: &[u8]) -> bool {
    buf.ends_with(b"\n") && serde_json::from_slice::<serde_json::Value>(buf).is_ok()
}

/// Imports `rootfs` as the image `name` (removed on drop): a tar of it in a temporary
/// directory, then `docker import`.
fn import<'a>(client: &'a Client, rootfs: &Path, name: &str) -> Result<Removed<'a>, String> {
    let dir = record::TempDir::new("image", None).map_err(|e| format!("temp dir: {e}"))?;
    let tar = dir.path().join("rootfs.tar");
    let mut cmd = Command::new("tar");
    cmd.arg("-C").arg(rootfs).arg("-cf").arg(&tar).arg(".");
    let out = process::run(&mut cmd, RunOptions::plain(COMMAND_TIMEOUT))
        .map_err(|e: WaitError| format!("tar: {e}"))?;
    if out.exit != ExitKind::Code(0) {
        return Err(format!(
            "tar of {}: {}",
            rootfs.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let image = Removed::noted(
        client,
        Item::EngineImage {
            engine: client.engine.name().to_string(),
            command: client.item_command(),
            covers: client.covers.clone(),
            name: name.to_string(),
        },
        &["rmi", "--force"],
        name,
    );
    client.run(&["import", &tar.display().to_string(), name])?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::observation_complete;

    #[test]
    fn an_observation_is_complete_at_its_newline() {
        assert!(!observation_complete(b""));
        assert!(!observation_complete(b"{\"pid\": 1,"));
        assert!(!observation_complete(b"{\"pid\": 1}"));
        assert!(observation_complete(b"{\"pid\": 1}\n"));
        assert!(!observation_complete(b"Error: no such image\n"));
    }
}
