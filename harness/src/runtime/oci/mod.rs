//! OCI runtimes: `runc`, `crun`, `youki`, the weak `runc-no-pivot` and `crun-no-pivot`, and
//! `oci:PATH` for any binary that speaks the OCI runtime command line.
//!
//! One run is a bundle (`config.json` from the [`Isolation`], see `bundle.rs`) and the standard
//! operations: `create` (the container inherits its stdio: the agent's stdout and stderr pipes
//! and /dev/null), `state` (the init's host pid, whose NSpid is read before it starts),
//! `start`, the pipes read to EOF and `state` polled until `stopped`, the cgroup statistics
//! read, and `delete --force`, which also runs on every error, timeout and Ctrl-C.
//!
//! What the host cannot see here: the container's init is not isoprobe's child (the runtime
//! forks it and exits), so isoprobe cannot wait4 it. Its exit status is reported as code 0
//! when the agent printed an observation (the agent prints last and exits 0 after printing);
//! when it printed nothing, the error says so without inventing a status. Its CPU time is not
//! reported (`cpu_time: None`): the cgroup's own accounting stands in for it.

mod bundle;
mod cli;
mod devdir;
mod flavor;
mod weaknesses;

use super::{capability, parse_observation, Isolation, Job, RunError, RunOutcome, Runtime};
use crate::cgroup::{self};
use crate::spawner::SpawnError;
use crate::vocabulary::CgroupLimits;
use crate::vocabulary::{ExitKind, RootMode};
use bundle::BundleInput;
use cli::{Cli, Cut, MountView, Reader, COMMAND_TIMEOUT};
use flavor::Flavor;
use isoprobe_probes::{AgentArgs, NsType};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What `--runtime` names an OCI runtime by.
pub const NAMES: [&str; 5] = ["runc", "crun", "youki", "runc-no-pivot", "crun-no-pivot"];

/// Which binary a runtime is.
#[derive(Debug, Clone)]
enum Source {
    Named(Flavor),
    Path(PathBuf),
}

/// What isoprobe learnt about the binary, once per runtime.
#[derive(Debug)]
struct Probe {
    cli: Result<Cli, String>,
    flavor: Flavor,
    /// The version, e.g. `1.1.5+ds1`.
    version: String,
    /// The version with how the runtime is run here, for the report.
    described: String,
    /// From `<bin> features`; `None` when the runtime has no such command.
    features: Option<Support>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Support {
    namespaces: BTreeSet<NsType>,
    /// Capability numbers; `None` when the runtime does not list them.
    caps: Option<BTreeSet<u32>>,
}

pub struct OciRuntime {
    name: String,
    source: Source,
    /// Pass `--no-pivot` on every create (the weak variants).
    always_no_pivot: bool,
    probe: OnceLock<Probe>,
    /// Namespaces tried on a runtime without `features`: `Some(reason)` when refused.
    tried: Mutex<HashMap<NsType, Option<String>>>,
}

impl OciRuntime {
    /// A runtime by one of [`NAMES`], or `oci:PATH`.
    pub fn by_name(name: &str) -> Option<OciRuntime> {
        let (source, no_pivot) = match name {
            "runc" => (Source::Named(Flavor::Runc), false),
            "crun" => (Source::Named(Flavor::Crun), false),
            "youki" => (Source::Named(Flavor::Youki), false),
            "runc-no-pivot" => (Source::Named(Flavor::Runc), true),
            "crun-no-pivot" => (Source::Named(Flavor::Crun), true),
            other => {
                let path = other.strip_prefix("oci:").filter(|p| !p.is_empty())?;
                (Source::Path(PathBuf::from(path)), false)
            }
        };
        Some(OciRuntime {
            name: name.to_string(),
            source,
            always_no_pivot: no_pivot,
            probe: OnceLock::new(),
            tried: Mutex::new(HashMap::new()),
        })
    }

    fn probe(&self) -> &Probe {
        self.probe.get_or_init(|| probe(&self.source))
    }

    fn cli(&self) -> Result<&Cli, RunError> {
        self.probe()
            .cli
            .as_ref()
            .map_err(|e| SpawnError::InvalidSpec(e.clone()).into())
    }

    /// "runc 1.1.5+ds1", for reasons.
    fn who(&self) -> String {
        let p = self.probe();
        let bin = match &self.source {
            Source::Named(f) => f.binary_name().unwrap_or("runtime").to_string(),
            Source::Path(path) => path.display().to_string(),
        };
        format!("{bin} {}", p.version)
    }

