//! Every check passes under the native spawner on this host, and every negative control is
//! detected: the sabotaged setup makes the check fail.

mod common;

use isoprobe::checks;
use isoprobe::engine::{run_checks, RunOptions};
use isoprobe::report::{CheckResult, ControlStatus, Status};
use isoprobe::rootfs::PreparedRootfs;
use isoprobe::runtime::NativeRuntime;
use rstest::rstest;
use serial_test::serial;

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

#[rstest]
#[serial(machine)]
fn check_passes_and_its_control_is_detected(
    #[values(
        "pid.init-is-1",
        "ns.cgroup",
        "ns.ipc",
        "ns.mnt",
        "ns.net",
        "ns.pid",
        "ns.time",
        "ns.user",
        "ns.uts",
        "uts.hostname-independent",
        "root.chroot-escape-blocked",
        "cgroup.cpu-throttled",
        "mnt.no-propagation",
        "root.old-root-gone",
        "user.root-is-unprivileged",
        "proc.host-invisible",
        "ipc.sysv-isolated",
        "net.only-loopback",
        "sysctl.net-isolated",
        "cgroup.ns-root",
        "time.offsets-isolated",
        "caps.bounding-dropped",
        "nnp.no-new-privs",
        "pids.limit-enforced",
        "memory.limit-enforced"
    )]
    id: &str,
) {
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
    common::assert_nothing_left_behind();
}

#[test]
fn the_test_list_above_names_every_check() {
    // The rstest values are literal so that each check is its own test case; this keeps the
    // list honest when a check is added.
    let src = include_str!("checks_native.rs");
    for c in checks::all() {
        assert!(
            src.contains(&format!("\"{}\"", c.id())),
            "{} is not tested",
            c.id()
        );
    }
}
