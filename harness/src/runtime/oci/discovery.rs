//! What isoprobe learns about an OCI runtime before it runs a container with it: which binary
//! it is, its version, the mount view it needs here, what `features` lists, and, for a
//! runtime without `features`, whether it accepts a namespace (tried once, remembered).

use super::bundle;
use super::cli::{Cli, CliError, MountView, COMMAND_TIMEOUT};
use super::flavor::{self, Flavor};
use super::OciRuntime;
use crate::cgroup;
use crate::process;
use crate::runtime::{capability, Isolation, Job, RunError, Runtime, Unavailable};
use isoprobe_probes::{AgentArgs, NsType};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which binary a runtime is.
#[derive(Debug, Clone)]
pub(super) enum Source {
    Named(Flavor),
    Path(PathBuf),
}

/// What isoprobe learnt about the binary, once per runtime.
#[derive(Debug)]
pub(super) struct RuntimeFacts {
    pub cli: Result<Cli, Unavailable>,
    pub flavor: Flavor,
    /// The version, e.g. `1.1.5+ds1`.
    pub version: String,
    /// The version with how the runtime is run here, for the report.
    pub described: String,
    /// From `<bin> features`; `None` when the runtime has no such command.
    pub features: Option<Support>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Support {
    pub namespaces: BTreeSet<NsType>,
    /// Capability numbers; `None` when the runtime does not list them.
    pub caps: Option<BTreeSet<u32>>,
    /// `linux.seccomp.enabled`: whether seccomp support is compiled in (`None`: not said,
    /// as youki 0.7 built without its `seccomp` feature).
    pub seccomp: Option<bool>,
}

/// The binary of `source`, or why there is none.
fn binary(source: &Source) -> Result<PathBuf, Unavailable> {
    match source {
        Source::Named(f) => {
            let name = f.binary_name().unwrap_or("runc");
            process::which(name).ok_or_else(|| Unavailable::NotInstalled {
                runtime: name.to_string(),
                hint: format!("{}; looked in {}", f.install_hint(), process::LOOKED_IN),
            })
        }
        Source::Path(p) if process::is_executable(p) => Ok(p.clone()),
        Source::Path(p) => Err(Unavailable::NotExecutable {
            path: p.clone(),
            hint: Flavor::Other.install_hint(),
        }),
    }
}

fn broken(e: CliError) -> Unavailable {
    Unavailable::Broken(e.to_string())
}

/// Finds the binary and asks it what it is and what it supports.
pub(super) fn discover(source: &Source) -> RuntimeFacts {
    let binary = binary(source);
    let plain = |b: &Path| Cli::new(b.to_path_buf(), &MountView::default()).map_err(broken);
    let version_line = binary.clone().and_then(|b| {
        plain(&b)?
            .run(["--version"], COMMAND_TIMEOUT)
            .map_err(broken)?
            .ok()
            .map_err(|e| Unavailable::Broken(format!("`{} --version` failed: {e}", b.display())))
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
        (Ok(layout), Ok(own)) => {
            MountView::plan(flavor, &layout, &own, crate::rootless::active().is_some())
        }
        _ => MountView::default(),
    };
    let cli = match (binary, version_line.clone()) {
        (Ok(b), Ok(_)) => Cli::new(b, &view).map_err(broken),
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
    RuntimeFacts {
        cli,
        flavor,
        version,
        described,
        features,
    }
}

/// The namespaces and capabilities of `<bin> features` (OCI runtime-spec `features.md`).
pub(super) fn parse_features(json: &str) -> Option<Support> {
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
    let seccomp = linux.seccomp().as_ref().and_then(|s| *s.enabled());
    Some(Support {
        namespaces,
        caps,
        seccomp,
    })
}

impl OciRuntime {
    /// Why a namespace cannot be had from this runtime, if it cannot.
    pub(super) fn namespace_refused(&self, ns: NsType) -> Option<String> {
        match &self.facts().features {
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

    /// Why this runtime cannot apply a `linux.seccomp` filter: only when `features` says it
    /// has no seccomp support. One that says nothing (youki 0.7 never does, with or without its
    /// `seccomp` feature) is given the filter and judged on what the container could call.
    pub(super) fn seccomp_refused(&self) -> Option<String> {
        match &self.facts().features {
            Some(s) if s.seccomp == Some(false) => Some(format!(
                "{} says in `features` that it has no seccomp support: it cannot apply a filter",
                self.who()
            )),
            _ => None,
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
    fn try_run(&self, iso: &Isolation) -> Result<(), TryFailed> {
        let rootfs = crate::rootfs::FreshRootfs::build(crate::agent_binary::AGENT, None)
            .map_err(TryFailed::Rootfs)?;
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
        })?;
        Ok(())
    }

    /// The capabilities root gets here: those of isoprobe's own bounding set (what exec gives
    /// root under native) that the runtime knows (runc 1.1 refuses names it does not).
    pub(super) fn available_caps(&self) -> BTreeSet<u32> {
        let known = self.facts().features.as_ref().and_then(|s| s.caps.clone());
        capability::grantable()
            .into_iter()
            .filter(|c| known.as_ref().is_none_or(|k| k.contains(c)))
            .collect()
    }
}

/// Why a trial run did not start a container.
#[derive(Debug, thiserror::Error)]
enum TryFailed {
    #[error("cannot build a rootfs to try it in: {0}")]
    Rootfs(#[source] std::io::Error),
    #[error(transparent)]
    Run(#[from] RunError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_give_namespaces_and_capabilities() {
        let json = r#"{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2-dev",
            "linux":{"namespaces":["cgroup","ipc","mount","network","pid","user","uts"],
                     "capabilities":["CAP_CHOWN","CAP_SYS_ADMIN","CAP_FUTURE_THING"]}}"#;
        let s = parse_features(json).unwrap();
        assert!(s.namespaces.contains(&NsType::Mnt) && s.namespaces.contains(&NsType::Net));
        assert!(!s.namespaces.contains(&NsType::Time));
        assert_eq!(s.caps, Some([0, 21].into_iter().collect()));
        assert_eq!(s.seccomp, None);
        assert_eq!(parse_features("unknown command features"), None);
        let with = json.replace(
            r#""capabilities""#,
            r#""seccomp":{"enabled":true},"capabilities""#,
        );
        assert_eq!(parse_features(&with).unwrap().seccomp, Some(true));
    }

    #[test]
    fn a_missing_binary_is_unavailable_with_the_reason() {
        let r = OciRuntime::at_path(
            "oci:/nonexistent/isoprobe-runtime",
            "/nonexistent/isoprobe-runtime",
        );
        let why = r.available().unwrap_err().to_string();
        assert!(
            why.contains("/nonexistent/isoprobe-runtime is not an executable"),
            "{why}"
        );
        assert_eq!(r.version(), "not available");
        assert_eq!(r.unsupported(&Isolation::base()), None);
    }
}
