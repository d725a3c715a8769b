//! The guest side of the kernel matrix, booted for real: the initramfs built from the isoprobe
//! binary, a Debian kernel under QEMU (TCG), /init setting cgroups up in each mode, the report
//! read back from the console.
//!
//! The kernel: `ISOPROBE_GUEST_VMLINUZ` when set, else the oldest kernel of `isoprobe kernels`,
//! fetched through the matrix's own cache. Without QEMU, or without the archive, the tests skip
//! with the reason.

mod common;

use isoprobe::kmatrix::{initramfs, kernels, qemu, GuestCgroup};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

fn qemu_missing() -> Option<String> {
    match Command::new(qemu::QEMU).arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some(format!(
            "{} is not installed (Debian package qemu-system-x86)",
            qemu::QEMU
        )),
    }
}

/// The oldest kernel the matrix knows, fetched (once, cached) the matrix's way.
/// `Ok(None)`: the archive listed no kernel at all.
fn kernel() -> Result<Option<PathBuf>, kernels::KernelError> {
    if let Some(p) = std::env::var_os("ISOPROBE_GUEST_VMLINUZ") {
        return Ok(Some(PathBuf::from(p)));
    }
    let quiet = |_: &str| {};
    let Some(oldest) = kernels::known(false, &quiet)?.into_iter().next() else {
        return Ok(None);
    };
    Ok(Some(kernels::fetch(&oldest, &quiet)?.vmlinuz))
}

