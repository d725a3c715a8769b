//! Removing what dead runs left: every record directory whose owner is gone is claimed (an
//! exclusive `flock` on its `items`, so that two cleaners never replay one record), and its
//! items that were never marked done are removed in an order that cannot fail for want of an
//! earlier step: containers (whose processes hold cgroups and mounts), cgroups deepest first,
//! mounts, then directories.

use super::{base_dir, running_since, write_line, Item, Line};
use crate::backoff::{Backoff, Budget};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What one item of a dead run became.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    /// The pid of the run that made it.
    pub owner: u32,
    pub item: Item,
    /// Why it could not be removed; `None` when it was.
    pub error: Option<String>,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.item {
            Item::Container { runtime, id, .. } => {
                format!("container {id} ({})", runtime.display())
            }
            Item::Cgroup { path } => format!("cgroup {}", path.display()),
            Item::Mount { path } => format!("mount {}", path.display()),
            Item::Dir { path } => format!("directory {}", path.display()),
            Item::EngineContainer { command, name, .. } => {
                format!("container {name} ({})", command.first().map_or("?", |c| c))
            }
            Item::EngineImage { command, name, .. } => {
                format!("image {name} ({})", command.first().map_or("?", |c| c))
            }
            Item::Daemon { pidfile } => format!("daemon of {}", pidfile.display()),
        };
        match &self.error {
            None => write!(f, "removed {what} of run {}", self.owner),
            Some(e) => write!(f, "could not remove {what} of run {}: {e}", self.owner),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct CleanReport {
    pub items: Vec<Removed>,
    /// Record directories of dead runs that are now gone.
    pub runs: Vec<PathBuf>,
}

impl CleanReport {
    pub fn failed(&self) -> usize {
        self.items.iter().filter(|r| r.error.is_some()).count()
    }
}

/// Removes what every dead run left. A run that is alive (its pid exists with the recorded
/// start time) is never touched, nor a record another cleaner holds.
pub fn sweep() -> CleanReport {
    sweep_in(&base_dir())
}

fn sweep_in(base: &Path) -> CleanReport {
    let mut report = CleanReport::default();
    let Ok(entries) = fs::read_dir(base) else {
        return report;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some((pid, start)) = owner(&dir) else {
            continue;
        };
        if running_since(pid) == Some(start) {
            continue;
        }
        if clean_run(&dir, pid, &mut report.items) {
            report.runs.push(dir);
        }
    }
    report
}

fn owner(dir: &Path) -> Option<(u32, u64)> {
    let name = dir.file_name()?.to_str()?;
    let (pid, start) = name.split_once('-')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// Cleans one dead run's record; true when it is all gone.
fn clean_run(dir: &Path, pid: u32, out: &mut Vec<Removed>) -> bool {
    let path = dir.join("items");
    let mut file = match OpenOptions::new().read(true).append(true).open(&path) {
        Ok(f) => f,
        // Died before its first line: nothing to remove but the directory.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return fs::remove_dir(dir).is_ok(),
        Err(_) => return false,
    };
    let Ok(handle) = file.try_clone() else {
        return false;
    };
    let flock = nix::fcntl::Flock::lock(handle, nix::fcntl::FlockArg::LockExclusiveNonblock);
    let Ok(_lock) = flock else { return false };
    let pending = pending(&fs::read_to_string(&path).unwrap_or_default());
    // The dead run's runtime commands may still be running (a `create` the kill cut short, an
    // engine's client): ended first, they cannot make again what is removed below.
    for item in pending.values() {
        if let Item::Dir { path } = item {
            crate::process::stop_users_of(path);
        }
    }
    let mut ordered: Vec<(u64, Item)> = pending.into_iter().collect();
    ordered.sort_by_key(|(_, item)| order(item));
    let mut all_gone = true;
    for (seq, item) in ordered {
        match remove(&item) {
            Ok(false) => {}
            Ok(true) => out.push(Removed {
                owner: pid,
                item,
                error: None,
            }),
            Err(e) => {
                all_gone = false;
                out.push(Removed {
                    owner: pid,
                    item,
                    error: Some(e.to_string()),
                });
                continue;
            }
        }
        let _ = write_line(&mut file, &Line::Done { done: seq });
    }
    all_gone && fs::remove_dir_all(dir).is_ok()
}

/// The items added and not done, by sequence number.
fn pending(text: &str) -> BTreeMap<u64, Item> {
    let mut items = BTreeMap::new();
    for line in text.lines() {
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Add { add, item }) => {
                items.insert(add, item);
            }
            Ok(Line::Done { done }) => {
                items.remove(&done);
            }
            // A line cut short by the kill.
            Err(_) => {}
        }
    }
    items
}

