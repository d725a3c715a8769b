//! The one way a test says it cannot run here. Every test of the workspace (unit tests in
//! `probes` and `harness`, the harness's integration tests through `isoprobe::testing`) skips
//! through [`skip`], so that `ISOPROBE_REQUIRE_ALL=1` turns every skip into a failure: a CI
//! that silently tested less than it claims would be worse than a red one.
//!
//! It lives in `probes` because the harness depends on it and not the other way round; the
//! harness re-exports it rather than having a copy.

use std::io::Write;

/// True when `ISOPROBE_REQUIRE_ALL` asks for every test to run (`1` or `true`).
pub fn require_all() -> bool {
    std::env::var("ISOPROBE_REQUIRE_ALL").is_ok_and(|v| v == "1" || v == "true")
}

/// Prints `SKIP <test>: <reason>`; under `ISOPROBE_REQUIRE_ALL=1` panics with the reason
/// instead, since the caller is about to return without testing anything.
#[track_caller]
pub fn skip(test: &str, reason: &str) {
    skip_or_fail(require_all(), test, reason)
}

#[track_caller]
fn skip_or_fail(require_all: bool, test: &str, reason: &str) {
    if require_all {
        panic!("{test}: required by ISOPROBE_REQUIRE_ALL=1 but cannot run here: {reason}");
    }
    say(&format!("SKIP {test}: {reason}"));
}

/// Prints a line that must be seen even when the test passes: written to the stderr handle,
/// because libtest captures `eprintln!` of a passing test.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `Some(reason)` when this process is not root.
pub fn not_root() -> Option<String> {
    (!nix::unistd::geteuid().is_root())
        .then(|| "needs root (namespaces, mounts, cgroups); run the tests as root".to_string())
}

/// Returns from the calling test (after [`skip`]) unless this process is root.
#[macro_export]
macro_rules! require_root {
    ($test:expr) => {
        if let Some(reason) = $crate::testing::not_root() {
            $crate::testing::skip($test, &reason);
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_fails_only_under_require_all() {
        // Both print (a SKIP line, then a panic message): expected, and named so.
        let test = "testing self-test (expected)";
        skip_or_fail(false, test, "a skip that is allowed");
        let failed = std::panic::catch_unwind(|| skip_or_fail(true, test, "no such thing here"));
        let message = failed.expect_err("a skip under require-all panics");
        let text = message
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(text.contains("ISOPROBE_REQUIRE_ALL"), "{text}");
        assert!(text.contains("no such thing here"), "{text}");
    }
}
