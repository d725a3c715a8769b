//! `isoprobe features`: the kernel feature inventory on this machine, its schema, its place in
//! the report, and that the temporary probe cgroup never outlives the run.

mod common;

use assert_cmd::cargo::cargo_bin;
use assert_cmd::Command;
use isoprobe_probes::NsType;
use serde_json::{json, Value};
use serial_test::serial;
use std::process::Stdio;

fn features_json() -> Value {
    let out = Command::cargo_bin("isoprobe")
        .unwrap()
        .args(["features", "--format", "json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).expect("features JSON parses")
}

/// `(major, minor)` of the running kernel: the test's oracle, independent of the detection
/// (which never looks at the version).
fn kernel_version() -> (u32, u32) {
    let u = nix::sys::utsname::uname().unwrap();
    let release = u.release().to_string_lossy().into_owned();
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Namespace types this process can see in /proc/self/ns (the listing also holds
/// `pid_for_children` and `time_for_children`, which are not types).
fn types_in_proc() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/ns")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| NsType::ALL.iter().any(|t| t.proc_name() == n))
        .collect();
    names.sort();
    names
}

/// `isoprobe-features-<pid>-<n>` cgroups whose `pid` is `pid`, or (None) whose process is gone.
fn probe_cgroups(pid: Option<u32>) -> Vec<String> {
    common::leftover_cgroups()
        .into_iter()
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or_default();
            let Some(rest) = name.strip_prefix("isoprobe-features-") else {
                return false;
            };
            let owner = rest.split('-').next().unwrap_or_default();
            match pid {
                Some(p) => owner == p.to_string(),
                None => !std::path::Path::new("/proc").join(owner).exists(),
            }
        })
        .collect()
}

#[test]
fn every_namespace_type_of_this_kernel_is_reported_present() {
    let f = features_json();
    let ns = f["namespaces"]
        .as_object()
        .expect("namespaces is an object");
    assert_eq!(ns.len(), NsType::ALL.len(), "one entry per type: {ns:?}");
    let present = types_in_proc();
    assert!(!present.is_empty(), "this process sees no namespace at all");
    for t in NsType::ALL {
        let expected = present.iter().any(|p| p == t.proc_name());
        assert_eq!(ns[t.proc_name()], expected, "namespaces.{t} in {ns:?}");
    }
    let max = f["max_namespaces"].as_object().unwrap();
    assert_eq!(max.len(), NsType::ALL.len());
    let user_max: Option<u64> = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    assert_eq!(max["user"].as_u64(), user_max);
}

#[test]
fn clone3_and_pidfd_open_are_found_on_a_kernel_that_has_them() {
    let version = kernel_version();
    if version < (5, 3) {
        common::skip(
            "clone3_and_pidfd_open_are_found_on_a_kernel_that_has_them",
            &format!("kernel {version:?} predates clone3 and pidfd_open (5.3)"),
        );
        return;
    }
    let f = features_json();
    for name in ["clone3", "pidfd_open"] {
        let e = &f["syscalls"][name];
        assert_eq!(e["available"], true, "{name}: {e}");
        assert!(
            e["how"].as_str().is_some_and(|h| h.starts_with(name)),
            "{name}: how names the call: {e}"
        );
    }
    // clone3 was tried with a size the kernel rejects: the answer must be that rejection.
    assert!(
        f["syscalls"]["clone3"]["how"]
            .as_str()
            .unwrap()
            .contains("EINVAL"),
        "{}",
        f["syscalls"]["clone3"]
    );
}

#[test]
fn features_json_follows_the_report_schema() {
    let f = features_json();
    let schema: Value = serde_json::from_str(include_str!("../schema/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut report = json!({
        "isoprobe_version": "0", "kernel": {"release": "r", "version": "v"},
        "cgroup_mode": f["cgroup"]["mode"], "runtime": {"name": "native", "version": "0"},
        "checks": [], "summary": {"pass": 0, "fail": 0, "skip": 0},
        "features": f,
    });
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:?}");
    // The schema does constrain the section.
    report["features"]["syscalls"]["clone3"]["available"] = json!("yes");
    assert!(!validator.is_valid(&report));
    report["features"]["syscalls"]["clone3"]["available"] = json!(true);
    report["features"]["cgroup"]["mode"] = json!("v3");
    assert!(!validator.is_valid(&report));
}

