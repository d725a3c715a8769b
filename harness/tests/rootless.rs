//! Rootless mode, for real: the CLI run as uid 65534 through `setpriv` (this test must be root
//! to switch to it). Each run gets a sandbox of its own: a copy of the binary (so that the
//! build directory's permissions do not matter) and a TMPDIR owned by 65534, which must hold
//! nothing of the run afterwards but the user's empty record directory.

mod common;

use assert_cmd::Command;
use common::skip;
use isoprobe::report::{ControlStatus, Report, Status};
use serial_test::serial;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const NOBODY: u32 = 65534;

/// Checks a rootless run has no reason to skip on this machine (every namespace type works).
const MUST_PASS: [&str; 12] = [
    "pid.init-is-1",
    "ns.cgroup",
    "ns.ipc",
    "ns.mnt",
    "ns.net",
    "ns.pid",
    "ns.uts",
    "uts.hostname-independent",
    "root.old-root-gone",
    "mnt.no-propagation",
    "seccomp.filter-enforced",
    "proc.host-invisible",
];

struct Sandbox {
    dir: tempfile::TempDir,
    bin: PathBuf,
    tmp: PathBuf,
    /// Runtimes copied in (first in the user's PATH): one installed under `~/.cargo/bin` of
    /// root is out of 65534's reach.
    path_dir: PathBuf,
}

/// `None` (after a skip) when this process cannot make an unprivileged run.
fn sandbox(test: &str) -> Option<Sandbox> {
    if let Some(reason) = common::not_root() {
        skip(test, &format!("{reason} (setpriv switches to uid 65534)"));
        return None;
    }
    if !Path::new("/usr/bin/setpriv").exists() {
        skip(
            test,
            "no /usr/bin/setpriv (util-linux); apt-get install util-linux",
        );
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("rootless-test-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("isoprobe");
    std::fs::copy(assert_cmd::cargo::cargo_bin("isoprobe"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::os::unix::fs::chown(&tmp, Some(NOBODY), Some(NOBODY)).unwrap();
    let path_dir = dir.path().join("bin");
    std::fs::create_dir(&path_dir).unwrap();
    std::fs::set_permissions(&path_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(Sandbox {
        dir,
        bin,
        tmp,
        path_dir,
    })
}

impl Sandbox {
    /// Copies the runtime binary `name` (as found by root) into the sandbox's PATH directory.
    fn give_runtime(&self, name: &str) {
        if let Some(found) = isoprobe::which(name) {
            let copy = self.path_dir.join(name);
            std::fs::copy(found, &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// `isoprobe ARGS` as uid and gid 65534 with no supplementary groups.
    fn as_nobody(&self, args: &[&str]) -> Command {
        Command::from_std(self.nobody_std(args))
    }

    fn nobody_std(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new("/usr/bin/setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&self.bin)
            .args(args)
            .current_dir(&self.tmp)
            .env("TMPDIR", &self.tmp)
            .env("PATH", path_with(&self.path_dir))
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("ISOPROBE_REQUIRE_ALL");
        c
    }

    fn report(&self, args: &[&str], want_exit: i32) -> Report {
        let mut all = vec!["run", "--format", "json"];
        all.extend_from_slice(args);
        let out = self.as_nobody(&all).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want_exit), "stderr: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}; stderr: {stderr}"))
    }

    /// What the runs left in the TMPDIR: only the user's record directory, empty.
    fn assert_nothing_left(&self) {
        let mut left: Vec<String> = Vec::new();
        for e in std::fs::read_dir(&self.tmp).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let record_dir = name == format!("isoprobe-runs-{NOBODY}");
            if !record_dir || std::fs::read_dir(e.path()).unwrap().next().is_some() {
                left.push(name);
            }
        }
        assert_eq!(left, Vec::<String>::new(), "left in {}", self.tmp.display());
        assert_eq!(nobody_processes(&self.dir), Vec::<String>::new());
    }
}

/// `dir` first, then the PATH of this process.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// Processes of uid 65534 that run something of the sandbox or the agent.
fn nobody_processes(dir: &tempfile::TempDir) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let uid_is_nobody = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .is_some_and(|u| u.split_whitespace().any(|id| id == "65534"));
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        // runc's container init before the exec shows only `runc init`.
        let ours = cmd.contains(&*dir.path().to_string_lossy())
            || cmd.contains("isoprobe-agent")
            || cmd.starts_with("runc init");
        if uid_is_nobody && ours {
            found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
        }
    }
    found
}

fn status_of<'a>(r: &'a Report, id: &str) -> &'a Status {
    &r.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} missing"))
        .status
}

