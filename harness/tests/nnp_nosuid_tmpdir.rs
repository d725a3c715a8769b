//! `nnp.no-new-privs` with `TMPDIR` on a `nosuid` file system (systemd's tmp.mount): the
//! setuid-root helper must still get a mount that honours setuid, so that the check passes by
//! behaviour and its control is detected by the helper gaining root; failing that, the check
//! must say it could not be tested. It must never pass on reading `NoNewPrivs` back.
//!
//! The `nosuid` tmpfs is mounted in a private mount namespace made for the command (util-linux
//! `unshare -m`), so the machine's mount table never sees it.

mod common;

use isoprobe::checks::UNTESTED;
use serde_json::Value;

const TEST: &str = "nnp_nosuid_tmpdir";

#[test]
fn a_nosuid_tmpdir_gives_a_behavioural_verdict_never_a_read_back() {
    require_root!(TEST);
    let Some(unshare) = on_path("unshare") else {
        common::skip(
            TEST,
            "util-linux unshare is not installed (apt-get install util-linux)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(unshare)
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t tmpfs -o nosuid,mode=1777,size=64m isoprobe-nosuid \"$1\" && \
             TMPDIR=\"$1\" exec \"$2\" run --check nnp.no-new-privs --negative-controls \
             --format json",
        )
        .arg("sh")
        .arg(dir.path())
        .arg(assert_cmd::cargo::cargo_bin("isoprobe"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr: {stderr}"));
    let check = &report["checks"][0];
    assert_eq!(check["id"], "nnp.no-new-privs");
    let reason = check["reason"].as_str().unwrap_or_default();
    match check["status"].as_str() {
        Some("pass") => {
            assert!(reason.contains("euid 0 without it"), "{check}");
            let control = &check["negative_control"];
            assert_eq!(control["status"], "detected", "{check}");
            let why = control["reason"].as_str().unwrap_or_default();
            assert!(why.contains("ran with euid 0"), "{check}");
        }
        // Allowed only as an honest "could not be tested", saying why.
        _ => assert!(reason.starts_with(UNTESTED), "{check}"),
    }
    // The namespace, and with it the tmpfs, went with the command.
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