    /// Why a namespace cannot be had from this runtime, if it cannot.
    fn namespace_refused(&self, ns: NsType) -> Option<String> {
        match &self.probe().features {
            Some(s) if s.namespaces.contains(&ns) => None,
            Some(_) => Some(format!(
                "{} does not support the {ns} namespace (`features` does not list it)",
                self.who()
            )),
            // Every runtime of the OCI runtime-spec 1.0 has these; newer ones are tried.
            None if ns != NsType::Time => None,
            None => self.try_namespace(ns),
        }
    }

    /// Runs the agent once with `ns` (and, for time, offsets) to see whether the runtime
    /// accepts it; remembered for the rest of the run.
    fn try_namespace(&self, ns: NsType) -> Option<String> {
        if let Some(known) = self.tried.lock().ok()?.get(&ns) {
            return known.clone();
        }
        let refused = match self.try_run(&Isolation::base().with_ns(ns)) {
            Ok(()) => None,
            // Base has a pid namespace; telling apart "not at all" from "not next to a pid
            // namespace" makes the reason say what is broken (crun 1.8 forks once more to
            // enter a time namespace, from the pid namespace's init, which then exits).
            Err(e) => Some(
                match self.try_run(&Isolation {
                    namespaces: [NsType::Mnt, ns].into_iter().collect(),
                    ..Isolation::base()
                }) {
                    // How the create fails varies run to run (EPIPE or ECONNRESET on the
                    // sync socket, stderr or none), so the reason names the failure only.
                    Ok(()) => format!(
                        "{} fails to start a container that has a {ns} namespace next to a \
                         pid namespace (tried, as it has no `features` command to ask); \
                         without the pid namespace it starts",
                        self.who()
                    ),
                    Err(_) => format!(
                        "{} could not run a container with a {ns} namespace (tried, as it \
                         has no `features` command to ask): {e}",
                        self.who()
                    ),
                },
            ),
        };
        if let Ok(mut t) = self.tried.lock() {
            t.insert(ns, refused.clone());
        }
        refused
    }