/// A kernel and an initramfs, or the reason the test cannot run here.
fn setup(test: &str) -> Option<(PathBuf, tempfile::TempDir)> {
    if let Some(why) = qemu_missing() {
        common::skip(test, &why);
        return None;
    }
    let vmlinuz = match kernel() {
        Ok(Some(k)) => k,
        Ok(None) => {
            common::skip(test, "no kernel to boot: the archive lists no kernel");
            return None;
        }
        Err(e) => {
            common::skip(test, &format!("no kernel to boot: {e}"));
            return None;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_isoprobe"));
    initramfs::build(&dir.path().join("initramfs.cpio"), exe).unwrap();
    Some((vmlinuz, dir))
}

fn boot(vmlinuz: &Path, dir: &Path, mode: GuestCgroup, checks: &str) -> qemu::Boot {
    let mut opts = qemu::BootOptions::default();
    if !checks.is_empty() {
        opts.extra_params.push(format!("isoprobe.checks={checks}"));
    }
    let b = qemu::boot_with(
        vmlinuz,
        &dir.join("initramfs.cpio"),
        mode,
        &opts,
        BOOT_TIMEOUT,
    )
    .unwrap();
    common::say(&format!(
        "{} {}: {:?} in {:.1} s",
        vmlinuz.display(),
        mode.name(),
        b.outcome,
        b.elapsed.as_secs_f64()
    ));
    assert_eq!(
        b.outcome,
        qemu::BootOutcome::Reported,
        "console tail:\n{}",
        qemu::console_tail(&b.console, 40)
    );
    b
}

/// Both modes, the whole suite with its negative controls: every check passes or is a
/// recorded skip, and every control that ran was detected (not missed, not inconclusive).
#[test]
#[serial_test::serial(machine)]
fn the_whole_suite_runs_in_the_guest_in_both_modes() {
    let test = "the_whole_suite_runs_in_the_guest_in_both_modes";
    let Some((vmlinuz, dir)) = setup(test) else {
        return;
    };
    for mode in [GuestCgroup::V2, GuestCgroup::V1] {
        let b = boot(&vmlinuz, dir.path(), mode, "");
        let report = b.report.unwrap();
        let info = b.guest_info.expect("the guest says what it set up");
        assert_eq!(info["cgroup"], mode.name());
        assert_eq!(report.cgroup_mode, mode.name(), "{info}");
        for c in &report.checks {
            common::say(&format!(
                "  {:<28} {:?} {}",
                c.id,
                c.status,
                c.negative_control
                    .as_ref()
                    .map(|n| format!("control {:?}", n.status))
                    .unwrap_or_default()
            ));
        }
        let red = common::red(&report);
        assert!(red.is_empty(), "{mode:?}: {red:#?}");
    }
}

/// One quick boot with two checks: the pipeline (initramfs, /init, cgroups, console markers)
/// works, and the guest says what it set up.
#[test]
#[serial_test::serial(machine)]
fn a_quick_boot_brings_a_report_back() {
    let test = "a_quick_boot_brings_a_report_back";
    let Some((vmlinuz, dir)) = setup(test) else {
        return;
    };
    let b = boot(
        &vmlinuz,
        dir.path(),
        GuestCgroup::V2,
        "pid.init-is-1,cgroup.cpu-throttled",
    );
    let report = b.report.unwrap();
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["pid.init-is-1", "cgroup.cpu-throttled"]);
    for c in &report.checks {
        assert_eq!(
            c.status,
            isoprobe::report::Status::Pass,
            "{}: {}",
            c.id,
            c.reason
        );
        let control = c.negative_control.as_ref().unwrap();
        assert_eq!(
            control.status,
            isoprobe::report::ControlStatus::Detected,
            "{}: {}",
            c.id,
            control.reason
        );
    }
    assert!(
        report.kernel.release.ends_with("-cloud-amd64"),
        "{:?}",
        report.kernel
    );
    let info = b.guest_info.unwrap();
    assert_eq!(info["cgroup"], "v2");
    assert_eq!(info["loopback_up"], true);
    assert_eq!(
        info["controllers_enabled"],
        serde_json::json!(["cpu", "pids", "memory"])
    );
}

/// A privileged container with a cgroup namespace of its own on a v2 host, as Docker and
/// GitHub Actions make them: the guest's /init puts itself in a cgroup `ci` that enables no
/// controller, enters a new cgroup namespace there and remounts cgroup2 (`isoprobe.nested=1`).
/// isoprobe moves into a leaf and enables cpu, pids and memory in `ci`, and the whole suite
/// passes with every control detected, the cgroup checks included (not skipped).
#[test]
#[serial_test::serial(machine)]
fn the_suite_passes_nested_in_a_private_cgroup_namespace_on_v2() {
    let test = "the_suite_passes_nested_in_a_private_cgroup_namespace_on_v2";
    let Some((vmlinuz, dir)) = setup(test) else {
        return;
    };
    let mut opts = qemu::BootOptions::default();
    opts.extra_params.push("isoprobe.nested=1".into());
    let b = qemu::boot_with(
        &vmlinuz,
        &dir.path().join("initramfs.cpio"),
        GuestCgroup::V2,
        &opts,
        BOOT_TIMEOUT,
    )
    .unwrap();
    assert_eq!(
        b.outcome,
        qemu::BootOutcome::Reported,
        "console tail:\n{}",
        qemu::console_tail(&b.console, 40)
    );
    let info = b.guest_info.expect("the guest says what it set up");
    let nested = info["nested"].as_str().unwrap_or_default().to_string();
    assert!(
        nested.starts_with("Moved") && nested.contains("isoprobe-leaf-"),
        "{info}"
    );
    let report = b.report.unwrap();
    let red = common::red(&report);
    assert!(red.is_empty(), "{red:#?}");
    for id in [
        "cgroup.cpu-throttled",
        "pids.limit-enforced",
        "memory.limit-enforced",
        "cgroup.ns-root",
    ] {
        let c = report.checks.iter().find(|c| c.id == id).unwrap();
        assert_eq!(
            c.status,
            isoprobe::report::Status::Pass,
            "{id}: {}",
            c.reason
        );
    }
    // A new v1 hierarchy cannot be mounted from a cgroup namespace other than the initial one.
    let ra = report
        .checks
        .iter()
        .find(|c| c.id == "cgroup.release-agent-protected")
        .unwrap();
    assert_eq!(ra.status, isoprobe::report::Status::Skip, "{}", ra.reason);
    assert!(
        ra.reason.contains("initial cgroup namespace"),
        "{}",
        ra.reason
    );
}
