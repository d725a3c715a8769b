//! The library surface: what a crate's own tests need to prove that a runtime isolates.
//!
//! Everything else in the crate serves the `isoprobe` binary and its own tests and is hidden;
//! this module is the one place whose shape is kept for outside users.

use crate::checks::{self, Check, Layer};
use crate::engine::{self, RunOptions};
use crate::report::{ControlStatus, Report, Status, Table};
use crate::rootfs::PreparedRootfs;
use crate::runtime::{self, Unavailable};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which checks to run, under which runtime, with or without their negative controls.
///
/// Built with [`Suite::native`], [`Suite::runtime`] or [`Suite::oci_binary`], narrowed with
/// [`check`](Suite::check) and [`layer`](Suite::layer) (nothing named: every check), then
/// [`run`](Suite::run) or [`run_or_skip`](Suite::run_or_skip). Running needs root: the checks
/// create namespaces, mounts and cgroups (each inside a stand-in host of its own, never the
/// machine's).
///
/// ```no_run
/// use isoprobe::{Layer, Suite};
///
/// // In a #[test]: runc from PATH, the namespace checks, each with its negative control.
/// let suite = Suite::runtime("runc").layer(Layer::Namespaces).negative_controls(true);
/// if let Some(report) = suite.run_or_skip("runc_keeps_namespaces_apart") {
///     isoprobe::assert_isolated(&report);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Suite {
    runtime: String,
    ids: Vec<String>,
    layers: Vec<Layer>,
    negative_controls: bool,
    timeout: Duration,
    rootfs: Option<PathBuf>,
}

/// Why a [`Suite`] did not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// This process is not root; [`Suite::run_or_skip`] skips on it.
    #[error("{0}")]
    NeedsRoot(String),
    /// The runtime's binary is not installed or not executable; [`Suite::run_or_skip`] skips
    /// on it.
    #[error("runtime `{runtime}` cannot be used: {reason}")]
    RuntimeMissing { runtime: String, reason: String },
    /// A name the suite does not know (a runtime, a check id), a selection that leaves no
    /// check, or a zero timeout: the caller's mistake, never a skip.
    #[error("{0}")]
    BadSelection(String),
    /// The machine or the runtime could not be set up for the run (a read-only cgroup
    /// hierarchy, a runtime that is there but broken, a rootfs that cannot be used...).
    #[error("{0}")]
    Setup(String),
}

impl SuiteError {
    /// Whether the suite could not run *here* (not root, runtime missing) rather than was
    /// asked for something wrong: what a test may skip on.
    pub fn is_skip(&self) -> bool {
        matches!(
            self,
            SuiteError::NeedsRoot(_) | SuiteError::RuntimeMissing { .. }
        )
    }
}

impl Suite {
    /// isoprobe's own spawner (`native`): no runtime to install.
    pub fn native() -> Suite {
        Suite::runtime("native")
    }

    /// A runtime by the name `isoprobe run --runtime` takes: `native`, `native-chroot`,
    /// `bwrap`, `unshare`, `runc`, `crun`, `youki`, `runc-no-pivot`, `crun-no-pivot` (looked up
    /// on PATH), or `oci:PATH`. An unknown name is an error of [`run`](Suite::run).
    pub fn runtime(name: &str) -> Suite {
        Suite {
            runtime: name.to_string(),
            ids: Vec::new(),
            layers: Vec::new(),
            negative_controls: false,
            timeout: Duration::from_secs(30),
            rootfs: None,
        }
    }

    /// Any OCI runtime binary (the one under development), driven like runc:
    /// `create`/`start`/`delete` with a generated bundle.
    pub fn oci_binary(path: impl AsRef<Path>) -> Suite {
        Suite::runtime(&format!("oci:{}", path.as_ref().display()))
    }

    /// Also runs the check `id` (as `isoprobe list` names it). With neither a check nor a
    /// layer named, every check runs.
    pub fn check(mut self, id: &str) -> Suite {
        self.ids.push(id.to_string());
        self
    }

