//! Runs checks (and their negative controls) under one runtime or several, up to
//! [`RunOptions::jobs`] runs at a time, and assembles one report per runtime in the checks'
//! order (ARCHITECTURE.md, "Runs at a time").

use crate::checks::{Check, Ctx, Finding, Requirement, Verdict};
use crate::error::HarnessError;
use crate::report::{
    CheckResult, ControlResult, ControlStatus, Kernel, Report, RuntimeInfo, Status, Summary,
};
use crate::rootfs::PreparedRootfs;
use crate::runtime::{InCheck, RunError, Runtime};
use crate::standin::StandIn;
use crate::vocabulary::Isolation;
use pool::Next;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct RunOptions {
    pub negative_controls: bool,
    pub timeout: Duration,
    /// Runs (a check, or its control) at a time; 1 runs them one after the other.
    pub jobs: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            negative_controls: false,
            timeout: Duration::from_secs(30),
            jobs: default_jobs(),
        }
    }
}

/// As many runs at a time as cores: a run mostly waits, yet on two cores four at a time gained
/// nothing over two (the agents' own CPU, the CPU control's spin above all, fills them).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn run_checks(
    runtime: &dyn Runtime,
    checks: &[Box<dyn Check>],
    rootfs: &PreparedRootfs,
    opts: &RunOptions,
) -> Result<Report, HarnessError> {
    let mut reports = run_runtimes(&[runtime], checks, rootfs, opts)?;
    Ok(reports.remove(0))
}

/// One report per runtime, in the order given. Every check and every control of every
/// runtime is one task of one bounded pool ([`RunOptions::jobs`]), each in a stand-in host of
/// its own; the reports are assembled in the checks' order whatever ended first.
pub fn run_runtimes(
    runtimes: &[&dyn Runtime],
    checks: &[Box<dyn Check>],
    rootfs: &PreparedRootfs,
    opts: &RunOptions,
) -> Result<Vec<Report>, HarnessError> {
    let scratch = crate::record::TempDir::new("scratch", None)
        .map_err(|e| HarnessError::Setup(format!("cannot create a scratch directory: {e}")))?;
    // Planning asks each runtime what it is and supports (an OCI runtime's discovery runs
    // its binary several times): the runtimes are asked side by side too.
    let plans: Vec<Plan> = pool::run(opts.jobs, runtimes, |_, &runtime| {
        let ctx = Ctx {
            runtime,
            rootfs: rootfs.path(),
            agent: rootfs.agent(),
            scratch: scratch.path(),
            timeout: opts.timeout,
        };
        (
            Plan::of(&ctx, checks, opts.negative_controls),
            Next::Continue,
        )
    })
    .into_iter()
    .flatten()
    .collect();
    // Every check before any control: a control's sabotaged run may take a whole core (the
    // CPU check's without its quota), and should not compete with the check it belongs to.
    let tasks: Vec<Task> = [Part::Check, Part::Control]
        .into_iter()
        .flat_map(|part| {
            plans
                .iter()
                .enumerate()
                .flat_map(move |(r, plan)| plan.tasks(r, part))
        })
        .collect();
    let workers = pool::workers(opts.jobs, tasks.len());
    let rootfses = Rootfses::for_workers(rootfs, workers)?;
    let done = pool::run(opts.jobs, &tasks, |worker, task| {
        if crate::cancel::requested() {
            return (Err(HarnessError::Interrupted), Next::Stop);
        }
        let rootfs = rootfses.of(worker);
        let ctx = Ctx {
            runtime: runtimes[task.runtime],
            rootfs: rootfs.path(),
            agent: rootfs.agent(),
            scratch: scratch.path(),
            timeout: opts.timeout,
        };
        let check = checks[task.check].as_ref();
        let result = match task.part {
            Part::Check => {
                let started = Instant::now();
                match on_stand_in(&ctx, rootfs, check, &check.isolation()) {
                    Err(RunError::Unsupported { reason, .. }) => {
                        Ok(Done::Unsupported(reason, started))
                    }
                    other => interruptible(other)
                        .map(|v| Done::Check(v, started.elapsed().as_millis() as u64)),
                }
            }
            Part::Control => run_control(&ctx, rootfs, check).map(Done::Control),
        };
        let next = if result.is_err() {
            Next::Stop
        } else {
            Next::Continue
        };
        (result, next)
    });
    let mut outcomes = HashMap::new();
    for (task, d) in tasks.iter().zip(done) {
        match d {
            Some(Err(e)) => return Err(e),
            Some(Ok(d)) => {
                outcomes.insert((task.runtime, task.check, task.part), d);
            }
            None => {}
        }
    }
    let mut reports = Vec::new();
    for (r, (&runtime, plan)) in runtimes.iter().zip(plans).enumerate() {
        let results = plan.assemble(checks, |check, part| outcomes.remove(&(r, check, part)))?;
        reports.push(report_of(runtime, results));
    }
    Ok(reports)
}

