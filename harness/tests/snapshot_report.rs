//! The per-kernel snapshots: the normalised report of the whole suite (with negative controls)
//! under each runtime, stored in `snapshots/<major.minor>-<cgroup mode>/report-<runtime>.snap`,
//! and the kernel's feature inventory once beside them in `features.snap`. One case per
//! runtime in `runtime::NAMES`, named `snapshot::<runtime>`. A changed report on a known kernel
//! fails with the diff; a kernel, cgroup mode or runtime never recorded gets a `.snap.new`
//! written for review (`cargo insta review`) and the run goes on, except under
//! ISOPROBE_REQUIRE_ALL=1, where it fails until reviewed (`common::assert_snapshot_or_record`).

mod common;

use common::cases::{case, run_one_at_a_time};
use isoprobe::report::Report;
use isoprobe::runtime;
use isoprobe::snapshot::{features, kernel_dir, normalise};

fn info(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "kernel_release": report.kernel.release,
        "kernel_version": report.kernel.version,
        "cgroup_mode": report.cgroup_mode,
        "runtime": report.runtime,
        "isoprobe_version": report.isoprobe_version,
    })
}

fn report_matches_this_kernels_snapshot(name: &str) {
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
    let dir = kernel_dir(&report);
    common::assert_snapshot_or_record(
        &dir,
        &format!("report-{name}"),
        &info(&report),
        &normalise(&report, &[&host]),
    );
    // Every runtime's report carries the same inventory: the native one records it.
    if name == "native" {
        let f = features(&report, &[&host]).expect("a report carries the feature inventory");
        common::assert_snapshot_or_record(&dir, "features", &common::kernel_info(&report), &f);
    }
}

fn main() {
    let cases = runtime::NAMES
        .iter()
        .map(|name| {
            case(format!("snapshot::{name}"), move || {
                report_matches_this_kernels_snapshot(name)
            })
        })
        .collect();
    run_one_at_a_time(cases)
}
