//! The `isoprobe` command line: listing, running, output formats, and bad input (exit 2 with a
//! message that says what to do, never a panic).

mod common;

use assert_cmd::Command;
use isoprobe::checks;
use predicates::prelude::*;
use serial_test::serial;

fn isoprobe() -> Command {
    Command::cargo_bin("isoprobe").unwrap()
}

fn no_panic() -> impl Predicate<str> {
    predicate::str::contains("panicked").not()
}

#[test]
fn list_names_every_check_with_its_control() {
    let out = isoprobe().arg("list").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for c in checks::all() {
        assert!(
            text.contains(&c.id()),
            "{} missing from `isoprobe list`",
            c.id()
        );
        assert!(text.contains(&c.sabotage().describe()));
    }
    let json = isoprobe()
        .args(["list", "--format", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), checks::all().len());
}

#[test]
fn usage_errors_exit_2_and_say_what_is_wrong() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["run", "--check", "no.such-check"],
            "unknown check id `no.such-check`",
        ),
        (&["run", "--runtime", "nosuch"], "unknown runtime `nosuch`"),
        (&["run", "--format", "yaml"], "invalid value 'yaml'"),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, msg) in cases {
        isoprobe()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(msg).and(no_panic()));
    }
}

#[test]
fn not_root_is_a_clear_error() {
    // As root, drop to nobody with setpriv; otherwise this process already is not root.
    let mut cmd = if nix::unistd::geteuid().is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(assert_cmd::cargo::cargo_bin("isoprobe"));
        c
    } else {
        isoprobe()
    };
    // `run` runs rootless (tests/rootless.rs); `compare` still needs root.
    cmd.args(["compare", "--check", "pid.init-is-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs root").and(no_panic()));
}

#[test]
#[serial(machine)]
fn bad_rootfs_and_agent_exit_2() {
    require_root!("bad_rootfs_and_agent_exit_2");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let no_proc = tmp.path().join("no-proc");
    std::fs::create_dir(&no_proc).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--rootfs".into(), "/nonexistent/rootfs".into()],
            "No such file or directory",
        ),
        (
            vec!["--rootfs".into(), file.display().to_string()],
            "is not a directory",
        ),
        (
            vec!["--rootfs".into(), no_proc.display().to_string()],
            "has no /proc directory",
        ),
        (
            vec!["--agent".into(), "/nonexistent/agent".into()],
            "--agent `/nonexistent/agent`",
        ),
        (
            vec!["--agent".into(), file.display().to_string()],
            "not an executable file",
        ),
    ];
    for (extra, msg) in cases {
        isoprobe()
            .args(["run", "--check", "pid.init-is-1"])
            .args(&extra)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(msg).and(no_panic()));
    }
    common::assert_nothing_left_behind();
}

#[test]
#[serial(machine)]
fn json_report_follows_the_documented_schema() {
    require_root!("json_report_follows_the_documented_schema");
    let out = isoprobe()
        .args(["run", "--negative-controls", "--format", "json"])
        .args(["--check", "pid.init-is-1", "--check", "ns.net"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:?}");
    assert_eq!(report["summary"]["pass"], 2);
    assert_eq!(
        report["checks"][0]["negative_control"]["status"],
        "detected"
    );
}

#[test]
#[serial(machine)]
fn tap_and_text_and_junit_outputs() {
    require_root!("tap_and_text_and_junit_outputs");
    let tap = isoprobe()
        .args([
            "run",
            "--check",
            "ns.uts",
            "--negative-controls",
            "--format",
            "tap",
        ])
        .assert()
        .success();
    let tap = String::from_utf8(tap.get_output().stdout.clone()).unwrap();
    assert!(tap.starts_with("TAP version 13\n1..2\n"), "{tap}");
    assert!(tap.contains("ok 1 - ns.uts"));

    // The environment switch takes the usual boolean spellings.
    let text = isoprobe()
        .args(["run", "--check", "ns.uts", "--color", "never"])
        .env("ISOPROBE_REQUIRE_ALL", "1")
        .assert()
        .success();
    let text = String::from_utf8(text.get_output().stdout.clone()).unwrap();
    assert!(text.contains("PASS") && text.contains("ns.uts") && !text.contains('\x1b'));

    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("report.xml");
    isoprobe()
        .args(["run", "--check", "ns.uts", "--format", "junit", "--output"])
        .arg(&path)
        .assert()
        .success();
    let xml = std::fs::read_to_string(&path).unwrap();
    assert!(
        xml.contains("<testsuites") && xml.contains("name=\"ns.uts\""),
        "{xml}"
    );
}

#[test]
#[serial(machine)]
fn user_rootfs_gets_the_agent_for_the_run_only() {
    require_root!("user_rootfs_gets_the_agent_for_the_run_only");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    for d in ["proc", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/os-release"), "ID=test\n").unwrap();
    // tempdir is 0700; a user namespace's root must be able to enter it.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    isoprobe()
        .args([
            "run",
            "--check",
            "root.chroot-escape-blocked",
            "--check",
            "pid.init-is-1",
        ])
        .arg("--rootfs")
        .arg(&root)
        .assert()
        .success()
        .stdout(predicate::str::contains("2 passed"));
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.contains("isoprobe")),
        "agent left in the rootfs: {left:?}"
    );
}

