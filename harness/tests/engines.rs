//! The engines out of the box (`--engine-defaults`): every check gets an answer, each control
//! (the engine's own escape hatch) shows its check can fail, what the engines are known not to
//! give by default fails, and afterwards nothing of isoprobe's is left (no container, image,
//! daemon, store, cgroup or mount) and the machine's iptables rules, network links and the
//! engines' machine-wide directories are as they were. The configured mode of both engines is
//! `runtime::podman` and `runtime::docker` in `runtimes.rs`.

mod common;

use isoprobe::report::{ControlStatus, Report, Status};
use isoprobe::runtime;
use serial_test::serial;
use std::collections::BTreeSet;
use std::process::Command;

/// What both engines do not give a container out of the box, on this project's machines
/// (cgroup v1 hybrid, no AppArmor or SELinux): each must fail in defaults mode, with its
/// reason. (`nnp.no-new-privs` fails under podman too; docker's daemon cannot see its helper's
/// mount, so it is skipped there.)
const NOT_BY_DEFAULT: [(&str, &str); 7] = [
    ("cgroup.cpu-throttled", "no throttling recorded"),
    ("memory.limit-enforced", "not less than the"),
    ("pids.limit-enforced", "forking was stopped by nothing"),
    ("ns.user", "shares the host's user namespace"),
    ("user.root-is-unprivileged", "belongs to host root"),
    ("ns.time", "shares the host's time namespace"),
    ("ns.cgroup", "shares the host's cgroup namespace"),
];

/// What of the machine an engine could change: its firewall, its links, the machine-wide
/// places engines write to, and the processes of isoprobe's engines.
#[derive(Debug, PartialEq, Eq)]
struct Machine {
    iptables: Vec<String>,
    links: BTreeSet<String>,
    engine_dirs: BTreeSet<String>,
}

impl Machine {
    fn read() -> Machine {
        let out = |cmd: &str, args: &[&str]| {
            Command::new(cmd)
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        // Packet counters and the dump's timestamps change by themselves.
        let iptables = out("iptables-save", &[])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(" [").next().unwrap_or(l).to_string())
            .collect();
        let links = out("ip", &["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1).map(str::to_string))
            .collect();
        let mut engine_dirs = BTreeSet::new();
        for (dir, names) in [
            (
                "/run",
                &["containers", "libpod", "docker", "containerd", "podman"][..],
            ),
            ("/etc/docker", &["key.json", "daemon.json"][..]),
            ("/dev/shm", &["libpod_lock"][..]),
            ("/var/lib", &["docker", "containers"][..]),
        ] {
            for n in names {
                let p = format!("{dir}/{n}");
                if std::path::Path::new(&p).exists() {
                    engine_dirs.insert(p);
                }
            }
        }
        Machine {
            iptables,
            links,
            engine_dirs,
        }
    }
}

/// Processes of an engine store or daemon isoprobe made (dockerd, containerd, conmon, shims).
fn leftover_engine_processes() -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if text.contains("isoprobe-dockerd-") || text.contains("isoprobe-podman-") {
            found.push(format!("{}: {text}", e.file_name().to_string_lossy()));
        }
    }
    found
}

/// Temporary directories of engine stores, daemons and images.
const ENGINE_TEMP_DIRS: [&str; 3] = ["isoprobe-podman-", "isoprobe-dockerd-", "isoprobe-image-"];

/// Every check answered; every control detected, or skipped with the reason the engine has no
/// escape hatch for it, or inconclusive only where its check could not be tested either (the
/// engine's defaults keep the check's own probe from working: a read-only /proc/sys, say).
fn problems(report: &Report) -> Vec<String> {
    let mut p = Vec::new();
    for c in &report.checks {
        if c.reason.is_empty() {
            p.push(format!("{} has no reason", c.id));
        }
        if let Some(n) = &c.negative_control {
            let check_untested = c.reason.starts_with("could not be tested");
            match n.status {
                ControlStatus::Missed => p.push(format!(
                    "{}: control `{}` missed: {}",
                    c.id, n.sabotage, n.reason
                )),
                ControlStatus::Inconclusive if !check_untested => p.push(format!(
                    "{}: control `{}` inconclusive while the check was tested: {}",
                    c.id, n.sabotage, n.reason
                )),
                ControlStatus::Skip if n.reason.is_empty() => {
                    p.push(format!("{}: control skipped without a reason", c.id))
                }
                _ => {}
            }
        }
    }
    for (id, because) in NOT_BY_DEFAULT {
        match report.checks.iter().find(|c| c.id == id) {
            Some(c) if c.status == Status::Fail && c.reason.contains(because) => {}
            Some(c) => p.push(format!(
                "{id} should fail out of the box ({because}), got {:?}: {}",
                c.status, c.reason
            )),
            None => p.push(format!("{id} is not a check")),
        }
    }
    p
}