fn report_of(runtime: &dyn Runtime, results: Vec<CheckResult>) -> Report {
    Report {
        isoprobe_version: env!("CARGO_PKG_VERSION").into(),
        kernel: kernel(),
        cgroup_mode: cgroup_mode(),
        runtime: RuntimeInfo {
            name: runtime.name(),
            version: runtime.version(),
        },
        summary: Summary::of(&results),
        checks: results,
        features: Some(serde_json::to_value(crate::features::detect()).unwrap_or_default()),
        rootless: crate::rootless::active().cloned(),
    }
}

/// A run the pool hands out: one check of one runtime, or its control.
struct Task {
    runtime: usize,
    check: usize,
    part: Part,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Check,
    Control,
}

enum Done {
    Check(Verdict, u64),
    /// What the runtime found it cannot build only once it was asked to (an engine whose
    /// daemon cannot see a mount the check made): a recorded skip, as from `unsupported`.
    Unsupported(String, Instant),
    Control(ControlResult),
}

/// What a runtime's suite will be, decided before anything runs: each check either runs (with
/// its control when controls run) or is skipped with its reason.
struct Plan {
    /// Per check: `Some` when it is skipped (its result is already known).
    skipped: Vec<Option<CheckResult>>,
    controls: bool,
}

impl Plan {
    fn of(ctx: &Ctx, checks: &[Box<dyn Check>], controls: bool) -> Plan {
        let unavailable = ctx.runtime.available().err().map(|e| e.to_string());
        let skipped = checks
            .iter()
            .map(|check| {
                let check = check.as_ref();
                if let Some(why) = &unavailable {
                    return Some(unavailable_result(check, why, controls));
                }
                let started = Instant::now();
                unmet(ctx, check).map(|reason| {
                    let control = controls.then(|| format!("check skipped: {reason}"));
                    skipped(check, reason, control, started)
                })
            })
            .collect();
        Plan { skipped, controls }
    }

    /// The runs of `part` this plan needs (none of a skipped check).
    fn tasks(&self, runtime: usize, part: Part) -> Vec<Task> {
        if part == Part::Control && !self.controls {
            return Vec::new();
        }
        (0..self.skipped.len())
            .filter(|&check| self.skipped[check].is_none())
            .map(|check| Task {
                runtime,
                check,
                part,
            })
            .collect()
    }

    /// The results in the checks' order, each run's outcome taken from `outcome`. A run
    /// without an outcome means the run was stopped.
    fn assemble(
        self,
        checks: &[Box<dyn Check>],
        mut outcome: impl FnMut(usize, Part) -> Option<Done>,
    ) -> Result<Vec<CheckResult>, HarnessError> {
        let mut results = Vec::new();
        for (i, (check, planned_skip)) in checks.iter().zip(self.skipped).enumerate() {
            if let Some(result) = planned_skip {
                results.push(result);
                continue;
            }
            let (verdict, duration_ms) = match outcome(i, Part::Check) {
                Some(Done::Check(verdict, duration_ms)) => (verdict, duration_ms),
                Some(Done::Unsupported(reason, started)) => {
                    // Its control ran beside it; a control of a check that did not run says
                    // nothing.
                    let _ = outcome(i, Part::Control);
                    let control = self.controls.then(|| format!("check skipped: {reason}"));
                    results.push(skipped(check.as_ref(), reason, control, started));
                    continue;
                }
                _ => return Err(HarnessError::Interrupted),
            };
            let negative_control = if self.controls {
                let Some(Done::Control(c)) = outcome(i, Part::Control) else {
                    return Err(HarnessError::Interrupted);
                };
                Some(c)
            } else {
                None
            };
            results.push(CheckResult {
                id: check.id(),
                status: if verdict.pass() {
                    Status::Pass
                } else {
                    Status::Fail
                },
                reason: verdict.reason,
                expected: verdict.expected,
                observed: verdict.observed,
                duration_ms,
                negative_control,
            });
        }
        Ok(results)
    }
}

/// The rootfs each worker gives its containers. A user's rootfs is seen through a view of its
/// own in each stand-in host, so the workers share it; the fresh rootfs is a directory that an
/// OCI runtime writes `/dev` entries into while it creates a container (`oci/devdir.rs`), so
/// each further worker gets a copy of its own, and no container sees another's.
struct Rootfses<'a> {
    first: &'a PreparedRootfs,
    more: Vec<PreparedRootfs>,
}

