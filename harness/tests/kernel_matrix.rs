//! The kernel matrix: real Debian kernels booted under QEMU with the suite run inside, each
//! report compared with the snapshot recorded for that kernel and cgroup mode
//! (`snapshots/<major.minor>-<mode>/report-native.snap`, and the kernel's feature inventory in
//! `features.snap` beside it). By default the oldest and the newest
//! kernel in cgroup v2; `.ci/run` sets ISOPROBE_MATRIX_KERNELS=all and
//! ISOPROBE_MATRIX_CGROUP=v1,v2 for the full matrix. Any cell that is not all green (no report,
//! a failed check, a missed or inconclusive control) or whose snapshot differs fails the test,
//! and every such cell is named.

mod common;

use isoprobe::kmatrix::matrix::{self, MatrixOptions};
use isoprobe::kmatrix::{kernels, GuestCgroup};
use isoprobe::snapshot::{features, kernel_dir, normalise};
use serial_test::serial;
use std::time::Duration;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[test]
#[serial(machine)]
fn each_kernel_reports_what_its_snapshot_recorded() {
    require_root!("each_kernel_reports_what_its_snapshot_recorded");
    if std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip(
            "kernel matrix",
            "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)",
        );
        return;
    }
    let quiet = |_: &str| {};
    let specs = match kernels::known(false, &quiet) {
        Ok(s) => s,
        Err(e) => {
            common::skip(
                "kernel matrix",
                &format!("the Debian archive is unreachable: {e}"),
            );
            return;
        }
    };
    let wanted = env_or("ISOPROBE_MATRIX_KERNELS", "oldest,newest");
    let names = match wanted.as_str() {
        // Debian's names sort by version, sid last.
        "oldest,newest" => format!(
            "{},{}",
            specs.first().map(|k| k.name.as_str()).unwrap_or("5.10"),
            specs.last().map(|k| k.name.as_str()).unwrap_or("sid")
        ),
        other => other.to_string(),
    };
    let chosen = kernels::select(&specs, &names).expect("known kernels");
    let modes: Vec<GuestCgroup> = env_or("ISOPROBE_MATRIX_CGROUP", "v2")
        .split(',')
        .map(|m| match m {
            "v1" => GuestCgroup::V1,
            _ => GuestCgroup::V2,
        })
        .collect();
    let say = |m: &str| common::say(&format!("matrix: {m}"));
    let m = matrix::run(
        &chosen,
        &modes,
        &MatrixOptions {
            jobs: 2,
            boot_timeout: Duration::from_secs(300),
            isoprobe_exe: env!("CARGO_BIN_EXE_isoprobe").into(),
        },
        &say,
    )
    .expect("matrix");
    common::say(&matrix::render_text(&m));
    let mut problems = Vec::new();
    for cell in &m.cells {
        let column = cell.column();
        let Some(report) = &cell.report else {
            problems.push(format!(
                "{column}: no report: {}",
                cell.failure.as_deref().unwrap_or("")
            ));
            continue;
        };
        // A snapshot records a red cell as faithfully as a green one: red is judged here.
        problems.extend(
            common::red(report)
                .into_iter()
                .map(|p| format!("{column}: {p}")),
        );
        let info = serde_json::json!({
            "kernel_release": report.kernel.release,
            "kernel_version": report.kernel.version,
            "kernel_package": format!("{} {}", cell.kernel.package, cell.kernel.version),
            "cgroup_mode": report.cgroup_mode,
            "runtime": report.runtime,
            "isoprobe_version": report.isoprobe_version,
            "booted": "qemu tcg",
        });
        let compared = common::caught(|| {
            common::assert_snapshot_or_record(
                &kernel_dir(report),
                "report-native",
                &info,
                &normalise(report, &[]),
            )
        });
        if let Err(e) = compared {
            problems.push(format!("{column}: {e}"));
        }
        match features(report, &[]) {
            Some(f) => {
                let mut kernel = common::kernel_info(report);
                kernel["kernel_package"] = info["kernel_package"].clone();
                kernel["booted"] = info["booted"].clone();
                let compared = common::caught(|| {
                    common::assert_snapshot_or_record(&kernel_dir(report), "features", &kernel, &f)
                });
                if let Err(e) = compared {
                    problems.push(format!("{column}: {e}"));
                }
            }
            None => problems.push(format!("{column}: no feature inventory")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
#[serial(machine)]
fn a_kernel_that_cannot_boot_becomes_a_failed_column_with_the_console_tail() {
    require_root!("a_kernel_that_cannot_boot_becomes_a_failed_column_with_the_console_tail");
    if std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip("failed boot", "qemu-system-x86_64 is not installed");
        return;
    }
    let quiet = |_: &str| {};
    let Some(oldest) = kernels::known(false, &quiet)
        .ok()
        .and_then(|s| s.into_iter().next())
    else {
        common::skip("failed boot", "the Debian archive is unreachable");
        return;
    };
    // An "initramfs" that is no cpio archive: the kernel finds no /init and no root and
    // panics. The matrix must say so, with the console's last lines, within the bound.
    let work = tempfile::tempdir().unwrap();
    let junk = work.path().join("not-an-initramfs");
    std::fs::write(&junk, b"not a cpio archive").unwrap();
    let files = kernels::fetch(&oldest, &quiet).expect("fetch");
    let t = std::time::Instant::now();
    let boot = isoprobe::kmatrix::qemu::boot(
        &files.vmlinuz,
        &junk,
        GuestCgroup::V2,
        Duration::from_secs(120),
    )
    .expect("qemu ran");
    assert!(boot.report.is_none());
    assert!(
        t.elapsed() < Duration::from_secs(120),
        "a panicking kernel must end the boot before the timeout"
    );
    let tail = isoprobe::kmatrix::qemu::console_tail(&boot.console, 15);
    assert!(tail.contains("Kernel panic"), "console tail: {tail}");
    assert!(
        matches!(
            boot.outcome,
            isoprobe::kmatrix::qemu::BootOutcome::NoReport { .. }
        ),
        "outcome: a report-less boot"
    );
}

/// The rule the matrix test applies to each cell, on a report made up for it: a failed check
/// and a control that missed or could not test make the cell red, each named with its reason;
/// a skip or a detected control does not.
#[test]
fn a_red_cell_names_each_failed_check_and_unproven_control() {
    let control = |status: &str| serde_json::json!({"sabotage": "s", "status": status, "reason": status, "observed": null});
    let check = |id: &str, status: &str, control: serde_json::Value| {
        serde_json::json!({"id": id, "status": status, "reason": format!("{id} {status}"),
            "expected": null, "observed": null, "duration_ms": 0, "negative_control": control})
    };
    let report: isoprobe::report::Report = serde_json::from_value(serde_json::json!({
        "isoprobe_version": "0",
        "kernel": {"release": "6.1.0-1-amd64", "version": "#1"},
        "cgroup_mode": "v2",
        "runtime": {"name": "native", "version": "0"},
        "checks": [
            check("a", "pass", control("detected")),
            check("b", "fail", control("detected")),
            check("c", "pass", control("missed")),
            check("d", "pass", control("inconclusive")),
            check("e", "skip", control("skip")),
        ],
        "summary": {"pass": 3, "fail": 1, "skip": 1},
    }))
    .unwrap();
    assert_eq!(
        common::red(&report),
        [
            "b failed: b fail",
            "c: control `s` Missed: missed",
            "d: control `s` Inconclusive: inconclusive",
        ]
    );
}
