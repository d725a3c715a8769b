//! Runs checks (and their negative controls) under a runtime and assembles the report.

use crate::checks::{Check, Ctx, Finding, Requirement, Verdict};
use crate::error::HarnessError;
use crate::report::{
    CheckResult, ControlResult, ControlStatus, Kernel, Report, RuntimeInfo, Status, Summary,
};
use crate::rootfs::PreparedRootfs;
use crate::runtime::{InCheck, RunError, Runtime};
use crate::standin::StandIn;
use crate::vocabulary::Isolation;
use serde_json::Value;
use std::time::{Duration, Instant};

pub struct RunOptions {
    pub negative_controls: bool,
    pub timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            negative_controls: false,
            timeout: Duration::from_secs(30),
        }
    }
}

pub fn run_checks(
    runtime: &dyn Runtime,
    checks: &[Box<dyn Check>],
    rootfs: &PreparedRootfs,
    opts: &RunOptions,
) -> Result<Report, HarnessError> {
    let scratch = crate::record::TempDir::new("scratch", None)
        .map_err(|e| HarnessError::Setup(format!("cannot create a scratch directory: {e}")))?;
    let ctx = Ctx {
        runtime,
        rootfs: rootfs.path(),
        agent: rootfs.agent(),
        scratch: scratch.path(),
        timeout: opts.timeout,
    };
    let unavailable = runtime.available().err().map(|e| e.to_string());
    let mut results = Vec::new();
    for check in checks {
        if crate::cancel::requested() {
            return Err(HarnessError::Interrupted);
        }
        results.push(match &unavailable {
            Some(why) => unavailable_result(check.as_ref(), why, opts.negative_controls),
            None => run_one(&ctx, rootfs, check.as_ref(), opts.negative_controls)?,
        });
    }
    Ok(Report {
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
    })
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

fn run_one(
    ctx: &Ctx,
    rootfs: &PreparedRootfs,
    check: &dyn Check,
    with_control: bool,
) -> Result<CheckResult, HarnessError> {
    let started = Instant::now();
    if let Some(reason) = unmet(ctx, check) {
        let control = with_control.then(|| format!("check skipped: {reason}"));
        return Ok(skipped(check, reason, control, started));
    }
    let iso = check.isolation();
    let verdict = match on_stand_in(ctx, rootfs, check, &iso) {
        // What the runtime found it cannot build only once it was asked to (an engine whose
        // daemon cannot see a mount the check made): a recorded skip, as from `unsupported`.
        Err(RunError::Unsupported { reason, .. }) => {
            let control = with_control.then(|| format!("check skipped: {reason}"));
            return Ok(skipped(check, reason, control, started));
        }
        other => interruptible(other)?,
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let negative_control = if with_control {
        Some(run_control(ctx, rootfs, check)?)
    } else {
        None
    };
    Ok(CheckResult {
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
    })
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
        let ctx = Ctx {
            runtime: &no_runtime,
            rootfs: std::path::Path::new("/"),
            agent: "/agent",
            scratch: std::path::Path::new("/tmp"),
            timeout: Duration::from_secs(1),
        };
        let rootfs = PreparedRootfs::fresh(b"").unwrap();
        run_one(&ctx, &rootfs, &check, true)
            .unwrap()
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