    /// Runs the agent once under `iso` (with clock offsets if it has a time namespace) in a
    /// rootfs of its own.
    fn try_run(&self, iso: &Isolation) -> Result<(), String> {
        let rootfs = crate::rootfs::FreshRootfs::build(crate::agent_binary::AGENT, None)
            .map_err(|e| format!("cannot build a rootfs to try it in: {e}"))?;
        let mut iso = iso.clone();
        if iso.namespaces.contains(&NsType::Time) {
            iso.time_offsets = Some(crate::vocabulary::TimeOffsets {
                monotonic_secs: 1,
                boottime_secs: 1,
            });
        }
        self.run(&Job {
            isolation: &iso,
            rootfs: rootfs.path(),
            agent: crate::rootfs::AGENT_IN_ROOTFS,
            args: AgentArgs::default(),
            timeout: Duration::from_secs(10),
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// The capabilities root gets here: those of isoprobe's own bounding set (what exec gives
    /// root under native) that the runtime knows (runc 1.1 refuses names it does not).
    fn available_caps(&self) -> BTreeSet<u32> {
        let own = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| isoprobe_probes::parse::parse_cap_sets(&s).ok())
            .map_or(u64::MAX, |c| c.bounding);
        let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(40);
        let known = self.probe().features.as_ref().and_then(|s| s.caps.clone());
        (0..=last.min(capability::NAMES.len() as u32 - 1))
            .filter(|c| isoprobe_probes::parse::has_cap(own, *c))
            .filter(|c| known.as_ref().is_none_or(|k| k.contains(c)))
            .collect()
    }

    fn no_pivot(&self, iso: &Isolation) -> bool {
        self.always_no_pivot || bundle::wants_no_pivot(iso)
    }
}

/// Finds the binary and asks it what it is and what it supports.
fn probe(source: &Source) -> Probe {
    let binary = match source {
        Source::Named(f) => {
            let name = f.binary_name().unwrap_or("runc");
            let extra = if *f == Flavor::Youki {
                flavor::cargo_bin()
            } else {
                Vec::new()
            };
            let path = std::env::var("PATH").ok();
            flavor::find_in(name, path.as_deref(), &extra).ok_or_else(|| {
                let looked = if extra.is_empty() {
                    "PATH".to_string()
                } else {
                    "PATH and ~/.cargo/bin".to_string()
                };
                format!(
                    "{name} is not installed ({}; looked in {looked})",
                    f.install_hint()
                )
            })
        }
        Source::Path(p) if flavor::is_executable(p) => Ok(p.clone()),
        Source::Path(p) => Err(format!(
            "{} is not an executable file ({})",
            p.display(),
            Flavor::Other.install_hint()
        )),
    };
    let plain = |b: &Path| Cli::new(b.to_path_buf(), &MountView::default());
    let version_line = binary.clone().and_then(|b| {
        plain(&b)?
            .run(["--version"], COMMAND_TIMEOUT)?
            .ok()
            .map_err(|e| format!("`{} --version` failed: {e}", b.display()))
            .map(|out| out.lines().next().unwrap_or("").trim().to_string())
    });
    let flavor = match (source, &version_line) {
        (Source::Named(f), _) => *f,
        (Source::Path(_), Ok(line)) => Flavor::from_version(line),
        (Source::Path(_), Err(_)) => Flavor::Other,
    };
    let view = match (
        cgroup::detect_layout(),
        std::fs::read_to_string("/proc/self/cgroup"),
    ) {
        (Ok(layout), Ok(own)) => MountView::plan(flavor, &layout, &own),
        _ => MountView::default(),
    };
    let cli = match (binary, version_line.clone()) {
        (Ok(b), Ok(_)) => Cli::new(b, &view),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let features = cli.as_ref().ok().and_then(|c| {
        let out = c.run(["features"], COMMAND_TIMEOUT).ok()?.ok().ok()?;
        parse_features(&out)
    });
    let version = match &version_line {
        Ok(l) => flavor::version_of(l),
        Err(_) => "not available".to_string(),
    };
    let described = match view.describe().filter(|_| cli.is_ok()) {
        Some(note) => format!("{version} ({note})"),
        None => version.clone(),
    };
    Probe {
        cli,
        flavor,
        version,
        described,
        features,
    }
}

/// The namespaces and capabilities of `<bin> features` (OCI runtime-spec `features.md`).
fn parse_features(json: &str) -> Option<Support> {
    let f: oci_spec::runtime::Features = serde_json::from_str(json).ok()?;
    let linux = f.linux().as_ref()?;
    let namespaces = linux
        .namespaces()
        .as_ref()?
        .iter()
        .filter_map(|n| {
            NsType::ALL
                .into_iter()
                .find(|t| bundle::oci_namespace(*t) == *n)
        })
        .collect();
    let caps = linux
        .capabilities()
        .as_ref()
        .map(|c| c.iter().filter_map(|n| capability::number(n)).collect());
    Some(Support { namespaces, caps })
}

impl Runtime for OciRuntime {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn version(&self) -> String {
        self.probe().described.clone()
    }

    fn available(&self) -> Result<(), String> {
        self.probe().cli.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    fn known_weaknesses(&self) -> &'static [super::Weakness] {
        match self.source {
            Source::Named(flavor) => weaknesses::of(flavor, self.always_no_pivot),
            Source::Path(_) => &[],
        }
    }

    fn unsupported(&self, iso: &Isolation) -> Option<String> {
        if self.available().is_err() {
            return None;
        }
        if iso.root == RootMode::None || !iso.namespaces.contains(&NsType::Mnt) {
            return Some(
                "an OCI runtime always enters the bundle's root.path (pivot_root, MS_MOVE or \
                 chroot): it cannot leave the container in the host's root without a mount \
                 namespace, as this setup asks"
                    .into(),
            );
        }
        if !iso.make_mounts_private && self.probe().flavor.privatises_rootfs() {
            return Some(format!(
                "{} binds the rootfs with MS_REC|MS_PRIVATE whatever rootfsPropagation says, \
                 so the mounts below it cannot be left shared",
                self.who()
            ));
        }
        if !iso.detach_old_root {
            return Some(if self.no_pivot(iso) {
                "with --no-pivot the rootfs is moved over / and chrooted into: there is no \
                 old root to keep"
                    .into()
            } else {
                "OCI runtimes always detach the old root after pivot_root; the runtime spec \
                 has no setting to keep it"
                    .into()
            });
        }
        iso.namespaces
            .iter()
            .find_map(|ns| self.namespace_refused(*ns))
    }

    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        let cli = self.cli()?;
        let iso = job.isolation;
        let started = Instant::now();
        let deadline = started + job.timeout;
        let setup = |step: &'static str, path: &Path, e: std::io::Error| -> RunError {
            SpawnError::parent(step, path, e).into()
        };
        let rootfs = job
            .rootfs
            .canonicalize()
            .map_err(|e| setup("resolve the rootfs", job.rootfs, e))?;
        let id = cgroup::unique_name("oci");
        let mut argv = vec![job.agent.to_string()];
        argv.extend(job.args.to_argv());
        let no_pivot = self.no_pivot(iso);
        let spec = bundle::spec(&BundleInput {
            iso,
            rootfs: &rootfs,
            argv,
            cgroups_path: &id,
            available_caps: &self.available_caps(),
            rootfs_propagation: self
                .probe()
                .flavor
                .rootfs_propagation(iso.make_mounts_private, no_pivot),
            dev_tmpfs: bundle::dev_tmpfs(iso),
        })
        .map_err(SpawnError::InvalidSpec)?;
        // Dropped last (declared first): the runtime is done with the bundle by then.
        let bundle_dir = tempfile::Builder::new()
            .prefix("isoprobe-bundle-")
            .tempdir()
            .map_err(|e| setup("create the bundle dir", &std::env::temp_dir(), e))?;
        let config = bundle_dir.path().join("config.json");
        spec.save(&config)
            .map_err(|e| setup("write", &config, std::io::Error::other(e.to_string())))?;

        let (out_r, out_w) = pipe().map_err(|e| setup("pipe", Path::new("stdout"), e))?;
        let (err_r, err_w) = pipe().map_err(|e| setup("pipe", Path::new("stderr"), e))?;
        // Dropped in reverse after an error: the container is deleted, the lock released, and
        // the rootfs's /dev put back as it was.
        let (dev, creating) = devdir::DevSnapshot::take(&rootfs);
        let container = Created { cli, id: &id };
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
        let mut child = spawned.map_err(|e| setup("run", &cli.binary, e))?;
        let mut reader = Reader::new(vec![out_r, err_r]);
        let created = cli::wait_child(&mut child, deadline, true);
        dev.restore(&creating);
        drop(creating);
        let status = match created {
            Ok(s) => s,
            Err(cut) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(self.cut(cut, job.timeout));
            }
        };
        if !status.success() {
            // The runtime has given up and closed its ends; what it said is on stderr.
            let _ = reader.drain(Instant::now() + Duration::from_secs(2), false);
            let stderr = String::from_utf8_lossy(&reader.into_outputs()[1]).into_owned();
            return Err(self.failed("create", &id, cli::failure_text(status, &stderr)));
        }
        let state = container.state()?;
        let pid = state["pid"]
            .as_i64()
            .filter(|p| *p > 0)
            .map(|p| p as i32)
            .ok_or_else(|| self.failed("state", &id, format!("no init pid in {state}")))?;
        let host_nspid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|t| isoprobe_probes::parse::parse_nspid(&t).ok().flatten());
        cli.run(["start", id.as_str()], COMMAND_TIMEOUT)
            .and_then(cli::Output::ok)
            .map_err(|e| self.failed("start", &id, e))?;
        if let Err(cut) = reader.drain(deadline, true) {
            container.kill();
            return Err(self.cut(cut, job.timeout));
        }
        container.wait_stopped(deadline).map_err(|cut| {
            container.kill();
            self.cut(cut, job.timeout)
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
            .transpose()
            .map_err(SpawnError::CgroupUnavailable)?;
        drop(container);
        drop(bundle_dir);
        let out = reader.into_outputs();
        let (stdout, stderr) = (&out[0], &out[1]);
        let exit = ExitKind::Code(0);
        let observation = parse_observation(exit, stdout, stderr).map_err(|e| match e {
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
            cpu_time: None,
            cgroup: sample,
        })
    }
}

impl OciRuntime {
    fn failed(&self, step: &'static str, id: &str, why: String) -> RunError {
        RunError::Runtime {
            runtime: self.who(),
            step,
            container: id.to_string(),
            detail: why,
        }
    }

