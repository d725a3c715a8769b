//! Runtimes: what starts the container. Every runtime runs the same agent under the same
//! [`Isolation`] and hands back the same [`RunOutcome`], so that the checks never know which
//! runtime they judge.
//!
//! To add a runtime: implement [`Runtime`] (map each field of [`Isolation`] to the runtime's
//! input, and name in [`Runtime::unsupported`] what it cannot express), then add it to
//! [`REGISTRY`].

pub mod bwrap;
// Public only for the integration tests, which build containers from the same table.
#[doc(hidden)]
pub mod capability;
pub mod engines;
mod error;
#[cfg(test)]
pub(crate) mod fake;
mod native;
pub mod oci;
mod process;
mod registry;
pub mod unshare;

pub use error::{RunError, Unavailable, UnknownRuntime};
pub use native::NativeRuntime;
pub use registry::{by_name, engine_defaults, Entry, NAMES, REGISTRY};

use crate::vocabulary::{CgroupSample, ExitKind, HostStepError, Isolation, RootMode};
use isoprobe_probes::{AgentArgs, Observation};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One container run: the isolation asked for, the rootfs, and what the agent should do.
pub struct Job<'a> {
    pub isolation: &'a Isolation,
    pub rootfs: &'a Path,
    /// The agent's path inside the rootfs.
    pub agent: &'a str,
    pub args: AgentArgs,
    pub timeout: Duration,
}

impl Job<'_> {
    /// The agent's command line: its path (inside the rootfs, or on the host when the
    /// isolation has no root of its own), then its arguments.
    pub fn agent_argv(&self) -> Vec<String> {
        let agent = match self.isolation.root {
            RootMode::None => self
                .rootfs
                .join(self.agent.trim_start_matches('/'))
                .display()
                .to_string(),
            _ => self.agent.to_string(),
        };
        let mut argv = vec![agent];
        argv.extend(self.args.to_argv());
        argv
    }

    /// The rootfs as a container runtime is given it: absolute, its symlinks resolved.
    pub fn resolved_rootfs(&self) -> Result<PathBuf, RunError> {
        self.rootfs
            .canonicalize()
            .map_err(|e| HostStepError::new("resolve the rootfs", self.rootfs, e).into())
    }
}

/// What a run produced: the agent's observation and what the host saw of the run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub observation: Observation,
    /// How the agent's process ended (a probe may get it killed after it printed, e.g. OOM).
    pub exit: ExitKind,
    /// The container's init as the host sees it (None when the runtime hides it).
    pub host_pid: Option<i32>,
    pub host_nspid: Option<Vec<i32>>,
    /// The lines of the container init's `/proc/<pid>/cgroup` read on the host while it was
    /// about to start (None when the runtime gives no host pid): where it really is.
    pub host_cgroup: Option<Vec<String>>,
    /// CPU time the container's process used, measured by the host.
    pub cpu_time: Option<Duration>,
    pub cgroup: Option<CgroupSample>,
}

/// A check a runtime fails because it does not isolate that property: a finding about the
/// runtime, kept with its adapter so that a change either way is noticed by the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weakness {
    /// The id of the check the runtime fails.
    pub check: &'static str,
    /// Why the runtime does not isolate it.
    pub why: &'static str,
}