impl<'a> Rootfses<'a> {
    fn for_workers(first: &'a PreparedRootfs, workers: usize) -> Result<Self, HarnessError> {
        let mut more = Vec::new();
        for _ in 1..workers {
            match first.another()? {
                Some(r) => more.push(r),
                None => break,
            }
        }
        Ok(Rootfses { first, more })
    }

    fn of(&self, worker: usize) -> &PreparedRootfs {
        match worker.checked_sub(1).and_then(|i| self.more.get(i)) {
            Some(r) => r,
            None => self.first,
        }
    }
}

/// A skipped check and, when controls run (`control_reason` is given), its skipped control.
fn skipped(
    check: &dyn Check,
    reason: String,
    control_reason: Option<String>,
    started: Instant,
) -> CheckResult {
    CheckResult {
        id: check.id(),
        status: Status::Skip,
        reason,
        expected: Value::Null,
        observed: Value::Null,
        duration_ms: started.elapsed().as_millis() as u64,
        negative_control: control_reason.map(|reason| ControlResult {
            sabotage: check.sabotage().describe(),
            status: ControlStatus::Skip,
            reason,
            observed: Value::Null,
        }),
    }
}

/// A check of a runtime that is not here: skipped with the runtime's reason (and its control).
fn unavailable_result(check: &dyn Check, why: &str, with_control: bool) -> CheckResult {
    let reason = format!("runtime unavailable: {why}");
    let control = with_control.then(|| reason.clone());
    skipped(check, reason, control, Instant::now())
}

/// Why the check cannot run here, if it cannot.
fn unmet(ctx: &Ctx, check: &dyn Check) -> Option<String> {
    let reasons: Vec<String> = check
        .requirements()
        .iter()
        .filter_map(|r| r.check().err().map(|e| e.to_string()))
        .collect();
    if !reasons.is_empty() {
        return Some(reasons.join("; "));
    }
    let iso = check.isolation();
    ctx.runtime.unsupported_in(&iso, &iso)
}

fn run_control(
    ctx: &Ctx,
    rootfs: &PreparedRootfs,
    check: &dyn Check,
) -> Result<ControlResult, HarnessError> {
    let sabotage = check.sabotage();
    let iso = sabotage.apply(&check.isolation());
    let base = ControlResult {
        sabotage: sabotage.describe(),
        status: ControlStatus::Skip,
        reason: String::new(),
        observed: Value::Null,
    };
    // What the sabotage adds may be beyond a rootless run (a container in the machine's pid
    // namespace, say).
    let unmet: Vec<String> = Requirement::beyond_user_ns(&iso)
        .iter()
        .filter_map(|r| r.check().err().map(|e| e.to_string()))
        .collect();
    if !unmet.is_empty() {
        return Ok(ControlResult {
            reason: format!("the sabotaged setup {}", unmet.join("; ")),
            ..base
        });
    }
    if let Some(why) = ctx.runtime.unsupported_in(&iso, &check.isolation()) {
        return Ok(ControlResult {
            reason: format!("the runtime cannot run the sabotaged setup: {why}"),
            ..base
        });
    }
    // A control proves the check can fail only when its judge finds the property violated: a
    // sabotaged run that could not be tested, or could not even be run, proves nothing.
    let v = match on_stand_in(ctx, rootfs, check, &iso) {
        Ok(v) => v,
        Err(RunError::Unsupported { reason, .. }) => {
            return Ok(ControlResult {
                reason: format!("the runtime cannot run the sabotaged setup: {reason}"),
                ..base
            })
        }
        Err(e) if e.is_interrupt() => return Err(HarnessError::Interrupted),
        Err(e) => Verdict::inconclusive(format!("the sabotaged setup could not be run: {e}")),
    };
    Ok(ControlResult {
        status: match v.finding {
            Finding::Violated => ControlStatus::Detected,
            Finding::Holds => ControlStatus::Missed,
            Finding::Inconclusive => ControlStatus::Inconclusive,
        },
        reason: v.reason,
        observed: v.observed,
        ..base
    })
}

