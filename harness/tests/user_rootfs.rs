//! A user's rootfs is never written: every runtime runs the whole suite (checks and controls)
//! against a small image, and a listing of the image (paths, types, modes, owners, sizes, link
//! targets, mtimes) is the same before and after; the same on a read-only bind mount of it,
//! made in a stand-in host so that the machine's mount table is untouched. Checks fail only
//! where the runtime is known to be weak. One case per runtime and mode, `rootfs::<name>` and
//! `rootfs-ro::<name>`.

mod common;

use common::cases::{case, run_one_at_a_time};
use isoprobe::engine::{run_checks, RunOptions};
use isoprobe::report::{Report, Status};
use isoprobe::rootfs::PreparedRootfs;
use isoprobe::runtime::{self, Runtime};
use isoprobe::standin::StandIn;
use nix::mount::MsFlags;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// What must not change: everything a listing shows of one entry.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    owner: (u32, u32),
    size: u64,
    link: Option<String>,
    mtime: (i64, i64),
}

fn listing(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "other"
        };
        if ft.is_dir() {
            todo.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
        let link = ft
            .is_symlink()
            .then(|| fs::read_link(&p).unwrap().display().to_string());
        let name = p.strip_prefix(root).unwrap().display().to_string();
        out.insert(
            format!("/{name}"),
            Entry {
                kind,
                mode: m.mode(),
                owner: (m.uid(), m.gid()),
                size: m.len(),
                link,
                mtime: (m.mtime(), m.mtime_nsec()),
            },
        );
    }
    out
}

/// A small distribution-like image: directories, files, a symlink, a `/dev` with a `ptmx`
/// file and no device nodes, `/proc` and `/tmp`; no `/sys` or `/run` (the view supplies them).
/// Every mtime is set in the past, so that a rewrite shows even within the same second.
fn image() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("userfs-image-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    for d in ["bin", "etc", "usr/lib", "dev", "proc", "tmp", "var/empty"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("etc/hostname"), "image\n").unwrap();
    fs::write(root.join("etc/os-release"), "ID=isoprobe-test\n").unwrap();
    fs::write(root.join("usr/lib/libdemo.so"), vec![7u8; 4096]).unwrap();
    fs::write(root.join("dev/ptmx"), "").unwrap();
    std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
    std::os::unix::fs::symlink("/proc/self/fd", root.join("dev/fd-link")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    let past = SystemTime::now() - Duration::from_secs(86_400);
    let mut todo = vec![root.to_path_buf()];
    let mut all = Vec::new();
    while let Some(p) = todo.pop() {
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            todo.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
        all.push(p);
    }
    // Children before their parents: setting a child's time does not touch the parent's.
    for p in all.iter().rev() {
        if !fs::symlink_metadata(p).unwrap().is_symlink() {
            fs::File::open(p).unwrap().set_modified(past).unwrap();
        }
    }
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The suite with controls on `rootfs`; the view's mount points must be gone after it.
fn suite(rt: &dyn Runtime, rootfs: &Path) -> Report {
    let prepared = PreparedRootfs::user(rootfs, isoprobe::agent_binary::AGENT)
        .unwrap_or_else(|e| panic!("the image is refused: {e}"));
    let opts = RunOptions {
        negative_controls: true,
        ..RunOptions::default()
    };
    let report = run_checks(rt, &isoprobe::checks::all(), &prepared, &opts).unwrap();
    let mount_points = prepared.path().parent().unwrap().to_path_buf();
    drop(prepared);
    assert!(!mount_points.exists(), "{} left", mount_points.display());
    report
}

/// What this process left: its own cgroups (named after its pid) and any mount of the
/// machine's naming the image or the view. Other isoprobe runs on the machine (another
/// test binary) are not ours to judge here.
fn assert_nothing_of_ours_left(img: &Path) {
    let own = format!("-{}-", std::process::id());
    let cgroups: Vec<String> = common::leftover_cgroups()
        .into_iter()
        .filter(|c| c.contains(&own))
        .collect();
    assert_eq!(cgroups, Vec::<String>::new(), "cgroups left behind");
    let image = img.display().to_string();
    let mounts: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&image) || l.contains("isoprobe-view") || l.contains("userfs-"))
        .map(str::to_string)
        .collect();
    assert_eq!(mounts, Vec::<String>::new(), "mounts left behind");
}

/// Checks that did not end as the runtime is known to end: a failure it is not known for (a
/// view that breaks a check shows here), or a known weakness that passed (a view that hides
/// one: a chroot-only runtime enters the view, a mount point, and must still fail
/// `root.old-root-gone`).
fn unexpected_failures(rt: &dyn Runtime, report: &Report) -> Vec<String> {
    let weak: Vec<&str> = rt.known_weaknesses().iter().map(|w| w.check).collect();
    report
        .checks
        .iter()
        .filter_map(|c| match (c.status, weak.contains(&c.id.as_str())) {
            (Status::Fail, false) => Some(format!("{} failed: {}", c.id, c.reason)),
            (Status::Pass, true) => Some(format!("{} passed, a known weakness", c.id)),
            _ => None,
        })
        .collect()
}

fn available(name: &str) -> Option<Box<dyn Runtime>> {
    let rt = runtime::by_name(name).unwrap_or_else(|e| panic!("{e}"));
    match rt.available() {
        Ok(()) => Some(rt),
        Err(why) => {
            common::skip(name, &why.to_string());
            None
        }
    }
}

fn writable_image_is_untouched(name: &str) {
    require_root!(name);
    let Some(rt) = available(name) else { return };
    let img = image();
    let before = listing(img.path());
    let report = suite(rt.as_ref(), img.path());
    assert_eq!(
        listing(img.path()),
        before,
        "{name} wrote the user's rootfs"
    );
    let failures = unexpected_failures(rt.as_ref(), &report);
    // What a runtime keeps for its life (an engine's store, daemon, cgroup parent) goes with it.
    drop(rt);
    assert_eq!(failures, Vec::<String>::new());
    assert_nothing_of_ours_left(img.path());
}

