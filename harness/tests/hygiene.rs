//! After any run — passed, failed, errored or interrupted — no isoprobe cgroup, mount, process
//! or temp directory is left on the machine.

mod common;

use assert_cmd::cargo::cargo_bin;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serial_test::serial;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn assert_clean() {
    common::assert_nothing_left_behind();
    assert_eq!(
        common::leftover_temp_dirs(&common::RUN_TEMP_DIRS),
        Vec::<String>::new(),
        "temp dirs left behind"
    );
}

#[test]
#[serial(machine)]
fn a_full_run_with_controls_leaves_nothing() {
    require_root!("a_full_run_with_controls_leaves_nothing");
    let st = Command::new(cargo_bin("isoprobe"))
        .args(["run", "--negative-controls", "--format", "tap"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert_clean();
}

/// The ELF header of the built-in agent with its program headers cut off.
fn unloadable_elf() -> Vec<u8> {
    let mut b = isoprobe::agent_binary::AGENT[..64].to_vec();
    b[56..58].copy_from_slice(&0u16.to_ne_bytes()); // e_phnum
    b
}

#[test]
#[serial(machine)]
fn a_run_whose_containers_fail_leaves_nothing() {
    require_root!("a_run_whose_containers_fail_leaves_nothing");
    // An ELF header of this machine's with no program to load passes the --agent check (it
    // wants no interpreter) but not the kernel's: every container fails at exec, and the run
    // reports failures (exit 1), not a crash.
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("agent");
    std::fs::write(&agent, unloadable_elf()).unwrap();
    std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(cargo_bin("isoprobe"))
        .args([
            "run",
            "--check",
            "cgroup.cpu-throttled",
            "--check",
            "pid.init-is-1",
        ])
        .arg("--agent")
        .arg(&agent)
        .args(["--color", "never"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("execve"),
        "the failing step is named: {stdout}"
    );
    assert_clean();
}

#[test]
#[serial(machine)]
fn ctrl_c_kills_the_container_and_removes_its_cgroup() {
    require_root!("ctrl_c_kills_the_container_and_removes_its_cgroup");
    if let Err(reason) = isoprobe::cgroup::locate("cpu") {
        common::skip("ctrl_c test", &reason.to_string());
        return;
    }
    let mut child = Command::new(cargo_bin("isoprobe"))
        .args([
            "run",
            "--check",
            "cgroup.cpu-throttled",
            "--negative-controls",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the container's cgroup exists: the interrupt then lands mid-run.
    let t0 = Instant::now();
    while common::leftover_cgroups().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the run never created its cgroup"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("isoprobe did not stop within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "stderr: {err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_clean();
}

#[test]
#[serial(machine)]
fn on_a_host_with_shared_mounts_a_run_leaves_the_mount_table_as_it_was() {
    require_root!("on_a_host_with_shared_mounts_a_run_leaves_the_mount_table_as_it_was");
    // systemd hosts mount / shared. A private mount namespace with everything made rshared
    // stands in for one, so that a propagation bug would unmount or add mounts there, not on
    // this machine.
    let script = r#"mount --make-rshared / || exit 90
before=$(cut -d' ' -f5 /proc/self/mountinfo | sort)
"$1" run --negative-controls --format tap > /dev/null; rc=$?
after=$(cut -d' ' -f5 /proc/self/mountinfo | sort)
[ "$before" = "$after" ] || { echo "mount table changed:"; diff <(echo "$before") <(echo "$after"); exit 91; }
exit $rc"#;
    let out = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "unchanged",
            "bash",
            "-c",
            script,
            "sh",
        ])
        .arg(cargo_bin("isoprobe"))
        .output()
        .expect("unshare (util-linux) must be installed");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean();
}