#[test]
fn require_all_turns_a_skip_into_failure() {
    // A check misses a requirement only on a machine without the feature, so the exit-code
    // rule is tested on a report.
    use isoprobe::report::*;
    let mut r = Report {
        isoprobe_version: "0".into(),
        kernel: Kernel {
            release: "r".into(),
            version: "v".into(),
        },
        cgroup_mode: "v2".into(),
        runtime: RuntimeInfo {
            name: "native".into(),
            version: "0".into(),
        },
        checks: vec![CheckResult {
            id: "x".into(),
            status: Status::Skip,
            reason: "no".into(),
            expected: serde_json::Value::Null,
            observed: serde_json::Value::Null,
            duration_ms: 0,
            negative_control: None,
        }],
        summary: Summary {
            pass: 0,
            fail: 0,
            skip: 1,
        },
        features: None,
        rootless: None,
    };
    assert_eq!(isoprobe::cli::exit_code(&r, false), 0);
    assert_eq!(isoprobe::cli::exit_code(&r, true), 1);
    r.checks[0].status = Status::Pass;
    r.summary = Summary::of(&r.checks);
    r.checks[0].negative_control = Some(ControlResult {
        sabotage: "s".into(),
        status: ControlStatus::Missed,
        reason: "r".into(),
        observed: serde_json::Value::Null,
    });
    assert_eq!(
        isoprobe::cli::exit_code(&r, false),
        1,
        "a missed control fails the run"
    );
}

#[test]
fn compare_require_all_turns_a_skip_under_any_runtime_into_failure() {
    use isoprobe::cli::compare_exit_code;
    let report = |status: &str, control: &str| {
        serde_json::json!({
            "isoprobe_version": "0",
            "kernel": {"release": "r", "version": "v"},
            "cgroup_mode": "v2",
            "runtime": {"name": "x", "version": "0"},
            "checks": [{"id": "c", "status": status, "reason": "", "expected": null,
                "observed": null, "duration_ms": 0,
                "negative_control": {"sabotage": "s", "status": control, "reason": "",
                    "observed": null}}],
            "summary": {
                "pass": usize::from(status == "pass"),
                "fail": usize::from(status == "fail"),
                "skip": usize::from(status == "skip"),
            },
        })
    };
    let cmp = |second: serde_json::Value| -> isoprobe::compare::Comparison {
        serde_json::from_value(serde_json::json!({
            "isoprobe_version": "0",
            "kernel": {"release": "r", "version": "v"},
            "cgroup_mode": "v2",
            "duration_ms": 0,
            "reports": [report("pass", "detected"), second],
        }))
        .unwrap()
    };
    let cases = [
        // (second runtime's check, its control) -> exit without, with --require-all
        (("pass", "detected"), (0, 0)),
        (("fail", "detected"), (0, 0)),
        (("skip", "skip"), (0, 1)),
        (("pass", "skip"), (0, 1)),
        (("pass", "missed"), (1, 1)),
        (("pass", "inconclusive"), (1, 1)),
    ];
    for ((status, control), (plain, strict)) in cases {
        let c = cmp(report(status, control));
        assert_eq!(compare_exit_code(&c, false), plain, "{status}/{control}");
        assert_eq!(
            compare_exit_code(&c, true),
            strict,
            "{status}/{control} --require-all"
        );
    }
}

#[test]
#[serial(machine)]
fn compare_prints_one_matrix_of_runtimes() {
    require_root!("compare_prints_one_matrix_of_runtimes");
    let out = isoprobe()
        .args(["compare", "--runtimes", "native,native-chroot"])
        .args(["--check", "root.chroot-escape-blocked", "--check", "ns.uts"])
        .args(["--format", "markdown", "--reasons"])
        .assert()
        .success();
    let md = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(md.contains("| check | native | native-chroot |"), "{md}");
    assert!(
        md.contains("| `root.chroot-escape-blocked` | pass ✓ | FAIL ✓ |"),
        "chroot must be caught: {md}"
    );
    assert!(
        md.contains("- native-chroot / root.chroot-escape-blocked:"),
        "{md}"
    );

    let json = isoprobe()
        .args([
            "compare",
            "--runtimes",
            "native",
            "--check",
            "ns.uts",
            "--format",
            "json",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v["reports"][0]["runtime"]["name"], "native");
    assert_eq!(v["reports"][0]["checks"][0]["status"], "pass");

    // unshare cannot set a hostname: the check is skipped there (or all of them are, without
    // unshare), which --require-all (or its environment variable) turns into exit 1.
    let skipping = ["compare", "--runtimes", "unshare", "--check"];
    isoprobe()
        .env_remove("ISOPROBE_REQUIRE_ALL")
        .args(skipping)
        .arg("uts.hostname-independent")
        .assert()
        .success();
    isoprobe()
        .env_remove("ISOPROBE_REQUIRE_ALL")
        .args(skipping)
        .args(["uts.hostname-independent", "--require-all"])
        .assert()
        .code(1);
    isoprobe()
        .env("ISOPROBE_REQUIRE_ALL", "1")
        .args(skipping)
        .arg("uts.hostname-independent")
        .assert()
        .code(1);
    isoprobe()
        .args([
            "compare",
            "--runtimes",
            "native",
            "--check",
            "ns.uts",
            "--require-all",
        ])
        .assert()
        .success();

    isoprobe()
        .args(["compare", "--runtimes", "native,nosuch"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown runtime `nosuch`").and(no_panic()));
}
