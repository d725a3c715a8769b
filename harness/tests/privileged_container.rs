//! The whole suite nested in a privileged container made with runc on this machine, as CI
//! systems make them: every capability this machine's bounding set has (all but
//! CAP_SYS_RESOURCE here), no seccomp filter, no masked or read-only path, its own mount, pid,
//! ipc, uts and cgroup namespaces, the cgroup hierarchies mounted writable (rooted at the
//! container's cgroup, which runc makes under this test's own and removes), the host's `/dev`
//! and `/sys` bound in (a new sysfs needs a network namespace of its own), the host's `/usr` and `/etc`
//! bound read-only. `isoprobe run --negative-controls` inside must pass: every check passes or
//! is skipped with a reason, and every control that ran is detected.

mod common;

use isoprobe::runtime::capability;
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every capability this process's bounding set has (all but CAP_SYS_RESOURCE here), by name.
fn caps() -> Vec<&'static str> {
    capability::grantable()
        .into_iter()
        .filter_map(capability::name)
        .collect()
}

/// The suite with its controls takes about a minute here; a hung one is stopped.
const DEADLINE: Duration = Duration::from_secs(600);

fn bind(dest: &str, source: &str, ro: bool) -> serde_json::Value {
    let mut options = vec!["rbind", "rprivate"];
    if ro {
        options.push("ro");
    }
    json!({"destination": dest, "type": "bind", "source": source, "options": options})
}

fn config(isoprobe: &Path, id: &str) -> serde_json::Value {
    let caps = caps();
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/isoprobe", "run", "--negative-controls", "--format", "json"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "isoprobe-ci",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            // The host's devices, as `docker run --privileged` gives them.
            bind("/dev", "/dev", false),
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]},
            bind("/sys", "/sys", false),
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]},
            bind("/usr", "/usr", true),
            bind("/etc", "/etc", true),
            bind("/isoprobe", &isoprobe.display().to_string(), true)
        ],
        "linux": {
            "namespaces": [
                {"type": "mount"}, {"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "cgroup"}
            ],
            "cgroupsPath": id,
            "rootfsPropagation": "rprivate"
        }
    })
}

#[test]
#[serial_test::serial(machine)]
fn the_suite_passes_inside_a_privileged_container() {
    require_root!("the_suite_passes_inside_a_privileged_container");
    if Command::new("runc").arg("--version").output().is_err() {
        common::skip(
            "the_suite_passes_inside_a_privileged_container",
            "runc is not installed (Debian package runc)",
        );
        return;
    }
    let bundle = tempfile::Builder::new()
        .prefix("isoprobe-ci-bundle-")
        .tempdir()
        .unwrap();
    let rootfs = bundle.path().join("rootfs");
    for d in ["proc", "dev", "tmp", "run", "sys", "usr", "etc"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(rootfs.join("isoprobe"), b"").unwrap();
    // Debian's merged /usr.
    for (link, to) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(to, rootfs.join(link)).unwrap();
    }
    let id = format!("isoprobe-ci-{}", std::process::id());
    let exe = Path::new(env!("CARGO_BIN_EXE_isoprobe"));
    std::fs::write(
        bundle.path().join("config.json"),
        serde_json::to_vec_pretty(&config(exe, &id)).unwrap(),
    )
    .unwrap();

    let mut child = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > DEADLINE {
            let _ = Command::new("runc").args(["kill", &id, "KILL"]).status();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let status = status.or_else(|| child.wait().ok());
    let _ = Command::new("runc")
        .args(["delete", "--force", &id])
        .stderr(Stdio::null())
        .status();
    let (out, err) = (out_reader.join().unwrap(), err_reader.join().unwrap());
    common::say(&format!(
        "privileged container: {status:?} in {:.1} s; stderr: {err}",
        started.elapsed().as_secs_f64()
    ));
    let report: isoprobe::report::Report = match serde_json::from_str(&out) {
        Ok(r) => r,
        Err(e) => panic!("no report ({e}): exit {status:?}\nstderr: {err}\nstdout: {out}"),
    };
    for c in &report.checks {
        common::say(&format!("  {:<34} {:?} {}", c.id, c.status, c.reason));
    }
    let red = common::red(&report);
    assert!(red.is_empty(), "{red:#?}");
    assert_eq!(status.and_then(|s| s.code()), Some(0), "stderr: {err}");
    // The container's processes ran in its own cgroup namespace.
    let ns = report
        .checks
        .iter()
        .find(|c| c.id == "cgroup.cpu-throttled")
        .unwrap();
    assert_eq!(ns.status, isoprobe::report::Status::Pass, "{}", ns.reason);
    common::assert_nothing_left_behind();
}
