//! The engines most containers are started with: `podman` and `docker`, run as users run them
//! (`podman run`, `docker run`), in two modes.
//!
//! - **Configured** (`podman`, `docker`): every field of the [`Isolation`] said in the
//!   engine's flags (`flags.rs`), or a recorded skip naming what the engine cannot express.
//! - **Defaults** (`podman-defaults`, `docker-defaults`; `--engine-defaults`): the engine's
//!   own configuration plus only what the agent needs, so that a check answers "does this
//!   engine, out of the box, on this host, isolate?"; a negative control is the engine's
//!   escape hatch for the property (`--privileged`-style flags such as `--cap-add`,
//!   `--security-opt seccomp=unconfined`, `--pid host`).
//!
//! `podman.rs` keeps podman's store private; `dockerd.rs` finds the daemon at `DOCKER_HOST` or
//! starts isoprobe's own; `container.rs` runs one container; `view.rs` keeps what the engines
//! write machine-wide inside isoprobe's temporary directories.

mod container;
// Public for the DOCKER_HOST test, whose "external" daemon is a private one of its own.
#[doc(hidden)]
pub mod dockerd;
mod flags;
mod podman;
mod view;

pub use view::Cover;

use super::{Job, RunError, RunOutcome, Runtime, Unavailable, Weakness};
use crate::backoff::{Backoff, Budget};
use crate::cgroup;
use crate::record::{self, Item, Noted};
use crate::vocabulary::{Isolation, SeccompProfile};
use container::{Client, Root};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// A container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Podman,
    Docker,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
        }
    }

    /// The command that removes a container, running or not, at once: podman's `rm --force`
    /// would first wait ten seconds for a SIGTERM the agent, as PID 1, never acts on.
    fn remove_container(self) -> &'static [&'static str] {
        match self {
            Engine::Podman => &["rm", "--force", "--time", "0"],
            Engine::Docker => &["rm", "--force"],
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Engine::Podman => "apt-get install podman runc",
            Engine::Docker => "apt-get install docker.io",
        }
    }
}

/// An engine as a runtime.
pub struct EngineRuntime {
    engine: Engine,
    /// Defaults mode: the engine's own configuration, escape hatches as controls.
    defaults: bool,
    /// Made on the first run and dropped with the runtime (podman's store, docker's daemon).
    backend: OnceLock<Result<Backend, String>>,
    /// Capabilities the engine refused to name (docker 20.10 knows none past CAP_AUDIT_READ):
    /// learnt from its refusals, and not asked for again.
    unknown_caps: Mutex<BTreeSet<u32>>,
}

/// What a run needs that outlives one container.
#[derive(Debug)]
struct Backend {
    client: Client,
    seccomp_file: PathBuf,
    kind: BackendKind,
    /// Where the seccomp profile is for a daemon behind DOCKER_HOST (the others have a
    /// directory of their own).
    _profile_dir: Option<record::TempDir>,
}

#[derive(Debug)]
enum BackendKind {
    Podman(podman::Store),
    Docker(dockerd::Daemon),
}

impl EngineRuntime {
    pub fn new(engine: Engine, defaults: bool) -> EngineRuntime {
        EngineRuntime {
            engine,
            defaults,
            backend: OnceLock::new(),
            unknown_caps: Mutex::new(BTreeSet::new()),
        }
    }

    /// The engine of a runtime name (`podman`, `docker-defaults`), for `--engine-defaults`.
    pub fn engine_of(name: &str) -> Option<Engine> {
        match name.strip_suffix("-defaults").unwrap_or(name) {
            "podman" => Some(Engine::Podman),
            "docker" => Some(Engine::Docker),
            _ => None,
        }
    }

    fn client_binary(&self) -> Result<PathBuf, Unavailable> {
        crate::process::which(self.engine.name()).ok_or_else(|| Unavailable::NotInstalled {
            runtime: self.engine.name().to_string(),
            hint: self.engine.install_hint().to_string(),
        })
    }