#[test]
fn text_lists_every_entry_with_how_it_was_tried() {
    let out = Command::cargo_bin("isoprobe")
        .unwrap()
        .arg("features")
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.starts_with("namespaces: "), "{text}");
    assert!(text.contains("\ncgroup: "), "{text}");
    let f = features_json();
    for (name, e) in f["syscalls"].as_object().unwrap() {
        let word = if e["available"] == true { "yes" } else { "no" };
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{text}"));
        assert_eq!(line.split_whitespace().nth(1), Some(word), "{line}");
    }
}

#[test]
#[serial(machine)]
fn the_probe_cgroup_is_made_listed_and_removed() {
    require_root!("the_probe_cgroup_is_made_listed_and_removed");
    let layout = isoprobe::cgroup::detect_layout();
    if layout.as_ref().map_or(true, |l| l.v2_mount.is_none()) {
        common::skip(
            "the_probe_cgroup_is_made_listed_and_removed",
            "no cgroup2 mount: the probe cgroup is not made",
        );
        return;
    }
    let child = std::process::Command::new(cargo_bin("isoprobe"))
        .args(["features", "--format", "json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cgroup = &f["cgroup"];
    // The probe ran: without it the checks below would pass on nothing.
    assert_eq!(cgroup["v2_files_skipped"], Value::Null, "{cgroup}");
    let files = cgroup["v2_files"].as_object().unwrap();
    assert_eq!(
        files.len(),
        isoprobe::features::V2_FILES_OF_INTEREST.len(),
        "{files:?}"
    );
    // cgroup.freeze is a core file since 5.2: in every non-root cgroup2 cgroup.
    if kernel_version() >= (5, 2) {
        assert_eq!(files["cgroup.freeze"], true, "{files:?}");
    }
    assert_eq!(probe_cgroups(Some(pid)), Vec::<String>::new());

    // The same in this process, through the library.
    let f = isoprobe::features::detect();
    assert_eq!(f.cgroup.v2_files_skipped, None);
    assert_eq!(
        probe_cgroups(Some(std::process::id())),
        Vec::<String>::new()
    );
    // And none from any run whose process is gone.
    assert_eq!(probe_cgroups(None), Vec::<String>::new());
}

#[test]
#[serial(machine)]
fn as_root_the_namespace_tries_agree_with_proc() {
    require_root!("as_root_the_namespace_tries_agree_with_proc");
    let f = isoprobe::features::detect();
    // unshare(CLONE_NEWTIME) works exactly when the kernel has the type.
    assert_eq!(
        f.syscalls.time_namespaces.available, f.namespaces["time"],
        "{:?}",
        f.syscalls.time_namespaces
    );
    assert!(
        f.syscalls.unprivileged_userns.how.contains("uid/gid 65534"),
        "as root the try drops privileges first: {:?}",
        f.syscalls.unprivileged_userns
    );
}

#[test]
#[serial(machine)]
fn a_report_carries_the_features() {
    require_root!("a_report_carries_the_features");
    let out = Command::cargo_bin("isoprobe")
        .unwrap()
        .args(["run", "--check", "pid.init-is-1", "--format", "json"])
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let f = &report["features"];
    assert_eq!(f["cgroup"]["mode"], report["cgroup_mode"], "{f}");
    assert_eq!(
        f["namespaces"].as_object().map(|m| m.len()),
        Some(NsType::ALL.len())
    );
    assert!(f["syscalls"]["clone3"]["how"].is_string(), "{f}");

    let text = Command::cargo_bin("isoprobe")
        .unwrap()
        .args(["run", "--check", "pid.init-is-1", "--color", "never"])
        .assert()
        .success();
    let text = String::from_utf8(text.get_output().stdout.clone()).unwrap();
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("features: namespaces "), "{text}");
}