#[test]
#[serial(machine)]
fn native_rootless_passes_namespace_checks_and_skips_the_rest_needing_root() {
    let Some(sb) = sandbox("native_rootless") else {
        return;
    };
    let r = sb.report(&["--negative-controls"], 0);
    let rootless = r
        .rootless
        .as_ref()
        .expect("the report says it ran rootless");
    assert_eq!((rootless.uid, rootless.gid), (NOBODY, NOBODY));
    assert_eq!(rootless.mapping, "single");
    assert_eq!(rootless.uid_map, "0 65534 1");
    // The run made a user namespace as uid 65534, so the inventory must not deny it: inside
    // that namespace it is uid 0 without the machine's root, which the probes must tell apart.
    let syscalls = &r.features.as_ref().expect("the report has features")["syscalls"];
    for feature in ["unprivileged_userns", "move_mount", "mount_setattr"] {
        assert_eq!(
            syscalls[feature]["available"], true,
            "{feature}: {}",
            syscalls[feature]["how"]
        );
    }
    for id in MUST_PASS {
        assert_eq!(status_of(&r, id), &Status::Pass, "{id}");
    }
    assert_eq!(r.summary.fail, 0);
    assert!(
        r.summary.skip > 0,
        "a rootless run here cannot make cgroups"
    );
    for c in &r.checks {
        if c.status == Status::Skip {
            assert!(
                c.reason.starts_with("needs root: "),
                "{}: {}",
                c.id,
                c.reason
            );
        }
        let n = c.negative_control.as_ref().expect("controls ran");
        match n.status {
            ControlStatus::Detected => {}
            ControlStatus::Skip => assert!(n.reason.contains("needs root: "), "{}", n.reason),
            _ => panic!("{}: control {:?}: {}", c.id, n.status, n.reason),
        }
    }
    // A control of each namespace check that can run is detected: nothing passes unproven.
    assert_controls_detected(
        &r,
        &["ns.net", "ns.ipc", "ns.uts", "ns.mnt", "mnt.no-propagation"],
        "native",
    );
    // Cgroups are not delegated to 65534 here.
    assert_eq!(status_of(&r, "cgroup.cpu-throttled"), &Status::Skip);
    sb.assert_nothing_left();
}

