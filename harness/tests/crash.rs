//! A run killed at any moment leaves nothing that `isoprobe clean`, or simply the next run,
//! does not remove; SIGTERM cleans at once; two runs at once do not collide. Every name
//! isoprobe gives a cgroup, a container or a temporary directory holds the pid of the run
//! that made it, which is how what one killed run left is told from what other runs on the
//! machine are doing.

mod common;

use assert_cmd::cargo::cargo_bin;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serial_test::serial;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn isoprobe(tmp: &Path) -> Command {
    let mut c = Command::new(cargo_bin("isoprobe"));
    c.env("TMPDIR", tmp).env_remove("ISOPROBE_REQUIRE_ALL");
    c
}

fn start_run(tmp: &Path, runtime: &str) -> Child {
    isoprobe(tmp)
        .args([
            "run",
            "--negative-controls",
            "--format",
            "tap",
            "--runtime",
            runtime,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The record directory of the run with `pid`, if it has one.
fn record_of(pid: u32) -> Option<PathBuf> {
    let mark = format!("{pid}-");
    std::fs::read_dir(isoprobe::record::base_dir())
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&mark))
        })
}

/// Whatever on the machine carries the name of run `pid`: cgroups, mounts, containers of
/// `runtimes`, entries of `tmp`, agents.
fn traces_of(pid: u32, tmp: &Path, runtimes: &[&str]) -> Vec<String> {
    let mark = format!("-{pid}-");
    let mut found: Vec<String> = common::leftover_cgroups()
        .into_iter()
        .chain(common::leftover_mounts())
        .filter(|l| l.contains(&mark))
        .collect();
    for rt in runtimes {
        if let Ok(out) = Command::new(rt).args(["list", "-q"]).output() {
            found.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| l.contains(&mark))
                    .map(|l| format!("{rt} container {l}")),
            );
        }
    }
    found.extend(
        std::fs::read_dir(tmp)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| format!("temp {}", e.path().display()))
            .filter(|t| t.contains(&mark)),
    );
    found.extend(record_of(pid).map(|p| format!("record {}", p.display())));
    found
}

