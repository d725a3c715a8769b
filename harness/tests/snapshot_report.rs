//! The per-kernel snapshots: the normalised report of the whole suite (with negative controls)
//! under each runtime, stored in `snapshots/<major.minor>-<cgroup mode>/report-<runtime>.snap`.
//! A changed report on a known kernel fails with the diff; a kernel, cgroup mode or runtime
//! never recorded gets a `.snap.new` written for review (`cargo insta review`) and the run goes
//! on.

mod common;

use isoprobe::report::Report;
use isoprobe::runtime;
use isoprobe::snapshot::{kernel_dir, normalise};
use rstest::rstest;
use serial_test::serial;
use std::path::{Path, PathBuf};

fn info(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "kernel_release": report.kernel.release,
        "kernel_version": report.kernel.version,
        "cgroup_mode": report.cgroup_mode,
        "runtime": report.runtime,
        "isoprobe_version": report.isoprobe_version,
    })
}

/// Writes a snapshot for review in insta's file format, without asserting: insta's own switch
/// for that (INSTA_FORCE_PASS) is read once per process and would hide the other runtimes'
/// regressions.
fn write_for_review(file: &Path, report: &Report, value: &serde_json::Value) -> PathBuf {
    let new = file.with_extension("snap.new");
    std::fs::create_dir_all(new.parent().unwrap()).unwrap();
    let info = serde_yaml_like(&info(report));
    let body = serde_json::to_string_pretty(value).unwrap();
    let text =
        format!("---\nsource: harness/tests/snapshot_report.rs\ninfo: {info}\n---\n{body}\n");
    std::fs::write(&new, text).unwrap();
    new
}

/// insta's header is YAML; a JSON object is valid YAML on one line.
fn serde_yaml_like(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap()
}

#[rstest]
#[serial(machine)]
fn report_matches_this_kernels_snapshot(
    #[values(
        "native",
        "native-chroot",
        "runc",
        "runc-no-pivot",
        "crun",
        "crun-no-pivot",
        "youki",
        "bwrap",
        "unshare"
    )]
    name: &str,
) {
    require_root!(name);
    let rt = runtime::by_name(name).unwrap_or_else(|e| panic!("{e}"));
    if let Err(reason) = rt.available() {
        common::skip(name, &reason);
        return;
    }
    let report = common::run_suite(rt.as_ref());
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let normalised = normalise(&report, &[&host]);
    let dir = format!("snapshots/{}", kernel_dir(&report));
    let snap_name = format!("report-{name}");
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(&dir)
        .join(format!("{snap_name}.snap"));
    if !file.is_file() {
        let new = write_for_review(&file, &report, &normalised);
        common::say(&format!(
            "NEW SNAPSHOT {} / {name}: none recorded yet; wrote {} for review (cargo insta review)",
            kernel_dir(&report),
            new.display()
        ));
        return;
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_info(&info(&report));
    settings.bind(|| insta::assert_json_snapshot!(snap_name, normalised));
}
