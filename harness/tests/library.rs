//! The library surface, used as another crate's tests use it (only what `isoprobe`'s root
//! exports): a suite by check and by layer, with controls, and what it does without root.

mod common;

use isoprobe::{ControlStatus, Layer, Status, Suite};
use serial_test::serial;
use std::process::Command;

// One suite at a time in this process: the other's cgroups would look left behind.
#[test]
#[serial(library_suite)]
fn a_named_check_runs_with_its_control_and_proves_isolation() {
    require_root!("a_named_check_runs_with_its_control_and_proves_isolation");
    let report = Suite::native()
        .check("pid.init-is-1")
        .negative_controls(true)
        .run()
        .unwrap();
    assert_eq!(report.checks.len(), 1, "{report:?}");
    let c = &report.checks[0];
    assert_eq!(
        (c.id.as_str(), c.status),
        ("pid.init-is-1", Status::Pass),
        "{}",
        c.reason
    );
    let control = c
        .negative_control
        .as_ref()
        .expect("controls were asked for");
    assert_eq!(
        control.status,
        ControlStatus::Detected,
        "{}",
        control.reason
    );
    assert_eq!(isoprobe::shortfalls(&report, true), None);
    isoprobe::assert_isolated(&report);
    // Other runs on this machine may leave theirs: only names carrying this process's pid are
    // ours.
    let ours = format!("-{}-", std::process::id());
    let left: Vec<String> = common::leftover_cgroups()
        .into_iter()
        .filter(|c| c.contains(&ours))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "cgroups left behind");
}

#[test]
#[serial(library_suite)]
fn a_layer_runs_exactly_its_checks() {
    require_root!("a_layer_runs_exactly_its_checks");
    let report = Suite::native().layer(Layer::Cgroups).run().unwrap();
    let expected: Vec<String> = isoprobe::checks::all()
        .iter()
        .filter(|c| c.layer() == Layer::Cgroups)
        .map(|c| c.id())
        .collect();
    let ran: Vec<String> = report.checks.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ran, expected);
    assert!(report.checks.iter().all(|c| c.negative_control.is_none()));
    isoprobe::assert_isolated(&report);
}

/// As root, this test runs itself again as nobody (uid 65534), once allowed to skip and once
/// under ISOPROBE_REQUIRE_ALL=1; as anyone else, it is that run.
#[test]
fn without_root_the_suite_is_a_skip_or_under_require_all_a_failure() {
    const TEST: &str = "without_root_the_suite_is_a_skip_or_under_require_all_a_failure";
    if !nix::unistd::geteuid().is_root() {
        let e = Suite::native().run().unwrap_err();
        assert!(e.is_skip(), "{e}");
        assert!(e.to_string().contains("needs root"), "{e}");
        // Prints the SKIP line, or fails the test under ISOPROBE_REQUIRE_ALL=1.
        assert!(Suite::native()
            .run_or_skip("isoprobe library as nobody")
            .is_none());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let as_nobody = |require_all: &str| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env("ISOPROBE_REQUIRE_ALL", require_all)
            .output()
            .expect("setpriv runs")
    };
    let allowed = as_nobody("0");
    let stderr = String::from_utf8_lossy(&allowed.stderr);
    assert!(allowed.status.success(), "{stderr}");
    assert!(
        stderr.contains("SKIP isoprobe library as nobody: needs root"),
        "{stderr}"
    );
    let required = as_nobody("1");
    let out = String::from_utf8_lossy(&required.stdout).into_owned()
        + &String::from_utf8_lossy(&required.stderr);
    assert!(!required.status.success(), "{out}");
    assert!(
        out.contains("required by ISOPROBE_REQUIRE_ALL=1 but cannot run here: needs root"),
        "{out}"
    );
}
