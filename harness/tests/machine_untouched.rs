//! Checks and controls play against a stand-in host: while `isoprobe run --negative-controls`
//! runs, and when it is killed with SIGKILL at any moment, the machine's
//! `net.ipv4.ip_default_ttl`, its SysV IPC objects, its POSIX message queues and its hostname
//! never change. The machine's values are sampled every millisecond during each run, not only
//! compared afterwards: a control that changed a value and put it back would still be seen.

mod common;

use assert_cmd::cargo::cargo_bin;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serial_test::serial;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a control could have changed on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MachineState {
    ttl: String,
    sysv_ipc: String,
    hostname: String,
}

fn machine_state() -> MachineState {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_else(|e| format!("{p}: {e}"));
    MachineState {
        ttl: read("/proc/sys/net/ipv4/ip_default_ttl"),
        sysv_ipc: ["shm", "msg", "sem"]
            .iter()
            .map(|k| read(&format!("/proc/sysvipc/{k}")))
            .collect(),
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The machine's POSIX message queues, listed through an mqueue mount in a private mount
/// namespace of a helper process (this machine has none mounted, and the test must not add
/// one to its mount table).
fn machine_queues(dir: &Path) -> Result<String, String> {
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t mqueue isoprobe-test-mq "$1" && ls -A "$1""#)
        .arg("sh")
        .arg(dir)
        .output()
        .map_err(|e| format!("unshare (util-linux): {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Samples the machine until `stop`, returning every state that differed from `baseline`.
fn watch(baseline: &MachineState, stop: &AtomicBool) -> Vec<MachineState> {
    let mut changed = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = machine_state();
        if &now != baseline && changed.last() != Some(&now) {
            changed.push(now);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    changed
}

/// What a killed run left, removed the way a person would: `isoprobe clean`.
fn clean_after_kill(tmp: &Path) {
    let out = Command::new(cargo_bin("isoprobe"))
        .arg("clean")
        .env("TMPDIR", tmp)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "isoprobe clean: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[serial(machine)]
fn a_run_killed_at_any_moment_never_changes_the_machine() {
    require_root!("a_run_killed_at_any_moment_never_changes_the_machine");
    let scratch = tempfile::tempdir().unwrap();
    let mq_dir = scratch.path().join("mq");
    std::fs::create_dir(&mq_dir).unwrap();
    let queues_before = match machine_queues(&mq_dir) {
        Ok(q) => q,
        Err(why) => {
            common::skip("a_run_killed_at_any_moment", &why);
            return;
        }
    };
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let baseline = machine_state();
    let stop = AtomicBool::new(false);
    let changes = Mutex::new(Vec::new());
    let mut outcomes = Vec::new();
    std::thread::scope(|s| {
        let watcher = s.spawn(|| watch(&baseline, &stop));
        // A whole run with controls takes about 2 s here: the kills land in every part of it,
        // and the last run is left to finish.
        for kill_after_ms in [50, 150, 300, 500, 750, 1000, 1300, 1700, u64::MAX] {
            let mut child = Command::new(cargo_bin("isoprobe"))
                .args(["run", "--negative-controls", "--format", "tap"])
                .env("TMPDIR", &tmp)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let started = Instant::now();
            let deadline = Duration::from_millis(kill_after_ms.min(60_000));
            let status = loop {
                if let Some(st) = child.try_wait().unwrap() {
                    break Some(st);
                }
                if started.elapsed() >= deadline {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(2));
            };
            let killed = status.is_none();
            if killed {
                kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
                child.wait().unwrap();
            }
            if killed {
                clean_after_kill(&tmp);
            }
            outcomes.push((kill_after_ms, killed, status.and_then(|s| s.code())));
        }
        stop.store(true, Ordering::Relaxed);
        *changes.lock().unwrap() = watcher.join().unwrap();
    });
    let changes = changes.into_inner().unwrap();
    assert!(
        changes.is_empty(),
        "the machine changed during the runs ({outcomes:?}): from {baseline:?} to {changes:?}"
    );
    assert_eq!(machine_state(), baseline);
    assert_eq!(machine_queues(&mq_dir).unwrap(), queues_before);
    // The run left to finish passed everything: the stand-in host plays its part.
    assert_eq!(outcomes.last().map(|o| o.2), Some(Some(0)), "{outcomes:?}");
    assert!(outcomes[..outcomes.len() - 1].iter().any(|o| o.1));
    // `isoprobe clean` removed the killed runs' temporary directories.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(left, Vec::<std::path::PathBuf>::new());
    drop(scratch);
    common::assert_nothing_left_behind();
}

/// The host-wide sysctls the hostile-image checks name (what a runtime fooled by an image
/// could write into: the core pattern is host-wide root code execution), and the machine's
/// own value of the per-namespace one their links point at.
const HOST_WIDE_SYSCTLS: [&str; 9] = [
    "kernel/core_pattern",
    "kernel/core_pipe_limit",
    "kernel/core_uses_pid",
    "kernel/hostname",
    "kernel/domainname",
    "kernel/modprobe",
    "kernel/poweroff_cmd",
    "fs/suid_dumpable",
    "net/ipv4/ip_default_ttl",
];

fn sysctls() -> Vec<(&'static str, String)> {
    HOST_WIDE_SYSCTLS
        .iter()
        .map(|k| {
            let p = format!("/proc/sys/{k}");
            (
                *k,
                std::fs::read_to_string(&p).unwrap_or_else(|e| format!("{p}: {e}")),
            )
        })
        .collect()
}

/// Samples the sysctls every millisecond until `stop`, returning every sample that differed
/// from `baseline`.
fn watch_sysctls(
    baseline: &[(&'static str, String)],
    stop: &AtomicBool,
) -> Vec<Vec<(&'static str, String)>> {
    let mut changed: Vec<Vec<_>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = sysctls();
        if now != baseline && changed.last() != Some(&now) {
            changed.push(now);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    changed
}

#[test]
#[serial(machine)]
fn the_whole_suite_under_native_and_runc_leaves_the_host_wide_sysctls_alone() {
    require_root!("the_whole_suite_leaves_the_host_wide_sysctls_alone");
    let runc_works = Command::new("runc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut runtimes = vec!["native"];
    if runc_works {
        runtimes.push("runc");
    } else {
        common::skip(
            "the_whole_suite_leaves_the_host_wide_sysctls_alone (runc)",
            "runc is not installed",
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    let before = sysctls();
    let stop = AtomicBool::new(false);
    let mut ends = Vec::new();
    let changes = std::thread::scope(|s| {
        let watcher = s.spawn(|| watch_sysctls(&before, &stop));
        for rt in &runtimes {
            let out = Command::new(cargo_bin("isoprobe"))
                .args([
                    "run",
                    "--negative-controls",
                    "--format",
                    "tap",
                    "--runtime",
                    rt,
                ])
                .env("TMPDIR", scratch.path())
                .stderr(Stdio::null())
                .output()
                .unwrap();
            ends.push((*rt, out.status.code(), out.stdout.len()));
        }
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    // Each run went through the suite (a failing check is exit 1, a report all the same).
    for (rt, code, report_len) in &ends {
        assert!(
            matches!(code, Some(0 | 1)) && *report_len > 0,
            "{rt}: exit {code:?}, {report_len} bytes of report"
        );
    }
    assert!(
        changes.is_empty(),
        "host-wide sysctls changed during the runs ({ends:?}): from {before:?} to {changes:?}"
    );
    assert_eq!(sysctls(), before);
    drop(scratch);
    common::assert_nothing_left_behind();
}
