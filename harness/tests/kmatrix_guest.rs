//! The guest side of the kernel matrix, booted for real: the initramfs built from the isoprobe
//! binary, a Debian kernel under QEMU (TCG), /init setting cgroups up in each mode, the report
//! read back from the console.
//!
//! The kernel: `ISOPROBE_GUEST_VMLINUZ` when set, else the system's own Debian suite's cloud
//! kernel, downloaded once with the system's apt (no other suite is involved) into the cache
//! directory. Without QEMU, or without the archive, the tests skip with the reason.

mod common;

use isoprobe::kmatrix::{initramfs, qemu, GuestCgroup};
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

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The system suite's cloud kernel, fetched once into the cache directory.
fn system_kernel() -> Result<PathBuf, String> {
    let dir = isoprobe::kmatrix::kernels::cache_dir().join("guest-test");
    let vmlinuz = dir.join("vmlinuz");
    if vmlinuz.is_file() {
        return Ok(vmlinuz);
    }
    let deps = run(Command::new("apt-cache").args(["depends", "linux-image-cloud-amd64"]))?;
    let pkg = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-cloud-amd64"))
        .ok_or_else(|| {
            format!("apt-cache knows no linux-image-cloud-amd64 (run apt-get update): {deps}")
        })?
        .to_string();
    let debs = tempfile::tempdir().map_err(|e| e.to_string())?;
    run(Command::new("apt-get")
        .args(["download", "-q", &pkg])
        .current_dir(debs.path()))?;
    let deb = std::fs::read_dir(debs.path())
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download left no .deb")?;
    let x = debs.path().join("x");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x))?;
    let found = std::fs::read_dir(x.join("boot"))
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .ok_or("the package holds no boot/vmlinuz-*")?;
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let partial = dir.join("vmlinuz.partial");
    std::fs::copy(&found, &partial).map_err(|e| e.to_string())?;
    std::fs::rename(&partial, &vmlinuz).map_err(|e| e.to_string())?;
    Ok(vmlinuz)
}

fn kernel() -> Result<PathBuf, String> {
    match std::env::var_os("ISOPROBE_GUEST_VMLINUZ") {
        Some(p) => Ok(PathBuf::from(p)),
        None => system_kernel(),
    }
}

/// A kernel and an initramfs, or the reason the test cannot run here.
fn setup(test: &str) -> Option<(PathBuf, tempfile::TempDir)> {
    if let Some(why) = qemu_missing() {
        common::skip(test, &why);
        return None;
    }
    let vmlinuz = match kernel() {
        Ok(k) => k,
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
/// recorded skip, and every control that ran was detected.
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
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.status == isoprobe::report::Status::Fail)
            .map(|c| format!("{}: {}", c.id, c.reason))
            .collect();
        assert!(failed.is_empty(), "{mode:?}: {failed:#?}");
        assert_eq!(report.missed_controls(), 0, "{mode:?}: {report:#?}");
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