    fn backend(&self) -> Result<&Backend, RunError> {
        self.backend
            .get_or_init(|| self.start_backend())
            .as_ref()
            .map_err(|e| RunError::Unavailable(Unavailable::Broken(e.clone())))
    }

    fn start_backend(&self) -> Result<Backend, String> {
        let bin = self.client_binary().map_err(|e| e.to_string())?;
        let mut profile_dir = None;
        let (global, covers, dir, kind) = match self.engine {
            Engine::Podman => {
                let runc = crate::process::which("runc")
                    .ok_or("podman runs containers with runc here, which is not installed")?;
                let store = podman::Store::create(runc)
                    .map_err(|e| format!("cannot make podman's private store: {e}"))?;
                let dir = store.dir.path().to_path_buf();
                (
                    store.global_args(),
                    store.covers.clone(),
                    dir,
                    BackendKind::Podman(store),
                )
            }
            Engine::Docker => {
                let daemon = dockerd::Daemon::connect(&bin)?;
                let dir = match &daemon {
                    dockerd::Daemon::Own(d) => d.dir().to_path_buf(),
                    dockerd::Daemon::External { .. } => {
                        let d = record::TempDir::new("docker", None)
                            .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
                        let path = d.path().to_path_buf();
                        profile_dir = Some(d);
                        path
                    }
                };
                (
                    vec!["-H".to_string(), daemon.host()],
                    Vec::new(),
                    dir,
                    BackendKind::Docker(daemon),
                )
            }
        };
        let seccomp_file = write_seccomp_profile(&dir, self.engine)?;
        Ok(Backend {
            client: Client {
                engine: self.engine,
                bin,
                global,
                covers,
            },
            seccomp_file,
            kind,
            _profile_dir: profile_dir,
        })
    }

    /// Runs `job` for a check of isolation `check` (the job's own when none is known).
    fn run_with(&self, job: &Job, check: &Isolation) -> Result<RunOutcome, RunError> {
        if let Some(reason) = self.unsupported_in(job.isolation, check) {
            return Err(RunError::Unsupported {
                runtime: self.name(),
                reason,
            });
        }
        let backend = self.backend()?;
        if let BackendKind::Docker(_) = backend.kind {
            if let Some(reason) = unseen_by_daemon(job) {
                return Err(RunError::Unsupported {
                    runtime: self.name(),
                    reason,
                });
            }
        }
        loop {
            // Runs side by side learn at once: what counts is whether this run asked for the
            // capability, not whether this run was the first to learn it is unknown.
            let known_unknown = self.unknown_caps();
            let result = self.run_once(backend, job, check);
            match result.as_ref().err().and_then(unknown_capability) {
                Some(cap) if !known_unknown.contains(&cap) => self.learn_unknown(cap),
                _ => return result,
            }
        }
    }

    fn unknown_caps(&self) -> BTreeSet<u32> {
        self.unknown_caps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records `cap` as one the engine does not know.
    fn learn_unknown(&self, cap: u32) {
        self.unknown_caps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cap);
    }

    fn run_once(
        &self,
        backend: &Backend,
        job: &Job,
        check: &Isolation,
    ) -> Result<RunOutcome, RunError> {
        let iso = job.isolation;
        // This project's VMs lack CAP_SYS_RESOURCE, which no container can then be given.
        let caps: BTreeSet<u32> = super::capability::grantable()
            .difference(&self.unknown_caps())
            .copied()
            .collect();
        let flags = if self.defaults {
            flags::defaults(self.engine, iso, check, &caps).map_err(|reason| {
                RunError::Unsupported {
                    runtime: self.name(),
                    reason,
                }
            })?
        } else {
            let seccomp = iso
                .seccomp
                .map(|_| backend.seccomp_file.display().to_string());
            flags::configured(self.engine, iso, &caps, seccomp.as_deref())
        };
        let run_args;
        let root = match &backend.kind {
            BackendKind::Podman(store) => {
                run_args = store.run_args();
                Root::Podman {
                    run_args: &run_args,
                }
            }
            BackendKind::Docker(_) => Root::Docker,
        };
        container::run(&backend.client, root, job, &flags)
    }
}

