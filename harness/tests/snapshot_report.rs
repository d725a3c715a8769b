//! The per-kernel snapshots: the normalised report of the whole suite (with negative controls)
//! under each runtime, stored in `snapshots/<major.minor>-<cgroup mode>/report-<runtime>.snap`.
//! A changed report on a known kernel fails with the diff; a kernel, cgroup mode or runtime
//! never recorded gets a `.snap.new` written for review (`cargo insta review`) and the run goes
//! on (`common::assert_snapshot_or_record`).

mod common;

use isoprobe::report::Report;
use isoprobe::runtime;
use isoprobe::snapshot::{kernel_dir, normalise};
use rstest::rstest;
use serial_test::serial;

fn info(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "kernel_release": report.kernel.release,
        "kernel_version": report.kernel.version,
        "cgroup_mode": report.cgroup_mode,
        "runtime": report.runtime,
        "isoprobe_version": report.isoprobe_version,
    })
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
        common::skip(name, &reason.to_string());
        return;
    }
    let report = common::run_suite(rt.as_ref());
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let normalised = normalise(&report, &[&host]);
    common::assert_snapshot_or_record(
        &kernel_dir(&report),
        &format!("report-{name}"),
        &info(&report),
        &normalised,
    );
}