fn order(item: &Item) -> (u8, std::cmp::Reverse<usize>) {
    let depth = |p: &Path| std::cmp::Reverse(p.components().count());
    // An engine's containers and images go while its daemon still answers.
    match item {
        Item::Container { .. } | Item::EngineContainer { .. } => (0, std::cmp::Reverse(0)),
        Item::EngineImage { .. } => (1, std::cmp::Reverse(0)),
        Item::Daemon { .. } => (2, std::cmp::Reverse(0)),
        Item::Cgroup { path } => (3, depth(path)),
        Item::Mount { path } => (4, depth(path)),
        Item::Dir { path } => (5, depth(path)),
    }
}

/// Removes `item`: `Ok(true)` when it was there and is gone, `Ok(false)` when it was not there.
fn remove(item: &Item) -> io::Result<bool> {
    match item {
        Item::Container {
            runtime,
            id,
            view,
            state_root,
        } => crate::runtime::oci::delete_leftover(runtime, view, state_root.as_deref(), id)
            .map_err(io::Error::other),
        Item::Cgroup { path } => remove_cgroup(path),
        Item::Mount { path } => unmount(path),
        Item::Dir { path } => remove_dir(path),
        Item::EngineContainer { .. } | Item::EngineImage { .. } | Item::Daemon { .. } => {
            crate::runtime::engines::remove_leftover(item)
        }
    }
}

/// A just-emptied cgroup can stay busy for a moment.
const RMDIR_BUSY: Backoff = Backoff::doubling(Duration::from_millis(1), Duration::from_millis(200));

fn remove_cgroup(path: &Path) -> io::Result<bool> {
    if !path.is_dir() {
        return Ok(false);
    }
    // A recorded parent (an engine's `isoprobe-<engine>-...`) holds the cgroups the engine
    // made for the run's containers: they go first.
    for child in fs::read_dir(path)?.flatten() {
        if child.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&child.path())?;
        }
    }
    // Its processes are a dead run's containers (normally gone with it by pdeathsig).
    kill_members(path);
    RMDIR_BUSY
        .retry(Budget::Tries(14), || match fs::remove_dir(path) {
            Ok(()) => Some(Ok(true)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(Ok(true)),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                kill_members(path);
                None
            }
            Err(e) => Some(Err(e)),
        })
        .unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::EBUSY)))
}

fn kill_members(cgroup: &Path) {
    let procs = fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Mount points at or under `path` in this process's mount namespace, deepest first.
fn mounts_under(path: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| p.starts_with(path))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape(field: &str) -> PathBuf {
    let mut out = Vec::new();
    let b = field.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (b[i], octal) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&out),
    ))
}

/// Detaches every mount at or under `path`; whether there was one.
pub(crate) fn unmount(path: &Path) -> io::Result<bool> {
    let mounts = mounts_under(path);
    for m in &mounts {
        nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH).map_err(io::Error::from)?;
    }
    Ok(!mounts.is_empty())
}