/// What of `job` docker's daemon cannot see: a mount the check made on the host's side (in
/// its stand-in host, whose mounts are not the daemon's) below the rootfs, which docker runs
/// a copy of, or holding a bind's source.
fn unseen_by_daemon(job: &Job) -> Option<String> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let points = |text: String| isoprobe_probes::parse::mount_points(&text).unwrap_or_default();
    // The calling thread is in the stand-in; the process's main thread is not.
    let machine: BTreeSet<String> = points(read("/proc/self/mountinfo")).into_iter().collect();
    let made_here: Vec<String> = points(read("/proc/thread-self/mountinfo"))
        .into_iter()
        .filter(|m| !machine.contains(m))
        .collect();
    let rootfs = job.rootfs.canonicalize().ok()?;
    if let Some(m) = made_here
        .iter()
        .find(|m| Path::new(m).starts_with(&rootfs) && Path::new(m) != rootfs)
    {
        return Some(format!(
            "docker runs a copy of the rootfs, imported as an image: the mount the check made \
             in it on the host's side ({m}) cannot reach the container"
        ));
    }
    let covering = |p: &Path| {
        made_here
            .iter()
            .filter(|m| p.starts_with(m))
            .max_by_key(|m| m.len())
            .cloned()
    };
    job.isolation.binds.iter().find_map(|b| {
        covering(&b.source).map(|m| {
            format!(
                "docker's daemon does not see the mount the check made on the host's side \
                 ({m}) for the bind of {}: it would bind an empty directory",
                b.source.display()
            )
        })
    })
}

/// The capability an engine refused as unknown (`unknown capability: "CAP_BPF"`).
fn unknown_capability(e: &RunError) -> Option<u32> {
    let RunError::Runtime { detail, .. } = e else {
        return None;
    };
    let after = detail.split("unknown capability: \"").nth(1)?;
    super::capability::number(after.split('"').next()?)
}

/// The default profile in the engines' seccomp JSON (the OCI `linux.seccomp` form, which
/// both read), written once per backend.
fn write_seccomp_profile(dir: &Path, engine: Engine) -> Result<PathBuf, String> {
    let json = super::oci::seccomp_json(SeccompProfile::Default).map_err(|e| e.to_string())?;
    let path = dir.join(format!("seccomp-{}.json", engine.name()));
    std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

impl Runtime for EngineRuntime {
    fn name(&self) -> String {
        if self.defaults {
            format!("{}-defaults", self.engine.name())
        } else {
            self.engine.name().to_string()
        }
    }

    fn version(&self) -> String {
        match self.backend.get() {
            Some(Ok(b)) => match &b.kind {
                BackendKind::Docker(d) => d.version(),
                BackendKind::Podman(_) => client_version(&b.client.bin),
            },
            _ => self
                .client_binary()
                .map(|b| client_version(&b))
                .unwrap_or_else(|_| "not installed".into()),
        }
    }

    fn available(&self) -> Result<(), Unavailable> {
        self.client_binary()?;
        let needed: &[&str] = match self.engine {
            Engine::Podman => &["runc", "conmon"],
            Engine::Docker => &[],
        };
        for b in needed {
            if crate::process::which(b).is_none() {
                return Err(Unavailable::NotInstalled {
                    runtime: self.name(),
                    hint: format!("{b} is missing: {}", self.engine.install_hint()),
                });
            }
        }
        if self.engine == Engine::Docker
            && crate::process::which("dockerd").is_none()
            && std::env::var("DOCKER_HOST").is_err()
        {
            return Err(Unavailable::NotInstalled {
                runtime: self.name(),
                hint: "no DOCKER_HOST and no dockerd to start: apt-get install docker.io".into(),
            });
        }
        Ok(())
    }

    fn unsupported(&self, iso: &Isolation) -> Option<String> {
        if self.defaults {
            return None;
        }
        super::process::joined(flags::unsupported_reasons(self.engine, iso))
    }

    fn unsupported_in(&self, iso: &Isolation, check: &Isolation) -> Option<String> {
        if self.defaults {
            return flags::defaults_unsupported(self.engine, iso, check);
        }
        flags::shared_unsupported(self.engine, iso, check).or_else(|| self.unsupported(iso))
    }

    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        self.run_with(job, job.isolation)
    }

    fn run_in(&self, job: &Job, check: &Isolation) -> Result<RunOutcome, RunError> {
        self.run_with(job, check)
    }

    fn known_weaknesses(&self) -> &'static [Weakness] {
        if self.defaults {
            return &[];
        }
        &[Weakness {
            check: "dev.host-devices-denied",
            why: "the engines' device cgroup always allows /dev/net/tun (c 10:200 rwm) besides \
                  the standard devices, and no flag takes a default rule away: a container \
                  that makes the node opens the host's tun device",
        }]
    }

    fn own_mounts(&self) -> &'static [&'static str] {
        // runc's /dev with its devpts, mqueue and shm; sysfs and its cgroup mounts; the
        // files the engine binds for name resolution and podman's container marker.
        &[
            "/dev",
            "/dev/",
            "/sys",
            "/sys/",
            "/etc/hostname",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/run/.containerenv",
        ]
    }
}

