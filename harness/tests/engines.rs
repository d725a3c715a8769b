//! The engines out of the box (`--engine-defaults`): every check gets an answer, each control
//! (the engine's own escape hatch) shows its check can fail, what the engines are known not to
//! give by default fails, and afterwards nothing of isoprobe's is left (no container, image,
//! daemon, store, cgroup or mount) and the machine's iptables rules, network links and the
//! engines' machine-wide directories are as they were. Also docker's daemon: the one at
//! `DOCKER_HOST` when one answers there (a private daemon of the test's), else isoprobe's own.
//! The configured mode of both engines is `runtime::podman` and `runtime::docker` in
//! `runtimes.rs`.

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

/// What the `DOCKER_HOST` tests run: a check, and one with its control.
const AT_DOCKER_HOST: [&str; 4] = [
    "--check",
    "pid.init-is-1",
    "--check",
    "proc.sensitive-masked",
];

/// How long one such run may take before the test kills it (a few seconds when well).
const RUN_BOUND: std::time::Duration = std::time::Duration::from_secs(300);

/// The docker client, when both it and dockerd are installed; otherwise `test` skips.
fn docker_client(test: &str) -> Option<std::path::PathBuf> {
    match (isoprobe::which("docker"), isoprobe::which("dockerd")) {
        (Some(client), Some(_)) => Some(client),
        _ => {
            common::skip(test, "needs docker and dockerd: apt-get install docker.io");
            None
        }
    }
}

/// Signs that the run `pid` has a docker daemon of its own: a `dockerd` child, its daemon's
/// temporary directory, a daemon in its record.
fn own_daemon_signs(pid: u32) -> BTreeSet<String> {
    let mut signs = BTreeSet::new();
    for child in common::children_of(pid) {
        let exe = std::fs::read_link(child.join("exe")).unwrap_or_default();
        if exe.file_name().is_some_and(|n| n == "dockerd") {
            let pid = common::pid_of(&child).unwrap_or_default();
            signs.insert(format!("dockerd child {pid}"));
        }
    }
    signs.extend(
        common::leftover_temp_dirs(&[&format!("isoprobe-dockerd-{pid}-")])
            .into_iter()
            .map(|d| format!("temporary directory {d}")),
    );
    for run in std::fs::read_dir("/run/isoprobe")
        .into_iter()
        .flatten()
        .flatten()
    {
        if !run
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{pid}-"))
        {
            continue;
        }
        let items = std::fs::read_to_string(run.path().join("items")).unwrap_or_default();
        if items.contains("\"kind\":\"daemon\"") {
            signs.insert(format!("a daemon in the record {}", run.path().display()));
        }
    }
    signs
}

/// A command of the test's, killed (by its pid) if the test ends before it does.
struct Bounded(std::process::Child);