fn read_only_image_works(name: &str) {
    require_root!(name);
    let Some(rt) = available(name) else { return };
    let img = image();
    let before = listing(img.path());
    let ro = tempfile::Builder::new()
        .prefix("userfs-ro-")
        .tempdir()
        .unwrap();
    // The read-only bind lives in a stand-in's mount namespace: the machine never sees it, and
    // the suite's own stand-ins are copies of this one.
    let host = StandIn::create().unwrap();
    let report = host
        .within(|| {
            let bind = MsFlags::MS_BIND;
            nix::mount::mount(
                Some(img.path()),
                ro.path(),
                None::<&str>,
                bind,
                None::<&str>,
            )
            .unwrap();
            let ro_flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            nix::mount::mount(
                None::<&str>,
                ro.path(),
                None::<&str>,
                ro_flags,
                None::<&str>,
            )
            .unwrap();
            let refused = fs::write(ro.path().join("probe"), "x").unwrap_err();
            assert_eq!(refused.raw_os_error(), Some(libc::EROFS), "{refused}");
            suite(rt.as_ref(), ro.path())
        })
        .unwrap();
    drop(host);
    assert_eq!(
        listing(img.path()),
        before,
        "{name} wrote the user's rootfs"
    );
    let failures = unexpected_failures(rt.as_ref(), &report);
    // What a runtime keeps for its life (an engine's store, daemon, cgroup parent) goes with it.
    drop(rt);
    assert_eq!(failures, Vec::<String>::new());
    assert_nothing_of_ours_left(img.path());
}

/// `isoprobe run --rootfs` SIGKILLed at several moments: the image is as it was, no mount of
/// the view is on the machine, and of the view only its empty mount-point directories are left
/// (in a TMPDIR of the test's own, removed here with the spawner's cgroups the kill left:
/// reclaiming those is `isoprobe clean`'s).
fn killed_run_leaves_the_image_and_no_mount() {
    let name = "rootfs-killed::native";
    require_root!(name);
    let img = image();
    let before = listing(img.path());
    // The moments are a quarter, a half and three quarters of a whole run timed just before,
    // not fixed figures: how long a run takes follows the build and the machine's load.
    let whole = {
        let tmp = run_tmp();
        let started = std::time::Instant::now();
        let run = run_on(img.path(), tmp.path()).wait().unwrap();
        assert!(run.success(), "a whole run on the image failed: {run}");
        started.elapsed()
    };
    for quarter in 1..=3 {
        let mut after = whole * quarter / 4;
        // A run that ends before its moment was not killed: again, twice at most, sooner.
        let (tmp, pid) = (0..3)
            .find_map(|_| {
                let tmp = run_tmp();
                let mut child = run_on(img.path(), tmp.path());
                std::thread::sleep(after);
                if child.try_wait().unwrap().is_some() {
                    after /= 2;
                    return None;
                }
                child.kill().unwrap();
                child.wait().unwrap();
                Some((tmp, child.id()))
            })
            .unwrap_or_else(|| {
                panic!("three runs each ended before their kill (whole run {whole:?})")
            });
        let at = format!("killed after {} ms", after.as_millis());
        assert_eq!(listing(img.path()), before, "{at}");
        assert_nothing_of_ours_left(img.path());
        let views: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("isoprobe-rootfs-")
            })
            .collect();
        assert_eq!(views.len(), 1, "one view's mount points per run: {views:?}");
        for v in &views {
            let mut inside: Vec<String> = fs::read_dir(v)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            inside.sort();
            assert_eq!(inside, ["layers", "root"], "{}", v.display());
            for d in ["layers", "root"] {
                let left = fs::read_dir(v.join(d)).unwrap().count();
                assert_eq!(left, 0, "{}/{d} is not empty, {at}", v.display());
            }
        }
        remove_cgroups_of(pid);
    }
    // The last killed run's record (the next run's start would have swept it).
    let clean = std::process::Command::new(assert_cmd::cargo::cargo_bin("isoprobe"))
        .arg("clean")
        .output()
        .unwrap();
    assert!(clean.status.success(), "{clean:?}");
}

/// A TMPDIR of the test's own for one run.
fn run_tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("userfs-tmp-")
        .tempdir()
        .unwrap()
}

/// `isoprobe run --negative-controls --rootfs img`, started with `tmp` as its TMPDIR.
fn run_on(img: &Path, tmp: &Path) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("isoprobe"))
        .args(["run", "--negative-controls", "--rootfs"])
        .arg(img)
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The spawner's cgroups of a killed isoprobe, named after its pid; empty once its containers,
/// which die with it, are gone.
fn remove_cgroups_of(pid: u32) {
    let own = format!("isoprobe-spawn-{pid}-");
    for _ in 0..50 {
        let left: Vec<String> = common::leftover_cgroups()
            .into_iter()
            .filter(|c| c.contains(&own))
            .collect();
        if left.is_empty() {
            return;
        }
        for c in left {
            let _ = fs::remove_dir(c);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the cgroups of the killed isoprobe {pid} stay");
}

fn main() {
    let mut cases = vec![case(
        "rootfs-killed::native",
        killed_run_leaves_the_image_and_no_mount,
    )];
    for name in runtime::NAMES {
        cases.push(case(format!("rootfs::{name}"), move || {
            writable_image_is_untouched(name)
        }));
        cases.push(case(format!("rootfs-ro::{name}"), move || {
            read_only_image_works(name)
        }));
    }
    run_one_at_a_time(cases)
}