/// Runs the check under `iso` inside a stand-in host of its own, so that neither it nor the
/// containers it starts can change the machine (see [`crate::standin`]). A stand-in that cannot
/// be made leaves the property untested. A user's rootfs is seen through a view mounted in the
/// stand-in, which goes with it (`rootfs.rs`).
fn on_stand_in(
    ctx: &Ctx,
    rootfs: &PreparedRootfs,
    check: &dyn Check,
    iso: &Isolation,
) -> Result<Verdict, RunError> {
    let in_check = InCheck {
        runtime: ctx.runtime,
        check: check.isolation(),
    };
    let ctx = &Ctx {
        runtime: &in_check,
        ..*ctx
    };
    let run = || {
        let _view = rootfs.view()?;
        check.run(ctx, iso)
    };
    match StandIn::create().and_then(|host| host.within(run)) {
        Ok(verdict) => verdict,
        Err(e) => Ok(Verdict::inconclusive(e.to_string())),
    }
}

/// A run error leaves the property untested, except an interrupt, which ends the whole run.
fn interruptible(r: Result<Verdict, RunError>) -> Result<Verdict, HarnessError> {
    match r {
        Ok(v) => Ok(v),
        Err(e) if e.is_interrupt() => Err(HarnessError::Interrupted),
        Err(e) => Ok(Verdict::inconclusive(format!(
            "the container could not be run: {e}"
        ))),
    }
}

pub fn kernel() -> Kernel {
    match nix::sys::utsname::uname() {
        Ok(u) => Kernel {
            release: u.release().to_string_lossy().into_owned(),
            version: u.version().to_string_lossy().into_owned(),
        },
        Err(_) => Kernel {
            release: "unknown".into(),
            version: "unknown".into(),
        },
    }
}

pub fn cgroup_mode() -> String {
    crate::cgroup::detect_layout()
        .map(|l| l.mode.to_string())
        .unwrap_or_else(|_| "none".into())
}

mod pool;

#[cfg(test)]
mod faults;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Control, Requirement, ShownBy};
    use crate::runtime::fake::FnRuntime;
    use crate::spawner::SpawnError;
    use crate::vocabulary::CpuQuota;
    use crate::vocabulary::{Isolation, Sabotage};

    /// Holds on its own isolation; its sabotaged run ends as told (`None`: a run error).
    struct Fake {
        control: Option<Finding>,
    }
    impl Check for Fake {
        fn id(&self) -> String {
            "fake".into()
        }
        fn description(&self) -> String {
            String::new()
        }
        fn requirements(&self) -> Vec<Requirement> {
            vec![]
        }
        fn isolation(&self) -> Isolation {
            Isolation {
                cpu_quota: Some(CpuQuota {
                    quota_us: 1,
                    period_us: 2,
                }),
                ..Isolation::base()
            }
        }
        fn control(&self) -> Control {
            Sabotage::NoCpuQuota.shown_by("fake")
        }
        fn run(&self, _: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
            let finding = match (iso.cpu_quota, self.control) {
                (Some(_), _) => Finding::Holds,
                (None, Some(f)) => f,
                (None, None) => {
                    return Err(RunError::Spawn(SpawnError::InvalidSpec("boom".into())))
                }
            };
            let (violations, untested) = match finding {
                Finding::Holds => (vec![], vec![]),
                Finding::Violated => (vec!["broken".to_string()], vec![]),
                Finding::Inconclusive => (vec![], vec!["no statistics".to_string()]),
            };
            Ok(Verdict::judge(
                violations,
                untested,
                "ok",
                Value::Null,
                Value::Null,
            ))
        }
    }

    fn control_of(check: Fake) -> ControlResult {
        // Never reached: the fake check does not run containers.
        let no_runtime = FnRuntime::new("none", |_| {
            unreachable!("the fake check does not run containers")
        });
        let rootfs = PreparedRootfs::fresh(b"").unwrap();
        let checks: Vec<Box<dyn Check>> = vec![Box::new(check)];
        let opts = RunOptions {
            negative_controls: true,
            ..RunOptions::default()
        };
        run_checks(&no_runtime, &checks, &rootfs, &opts)
            .unwrap()
            .checks
            .remove(0)
            .negative_control
            .unwrap()
    }

    #[test]
    fn a_control_that_cannot_run_is_inconclusive_not_detected() {
        let c = control_of(Fake { control: None });
        assert_eq!(c.status, ControlStatus::Inconclusive, "{}", c.reason);
        assert!(c
            .reason
            .starts_with("could not be tested: the sabotaged setup could not be run"));
    }

    #[test]
    fn only_a_violation_detects_a_control() {
        for (finding, status) in [
            (Finding::Violated, ControlStatus::Detected),
            (Finding::Holds, ControlStatus::Missed),
            (Finding::Inconclusive, ControlStatus::Inconclusive),
        ] {
            let c = control_of(Fake {
                control: Some(finding),
            });
            assert_eq!(c.status, status, "{finding:?}: {}", c.reason);
        }
    }
}