impl Drop for Bounded {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// How a command of the test's ended.
struct Ended {
    pid: u32,
    exit: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to its end, calling `meanwhile` with its pid every 20 ms while it runs, the last
/// time just before its end is seen; fails the test if it still runs after `bound`. Its output goes through files, which
/// never fill up as a pipe would.
fn run_bounded(
    cmd: &mut Command,
    bound: std::time::Duration,
    mut meanwhile: impl FnMut(u32),
) -> Ended {
    let out = tempfile::tempdir().unwrap();
    let file = |n: &str| std::fs::File::create(out.path().join(n)).unwrap();
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = Bounded(child);
    let started = std::time::Instant::now();
    let status = loop {
        meanwhile(pid);
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < bound,
            "{cmd:?} (pid {pid}) still runs after {} s",
            bound.as_secs()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let read = |n: &str| std::fs::read_to_string(out.path().join(n)).unwrap();
    Ended {
        pid,
        exit: status.code(),
        stdout: read("stdout"),
        stderr: read("stderr"),
    }
}

/// What a `--runtime docker` run with `DOCKER_HOST` set gave.
struct DockerRun {
    ended: Ended,
    /// [`own_daemon_signs`] seen while it ran.
    own_daemon: BTreeSet<String>,
}

impl DockerRun {
    fn pid(&self) -> u32 {
        self.ended.pid
    }

    fn report(&self) -> Report {
        serde_json::from_str(&self.ended.stdout).unwrap_or_else(|e| {
            panic!(
                "run {}: no JSON report ({e}); stderr: {}",
                self.pid(),
                self.ended.stderr
            )
        })
    }
}

/// `isoprobe run --runtime docker` of [`AT_DOCKER_HOST`] with controls, as JSON, with
/// `DOCKER_HOST=host`, watched for a daemon of its own while it runs.
fn run_docker_at(host: &str) -> DockerRun {
    use assert_cmd::cargo::cargo_bin;
    let mut cmd = Command::new(cargo_bin("isoprobe"));
    cmd.args(["run", "--runtime", "docker", "--negative-controls"])
        .args(["--format", "json"])
        .args(AT_DOCKER_HOST)
        .env("DOCKER_HOST", host);
    let mut own_daemon = BTreeSet::new();
    let started = std::time::Instant::now();
    let ended = run_bounded(&mut cmd, RUN_BOUND, |pid| {
        own_daemon.extend(own_daemon_signs(pid))
    });
    eprintln!(
        "run {} with DOCKER_HOST={host}: exit {:?} in {:.1} s; its own daemon: {own_daemon:?}",
        ended.pid,
        ended.exit,
        started.elapsed().as_secs_f64(),
    );
    DockerRun { ended, own_daemon }
}

/// The checks ran, passed, and their controls were detected.
fn assert_green(run: &DockerRun) -> Report {
    assert_eq!(
        run.ended.exit,
        Some(0),
        "run {}: {}",
        run.pid(),
        run.ended.stderr
    );
    let report = run.report();
    for c in &report.checks {
        let control = c.negative_control.as_ref().map(|n| (n.status, &n.reason));
        eprintln!(
            "  {:?} {}: {}; control {control:?}",
            c.status, c.id, c.reason
        );
    }
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["pid.init-is-1", "proc.sensitive-masked"]);
    assert_eq!(common::red(&report), Vec::<String>::new());
    let detected = report
        .checks
        .iter()
        .filter(|c| {
            c.negative_control
                .as_ref()
                .is_some_and(|n| n.status == ControlStatus::Detected)
        })
        .count();
    assert!(detected > 0, "no control was detected: {report:#?}");
    report
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The lines `docker -H host <what>` prints (the names of what the daemon holds).
fn daemon_says(client: &std::path::Path, host: &str, what: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(client);
    cmd.args(["-H", host]).args(what);
    let ended = run_bounded(&mut cmd, std::time::Duration::from_secs(60), |_| {});
    assert_eq!(ended.exit, Some(0), "docker {what:?}: {}", ended.stderr);
    ended.stdout.lines().map(str::to_string).collect()
}

/// Issue 14: with a daemon answering at `DOCKER_HOST`, `--runtime docker` runs there, starts no
/// daemon of its own, and leaves that daemon running and holding nothing of isoprobe's. The
/// "external" daemon is a private one of this test's (no network, iptables or `/run` of the
/// machine's touched), stopped when the test ends, also on a panic.
#[test]
#[serial(machine)]
fn docker_runs_on_the_daemon_at_docker_host_and_starts_none_of_its_own() {
    use isoprobe::runtime::engines::dockerd::{self, OwnDaemon};
    const NAME: &str = "docker at DOCKER_HOST";
    require_root!(NAME);
    let Some(client) = docker_client(NAME) else {
        return;
    };
    let before = Machine::read();
    let external = OwnDaemon::start(&client).unwrap_or_else(|e| panic!("the test's daemon: {e}"));
    let host = external.host();
    let server = dockerd::server_version(&client, &host).unwrap();
    let since = unix_seconds();
    let run = run_docker_at(&host);
    let report = assert_green(&run);
    // The run's containers ran on this daemon (its events until now, then it returns).
    let events = daemon_says(
        &client,
        &host,
        &[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &(unix_seconds() + 1).to_string(),
            "--filter",
            "type=container",
            "--filter",
            "event=start",
            "--format",
            "{{.Actor.Attributes.name}}",
        ],
    );
    let named = format!("isoprobe-docker-{}-", run.pid());
    assert!(
        events.iter().any(|e| e.starts_with(&named)),
        "no container of run {} started on the daemon at DOCKER_HOST: {events:?}",
        run.pid()
    );
    assert_eq!(
        report.runtime.version,
        format!("{server} (DOCKER_HOST)"),
        "run {} did not use the daemon at DOCKER_HOST",
        run.pid()
    );
    assert_eq!(run.own_daemon, BTreeSet::new(), "run {}", run.pid());
    assert_eq!(left_of_run(run.pid()), Vec::<String>::new());
    // Still running, as it was left; a daemon of this test's alone, so all it holds is the run's.
    assert_eq!(dockerd::server_version(&client, &host), Ok(server));
    let containers = daemon_says(&client, &host, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(containers, Vec::<String>::new(), "containers left");
    let images = ["images", "-a", "--format", "{{.Repository}}:{{.Tag}}"];
    assert_eq!(
        daemon_says(&client, &host, &images),
        Vec::<String>::new(),
        "images left"
    );
    drop(external);
    assert_eq!(left_of_run(std::process::id()), Vec::<String>::new());
    assert_eq!(
        Machine::read(),
        before,
        "the test's daemon changed the machine"
    );
}

/// Issue 14: where nothing answers at `DOCKER_HOST` (a socket whose daemon is gone), `--runtime
/// docker` starts its own daemon, says so in the report, and stops it.
#[test]
#[serial(machine)]
fn docker_starts_its_own_daemon_when_nothing_answers_at_docker_host() {
    const NAME: &str = "docker with nothing at DOCKER_HOST";
    require_root!(NAME);
    if docker_client(NAME).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    // Bound, then closed: the file stays, a connection is refused.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let run = run_docker_at(&format!("unix://{}", socket.display()));
    let report = assert_green(&run);
    assert!(
        report
            .runtime
            .version
            .ends_with(" (isoprobe's own dockerd)"),
        "run {}: {}",
        run.pid(),
        report.runtime.version
    );
    assert!(
        run.own_daemon
            .iter()
            .any(|s| s.starts_with("dockerd child ")),
        "run {}: its own dockerd was never seen: {:?}",
        run.pid(),
        run.own_daemon
    );
    assert_eq!(left_of_run(run.pid()), Vec::<String>::new());
}
