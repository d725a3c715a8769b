//! Every check passes under the native spawner on this host, and every negative control is
//! detected by evidence of the very property it sabotaged: the judge found a violation whose
//! reason names the check's `control_evidence()`, not merely a failure. One case per check in
//! `checks::all()`, named `check::<id>`.

mod common;

use common::cases::{case, run_one_at_a_time};
use isoprobe::checks;
use isoprobe::engine::{run_checks, RunOptions};
use isoprobe::report::{CheckResult, ControlStatus, Status};
use isoprobe::rootfs::PreparedRootfs;
use isoprobe::runtime::NativeRuntime;

fn run(id: &str, controls: bool) -> CheckResult {
    let rootfs = PreparedRootfs::fresh(isoprobe::agent_binary::AGENT).expect("rootfs");
    let selected = checks::select(&[id.to_string()]).expect("known id");
    let report = run_checks(
        &NativeRuntime::PIVOT,
        &selected,
        &rootfs,
        &RunOptions {
            negative_controls: controls,
            ..RunOptions::default()
        },
    )
    .expect("run");
    report.checks.into_iter().next().expect("one result")
}

fn check_passes_and_its_control_is_detected(id: &str, evidence: &str) {
    require_root!(id);
    let r = run(id, true);
    if r.status == Status::Skip {
        common::skip(id, &r.reason);
        return;
    }
    assert_eq!(
        r.status,
        Status::Pass,
        "{id} failed: {}\nexpected {}\nobserved {}",
        r.reason,
        r.expected,
        r.observed
    );
    let control = r.negative_control.expect("control ran");
    assert_eq!(
        control.status,
        ControlStatus::Detected,
        "{id}: control `{}` not detected: {} (observed {})",
        control.sabotage,
        control.reason,
        control.observed
    );
    assert!(
        control.reason.contains(evidence),
        "{id}: control `{}` failed the check, but not with its evidence `{evidence}`: {}",
        control.sabotage,
        control.reason
    );
    common::assert_nothing_left_behind();
}

fn main() {
    let cases = checks::all()
        .iter()
        .map(|c| {
            let (id, evidence) = (c.id(), c.control_evidence());
            case(format!("check::{id}"), move || {
                check_passes_and_its_control_is_detected(&id, evidence)
            })
        })
        .collect();
    run_one_at_a_time(cases)
}