fn out_of_the_box(engine: &str) {
    require_root!(engine);
    let rt = runtime::engine_defaults(engine).unwrap_or_else(|e| panic!("{e}"));
    if let Err(reason) = rt.available() {
        common::skip(engine, &reason.to_string());
        return;
    }
    let before = Machine::read();
    let started = std::time::Instant::now();
    let report = common::run_suite(rt.as_ref());
    // The engine's store or daemon goes with the runtime.
    drop(rt);
    eprintln!(
        "{engine} out of the box: {} passed, {} failed, {} skipped in {:.0} s",
        report.summary.pass,
        report.summary.fail,
        report.summary.skip,
        started.elapsed().as_secs_f64()
    );
    for c in &report.checks {
        eprintln!("  {:?} {}: {}", c.status, c.id, c.reason);
    }
    let p = problems(&report);
    assert!(p.is_empty(), "{engine}:\n  {}", p.join("\n  "));
    assert_eq!(Machine::read(), before, "{engine} changed the machine");
    assert_eq!(leftover_engine_processes(), Vec::<String>::new());
    assert_eq!(
        common::leftover_temp_dirs(&ENGINE_TEMP_DIRS),
        Vec::<String>::new()
    );
    common::assert_nothing_left_behind();
}

#[test]
#[serial(machine)]
fn podman_out_of_the_box_answers_every_check_and_leaves_the_machine_as_it_was() {
    out_of_the_box("podman");
}

#[test]
#[serial(machine)]
fn docker_out_of_the_box_answers_every_check_and_leaves_the_machine_as_it_was() {
    out_of_the_box("docker");
}

/// What of the run `pid` is left: processes of its engine store or daemon, its temporary
/// directories, its cgroups, its record.
fn left_of_run(pid: u32) -> Vec<String> {
    let tag = format!("-{pid}-");
    let mut left: Vec<String> = leftover_engine_processes()
        .into_iter()
        .filter(|p| p.contains(&tag))
        .collect();
    left.extend(
        std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("isoprobe-") && n.contains(&tag)),
    );
    left.extend(
        common::leftover_cgroups()
            .into_iter()
            .filter(|c| c.contains(&tag)),
    );
    left.extend(
        std::fs::read_dir("/run/isoprobe")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{pid}-"))),
    );
    left
}

/// A run SIGKILLed while a container of its engine runs leaves its store or daemon, container,
/// image and cgroups; `isoprobe clean` removes all of it from the run's record.
fn killed_run_is_cleaned(engine: &str) {
    use assert_cmd::cargo::cargo_bin;
    require_root!(engine);
    if let Err(reason) = runtime::by_name(engine).unwrap().available() {
        common::skip(engine, &reason.to_string());
        return;
    }
    let mut run = Command::new(cargo_bin("isoprobe"))
        .args(["run", "--runtime", engine, "--negative-controls"])
        .args([
            "--check",
            "pid.init-is-1",
            "--check",
            "memory.limit-enforced",
        ])
        .args(["--check", "cgroup.cpu-throttled"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = run.id();
    // Killed while one of its containers runs (its engine client names the container).
    let container = format!("run --name isoprobe-{engine}-{pid}-");
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(120) {
        let running = leftover_engine_processes()
            .iter()
            .any(|p| p.contains(&container));
        if running {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let left = left_of_run(pid);
    eprintln!("{engine}: killed run {pid} left {left:#?}");
    // The store or daemon lives for the whole run; the container may have just ended.
    let store = match engine {
        "docker" => format!("isoprobe-dockerd-{pid}-"),
        _ => format!("isoprobe-podman-{pid}-"),
    };
    assert!(
        left.iter().any(|l| l.starts_with(&store)),
        "{engine}: the run was killed before its engine was set up: nothing was tested"
    );
    let clean = Command::new(cargo_bin("isoprobe"))
        .arg("clean")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{engine}: clean: {said}");
    assert_eq!(left_of_run(pid), Vec::<String>::new(), "{engine}: {said}");
}

#[test]
#[serial(machine)]
fn a_killed_run_under_podman_is_cleaned_by_isoprobe_clean() {
    killed_run_is_cleaned("podman");
}

#[test]
#[serial(machine)]
fn a_killed_run_under_docker_is_cleaned_by_isoprobe_clean() {
    killed_run_is_cleaned("docker");
}

#[test]
fn engine_defaults_is_refused_for_other_runtimes() {
    let e = runtime::engine_defaults("runc")
        .err()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.contains("podman, docker")));
}
