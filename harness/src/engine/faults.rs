//! Faults of one check's run, each a clear failure of that check while the others go on: a
//! runtime that exits non-zero or crashes, an agent that prints nothing, garbage, or is killed
//! by a signal, and a container that hangs past the timeout. The faulty runtime runs every
//! other check with the native spawner and breaks only the run of `ipc.sysv-isolated`.

use super::{run_checks, RunOptions};
use crate::checks;
use crate::report::{Report, Status};
use crate::rootfs::PreparedRootfs;
use crate::runtime::fake::FnRuntime;
use crate::runtime::oci::OciRuntime;
use crate::runtime::{parse_observation, Job, NativeRuntime, RunError, RunOutcome, Runtime};
use crate::vocabulary::ExitKind;
use isoprobe_probes::contract::Try;
use isoprobe_probes::AgentArgs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const FAULTY: &str = "ipc.sysv-isolated";

fn is_faulty(job: &Job) -> bool {
    job.args.tries.iter().any(|t| matches!(t, Try::Ipc(_)))
}

/// The whole suite (without controls) under a runtime whose `ipc` run ends with `fault`.
fn suite_with(fault: impl Fn(&Job) -> Result<RunOutcome, RunError> + Send + Sync) -> Report {
    let rt = FnRuntime::new("faulty", move |job| {
        if is_faulty(job) {
            fault(job)
        } else {
            NativeRuntime::PIVOT.run(job)
        }
    });
    let rootfs = PreparedRootfs::fresh(crate::agent_binary::AGENT).unwrap();
    let opts = RunOptions {
        negative_controls: false,
        timeout: Duration::from_secs(10),
        ..RunOptions::default()
    };
    run_checks(&rt, &checks::all(), &rootfs, &opts).unwrap()
}

/// The faulty check failed as not tested, with `needle` in its reason; every other passed.
fn assert_only_the_faulty_check_failed(report: &Report, needle: &str) {
    for c in &report.checks {
        if c.id == FAULTY {
            assert_eq!(c.status, Status::Fail, "{}", c.reason);
            assert!(
                c.reason.starts_with(checks::UNTESTED) && c.reason.contains(needle),
                "{needle}: {}",
                c.reason
            );
        } else {
            assert_eq!(c.status, Status::Pass, "{}: {}", c.id, c.reason);
        }
    }
}

/// An OCI runtime that is a shell script: it answers `--version` and does `on_create` for
/// every other command.
fn script_runtime(dir: &Path, on_create: &str) -> OciRuntime {
    let path = dir.join("broken-oci");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in --version) echo 'broken-oci version 0.1'; exit 0;; esac\n{on_create}\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = path.display().to_string();
    OciRuntime::at_path(&format!("oci:{path}"), &path)
}

#[test]
#[serial_test::serial(machine)]
fn a_runtime_that_exits_non_zero_or_crashes_fails_its_check_only() {
    crate::require_root!("a_runtime_that_exits_non_zero_or_crashes_fails_its_check_only");
    for (on_create, needle) in [
        ("echo 'broken-oci: refusing' >&2; exit 3", "exit status: 3"),
        ("kill -SEGV $$", "SIGSEGV"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let oci = script_runtime(dir.path(), on_create);
        let report = suite_with(move |job| oci.run(job));
        assert_only_the_faulty_check_failed(&report, needle);
    }
}

#[test]
#[serial_test::serial(machine)]
fn an_agent_that_prints_nothing_garbage_or_is_killed_fails_its_check_only() {
    crate::require_root!("an_agent_that_prints_nothing_garbage_or_is_killed");
    for (exit, stdout, needle) in [
        (ExitKind::Code(0), &b""[..], "printed no observation"),
        (
            ExitKind::Code(0),
            &b"<html>not json</html>"[..],
            "not an observation",
        ),
        (ExitKind::Signal(9), &b""[..], "Signal(9)"),
        (
            ExitKind::Code(0),
            &br#"{"pid": "one"}"#[..],
            "not an observation",
        ),
    ] {
        let report = suite_with(move |_| {
            parse_observation(exit, stdout, b"").map(|_| unreachable!("a broken agent"))
        });
        assert_only_the_faulty_check_failed(&report, needle);
    }
}

#[test]
#[serial_test::serial(machine)]
fn a_container_that_hangs_is_killed_at_the_timeout_and_fails_its_check_only() {
    crate::require_root!("a_container_that_hangs_is_killed_at_the_timeout");
    let report = suite_with(|job| {
        // The same container, lingering far past a short timeout.
        let hung = Job {
            args: AgentArgs {
                linger_ms: 60_000,
                ..job.args.clone()
            },
            timeout: Duration::from_millis(300),
            ..*job
        };
        NativeRuntime::PIVOT.run(&hung)
    });
    assert_only_the_faulty_check_failed(&report, "timed out after 0.3 s");
}
