//! Shared test helpers: skips that print their reason (and fail under ISOPROBE_REQUIRE_ALL=1),
//! the whole suite under a runtime, and leftover detection.

#![allow(dead_code)]

pub mod cases;

use isoprobe::engine::{run_checks, RunOptions};
use isoprobe::report::Report;
use isoprobe::rootfs::PreparedRootfs;
use isoprobe::runtime::Runtime;
use std::path::Path;

// The workspace's one skip helper, shared with the unit tests; its require_all also rules the
// snapshots below.
#[allow(unused_imports)] // not every test file uses every one
pub use isoprobe::testing::{not_root, require_all, say, skip};

/// `isoprobe::require_root!`, callable unqualified from every test file.
#[macro_export]
macro_rules! require_root {
    ($name:expr) => {
        isoprobe::require_root!($name)
    };
}

/// Every check, with its negative control, under `rt` in a fresh rootfs (removed before this
/// returns).
pub fn run_suite(rt: &dyn Runtime) -> Report {
    let rootfs = PreparedRootfs::fresh(isoprobe::agent_binary::AGENT).unwrap();
    run_checks(
        rt,
        &isoprobe::checks::all(),
        &rootfs,
        &RunOptions {
            negative_controls: true,
            ..RunOptions::default()
        },
    )
    .unwrap()
}

/// Every `isoprobe-*` cgroup directory on the machine.
pub fn leftover_cgroups() -> Vec<String> {
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), 0, &mut found);
    found
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<String>) {
    if depth > 6 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with("isoprobe-") {
            found.push(p.display().to_string());
        }
        walk(&p, depth + 1, found);
    }
}

/// Mounts of this machine's mount namespace that name isoprobe.
pub fn leftover_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("isoprobe"))
        .map(str::to_string)
        .collect()
}

/// Processes still running the agent.
pub fn leftover_agents() -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let first = cmd.split(|b| *b == 0).next().unwrap_or_default();
        if String::from_utf8_lossy(first).ends_with("isoprobe-agent") {
            found.push(format!("{name}: {}", String::from_utf8_lossy(&cmd)));
        }
    }
    found
}

/// The `/proc/<pid>` directories of the processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .and_then(|t| isoprobe_probes::parse::parse_pid_stat(&t).ok())
                .is_some_and(|s| s.ppid == parent)
        })
        .map(|e| e.path())
        .collect()
}

/// The pid of a `/proc/<pid>` directory.
pub fn pid_of(proc_dir: &Path) -> Option<u32> {
    proc_dir.file_name()?.to_str()?.parse().ok()
}

/// Whether `pid` has ended: gone, or a zombie waiting to be reaped.
pub fn has_ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| isoprobe_probes::parse::parse_pid_stat(&t).ok())
        .is_none_or(|s| !s.running())
}

/// The temp directories of rootfs, scratch space and canaries that every run makes.
pub const RUN_TEMP_DIRS: [&str; 3] = ["isoprobe-rootfs-", "isoprobe-scratch-", "isoprobe-canary-"];

/// Temp directories whose names start with one of `prefixes`: those isoprobe made and did not
/// remove.
pub fn leftover_temp_dirs(prefixes: &[&str]) -> Vec<String> {
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
        .collect()
}

pub fn assert_nothing_left_behind() {
    assert_eq!(
        leftover_cgroups(),
        Vec::<String>::new(),
        "cgroups left behind"
    );
    assert_eq!(
        leftover_mounts(),
        Vec::<String>::new(),
        "mounts left behind"
    );
    assert_eq!(
        leftover_agents(),
        Vec::<String>::new(),
        "agents still running"
    );
}

/// What keeps a report from being all green, one line each: a failed check or a control that
/// did not show its check can fail (missed or inconclusive), with the reason.
pub fn red(report: &Report) -> Vec<String> {
    use isoprobe::report::{ControlStatus, Status};
    let mut found = Vec::new();
    for c in &report.checks {
        if c.status == Status::Fail {
            found.push(format!("{} failed: {}", c.id, c.reason));
        }
        if let Some(n) = &c.negative_control {
            if matches!(
                n.status,
                ControlStatus::Missed | ControlStatus::Inconclusive
            ) {
                found.push(format!(
                    "{}: control `{}` {:?}: {}",
                    c.id, n.sabotage, n.status, n.reason
                ));
            }
        }
    }
    found
}

