//! The per-kernel snapshot: the normalised report of the whole suite (with negative controls)
//! under the native spawner, stored in `snapshots/<major.minor>-<cgroup mode>/`. A changed
//! report on a known kernel fails with the diff; an unknown kernel gets a new snapshot written
//! for review (`cargo insta review`) and the run goes on.

mod common;

use isoprobe::checks;
use isoprobe::engine::{run_checks, RunOptions};
use isoprobe::rootfs::PreparedRootfs;
use isoprobe::runtime::NativeRuntime;
use isoprobe::snapshot::{kernel_dir, normalise};
use serial_test::serial;
use std::path::Path;

const NAME: &str = "report-native";

#[test]
#[serial(machine)]
fn report_matches_this_kernels_snapshot() {
    require_root!("report_matches_this_kernels_snapshot");
    let rootfs = PreparedRootfs::fresh(isoprobe::agent_binary::AGENT).unwrap();
    let report = run_checks(
        &NativeRuntime::PIVOT,
        &checks::all(),
        &rootfs,
        &RunOptions {
            negative_controls: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let normalised = normalise(&report, &[&host]);
    let dir = format!("snapshots/{}", kernel_dir(&report));
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(&dir)
        .join(format!("{NAME}.snap"));
    let known = file.is_file();
    if !known {
        // A kernel (or cgroup mode) never recorded: write the snapshot for review instead of
        // failing. insta reads these once, before its first assertion in this process.
        std::env::set_var("INSTA_UPDATE", "new");
        std::env::set_var("INSTA_FORCE_PASS", "1");
        eprintln!(
            "NEW KERNEL {}: no snapshot yet; wrote {}.new for review (cargo insta review)",
            kernel_dir(&report),
            file.display()
        );
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_info(&serde_json::json!({
        "kernel_release": report.kernel.release,
        "kernel_version": report.kernel.version,
        "cgroup_mode": report.cgroup_mode,
        "runtime": report.runtime,
        "isoprobe_version": report.isoprobe_version,
    }));
    settings.bind(|| insta::assert_json_snapshot!(NAME, normalised));
}