    /// Also runs every check of `layer`.
    pub fn layer(mut self, layer: Layer) -> Suite {
        self.layers.push(layer);
        self
    }

    /// Runs each check's negative control too: the sabotaged setup that must make the check
    /// fail, proving that the check can fail under this runtime. Off by default (it doubles
    /// the time).
    pub fn negative_controls(mut self, on: bool) -> Suite {
        self.negative_controls = on;
        self
    }

    /// Kills a container that runs longer than this (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Suite {
        self.timeout = timeout;
        self
    }

    /// Runs the containers in a view of this directory (an unpacked image) that nothing
    /// writes through, instead of a fresh rootfs holding only the agent.
    pub fn rootfs(mut self, dir: impl Into<PathBuf>) -> Suite {
        self.rootfs = Some(dir.into());
        self
    }

    /// The checks chosen, in report order.
    fn chosen(&self) -> Result<Vec<Box<dyn Check>>, SuiteError> {
        let bad = |e: checks::UnknownCheck| SuiteError::BadSelection(e.to_string());
        let by_id = checks::select(&self.ids).map_err(bad)?;
        if self.ids.is_empty() && self.layers.is_empty() {
            return Ok(by_id);
        }
        let chosen: Vec<_> = checks::all()
            .into_iter()
            .filter(|c| self.ids.contains(&c.id()) || self.layers.contains(&c.layer()))
            .collect();
        if chosen.is_empty() {
            return Err(SuiteError::BadSelection(format!(
                "no check is in the layer(s) {}",
                self.layers
                    .iter()
                    .map(|l| l.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(chosen)
    }

    /// Runs the chosen checks and returns the report; a check that cannot run on this machine
    /// is in it as skipped, with its reason. Does not judge the report: see
    /// [`assert_isolated`].
    pub fn run(&self) -> Result<Report, SuiteError> {
        let rt =
            runtime::by_name(&self.runtime).map_err(|e| SuiteError::BadSelection(e.to_string()))?;
        let chosen = self.chosen()?;
        if self.timeout.is_zero() {
            return Err(SuiteError::BadSelection(
                "a timeout of zero would kill every container before it started; give one of \
                 at least a second"
                    .into(),
            ));
        }
        if let Some(why) = crate::testing::not_root() {
            return Err(SuiteError::NeedsRoot(why));
        }
        match rt.available() {
            Ok(()) => {}
            Err(e @ (Unavailable::NotInstalled { .. } | Unavailable::NotExecutable { .. })) => {
                return Err(SuiteError::RuntimeMissing {
                    runtime: self.runtime.clone(),
                    reason: e.to_string(),
                })
            }
            Err(e @ Unavailable::Broken(_)) => {
                return Err(SuiteError::Setup(format!(
                    "runtime `{}` is installed but does not work: {e}",
                    self.runtime
                )))
            }
        }
        let setup = |e: &dyn std::fmt::Display| SuiteError::Setup(e.to_string());
        crate::preflight::check_machine(&chosen, false).map_err(|e| setup(&e))?;
        let rootfs = match &self.rootfs {
            Some(dir) => {
                crate::rootfs::check_user_rootfs(dir).map_err(|e| setup(&e))?;
                PreparedRootfs::user(dir, crate::agent_binary::AGENT)
            }
            None => PreparedRootfs::fresh(crate::agent_binary::AGENT),
        }
        .map_err(|e| setup(&e))?;
        let opts = RunOptions {
            negative_controls: self.negative_controls,
            timeout: self.timeout,
            ..RunOptions::default()
        };
        engine::run_checks(rt.as_ref(), &chosen, &rootfs, &opts).map_err(|e| setup(&e))
    }

    /// [`run`](Suite::run) for a test: when the suite cannot run here (not root, the runtime
    /// missing) prints `SKIP <test>: <reason>` and returns `None`, or, under
    /// `ISOPROBE_REQUIRE_ALL=1`, fails the test with that reason. Any other error fails the
    /// test.
    #[track_caller]
    pub fn run_or_skip(&self, test: &str) -> Option<Report> {
        match self.run() {
            Ok(report) => Some(report),
            Err(e) if e.is_skip() => {
                skip(test, &e.to_string());
                None
            }
            Err(e) => panic!("{test}: isoprobe could not run: {e}"),
        }
    }
}

/// Prints `SKIP <test>: <reason>` on stderr (seen even when the test passes), or under
/// `ISOPROBE_REQUIRE_ALL=1` (or `true`) fails the test with the reason: a CI job that must test
/// everything then cannot pass by testing less. The caller returns after it.
#[track_caller]
pub fn skip(test: &str, reason: &str) {
    crate::testing::skip(test, reason)
}

/// Fails the calling test unless every check of `report` held and every control that ran
/// was detected; the panic message is [`shortfalls`]'s table. A check or control that was
/// skipped (the machine lacks what it needs, the runtime cannot express its setup) is printed
/// (`runc: ns.time skipped: ...`), not failed: the report records why, and whether the suite could run at all
/// is [`Suite::run_or_skip`]'s to judge (under `ISOPROBE_REQUIRE_ALL=1`). To fail on skips too,
/// use `shortfalls(&report, true)`.
#[track_caller]
pub fn assert_isolated(report: &Report) {
    assert_isolated_except(report, &[])
}

/// [`assert_isolated`] for a runtime with known weaknesses: a check of `known` (its id and why
/// the runtime does not isolate it) may be found violated; it is printed as
/// `KNOWN <runtime> / <id>: <why>: <evidence>`
/// and the rest of the report must prove isolation. A known check that held is printed too (the
/// list may be out of date); one that could not be tested, or whose control was not detected,
/// still fails the test.
///
/// ```no_run
/// let report = isoprobe::Suite::runtime("runc").negative_controls(true).run().unwrap();
/// isoprobe::assert_isolated_except(
///     &report,
///     &[("dev.host-devices-denied", "runc 1.1's default device rules allow /dev/net/tun")],
/// );
/// ```
#[track_caller]
pub fn assert_isolated_except(report: &Report, known: &[(&str, &str)]) {
    for line in skipped(report) {
        crate::testing::say(&line);
    }
    for (id, why) in known {
        let seen = report.checks.iter().find(|c| c.id == *id);
        match seen.map(|c| (c.status, violated(c))) {
            Some((Status::Fail, true)) => crate::testing::say(&format!(
                "KNOWN {} / {id}: {why}: {}",
                report.runtime.name,
                seen.map(|c| c.reason.as_str()).unwrap_or_default()
            )),
            Some((Status::Pass, _)) => crate::testing::say(&format!(
                "NOTE {} / {id}: listed as a known weakness ({why}), but it held",
                report.runtime.name
            )),
            _ => {}
        }
    }
    if let Some(table) = shortfalls_but(report, false, known) {
        panic!("{table}");
    }
}

/// A failed check whose property was found violated, not left untested.
fn violated(c: &crate::report::CheckResult) -> bool {
    c.status == Status::Fail && !c.reason.starts_with(checks::UNTESTED)
}

/// What keeps `report` from proving isolation, as a table (`None` when nothing does): each
/// check that did not hold (violated, with the evidence, or could not be tested, with what kept
/// it from being tested), each negative control that did not show its check can fail, and,
/// with `count_skips`, what was skipped.
///
/// ```
/// use isoprobe::{Report, shortfalls};
///
/// // A report as `isoprobe run --format json --negative-controls` writes it.
/// let report: Report = serde_json::from_str(r##"{
///   "isoprobe_version": "0.1.0",
///   "kernel": {"release": "6.18.0", "version": "#1 SMP"},
///   "cgroup_mode": "hybrid",
///   "runtime": {"name": "oci:/usr/local/bin/myrt", "version": "0.3.0"},
///   "summary": {"pass": 1, "fail": 2, "skip": 1},
///   "checks": [
///     {"id": "pid.init-is-1", "status": "pass", "reason": "the agent is pid 1",
///      "expected": 1, "observed": 1, "duration_ms": 40,
///      "negative_control": {"sabotage": "share the host's pid namespace",
///        "status": "missed", "reason": "the agent is pid 1", "observed": 1}},
///     {"id": "mount.proc-masked", "status": "fail",
///      "reason": "/proc/kcore is readable in the container",
///      "expected": {"readable": false}, "observed": {"readable": true}, "duration_ms": 60},
///     {"id": "cgroup.cpu-throttled", "status": "fail",
///      "reason": "could not be tested: the cgroup has no cpu.stat",
///      "expected": null, "observed": null, "duration_ms": 9},
///     {"id": "lsm.confined", "status": "skip", "reason": "no LSM is enabled",
///      "expected": null, "observed": null, "duration_ms": 0}
///   ]
/// }"##).unwrap();
///
/// assert_eq!(shortfalls(&report, false).unwrap(), "\
/// isoprobe: oci:/usr/local/bin/myrt 0.3.0 on kernel 6.18.0 (cgroup hybrid) did not prove isolation:
/// check                 outcome              why
/// pid.init-is-1         control missed       the check still passed with share the host's pid namespace: the agent is pid 1
/// mount.proc-masked     violated             /proc/kcore is readable in the container; observed {\"readable\":true}, expected {\"readable\":false}
/// cgroup.cpu-throttled  could not be tested  the cgroup has no cpu.stat
/// ");
/// // Counting skips, the one skip is a row too.
/// assert!(shortfalls(&report, true).unwrap().contains("lsm.confined          skipped"));
/// ```
pub fn shortfalls(report: &Report, count_skips: bool) -> Option<String> {
    shortfalls_but(report, count_skips, &[])
}

/// [`shortfalls`] leaving out the violations of the `known` checks.
fn shortfalls_but(report: &Report, count_skips: bool, known: &[(&str, &str)]) -> Option<String> {
    use crate::report::{compact_json, single_line};
    let mut t = Table::with_head(["check", "outcome", "why"]);
    for c in &report.checks {
        let reason = single_line(&c.reason);
        match c.status {
            Status::Pass => {}
            Status::Fail if violated(c) && known.iter().any(|(id, _)| *id == c.id) => {}
            Status::Fail => match reason.strip_prefix(checks::UNTESTED) {
                Some(why) => t.push([&*c.id, "could not be tested", why]),
                None => t.push([
                    c.id.clone(),
                    "violated".into(),
                    format!(
                        "{reason}; observed {}, expected {}",
                        compact_json(&c.observed),
                        compact_json(&c.expected)
                    ),
                ]),
            },
            Status::Skip if count_skips => t.push([&*c.id, "skipped", &*reason]),
            Status::Skip => {}
        }
        let Some(n) = &c.negative_control else {
            continue;
        };
        let control = single_line(&n.reason);
        match n.status {
            ControlStatus::Detected => {}
            ControlStatus::Missed => t.push([
                c.id.clone(),
                "control missed".into(),
                format!(
                    "the check still passed with {}: {control}",
                    single_line(&n.sabotage)
                ),
            ]),
            ControlStatus::Inconclusive => t.push([
                c.id.clone(),
                "control inconclusive".into(),
                format!("{}: {control}", single_line(&n.sabotage)),
            ]),
            ControlStatus::Skip if count_skips && c.status != Status::Skip => {
                t.push([&*c.id, "control skipped", &*control])
            }
            ControlStatus::Skip => {}
        }
    }
    if t.is_empty() {
        return None;
    }
    Some(format!(
        "isoprobe: {} {} on kernel {} (cgroup {}) did not prove isolation:\n{}",
        single_line(&report.runtime.name),
        single_line(&report.runtime.version),
        single_line(&report.kernel.release),
        single_line(&report.cgroup_mode),
        t.text()
    ))
}

/// `<runtime>: <check> skipped: <reason>` for each skipped check, and `<runtime>: <check>
/// control skipped: <reason>` for each skipped control of a check that ran (the form of the
/// harness's own runtime tests: these are results, not the test skipping).
fn skipped(report: &Report) -> Vec<String> {
    let rt = &report.runtime.name;
    let mut lines = Vec::new();
    for c in &report.checks {
        if c.status == Status::Skip {
            lines.push(format!("{rt}: {} skipped: {}", c.id, c.reason));
            continue;
        }
        if let Some(n) = c
            .negative_control
            .as_ref()
            .filter(|n| n.status == ControlStatus::Skip)
        {
            lines.push(format!("{rt}: {} control skipped: {}", c.id, n.reason));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn a_report_that_proves_isolation_has_no_shortfalls() {
        let mut r = sample::report();
        r.checks.retain(|c| c.id == "pid.isolated");
        assert_eq!(shortfalls(&r, true), None);
        assert_isolated(&r);
    }

    #[test]
    fn every_kind_of_shortfall_is_a_row() {
        let r = sample::report_with_inconclusive();
        let table = shortfalls(&r, false).unwrap();
        assert!(table.contains("mount.proc-masked"), "{table}");
        assert!(table.contains("control missed"), "{table}");
        assert!(table.contains("control inconclusive"), "{table}");
        assert!(!table.contains("user.ns-mapping"), "{table}");
        assert!(!table.contains("pid.isolated "), "{table}");
        let strict = shortfalls(&r, true).unwrap();
        assert!(strict.contains("user.ns-mapping"), "{strict}");
    }

    #[test]
    fn the_assertion_fails_with_the_table() {
        let r = sample::report();
        let failed = std::panic::catch_unwind(|| assert_isolated(&r)).unwrap_err();
        let text = failed.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("did not prove isolation"), "{text}");
        assert!(text.contains("violated"), "{text}");
    }

    #[test]
    fn a_known_weakness_is_let_through_only_as_a_violation() {
        let r = sample::report();
        // mount.proc-masked is violated, cgroup.memory-limit's control missed.
        assert!(shortfalls_but(&r, false, &[("mount.proc-masked", "x")])
            .is_some_and(|t| !t.contains("mount.proc-masked") && t.contains("control missed")));
        let mut only_violated = r.clone();
        only_violated
            .checks
            .retain(|c| ["pid.isolated", "mount.proc-masked"].contains(&c.id.as_str()));
        assert_isolated_except(&only_violated, &[("mount.proc-masked", "known")]);
        let untested = sample::report_with_inconclusive();
        let inconclusive = untested
            .checks
            .iter()
            .find(|c| c.status == Status::Fail && !violated(c))
            .expect("the sample has a check that could not be tested");
        let table = shortfalls_but(&untested, false, &[(&inconclusive.id, "known")]).unwrap();
        assert!(table.contains(&inconclusive.id), "{table}");
    }

    #[test]
    fn a_wrong_name_is_the_callers_mistake_not_a_skip() {
        let e = Suite::runtime("nonesuch").run().unwrap_err();
        assert!(matches!(e, SuiteError::BadSelection(_)), "{e}");
        assert!(!e.is_skip());
        let e = Suite::native().check("no.such-check").run().unwrap_err();
        assert!(e.to_string().contains("no.such-check"), "{e}");
        let e = Suite::native().timeout(Duration::ZERO).run().unwrap_err();
        assert!(matches!(e, SuiteError::BadSelection(_)), "{e}");
    }

    #[test]
    fn a_layer_selects_its_checks_and_an_id_adds_one() {
        let s = Suite::native().layer(Layer::Cgroups).check("pid.init-is-1");
        let chosen = s.chosen().unwrap();
        assert!(chosen.iter().any(|c| c.id() == "pid.init-is-1"));
        assert!(chosen.iter().any(|c| c.layer() == Layer::Cgroups));
        assert!(chosen
            .iter()
            .all(|c| c.layer() == Layer::Cgroups || c.id() == "pid.init-is-1"));
    }
}
