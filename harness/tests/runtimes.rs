//! The same checks under every runtime: each passes what the runtime truly isolates, skips
//! with a reason what it cannot express, fails exactly where the runtime is known to be weak
//! (and must fail there: the weak runtime has to be caught), every control is detected or
//! skipped with a reason, and nothing is left behind.

mod common;

use isoprobe::report::{ControlStatus, Status};
use isoprobe::runtime;
use rstest::rstest;
use serial_test::serial;

/// Checks a runtime fails because it does not isolate that property: a finding about the
/// runtime, recorded here so that a change either way is noticed.
fn known_weaknesses(runtime: &str) -> &'static [&'static str] {
    match runtime {
        // chroot only: the old root stays reachable by walking `..`.
        "native-chroot" => &["root.chroot-escape-blocked", "root.old-root-gone"],
        // Run as root, the OCI runtimes leave /proc/<pid>/setgroups at "allow" in the user
        // namespace (the runtime spec has no setting for it).
        "runc" | "crun" | "youki" => &["user.root-is-unprivileged"],
        // --no-pivot moves the rootfs over / and chroots: the old root stays underneath, and
        // detaching the covering mount reaches it. runc also refuses private propagation
        // without pivot_root and uses rslave, so host mounts propagate in.
        "runc-no-pivot" => &[
            "root.chroot-escape-blocked",
            "user.root-is-unprivileged",
            "mnt.no-propagation",
        ],
        "crun-no-pivot" => &["root.chroot-escape-blocked", "user.root-is-unprivileged"],
        // util-linux unshare --root is a chroot, and --map-root-user maps root to host root
        // (its --map-users needs newuidmap and a subuid range).
        "unshare" => &[
            "root.chroot-escape-blocked",
            "root.old-root-gone",
            "user.root-is-unprivileged",
        ],
        // bwrap as root: --cap-drop leaves the bounding set without a user namespace, its
        // mounts are slaves of the host's (host mounts propagate in), and its user namespace
        // maps root to host root.
        "bwrap" => &[
            "caps.bounding-dropped",
            "mnt.no-propagation",
            "user.root-is-unprivileged",
        ],
        _ => &[],
    }
}

/// Runtime containers still registered in a runtime's state directory.
fn leftover_containers(runtime: &str) -> Vec<String> {
    let bin = match runtime {
        "runc" | "runc-no-pivot" => "runc",
        "crun" | "crun-no-pivot" => "crun",
        "youki" => "youki",
        _ => return vec![],
    };
    let out = std::process::Command::new(bin)
        .arg("list")
        .arg("-q")
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains("isoprobe"))
            .map(str::to_string)
            .collect(),
        Err(_) => vec![],
    }
}

#[rstest]
#[serial(machine)]
fn runtime_isolates_what_it_claims_and_every_control_is_detected(
    #[values(
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
    let rt = match runtime::by_name(name) {
        Ok(rt) => rt,
        Err(e) => panic!("{name} must be a known runtime: {e}"),
    };
    if let Err(reason) = rt.available() {
        common::skip(name, &reason.to_string());
        return;
    }
    let report = common::run_suite(rt.as_ref());
    let weak = known_weaknesses(name);
    let mut problems = Vec::new();
    for c in &report.checks {
        match c.status {
            Status::Fail if !weak.contains(&c.id.as_str()) => {
                problems.push(format!("{} failed: {}", c.id, c.reason))
            }
            Status::Pass if weak.contains(&c.id.as_str()) => problems.push(format!(
                "{} passed, but {name} is known not to isolate it: {}",
                c.id, c.reason
            )),
            Status::Skip => eprintln!("{name}: {} skipped: {}", c.id, c.reason),
            _ => {}
        }
        if let Some(n) = &c.negative_control {
            match n.status {
                ControlStatus::Missed => problems.push(format!(
                    "{}: control `{}` missed: {}",
                    c.id, n.sabotage, n.reason
                )),
                ControlStatus::Skip => {
                    eprintln!("{name}: {} control skipped: {}", c.id, n.reason)
                }
                ControlStatus::Detected => {}
            }
        }
    }
    for id in weak {
        if !report.checks.iter().any(|c| &c.id == id) {
            problems.push(format!("known weakness {id} is not a check"));
        }
    }
    assert!(problems.is_empty(), "{name}:\n  {}", problems.join("\n  "));
    common::assert_nothing_left_behind();
    assert_eq!(
        leftover_containers(name),
        Vec::<String>::new(),
        "{name} containers left"
    );
}

#[test]
fn every_known_runtime_is_tested_above() {
    let src = include_str!("runtimes.rs");
    for n in runtime::NAMES.iter().filter(|n| **n != "native") {
        assert!(src.contains(&format!("\"{n}\"")), "{n} is not tested");
    }
}
