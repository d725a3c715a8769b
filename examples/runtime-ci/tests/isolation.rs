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

/// What runc is known not to isolate, why, and whether a version has it; a runtime of your own
/// would list nothing here, or what it does not do yet.
const RUNC_WEAKNESSES: &[Weakness] = &[
    Weakness {
        check: "dev.host-devices-denied",
        why: "runc 1.1 appends default device rules that allow /dev/net/tun (dropped in 1.2)",
        has: |v| v < (1, 2, 0),
    },
    Weakness {
        check: "image.dev-null-symlink",
        why: "runc uses an image's /dev/null without checking it (CVE-2025-31133; fixed in \
              1.2.8, 1.3.3 and 1.4)",
        has: |v| v < (1, 2, 8) || ((1, 3, 0)..(1, 3, 3)).contains(&v),
    },
];

struct Weakness {
    check: &'static str,
    why: &'static str,
    /// Whether a version has it.
    has: fn(Version) -> bool,
}

type Version = (u32, u32, u32);

/// `1.1.5+ds1` → (1, 1, 5).
fn version(text: &str) -> Option<Version> {
    let mut parts = text
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

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
    // Only runc by name has its known weaknesses; the runtime under test has none listed.
    let known: Vec<(&str, &str)> = match version(&report.runtime.version) {
        Some(v) if report.runtime.name == "runc" => RUNC_WEAKNESSES
            .iter()
            .filter(|w| (w.has)(v))
            .map(|w| (w.check, w.why))
            .collect(),
        _ => Vec::new(),
    };
    isoprobe::assert_isolated_except(&report, &known);
}

#[test]
fn runc_versions_read_from_debian_and_upstream_strings() {
    assert_eq!(version("1.1.5+ds1"), Some((1, 1, 5)));
    assert_eq!(version("1.3.3"), Some((1, 3, 3)));
    assert_eq!(version("unknown"), None);
    let has = |id: &str, v| RUNC_WEAKNESSES.iter().any(|w| w.check == id && (w.has)(v));
    assert!(has("image.dev-null-symlink", (1, 1, 5)));
    assert!(has("image.dev-null-symlink", (1, 3, 2)));
    assert!(!has("image.dev-null-symlink", (1, 2, 8)));
    assert!(!has("dev.host-devices-denied", (1, 2, 0)));
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
