//! The record of what a run creates, so that a run killed at any moment can be cleaned up by
//! the next one or by `isoprobe clean`.
//!
//! A run that calls [`begin`] owns a directory `<base>/<pid>-<start time>/` (base: `/run/isoprobe`
//! for root, else `$XDG_RUNTIME_DIR/isoprobe` or a per-user directory in the temp dir). The
//! start time, from `/proc/<pid>/stat`, tells the owner from a later process that reuses its
//! pid. Its one file, `items`, gets a JSON line for each thing *before* it is created
//! (`{"add":N,"item":...}`) and one when it is gone again (`{"done":N}`): appends survive a
//! SIGKILL, and a torn last line is ignored. The directory goes at the end of a run that
//! removed everything. Without [`begin`] (library users, tests in-process) nothing is written.

mod clean;
mod command;

pub(crate) use clean::unmount;
pub use clean::{sweep, CleanReport, Removed};
pub use command::{clean_command, start_of_run};

use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One thing a run creates on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    /// An OCI container, deleted with `<runtime> delete --force <id>` run as the run ran it
    /// (in the same mount view, with the same state root).
    Container {
        runtime: PathBuf,
        id: String,
        view: crate::runtime::oci::MountView,
        /// `--root DIR` of a rootless run (inside its bundle directory, removed after the
        /// container); `None`: the runtime's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_root: Option<PathBuf>,
    },
    /// A cgroup directory isoprobe made, or one a runtime makes for a container of ours.
    Cgroup { path: PathBuf },
    /// A mount a check makes on the host side. Made in the stand-in host's mount namespace it
    /// goes with that namespace; recorded all the same for what outlives its mount table (a
    /// named cgroup v1 hierarchy lives until its last mount goes).
    Mount { path: PathBuf },
    /// A temporary directory (rootfs, scratch, bundle), removed with its contents.
    Dir { path: PathBuf },
    /// A container of an engine, removed with `<command...> rm --force <name>`, run in the
    /// same mount view (`covers`) as the run ran the engine.
    EngineContainer {
        /// `podman` or `docker`.
        engine: String,
        command: Vec<String>,
        covers: Vec<crate::runtime::engines::Cover>,
        name: String,
    },
    /// An image isoprobe imported into an engine, removed with `<command...> rmi --force
    /// <name>`.
    EngineImage {
        engine: String,
        command: Vec<String>,
        covers: Vec<crate::runtime::engines::Cover>,
        name: String,
    },
    /// A daemon isoprobe started (its own dockerd), stopped through its pid file: only a
    /// process whose command line names that file.
    Daemon { pidfile: PathBuf },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Add { add: u64, item: Item },
    Done { done: u64 },
}

struct Active {
    dir: PathBuf,
    items: File,
    next: u64,
    outstanding: u64,
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

fn active() -> std::sync::MutexGuard<'static, Option<Active>> {
    // A panic while holding the lock leaves a consistent file (one write per line).
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where every run's record directory lives.
pub fn base_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/isoprobe");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("isoprobe"),
        _ => {
            std::env::temp_dir().join(format!("isoprobe-runs-{}", nix::unistd::geteuid().as_raw()))
        }
    }
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub fn start_time(pid: u32) -> Option<u64> {
    pid_stat(pid).map(|s| s.start_time)
}

/// The start time of `pid` while it runs: `None` once it has ended, even if its parent has not
/// reaped it yet (a SIGKILLed run whose parent is gone waits as a zombie for init, which may
/// take its time; its record is a dead run's all the same).
pub fn running_since(pid: u32) -> Option<u64> {
    pid_stat(pid)
        .filter(isoprobe_probes::parse::PidStat::running)
        .map(|s| s.start_time)
}

fn pid_stat(pid: u32) -> Option<isoprobe_probes::parse::PidStat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    isoprobe_probes::parse::parse_pid_stat(&stat).ok()
}

/// The record of this process's run; dropping it ends the run's record.
#[derive(Debug)]
pub struct RunRecord {
    _private: (),
}

