//! The runtime under test isolates: every isoprobe check with its negative control, run as
//! root by `cargo test`.
//!
//! `ISOPROBE_OCI_RUNTIME=/path/to/runtime` names the OCI runtime binary under test (the one
//! being developed); without it, runc from PATH. Not root, or the runtime missing: the test
//! prints `SKIP <test>: <reason>` and passes, or fails under `ISOPROBE_REQUIRE_ALL=1`.

use isoprobe::Suite;
use std::sync::Mutex;

/// The suites take turns: `cgroup.cpu-throttled` measures CPU time, which another suite
/// running at the same moment on a small machine would blur.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What runc 1.1 (Debian bookworm's) is known not to isolate, and why; a runtime of your own
/// would list nothing here, or what it does not do yet.
const RUNC_1_1_WEAKNESSES: &[(&str, &str)] = &[
    (
        "dev.host-devices-denied",
        "runc 1.1 appends default device rules that allow /dev/net/tun (fixed in runc 1.2)",
    ),
    (
        "image.dev-null-symlink",
        "runc before 1.2.8 uses an image's /dev/null without checking it (CVE-2025-31133)",
    ),
];

#[test]
fn oci_runtime_isolates() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let suite = match std::env::var_os("ISOPROBE_OCI_RUNTIME") {
        Some(path) => Suite::oci_binary(path),
        None => Suite::runtime("runc"),
    };
    let Some(report) = suite
        .negative_controls(true)
        .run_or_skip("oci_runtime_isolates")
    else {
        return;
    };
    let known = if report.runtime.version.starts_with("1.1.") {
        RUNC_1_1_WEAKNESSES
    } else {
        &[]
    };
    isoprobe::assert_isolated_except(&report, known);
}

#[test]
fn native_spawner_isolates() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(report) = Suite::native()
        .negative_controls(true)
        .run_or_skip("native_spawner_isolates")
    else {
        return;
    };
    isoprobe::assert_isolated(&report);
}