    fn cut(&self, cut: Cut, timeout: Duration) -> RunError {
        match cut {
            Cut::Cancelled => SpawnError::Interrupted.into(),
            Cut::TimedOut => SpawnError::Timeout(timeout).into(),
        }
    }
}

fn pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// A container the runtime may have made: `delete --force` on drop, whatever happened.
struct Created<'a> {
    cli: &'a Cli,
    id: &'a str,
}

impl Created<'_> {
    fn state(&self) -> Result<serde_json::Value, RunError> {
        let fail = |why: String| -> RunError {
            RunError::Runtime {
                runtime: self.cli.binary.display().to_string(),
                step: "state",
                container: self.id.to_string(),
                detail: why,
            }
        };
        let out = self
            .cli
            .run(["state", self.id], COMMAND_TIMEOUT)
            .and_then(cli::Output::ok)
            .map_err(fail)?;
        serde_json::from_str(&out).map_err(|e| fail(format!("not JSON ({e}): {out}")))
    }

    /// Polls `state` until the runtime says `stopped` (the agent closed its output first, so
    /// this is normally the first answer).
    fn wait_stopped(&self, deadline: Instant) -> Result<(), Cut> {
        let mut delay = Duration::from_millis(1);
        loop {
            match self.state() {
                Ok(s) if s["status"] == "stopped" => return Ok(()),
                // Gone already: nothing runs.
                Err(_) => return Ok(()),
                Ok(_) => {}
            }
            if crate::cancel::requested() {
                return Err(Cut::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Cut::TimedOut);
            }
            std::thread::sleep(delay.min(deadline - now));
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    fn kill(&self) {
        let _ = self.cli.run(["kill", self.id, "KILL"], COMMAND_TIMEOUT);
    }
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        let deleted = self
            .cli
            .run(["delete", "--force", self.id], COMMAND_TIMEOUT)
            .and_then(cli::Output::ok);
        // A create that failed leaves nothing to delete; only a container still listed is
        // a leak worth a warning.
        if let Err(e) = deleted {
            if self.state().is_ok() {
                eprintln!(
                    "isoprobe: warning: could not delete container {} with {}: {e}",
                    self.id,
                    self.cli.binary.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_flavors_and_pivot_modes() {
        for (name, no_pivot) in [
            ("runc", false),
            ("crun", false),
            ("youki", false),
            ("runc-no-pivot", true),
            ("crun-no-pivot", true),
            ("oci:/usr/local/bin/my-runtime", false),
        ] {
            let r = OciRuntime::by_name(name).unwrap();
            assert_eq!(r.name(), name);
            assert_eq!(r.always_no_pivot, no_pivot, "{name}");
        }
        assert!(OciRuntime::by_name("oci:").is_none());
        assert!(OciRuntime::by_name("podman").is_none());
    }

    #[test]
    fn no_pivot_for_chroot_or_weak_variants() {
        let chroot = Isolation {
            root: RootMode::Chroot,
            ..Isolation::base()
        };
        let runc = OciRuntime::by_name("runc").unwrap();
        assert!(!runc.no_pivot(&Isolation::base()));
        assert!(runc.no_pivot(&chroot));
        assert!(OciRuntime::by_name("runc-no-pivot")
            .unwrap()
            .no_pivot(&Isolation::base()));
    }

    #[test]
    fn features_give_namespaces_and_capabilities() {
        let json = r#"{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2-dev",
            "linux":{"namespaces":["cgroup","ipc","mount","network","pid","user","uts"],
                     "capabilities":["CAP_CHOWN","CAP_SYS_ADMIN","CAP_FUTURE_THING"]}}"#;
        let s = parse_features(json).unwrap();
        assert!(s.namespaces.contains(&NsType::Mnt) && s.namespaces.contains(&NsType::Net));
        assert!(!s.namespaces.contains(&NsType::Time));
        assert_eq!(s.caps, Some([0, 21].into_iter().collect()));
        assert_eq!(parse_features("unknown command features"), None);
    }

    #[test]
    fn a_missing_binary_is_unavailable_with_the_reason() {
        let r = OciRuntime::by_name("oci:/nonexistent/isoprobe-runtime").unwrap();
        let why = r.available().unwrap_err();
        assert!(
            why.contains("/nonexistent/isoprobe-runtime is not an executable"),
            "{why}"
        );
        assert_eq!(r.version(), "not available");
        assert_eq!(r.unsupported(&Isolation::base()), None);
    }
}