/// Waits up to `limit` for `child`; None when it is still running.
fn wait_up_to(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if started.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn clean(tmp: &Path) -> Output {
    let out = isoprobe(tmp).arg("clean").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "isoprobe clean: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn available(runtime: &str, test: &str) -> bool {
    if isoprobe::runtime::by_name(runtime)
        .ok()
        .and_then(|r| r.available().ok())
        .is_none()
    {
        common::skip(test, &format!("{runtime} is not installed"));
        return false;
    }
    true
}

/// Kills a run under `runtime` after each of `moments` and cleans with `isoprobe clean`.
fn killed_then_cleaned(runtime: &str, moments: &[u64]) {
    let tmp = tempfile::tempdir().unwrap();
    let mut listed_something = false;
    for &ms in moments {
        let mut child = start_run(tmp.path(), runtime);
        let pid = child.id();
        if wait_up_to(&mut child, Duration::from_millis(ms)).is_some() {
            continue;
        }
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        let before = traces_of(pid, tmp.path(), &[runtime]);
        let out = clean(tmp.path());
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        let left = traces_of(pid, tmp.path(), &[runtime]);
        assert_eq!(
            left,
            Vec::<String>::new(),
            "{runtime} killed after {ms} ms left {before:?}; clean said:\n{report}"
        );
        listed_something |= report.contains(&format!("of run {pid}"));
        // Each temporary directory and container the run left is named in clean's report.
        let named = before.iter().filter_map(|t| {
            t.strip_prefix("temp ")
                .or_else(|| t.split_once(" container ").map(|(_, id)| id))
        });
        for t in named {
            assert!(
                report.contains(t),
                "clean did not list {t}; it said:\n{report}"
            );
        }
    }
    // Only what carries a killed run's pid is looked for: other runs may be busy on the
    // machine meanwhile, and what they have is theirs to remove.
    assert!(listed_something, "no kill left anything to clean");
}

#[test]
#[serial(machine)]
fn native_killed_at_several_points_then_isoprobe_clean_leaves_nothing() {
    require_root!("native_killed_at_several_points_then_isoprobe_clean_leaves_nothing");
    killed_then_cleaned("native", &[200, 600, 1200, 1800]);
}

#[test]
#[serial(machine)]
fn runc_killed_at_several_points_then_isoprobe_clean_leaves_nothing() {
    require_root!("runc_killed_at_several_points_then_isoprobe_clean_leaves_nothing");
    if available("runc", "runc_killed_at_several_points") {
        killed_then_cleaned("runc", &[400, 1200, 2500, 4000]);
    }
}

#[test]
#[serial(machine)]
fn crun_killed_at_several_points_then_isoprobe_clean_leaves_nothing() {
    require_root!("crun_killed_at_several_points_then_isoprobe_clean_leaves_nothing");
    if available("crun", "crun_killed_at_several_points") {
        killed_then_cleaned("crun", &[600, 2000]);
    }
}

#[test]
#[serial(machine)]
fn the_next_run_cleans_up_after_a_killed_one() {
    require_root!("the_next_run_cleans_up_after_a_killed_one");
    if !available("runc", "the_next_run_cleans_up_after_a_killed_one") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut child = start_run(tmp.path(), "runc");
    let pid = child.id();
    assert!(wait_up_to(&mut child, Duration::from_millis(1500)).is_none());
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let before = traces_of(pid, tmp.path(), &["runc"]);
    assert!(!before.is_empty(), "the kill left nothing to test with");
    let next = isoprobe(tmp.path())
        .args([
            "run",
            "--check",
            "uts.hostname-independent",
            "--format",
            "tap",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&next.stderr);
    assert_eq!(next.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("left by runs that died"), "{stderr}");
    assert_eq!(
        traces_of(pid, tmp.path(), &["runc"]),
        Vec::<String>::new(),
        "before: {before:?}"
    );
}

#[test]
#[serial(machine)]
fn sigterm_cleans_at_once() {
    require_root!("sigterm_cleans_at_once");
    let tmp = tempfile::tempdir().unwrap();
    let mut child = start_run(tmp.path(), "native");
    let pid = child.id();
    // Mid-run: with its checks two at a time, a debug build's run takes about 1.2 s here.
    assert!(wait_up_to(&mut child, Duration::from_millis(400)).is_none());
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    let Some(status) = wait_up_to(&mut child, Duration::from_secs(10)) else {
        let _ = child.kill();
        panic!("isoprobe did not stop within 10 s of SIGTERM");
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(traces_of(pid, tmp.path(), &[]), Vec::<String>::new());
}

#[test]
#[serial(machine)]
fn two_runs_at_once_do_not_collide() {
    require_root!("two_runs_at_once_do_not_collide");
    let tmp = tempfile::tempdir().unwrap();
    let runs: Vec<Child> = (0..2)
        .map(|_| {
            isoprobe(tmp.path())
                .args(["run", "--negative-controls", "--format", "tap"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let pid = run.id();
        let out = run.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(traces_of(pid, tmp.path(), &[]), Vec::<String>::new());
    }
}

/// The children of `parent` whose command line holds `needle` (NUL-separated arguments).
fn children_with(parent: u32, needle: &[u8]) -> Vec<u32> {
    common::children_of(parent)
        .iter()
        .filter(|dir| {
            let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            cmdline.windows(needle.len()).any(|w| w == needle)
        })
        .filter_map(|dir| common::pid_of(dir))
        .collect()
}

/// `proc.host-invisible` starts a process of its own on the host side (the agent, lingering
/// 30 s, for the container to try to reach): outside every container and cgroup of the run, so
/// neither the run's cgroups nor its record would end it. A SIGKILLed run must take it along
/// at once.
#[test]
#[serial(machine)]
fn a_killed_run_takes_its_host_side_sleeper_along() {
    const NAME: &str = "a_killed_run_takes_its_host_side_sleeper_along";
    require_root!(NAME);
    let tmp = tempfile::tempdir().unwrap();
    // The sleeper lives for one check's run (tens of ms): a few runs until one is caught.
    let caught = (0..10).find_map(|_| {
        let mut child = isoprobe(tmp.path())
            .args(["run", "--check", "proc.host-invisible"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let sleeper = loop {
            if let Some(&s) = children_with(pid, b"--linger-ms\x0030000").first() {
                break Some(s);
            }
            if child.try_wait().unwrap().is_some() {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if sleeper.is_some() {
            kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        }
        child.wait().unwrap();
        sleeper.map(|s| (pid, s))
    });
    let (pid, sleeper) = caught.expect("no run's sleeper was seen in 10 runs");
    let started = Instant::now();
    while !common::has_ended(sleeper) && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        common::has_ended(sleeper),
        "the sleeper {sleeper} of the killed run {pid} still runs"
    );
    clean(tmp.path());
    assert_eq!(traces_of(pid, tmp.path(), &[]), Vec::<String>::new());
}