fn remove_dir(path: &Path) -> io::Result<bool> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(false);
    }
    // A process of the dead run that still names the directory (podman's conmon and the
    // cleanup it starts) would write it back once removed.
    crate::process::stop_users_of(path);
    // A mount left inside would have its contents deleted through it: detached first.
    unmount(path)?;
    fs::remove_dir_all(path).map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::super::start_time;
    use super::*;

    #[test]
    fn pending_items_are_those_added_and_not_done_and_a_torn_line_is_ignored() {
        let text = "{\"add\":0,\"item\":{\"kind\":\"dir\",\"path\":\"/tmp/a\"}}\n\
                    {\"add\":1,\"item\":{\"kind\":\"cgroup\",\"path\":\"/sys/fs/cgroup/x\"}}\n\
                    {\"done\":0}\n{\"add\":2,\"item\":{\"ki";
        let p = pending(text);
        assert_eq!(
            p.into_values().collect::<Vec<_>>(),
            vec![Item::Cgroup {
                path: "/sys/fs/cgroup/x".into()
            }]
        );
    }

    #[test]
    fn containers_go_first_then_cgroups_deepest_first_then_mounts_then_directories() {
        let mut items = vec![
            Item::Dir {
                path: "/tmp/d".into(),
            },
            Item::Cgroup { path: "/c".into() },
            Item::Mount { path: "/m".into() },
            Item::Cgroup {
                path: "/c/deeper".into(),
            },
        ];
        items.sort_by_key(order);
        assert_eq!(
            items,
            vec![
                Item::Cgroup {
                    path: "/c/deeper".into()
                },
                Item::Cgroup { path: "/c".into() },
                Item::Mount { path: "/m".into() },
                Item::Dir {
                    path: "/tmp/d".into()
                },
            ]
        );
    }

    #[test]
    fn an_engines_containers_and_images_go_while_its_daemon_answers() {
        let engine = |image: bool| {
            let (engine, command, covers, name) = (
                "docker".to_string(),
                vec!["docker".to_string()],
                vec![],
                "n".to_string(),
            );
            if image {
                Item::EngineImage {
                    engine,
                    command,
                    covers,
                    name,
                }
            } else {
                Item::EngineContainer {
                    engine,
                    command,
                    covers,
                    name,
                }
            }
        };
        let daemon = Item::Daemon {
            pidfile: "/tmp/d/dockerd.pid".into(),
        };
        let cgroup = Item::Cgroup { path: "/c".into() };
        let mut items = vec![cgroup.clone(), daemon.clone(), engine(true), engine(false)];
        items.sort_by_key(order);
        assert_eq!(items, vec![engine(false), engine(true), daemon, cgroup]);
    }

    #[test]
    fn a_recorded_cgroup_goes_with_what_an_engine_left_below_it() {
        // Plain directories stand in for cgroups: rmdir is what removes both.
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("isoprobe-podman-1-3");
        fs::create_dir_all(parent.join("libpod-abc")).unwrap();
        assert!(remove_cgroup(&parent).unwrap());
        assert!(!parent.exists());
        assert!(!remove_cgroup(&parent).unwrap());
    }

    /// A record of `owner` (a dir name) holding one added directory and one added and done.
    fn fake_run(base: &Path, owner: &str, made: &Path) {
        let dir = base.join(owner);
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(made.join("inside")).unwrap();
        let add = |n: u64, p: &Path| {
            serde_json::to_string(&Line::Add {
                add: n,
                item: Item::Dir { path: p.into() },
            })
            .unwrap()
        };
        let text = format!(
            "{}\n{}\n{{\"done\":1}}\n",
            add(0, made),
            add(1, &made.join("gone-already"))
        );
        fs::write(dir.join("items"), text).unwrap();
    }

    #[test]
    fn a_dead_runs_leftovers_are_removed_and_listed_and_a_live_runs_are_not_touched() {
        let base = tempfile::tempdir().unwrap();
        let pid = std::process::id();
        let start = start_time(pid).unwrap();
        // This process under a start time it never had: a dead run whose pid was reused.
        let dead_made = base.path().join("isoprobe-scratch-dead");
        fake_run(base.path(), &format!("{pid}-{}", start + 1), &dead_made);
        let live_made = base.path().join("isoprobe-scratch-live");
        fake_run(base.path(), &format!("{pid}-{start}"), &live_made);

        let report = sweep_in(base.path());
        assert!(!dead_made.exists());
        assert!(!base.path().join(format!("{pid}-{}", start + 1)).exists());
        assert!(live_made.exists());
        assert!(base.path().join(format!("{pid}-{start}/items")).exists());
        let said: Vec<String> = report.items.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            said,
            vec![format!(
                "removed directory {} of run {pid}",
                dead_made.display()
            )]
        );
        assert_eq!(report.failed(), 0);
        assert_eq!(sweep_in(base.path()).items.len(), 0);
    }

    #[test]
    // With the tests that fork: a child forked meanwhile holds copies of their descriptors.
    #[serial_test::serial(machine)]
    fn a_run_that_ended_but_was_not_reaped_is_dead() {
        let base = tempfile::tempdir().unwrap();
        // A child that ends at once and stays a zombie until it is waited for below.
        // SAFETY: the child only calls _exit.
        let child = match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe { libc::_exit(0) },
            nix::unistd::ForkResult::Parent { child } => child,
        };
        let pid = child.as_raw() as u32;
        let start = start_time(pid).unwrap();
        let waited = std::time::Instant::now();
        while running_since(pid).is_some() && waited.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(start_time(pid), Some(start), "still listed, as a zombie");
        let made = base.path().join("isoprobe-scratch-zombie");
        fake_run(base.path(), &format!("{pid}-{start}"), &made);
        let report = sweep_in(base.path());
        nix::sys::wait::waitpid(child, None).unwrap();
        assert!(!made.exists(), "{report:?}");
        assert_eq!(report.runs.len(), 1);
    }

    #[test]
    fn an_owner_is_a_pid_and_a_start_time() {
        assert_eq!(owner(Path::new("/run/isoprobe/12-345")), Some((12, 345)));
        assert_eq!(owner(Path::new("/run/isoprobe/junk")), None);
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/tmp/a\040b"), PathBuf::from("/tmp/a b"));
    }
}