/// Runs `f`, turning its panic into `Err(message)` so that a test can go on to the next case
/// and report every failure at once.
pub fn caught(f: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into())
    })
}

/// The `info` header of a kernel's `features.snap`: the kernel, not the runtime.
pub fn kernel_info(report: &isoprobe::report::Report) -> serde_json::Value {
    serde_json::json!({
        "kernel_release": report.kernel.release,
        "kernel_version": report.kernel.version,
        "cgroup_mode": report.cgroup_mode,
        "isoprobe_version": report.isoprobe_version,
    })
}

/// Compares `value` with the snapshot `snapshots/<dir>/<name>.snap` (under harness/tests), with
/// `info` in its header. A changed snapshot fails with insta's diff. A snapshot never recorded
/// is written as `.snap.new` for review; the test goes on (a new kernel, cgroup mode or runtime
/// is not a regression), except under ISOPROBE_REQUIRE_ALL=1, where an unreviewed snapshot is
/// a comparison that did not happen and fails. (insta's own switch for going on,
/// INSTA_FORCE_PASS, is read once per process and would hide the regressions of the other
/// cases.)
pub fn assert_snapshot_or_record(
    dir: &str,
    name: &str,
    info: &serde_json::Value,
    value: &serde_json::Value,
) {
    // Absolute: insta takes a relative path from the file of the assertion, which is this one.
    let snap_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(dir);
    let file = snap_dir.join(format!("{name}.snap"));
    let new = file.with_extension("snap.new");
    if require_all() {
        if let Some(accepting) = insta_accepts_changes() {
            panic!(
                "snapshot {dir} / {name}: ISOPROBE_REQUIRE_ALL=1 with {accepting}, which would \
                 accept a changed snapshot unreviewed; unset it"
            );
        }
    }
    if !file.is_file() {
        std::fs::create_dir_all(&snap_dir).unwrap();
        // insta's header is YAML; a JSON object is valid YAML on one line.
        let text = format!(
            "---\nsource: harness/tests\ninfo: {}\n---\n{}\n",
            serde_json::to_string(info).unwrap(),
            serde_json::to_string_pretty(value).unwrap()
        );
        std::fs::write(&new, text).unwrap();
        let what = format!("snapshot {dir} / {name}: none recorded yet");
        if require_all() {
            panic!(
                "{what}; ISOPROBE_REQUIRE_ALL=1 needs it reviewed. {}",
                review_hint(&new)
            );
        }
        say(&format!("NEW SNAPSHOT {what}; {}", review_hint(&new)));
        return;
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&snap_dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_info(info);
    let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_json_snapshot!(name, value))
    }));
    if compared.is_err() {
        // insta has printed the diff; what remains is saying how to act on it.
        panic!(
            "snapshot {dir} / {name} changed (the diff is above). {} \
             (With CI set, insta writes no .snap.new: rerun with INSTA_UPDATE=new.)",
            review_hint(&new)
        );
    }
}

/// How a pending snapshot is reviewed and accepted.
fn review_hint(new: &Path) -> String {
    format!(
        "Review it with `cargo insta review` (cargo install cargo-insta), or read {} and \
         accept it by renaming it to .snap, then commit it",
        new.display()
    )
}

/// The insta setting, if any, under which a changed snapshot passes the assertion.
fn insta_accepts_changes() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty() && v != "0");
    if var("INSTA_FORCE_PASS").is_some() {
        return Some("INSTA_FORCE_PASS set".into());
    }
    var("INSTA_UPDATE")
        .filter(|v| matches!(v.as_str(), "always" | "1" | "force" | "unseen"))
        .map(|v| format!("INSTA_UPDATE={v}"))
}