#[test]
#[serial(machine)]
fn require_all_fails_a_rootless_run_and_every_format_says_rootless() {
    let Some(sb) = sandbox("rootless_require_all") else {
        return;
    };
    let two = ["--check", "ns.net", "--check", "cgroup.cpu-throttled"];
    for (format, marker) in [
        ("text", "rootless (uid 65534, single mapping 0 65534 1)"),
        ("tap", "rootless (uid 65534, single mapping"),
        ("junit", "name=\"rootless\""),
        ("json", "\"rootless\""),
    ] {
        let mut args = vec!["run", "--format", format];
        args.extend(two);
        let out = sb.as_nobody(&args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{format}: {stdout}");
        assert!(stdout.contains(marker), "{format}: {stdout}");
        args.push("--require-all");
        let out = sb.as_nobody(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{format} --require-all");
    }
    sb.assert_nothing_left();
}

#[test]
#[serial(machine)]
fn untried_oci_runtimes_refuse_a_rootless_run_as_bad_input() {
    let Some(sb) = sandbox("rootless_oci_refused") else {
        return;
    };
    // Refused before the binary is looked at: it need not be installed. Even runc given by
    // path is refused: an `oci:PATH` binary is not known by name.
    for rt in ["oci:/usr/sbin/runc", "oci:/no/such/runtime"] {
        let out = sb.as_nobody(&["run", "--runtime", rt]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rt}: {stderr}");
        assert!(
            stderr.contains(&format!("runtime `{rt}` cannot run rootless")),
            "{stderr}"
        );
    }
    sb.assert_nothing_left();
}

/// Checks an OCI runtime must pass rootless here: each namespace it is asked for, and what
/// they hide.
const OCI_MUST_PASS: [&str; 10] = [
    "pid.init-is-1",
    "ns.cgroup",
    "ns.ipc",
    "ns.mnt",
    "ns.net",
    "ns.pid",
    "ns.uts",
    "root.old-root-gone",
    "proc.host-invisible",
    "seccomp.filter-enforced",
];

#[test]
#[serial(machine)]
fn runc_crun_and_youki_rootless_fail_only_their_known_weaknesses() {
    let test = "oci_rootless";
    let Some(sb) = sandbox(test) else {
        return;
    };
    for name in ["runc", "crun", "runc-no-pivot", "crun-no-pivot", "youki"] {
        let rt = isoprobe::runtime::by_name(name).unwrap();
        if let Err(e) = rt.available() {
            skip(test, &format!("{name}: {e}"));
            continue;
        }
        sb.give_runtime(name.split('-').next().unwrap());
        // This test runs as root: the runtime's list for its rootless runs, asked by name.
        let known: Vec<&str> = rt.rootless_weaknesses().iter().map(|w| w.check).collect();
        let mut args = vec!["run", "--format", "json", "--negative-controls"];
        args.extend(["--runtime", name]);
        let out = sb.as_nobody(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let r: Report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}; stderr: {stderr}"));
        assert!(r.rootless.is_some(), "{name}");
        let want_exit = if r.summary.fail == 0 { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(want_exit), "{name}: {stderr}");
        for c in &r.checks {
            match c.status {
                Status::Fail => {
                    assert!(
                        known.contains(&c.id.as_str()),
                        "{name} {}: {}",
                        c.id,
                        c.reason
                    )
                }
                // A rootless skip, or one the runtime gives as root too (it names itself).
                Status::Skip => assert!(
                    c.reason.starts_with("needs root: ")
                        || c.reason
                            .starts_with(&format!("{} ", name.split('-').next().unwrap())),
                    "{name} {}: {}",
                    c.id,
                    c.reason
                ),
                Status::Pass => {}
            }
            let n = c.negative_control.as_ref().expect("controls ran");
            assert!(
                matches!(n.status, ControlStatus::Detected | ControlStatus::Skip),
                "{name} {}: control {:?}: {}",
                c.id,
                n.status,
                n.reason
            );
        }
        for id in OCI_MUST_PASS {
            assert_eq!(status_of(&r, id), &Status::Pass, "{name} {id}");
        }
        assert_controls_detected(&r, &["ns.net", "ns.ipc", "ns.uts", "ns.cgroup"], name);
        assert_eq!(status_of(&r, "cgroup.cpu-throttled"), &Status::Skip);
        sb.assert_nothing_left();
    }
}

/// A rootless run killed while a container of runc, crun or youki exists: its state is in the
/// bundle directory, and the user's `isoprobe clean` deletes the container there first.
#[test]
#[serial(machine)]
fn a_killed_rootless_oci_run_is_cleaned_up_by_its_user() {
    let test = "oci_rootless_killed_then_clean";
    let Some(sb) = sandbox(test) else {
        return;
    };
    for name in ["runc", "crun", "youki"] {
        if let Err(e) = isoprobe::runtime::by_name(name).unwrap().available() {
            skip(test, &format!("{name}: {e}"));
            continue;
        }
        sb.give_runtime(name);
        // The runtime keeps a directory per container in its state root, from `create`
        // until `delete`.
        let stdout = kill_then_clean(
            &sb,
            &["run", "--negative-controls", "--runtime", name],
            "isoprobe-bundle-",
            |bundle| {
                std::fs::read_dir(bundle.join("state"))
                    .is_ok_and(|mut containers| containers.next().is_some())
            },
            name,
        );
        eprintln!("{name}, killed while it ran a container: {stdout}");
    }
}

#[test]
#[serial(machine)]
fn bwrap_rootless_fails_only_its_known_weaknesses() {
    let Some(sb) = sandbox("bwrap_rootless") else {
        return;
    };
    let bwrap = isoprobe::runtime::by_name("bwrap").unwrap();
    if let Err(e) = bwrap.available() {
        skip("bwrap_rootless", &format!("bwrap: {e}"));
        return;
    }
    let r = sb.report(&["--runtime", "bwrap"], 1);
    assert!(r.rootless.is_some());
    let known: Vec<&str> = bwrap
        .rootless_weaknesses()
        .iter()
        .map(|w| w.check)
        .collect();
    for c in &r.checks {
        match c.status {
            Status::Fail => assert!(known.contains(&c.id.as_str()), "{}: {}", c.id, c.reason),
            Status::Skip => assert!(
                c.reason.starts_with("needs root: ") || c.reason.contains("bubblewrap"),
                "{}: {}",
                c.id,
                c.reason
            ),
            Status::Pass => {}
        }
    }
    for id in ["ns.net", "ns.pid", "ns.ipc", "ns.uts", "pid.init-is-1"] {
        assert_eq!(status_of(&r, id), &Status::Pass, "{id}");
    }
    sb.assert_nothing_left();
}

/// The subordinate-range path, without touching the machine: in a private mount namespace an
/// overlay on /etc adds a subuid and subgid range for `nobody` that newuidmap and newgidmap
/// (setuid, reading /etc in the caller's mount namespace) then grant. With ids to spare, the
/// checks that need other ids than root run too.
#[test]
#[serial(machine)]
fn subordinate_ranges_are_mapped_with_newuidmap() {
    let test = "rootless_subid_ranges";
    let Some(sb) = sandbox(test) else {
        return;
    };
    for tool in ["newuidmap", "newgidmap", "unshare"] {
        if !["/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists())
        {
            skip(
                test,
                &format!("no {tool}; apt-get install uidmap util-linux"),
            );
            return;
        }
    }
    let upper = sb.dir.path().join("etc-upper");
    let work = sb.dir.path().join("etc-work");
    std::fs::create_dir(&upper).unwrap();
    std::fs::create_dir(&work).unwrap();
    std::fs::write(upper.join("subuid"), "nobody:1000000:200000\n").unwrap();
    std::fs::write(upper.join("subgid"), "nobody:1000000:200000\n").unwrap();
    let script = format!(
        "mount -t overlay isoprobe-test-etc -o lowerdir=/etc,upperdir={},workdir={} /etc && \
         exec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups {} run --format json",
        upper.display(),
        work.display(),
        sb.bin.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .current_dir(&sb.tmp)
        .env("TMPDIR", &sb.tmp)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("ISOPROBE_REQUIRE_ALL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r: Report = serde_json::from_slice(&out.stdout).unwrap();
    let rootless = r.rootless.as_ref().unwrap();
    assert_eq!(rootless.mapping, "subordinate ranges");
    assert_eq!(rootless.uid_map, "0 65534 1, 1 1000000 200000");
    assert_eq!(rootless.gid_map, "0 65534 1, 1 1000000 200000");
    // Checks a single mapping skips for want of ids run with the range.
    for id in [
        "ns.user",
        "user.root-is-unprivileged",
        "nnp.no-new-privs",
        "caps.default-set",
        "ns.net",
    ] {
        assert_eq!(status_of(&r, id), &Status::Pass, "{id}");
    }
    sb.assert_nothing_left();
}

/// A rootless run SIGKILLed mid-way leaves its temporary directories and record in the user's
/// TMPDIR; `isoprobe clean`, run by the same user, removes them.
#[test]
#[serial(machine)]
fn a_killed_rootless_run_is_cleaned_up_by_its_user() {
    let Some(sb) = sandbox("rootless_killed_then_clean") else {
        return;
    };
    kill_then_clean(
        &sb,
        &["run", "--negative-controls"],
        "isoprobe-scratch-",
        |_| true,
        "native",
    );
}

/// Starts `isoprobe ARGS` as nobody, SIGKILLs it once a directory `<prefix><its pid>-*` of its
/// temp dir is `ready`, then runs the user's `isoprobe clean`, which must name the run and
/// leave nothing behind. Returns what clean printed.
#[track_caller]
fn kill_then_clean(
    sb: &Sandbox,
    args: &[&str],
    prefix: &str,
    ready: impl Fn(&std::path::Path) -> bool,
    what: &str,
) -> String {
    let mut child = sb
        .nobody_std(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // setpriv execs isoprobe: the child's pid is the run's, which names its directories.
    let mark = format!("{prefix}{}-", child.id());
    let reached = || {
        std::fs::read_dir(&sb.tmp)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&mark))
            .any(|e| ready(&e.path()))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !reached() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(
        reached(),
        "{what}: the run did not get to `{mark}*` within 30 s"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let out = sb.as_nobody(&["clean"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{what}: {stdout}");
    assert!(
        stdout.contains(&format!("of run {}", child.id())),
        "{what}: {stdout}"
    );
    sb.assert_nothing_left();
    stdout
}

/// Each of `ids` ran with its negative control, and the control was found violated.
#[track_caller]
fn assert_controls_detected(r: &isoprobe::Report, ids: &[&str], runtime: &str) {
    for id in ids {
        let c = r.checks.iter().find(|c| c.id == *id).unwrap();
        assert_eq!(
            c.negative_control.as_ref().unwrap().status,
            ControlStatus::Detected,
            "{runtime} {id}"
        );
    }
}