/// Starts this process's record. Fails when the record directory cannot be made, so that a
/// run never creates what it could not record.
pub fn begin() -> io::Result<RunRecord> {
    let pid = std::process::id();
    let start = start_time(pid).ok_or_else(|| io::Error::other("cannot read /proc/self/stat"))?;
    let base = base_dir();
    fs::create_dir_all(&base)?;
    let dir = base.join(format!("{pid}-{start}"));
    fs::create_dir_all(&dir)?;
    let items = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join("items"))?;
    *active() = Some(Active {
        dir,
        items,
        next: 0,
        outstanding: 0,
    });
    Ok(RunRecord { _private: () })
}

impl Drop for RunRecord {
    fn drop(&mut self) {
        let Some(a) = active().take() else { return };
        if a.outstanding == 0 {
            let _ = fs::remove_dir_all(&a.dir);
        } else {
            eprintln!(
                "isoprobe: warning: {} thing(s) this run made could not be removed; `isoprobe \
                 clean` removes them (listed in {})",
                a.outstanding,
                a.dir.display()
            );
        }
    }
}

/// A recorded item, to be marked [`Noted::done`] once it is gone.
#[derive(Debug)]
#[must_use = "an item that is never marked done stays in the record"]
pub struct Noted {
    seq: Option<u64>,
}

/// Records `item` before it is created.
pub fn note(item: Item) -> Noted {
    let mut guard = active();
    let Some(a) = guard.as_mut() else {
        return Noted { seq: None };
    };
    let seq = a.next;
    a.next += 1;
    if let Err(e) = write_line(&mut a.items, &Line::Add { add: seq, item }) {
        eprintln!(
            "isoprobe: warning: cannot record in {}: {e}",
            a.dir.display()
        );
    }
    a.outstanding += 1;
    Noted { seq: Some(seq) }
}

impl Noted {
    /// The item is gone: removed, or never created.
    pub fn done(self) {
        let Some(seq) = self.seq else { return };
        let mut guard = active();
        let Some(a) = guard.as_mut() else { return };
        let _ = write_line(&mut a.items, &Line::Done { done: seq });
        a.outstanding = a.outstanding.saturating_sub(1);
    }
}

fn write_line(f: &mut File, line: &Line) -> io::Result<()> {
    let mut text = serde_json::to_string(line).map_err(io::Error::other)?;
    text.push('\n');
    // One write per line: with O_APPEND, lines of concurrent threads never interleave.
    f.write_all(text.as_bytes())
}

/// A temporary directory in the record: its name is chosen and recorded before it is made,
/// and it is removed (and marked done) on drop.
#[derive(Debug)]
pub struct TempDir {
    dir: Option<tempfile::TempDir>,
    noted: Option<Noted>,
}

impl TempDir {
    /// Makes `<parent or the temp dir>/isoprobe-<purpose>-<pid>-<n>-<random>`.
    pub fn new(purpose: &str, parent: Option<&Path>) -> io::Result<TempDir> {
        // The random part keeps another user of a shared /tmp from taking the name first.
        let name = format!(
            "{}-{}",
            crate::cgroup::unique_name(purpose),
            crate::random::hex(&crate::random::bytes::<4>())
        );
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let noted = note(Item::Dir {
            path: parent.join(&name),
        });
        // No random suffix: the name was recorded, and mkdir fails on anything already there.
        let made = tempfile::Builder::new()
            .prefix(&name)
            .rand_bytes(0)
            .tempdir_in(&parent);
        match made {
            Ok(dir) => Ok(TempDir {
                dir: Some(dir),
                noted: Some(noted),
            }),
            Err(e) => {
                noted.done();
                Err(e)
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or_else(|| Path::new(""), tempfile::TempDir::path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            match dir.close() {
                Ok(()) => {
                    if let Some(n) = self.noted.take() {
                        n.done();
                    }
                }
                Err(e) => eprintln!(
                    "isoprobe: warning: could not remove {}: {e}",
                    path.display()
                ),
            }
        }
    }
}
