//! What people expect of a command-line tool, run as a user would: `--version` with the commit,
//! completions and a manual page generated from the command line's definition, and `merge` of
//! report files into one matrix.

use assert_cmd::Command;
use predicates::prelude::*;

fn isoprobe() -> Command {
    Command::cargo_bin("isoprobe").unwrap()
}

fn fixture(name: &str) -> String {
    isoprobe_fixtures::path(&format!("reports/{name}"))
        .display()
        .to_string()
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = isoprobe().arg("--version").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert!(
        text.starts_with(&format!("isoprobe {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    // A build made before the last commit names the commit it was built from: the one
    // checked out now, when built after it (cargo reruns the build script when HEAD moves).
    assert!(text.trim_end().ends_with(&format!("{commit})")), "{text}");
}

#[test]
fn completions_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = isoprobe().args(["completions", shell]).assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        for sub in ["run", "compare", "merge", "completions", "man"] {
            assert!(text.contains(sub), "{shell} completions lack `{sub}`");
        }
    }
    isoprobe()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'tcsh'"));
}

#[test]
fn the_manual_page_is_roff_and_lists_the_subcommands() {
    let out = isoprobe().arg("man").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains(".TH isoprobe 1"), "{text}");
    assert!(text.contains("isoprobe\\-merge"), "{text}");
    assert!(
        text.contains("Does this container actually isolate"),
        "{text}"
    );
}

#[test]
fn man_dir_writes_a_page_per_subcommand_and_refuses_a_missing_dir() {
    let dir = tempfile::tempdir().unwrap();
    isoprobe()
        .args(["man", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout("");
    for page in [
        "isoprobe.1",
        "isoprobe-run.1",
        "isoprobe-merge.1",
        "isoprobe-man.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH isoprobe"), "{page}: {text}");
    }
    isoprobe()
        .args(["man", "--dir", "/nonexistent/man1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot write the manual pages into `/nonexistent/man1`",
        ));
}

#[test]
fn merge_prints_one_matrix_of_two_runtimes_and_two_kernels() {
    let out = isoprobe()
        .args(["merge", "--format", "markdown"])
        .args(
            [
                "native-6.18.json",
                "runc-6.18.json",
                "native-5.10.json",
                "native-6.12.json",
            ]
            .map(fixture),
        )
        .assert()
        .success();
    let md = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        md.contains(
            "| check | 6.18.44-fc-v669 hybrid / native | 6.18.44-fc-v669 hybrid / runc | \
             5.10.0-46-cloud-amd64 v2 / native | 6.12.118+deb13-cloud-amd64 v2 / native |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| `ns.time` | pass ✓ | skip · | pass ✓ | pass ✓ |"),
        "{md}"
    );
    assert!(md.contains("| memory.peak | no | no | no | yes |"), "{md}");
    assert!(md.contains("What differs:"), "{md}");

    let out = isoprobe()
        .args([
            "merge",
            "--format",
            "json",
            &fixture("matrix-5.10-6.12.json"),
        ])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["columns"].as_array().unwrap().len(), 2);
}

#[test]
fn merge_refuses_bad_input_with_exit_2_and_prints_no_matrix() {
    let runc = fixture("runc-6.18.json");
    for (args, message) in [
        (
            vec!["/nonexistent/report.json".to_string()],
            "`/nonexistent/report.json`: No such file",
        ),
        (vec!["/etc/passwd".into()], "`/etc/passwd` is not JSON"),
        (vec![runc.clone(), runc.clone()], "are the same column"),
        (vec![], "required arguments were not provided"),
    ] {
        isoprobe()
            .arg("merge")
            .args(&args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(message));
    }
    isoprobe()
        .args(["merge", &format!("a={runc}"), &format!("b={runc}")])
        .assert()
        .success();
}