pub trait Runtime: Send + Sync {
    /// The name users pass to `--runtime`.
    fn name(&self) -> String;
    fn version(&self) -> String;
    /// Why the runtime cannot run on this machine at all (not installed, say): every check
    /// is then skipped with the reason.
    fn available(&self) -> Result<(), Unavailable> {
        Ok(())
    }
    /// Why this runtime cannot run `iso` as asked, if it cannot: the check is then skipped
    /// with this reason instead of passing on a setup that was never built.
    fn unsupported(&self, iso: &Isolation) -> Option<String>;
    fn run(&self, job: &Job) -> Result<RunOutcome, RunError>;
    /// Why the runtime cannot run `iso` for a check whose own isolation is `check` (`iso` is
    /// `check` itself, its control's, or a reference run's). By default `iso` says all; an
    /// engine in defaults mode keeps its own configuration and gives up, with its escape
    /// hatches, only what `iso` gives up of `check`.
    fn unsupported_in(&self, iso: &Isolation, check: &Isolation) -> Option<String> {
        let _ = check;
        self.unsupported(iso)
    }
    /// Runs `job` for a check whose own isolation is `check` (see [`Runtime::unsupported_in`]).
    fn run_in(&self, job: &Job, check: &Isolation) -> Result<RunOutcome, RunError> {
        let _ = check;
        self.run(job)
    }
    /// The checks this runtime is known to fail, and why.
    fn known_weaknesses(&self) -> &'static [Weakness] {
        &[]
    }
    /// The checks it is known to fail when run from isoprobe's rootless user namespace, which
    /// [`Runtime::known_weaknesses`] gives in a rootless run; the same unless they differ there.
    fn rootless_weaknesses(&self) -> &'static [Weakness] {
        self.known_weaknesses()
    }
    /// Why this runtime cannot run from isoprobe's rootless user namespace
    /// (`crate::rootless`), if it cannot: a rootless run under it is refused before it starts.
    fn rootless_unsupported(&self) -> Option<String> {
        Some(format!(
            "isoprobe does not run {} rootless yet (its rootless configuration is not mapped)",
            self.name()
        ))
    }
    /// The mount points the runtime makes in every container whatever the isolation asks
    /// (an engine's `/dev`, `/sys`, `/etc/hosts`): a check of the mount table does not count
    /// them as the host's, and still tries to reach the host below them. A path ending in `/`
    /// stands for everything below it.
    fn own_mounts(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A runtime as one check sees it: every run is for that check (`run_in`), so that a check
/// needs not know how a runtime in defaults mode reads its isolations.
pub struct InCheck<'a> {
    pub runtime: &'a dyn Runtime,
    /// The check's own isolation.
    pub check: Isolation,
}

impl Runtime for InCheck<'_> {
    fn name(&self) -> String {
        self.runtime.name()
    }
    fn version(&self) -> String {
        self.runtime.version()
    }
    fn available(&self) -> Result<(), Unavailable> {
        self.runtime.available()
    }
    fn unsupported(&self, iso: &Isolation) -> Option<String> {
        self.runtime.unsupported_in(iso, &self.check)
    }
    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        self.runtime.run_in(job, &self.check)
    }
    fn known_weaknesses(&self) -> &'static [Weakness] {
        self.runtime.known_weaknesses()
    }
    fn rootless_weaknesses(&self) -> &'static [Weakness] {
        self.runtime.rootless_weaknesses()
    }
    fn rootless_unsupported(&self) -> Option<String> {
        self.runtime.rootless_unsupported()
    }
    fn own_mounts(&self) -> &'static [&'static str] {
        self.runtime.own_mounts()
    }
}

/// Parses the agent's stdout; shared by every runtime.
pub fn parse_observation(
    exit: ExitKind,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<Observation, RunError> {
    let text = String::from_utf8_lossy(stdout);
    if text.trim().is_empty() {
        return Err(RunError::AgentFailed {
            exit,
            stderr: String::from_utf8_lossy(stderr).trim().to_string(),
        });
    }
    // The path names the field that did not match (`tried[0].caps.bounding`), which serde's
    // own message leaves out.
    let bad = |field: String, error: serde_json::Error| RunError::BadOutput {
        field,
        error: error.to_string(),
        stdout: text.chars().take(500).collect(),
    };
    let mut de = serde_json::Deserializer::from_str(text.trim());
    let observation: Observation = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| bad(e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| bad(".".into(), e))?;
    Ok(observation)
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    fn parse(stdout: &str) -> Result<Observation, RunError> {
        parse_observation(ExitKind::Code(0), stdout.as_bytes(), b"")
    }

    #[test]
    fn a_mismatch_names_the_field() {
        let good = serde_json::to_value(isoprobe_probes::agent::observe_cheap()).unwrap();
        assert!(parse(&good.to_string()).is_ok());
        let mut bad = good.clone();
        bad["uid"] = "root".into();
        let e = parse(&bad.to_string()).unwrap_err();
        assert!(
            matches!(&e, RunError::BadOutput { field, .. } if field == "uid"),
            "{e:?}"
        );
        assert!(e.to_string().contains("field `uid`"), "{e}");
        let mut nested = good.clone();
        nested["namespaces"]["net"] = serde_json::json!({"ok": {"dev": -1, "ino": 1}});
        let e = parse(&nested.to_string()).unwrap_err();
        assert!(e.to_string().contains("namespaces.net"), "{e}");
    }

    #[test]
    fn garbage_and_trailing_text_are_bad_output_not_a_panic() {
        for junk in ["]", "{", "null", "{\"pid\": 1}", "segfault\n", "{} {}"] {
            assert!(
                matches!(parse(junk), Err(RunError::BadOutput { .. })),
                "{junk}"
            );
        }
        assert!(matches!(parse("  \n"), Err(RunError::AgentFailed { .. })));
    }
}