/// "4.3.1" of `podman version 4.3.1`, "28.2.2" of `Docker version 28.2.2, build e6534b4`.
fn client_version(bin: &Path) -> String {
    super::process::version_line(bin)
        .and_then(|l| {
            l.split_whitespace()
                .nth(2)
                .map(|v| v.trim_end_matches(',').to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// One `isoprobe-<engine>-...` cgroup under the caller's own in every hierarchy, under which
/// an engine's runc nests its containers' cgroups (a relative parent: an absolute one, the
/// engines' default, would take them out of the machine's memory cgroup). Recorded before the
/// engine makes it; removed once its containers are gone.
#[derive(Debug)]
pub struct CgroupParent {
    pub name: String,
    noted: Vec<(PathBuf, Noted)>,
}

/// A just-emptied cgroup can stay busy for a moment.
const RMDIR_BUSY: Backoff = Backoff::doubling(Duration::from_millis(5), Duration::from_millis(200));

impl CgroupParent {
    fn new(engine: &str) -> CgroupParent {
        let name = cgroup::unique_name(engine);
        let noted = cgroup::in_every_hierarchy(&name)
            .into_iter()
            .map(|p| {
                let n = record::note(Item::Cgroup { path: p.clone() });
                (p, n)
            })
            .collect();
        CgroupParent { name, noted }
    }

    /// Removes the parent, and what the engine left below it of the containers isoprobe
    /// removed (podman leaves a removed container's empty cgroup behind now and then).
    fn remove(&mut self) {
        for (path, noted) in std::mem::take(&mut self.noted) {
            let gone = RMDIR_BUSY.retry(Budget::Tries(10), || match remove_tree(&path) {
                Ok(()) => Some(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(true),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => None,
                Err(_) => Some(false),
            });
            if gone == Some(true) {
                noted.done();
            } else {
                eprintln!(
                    "isoprobe: warning: cannot remove cgroup {}; `isoprobe clean` will",
                    path.display()
                );
            }
        }
    }
}

/// A cgroup and the cgroups below it, deepest first (only directories: a cgroup's files go
/// with it).
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Removes what a dead run left of an engine (for `isoprobe clean`): `Ok(true)` when it was
/// there.
pub(crate) fn remove_leftover(item: &Item) -> std::io::Result<bool> {
    let (engine, command, covers, name, image) = match item {
        Item::EngineContainer {
            engine,
            command,
            covers,
            name,
        } => (engine, command, covers, name, false),
        Item::EngineImage {
            engine,
            command,
            covers,
            name,
        } => (engine, command, covers, name, true),
        Item::Daemon { pidfile } => return dockerd::stop_leftover(pidfile),
        _ => return Ok(false),
    };
    let engine = match engine.as_str() {
        "podman" => Engine::Podman,
        "docker" => Engine::Docker,
        other => {
            return Err(std::io::Error::other(format!(
                "unknown engine `{other}` in the record"
            )))
        }
    };
    let Some((bin, global)) = command.split_first() else {
        return Ok(false);
    };
    let client = Client {
        engine,
        bin: PathBuf::from(bin),
        global: global.to_vec(),
        covers: covers.to_vec(),
    };
    if !image {
        // The dead run's `run` of that container may still be making it.
        stop_clients_of(name);
    }
    let mut args: Vec<&str> = if image {
        vec!["rmi", "--force"]
    } else {
        engine.remove_container().to_vec()
    };
    args.push(name);
    match client.run(&args) {
        Ok(_) => Ok(true),
        Err(e) if e.contains("no such") || e.contains("No such") => Ok(false),
        // A daemon that is gone took its containers and images with it.
        Err(e) if e.contains("Cannot connect") || e.contains("cannot connect") => Ok(false),
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// SIGKILLs the engine clients still running the container `name` (`... run --name <name>`):
/// the name carries the pid of the dead run that started them, so no other process has it.
fn stop_clients_of(name: &str) {
    crate::process::kill_matching(|cmdline| runs_container(cmdline, name));
}

/// Whether a command line (NUL-separated) is an engine's `run --name <name>`.
fn runs_container(cmdline: &[u8], name: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(3)
        .any(|w| w[0] == b"run" && w[1] == b"--name" && w[2] == name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_known_by_the_container_it_runs() {
        let line = b"/usr/bin/podman\0--root\0/tmp/r\0run\0--name\0isoprobe-podman-7-4\0--rm\0";
        assert!(runs_container(line, "isoprobe-podman-7-4"));
        assert!(!runs_container(line, "isoprobe-podman-7-40"));
        assert!(!runs_container(
            b"podman\0rm\0--name\0isoprobe-podman-7-4",
            "isoprobe-podman-7-4"
        ));
    }

    #[test]
    fn an_unknown_capability_is_read_from_the_refusal() {
        let refusal = RunError::Runtime {
            runtime: "docker".into(),
            step: "run",
            container: "c".into(),
            detail: "exit status: 125: docker: Error response from daemon: invalid CapAdd: \
                     unknown capability: \"CAP_BPF\"  Run 'docker run --help'"
                .into(),
            exit: None,
            stderr_tail: String::new(),
        };
        assert_eq!(unknown_capability(&refusal), Some(39));
        assert_eq!(unknown_capability(&RunError::Interrupted), None);
    }

    #[test]
    fn names_and_engines() {
        assert_eq!(EngineRuntime::new(Engine::Podman, false).name(), "podman");
        assert_eq!(
            EngineRuntime::new(Engine::Docker, true).name(),
            "docker-defaults"
        );
        assert_eq!(
            EngineRuntime::engine_of("docker-defaults"),
            Some(Engine::Docker)
        );
        assert_eq!(EngineRuntime::engine_of("podman"), Some(Engine::Podman));
        assert_eq!(EngineRuntime::engine_of("runc"), None);
    }

    #[test]
    fn the_default_profile_is_written_in_the_engines_form() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_seccomp_profile(dir.path(), Engine::Docker).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ALLOW");
        let keyctl = v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["names"][0] == "keyctl")
            .unwrap();
        assert_eq!(keyctl["action"], "SCMP_ACT_ERRNO");
        assert_eq!(keyctl["errnoRet"], libc::EPERM);
    }
}
