//! The README's "When things go wrong" table, run: each row's command exits 2 with its message,
//! before any container starts. A row without a case here, or a case without a row, fails.

mod common;

use serial_test::serial;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// One row of the table: what is wrong, the command, the message with `…` for what differs
/// between machines.
#[derive(Debug)]
struct Row {
    input: String,
    command: Vec<String>,
    message: String,
}

/// How a row's command is run: as it is, as an unprivileged user, or after a shell command in a
/// private mount namespace of its own (so that what it unmounts or hides is gone for that
/// command only, never for the machine).
#[derive(Debug, Clone, Copy)]
enum Setup {
    Plain,
    /// The check a plain user gets before anything else.
    NotRoot,
    Root,
    PrivateMounts(&'static str),
}

/// Each row of the README's table by its first column, and how to run it.
fn cases() -> Vec<(&'static str, Setup)> {
    vec![
        ("not root", Setup::NotRoot),
        ("a runtime that cannot run rootless", Setup::NotRoot),
        ("unknown check id", Setup::Plain),
        ("unknown runtime", Setup::Plain),
        ("`--engine-defaults` for a runtime that is no engine", Setup::Plain),
        ("a runtime that is not executable", Setup::Root),
        ("a runtime that is missing", Setup::Root),
        ("a runtime that does not work", Setup::Root),
        ("a runtime named in `compare` that is missing", Setup::Root),
        ("a zero timeout", Setup::Plain),
        ("a negative timeout", Setup::Plain),
        ("a timeout that is not a number", Setup::Plain),
        ("zero jobs", Setup::Plain),
        ("a missing agent", Setup::Root),
        ("an agent that is not executable", Setup::Root),
        ("a dynamically linked agent", Setup::Root),
        ("an agent that is a script", Setup::Root),
        ("an agent for another architecture", Setup::Root),
        ("a missing rootfs", Setup::Root),
        ("a rootfs that is not a directory", Setup::Root),
        ("a rootfs without `/proc`", Setup::Root),
        ("a rootfs overlayfs cannot take", Setup::Root),
        ("a report file in a missing directory", Setup::Root),
        ("a report file that is a directory", Setup::Root),
        (
            "no cgroup hierarchy mounted",
            Setup::PrivateMounts(
                "for m in $(grep -E ' - cgroup2? ' /proc/self/mountinfo | cut -d' ' -f5 | sort -r); \
                 do umount -l \"$m\" || exit 90; done",
            ),
        ),
        (
            "a read-only cgroup hierarchy",
            Setup::PrivateMounts(concat!(
                "for m in $(grep -E ' - cgroup2? ' /proc/self/mountinfo | cut -d' ' -f5 | sort -r); do",
                " mount -o remount,bind,ro \"$m\" || exit 90; done"
            )),
        ),
        (
            "a kernel without a namespace type a named check needs",
            // An empty /proc/<pid>/ns for the shell, which execs isoprobe under the same pid.
            Setup::PrivateMounts("mount -t tmpfs none /proc/$$/ns || exit 90"),
        ),
        ("a report to merge that is missing", Setup::Plain),
        ("a report to merge that is not JSON", Setup::Plain),
        ("a JSON file to merge that is not a report", Setup::Plain),
        ("a report to merge that does not match the schema", Setup::Plain),
        ("two reports to merge that make the same column", Setup::Plain),
        ("a kernel image that is not one", Setup::Plain),
        ("a missing kernel image", Setup::Plain),
    ]
}

fn readme_rows() -> Vec<Row> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("\n## When things go wrong\n")
        .expect("the README has a \"When things go wrong\" section");
    let section = &readme[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    section[..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| bad input") && !l.starts_with("| ---"))
        .map(|l| {
            let cells: Vec<&str> = l
                .trim_start_matches("| ")
                .trim_end_matches(" |")
                .split(" | ")
                .collect();
            assert_eq!(cells.len(), 3, "a row of three cells: {l}");
            let command = cells[1]
                .strip_prefix("`isoprobe ")
                .and_then(|c| c.strip_suffix('`'))
                .unwrap_or_else(|| panic!("a command in `isoprobe ...`: {l}"));
            let message = cells[2]
                .strip_prefix("`` ")
                .and_then(|c| c.strip_suffix(" ``"))
                .unwrap_or_else(|| panic!("a message in `` ... ``: {l}"));
            Row {
                input: cells[0].to_string(),
                command: command.split_whitespace().map(str::to_string).collect(),
                message: message.to_string(),
            }
        })
        .collect()
}

/// Why a row cannot show its message on this machine: a read-only hierarchy is only refused
/// where the check's controller could be used at all (elsewhere the check is a recorded skip).
fn unmet(input: &str) -> Option<String> {
    if input != "a read-only cgroup hierarchy" {
        return None;
    }
    isoprobe::cgroup::locate("cpu")
        .err()
        .map(|e| format!("the cpu controller cannot be used here: {e}"))
}

/// The files the placeholders of the table stand for.
struct Placeholders {
    _dir: tempfile::TempDir,
    values: Vec<(&'static str, String)>,
}

impl Placeholders {
    fn new() -> Placeholders {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let script = dir.path().join("agent.sh");
        write_executable(&script, b"#!/bin/sh\necho {}\n");
        let foreign = dir.path().join("foreign-agent");
        write_executable(&foreign, &foreign_elf());
        let comma = dir.path().join("image,v1");
        std::fs::create_dir_all(comma.join("proc")).unwrap();
        // A real report (runc on this project's machine), as is and broken.
        let text = isoprobe_fixtures::text("reports/runc-6.18.json").unwrap();
        let report = dir.path().join("runc.json");
        std::fs::write(&report, &text).unwrap();
        let mut broken: serde_json::Value = serde_json::from_str(&text).unwrap();
        broken["checks"][0]["status"] = "maybe".into();
        let bad_report = dir.path().join("bad.json");
        std::fs::write(&bad_report, broken.to_string()).unwrap();
        let not_a_report = dir.path().join("other.json");
        std::fs::write(&not_a_report, r#"{"name": "isoprobe", "version": "0.1.0"}"#).unwrap();
        let s = |p: &Path| p.display().to_string();
        let values = vec![
            ("$COMMA_DIR", s(&comma)),
            ("$EMPTY_DIR", s(&empty)),
            ("$SCRIPT", s(&script)),
            ("$FOREIGN_ELF", s(&foreign)),
            ("$NOT_A_REPORT", s(&not_a_report)),
            ("$BAD_REPORT", s(&bad_report)),
            ("$REPORT", s(&report)),
        ];
        Placeholders { _dir: dir, values }
    }

    fn fill(&self, text: &str) -> String {
        self.values
            .iter()
            .fold(text.to_string(), |t, (k, v)| t.replace(k, v))
    }
}

fn write_executable(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The first bytes of a 64-bit executable for a machine other than this one.
fn foreign_elf() -> Vec<u8> {
    let machine: u16 = if std::env::consts::ARCH == "aarch64" {
        62
    } else {
        183
    };
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[6] = 1;
    b[16..18].copy_from_slice(&2u16.to_le_bytes());
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b
}

fn command(setup: Setup, args: &[String]) -> Command {
    let bin = assert_cmd::cargo::cargo_bin("isoprobe");
    let mut c = match setup {
        Setup::Plain | Setup::Root => Command::new(&bin),
        Setup::NotRoot if nix::unistd::geteuid().is_root() => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
            c.arg(&bin);
            c
        }
        Setup::NotRoot => Command::new(&bin),
        Setup::PrivateMounts(script) => {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-c"]);
            c.arg(format!("{script}\nexec \"$0\" \"$@\""));
            c.arg(&bin);
            c
        }
    };
    c.args(args);
    c
}

/// `message`'s pieces between `…`, in order, in `stderr`.
fn says(stderr: &str, message: &str) -> bool {
    let mut rest = stderr;
    for piece in message.split('…').filter(|p| !p.is_empty()) {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
}

/// Runs `cmd` and kills it (by its pid) if it is still running after a minute: bad input must
/// end at once.
fn run_bounded(mut cmd: Command) -> (u32, Output) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (pid, child.wait_with_output().unwrap())
}

/// Runs the rows that need root (or those that do not), and returns the pids it started.
fn run_rows(root: bool) -> Vec<u32> {
    let mut pids = Vec::new();
    let rows = readme_rows();
    let cases = cases();
    let ph = Placeholders::new();
    for row in &rows {
        let (_, setup) = cases
            .iter()
            .find(|(name, _)| *name == row.input)
            .unwrap_or_else(|| panic!("no case for the README row `{}`", row.input));
        let needs_root = matches!(setup, Setup::Root | Setup::PrivateMounts(_));
        if needs_root != root {
            continue;
        }
        if let Some(reason) = unmet(&row.input) {
            common::skip(&format!("bad input row `{}`", row.input), &reason);
            continue;
        }
        let args: Vec<String> = row.command.iter().map(|a| ph.fill(a)).collect();
        let message = ph.fill(&row.message);
        let (pid, out) = run_bounded(command(*setup, &args));
        pids.push(pid);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "`{}` ({}): exit 2 expected; stderr: {stderr}",
            args.join(" "),
            row.input
        );
        assert!(
            says(&stderr, &message),
            "`{}` ({}): the README's message\n  {message}\nis not what it said:\n  {stderr}",
            args.join(" "),
            row.input
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "no report for bad input: {:?}",
            out.stdout
        );
    }
    pids
}

#[test]
fn every_row_has_a_case_and_every_case_a_row() {
    let rows: BTreeSet<String> = readme_rows().into_iter().map(|r| r.input).collect();
    let named: BTreeSet<String> = cases().iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        rows.difference(&named).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "README rows without a case in tests/bad_input.rs"
    );
    assert_eq!(
        named.difference(&rows).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "cases without a row in the README's \"When things go wrong\""
    );
    assert_eq!(
        readme_rows().len(),
        cases().len(),
        "a row twice in the README"
    );
}

#[test]
fn rows_any_user_gets_exit_2_with_their_message() {
    run_rows(false);
}

#[test]
#[serial(machine)]
fn rows_root_gets_exit_2_with_their_message_before_any_container() {
    require_root!("rows_root_gets_exit_2_with_their_message_before_any_container");
    let pids = run_rows(true);
    // Other runs may be going on on this machine: only what ours would have named counts. A
    // cgroup isoprobe makes is named `isoprobe-<purpose>-<pid>-<n>`.
    let ours: Vec<String> = common::leftover_cgroups()
        .into_iter()
        .filter(|c| pids.iter().any(|p| c.contains(&format!("-{p}-"))))
        .collect();
    assert_eq!(ours, Vec::<String>::new(), "cgroups made for bad input");
}
