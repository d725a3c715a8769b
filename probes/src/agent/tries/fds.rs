//! `fds`: what the agent was handed at start. Lists its open descriptors (before it opens
//! anything of its own), and walks `..` up from every directory among them, from its working
//! directory and from its root, to where `..` stops moving: the top of the tree that directory
//! hangs in. Through each top it tries to open the host's canary, read-only. A descriptor or
//! working directory a runtime leaked from the host (CVE-2024-21626) has the host's root as its
//! top, and the canary opens through it; the host judges which tops are the container's.

use super::BadArgument;
use crate::contract::{CallError, Called, Content, DirWalk, FdsArgs, FdsOutcome, HeldFd, WalkTop};
use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Deeper than any real directory tree; a walk that does not settle by then is reported.
const MAX_STEPS: u32 = 4096;
/// The canary is a short token; never report more of a file.
const MAX_READ: u64 = 256;
/// Bounds the report when a runtime leaks descriptors by the hundred.
const MAX_FDS: usize = 256;

pub fn run(args: &FdsArgs) -> Result<FdsOutcome, BadArgument> {
    if args.canary.is_empty() || args.canary.starts_with('/') {
        return Err(BadArgument(format!(
            "fds needs the canary's path relative to the host's root, got `{}`",
            args.canary
        )));
    }
    let canary = CString::new(args.canary.as_bytes())
        .map_err(|_| BadArgument("the canary path contains a NUL byte".into()))?;
    // First, before this try opens anything that would show up in the list.
    let fds = Called::from_io(held_fds());
    let fds = match fds {
        Called::Done(list) => Called::Done(
            list.into_iter()
                .take(MAX_FDS)
                .map(|(fd, mode)| held(fd, mode, &canary))
                .collect(),
        ),
        Called::Failed(e) => Called::Failed(e.at("list /proc/self/fd")),
    };
    Ok(FdsOutcome {
        root: dir_walk_of_path(c"/", &canary),
        cwd: dir_walk_of_path(c".", &canary),
        getcwd: kernel_getcwd(),
        fds,
    })
}

/// The open descriptors and their file modes. The directory listing's own descriptor is
/// closed by the time the modes are read, and drops out as EBADF.
fn held_fds() -> std::io::Result<Vec<(RawFd, u32)>> {
    let numbers: Vec<RawFd> = fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    let mut out: Vec<(RawFd, u32)> = numbers
        .into_iter()
        .filter_map(|fd| fstat_raw(fd).ok().map(|st| (fd, st.st_mode)))
        .collect();
    out.sort_unstable();
    Ok(out)
}

fn held(fd: RawFd, mode: u32, canary: &CStr) -> HeldFd {
    let kind = kind(mode);
    // SAFETY: `fd` was open when listed and nothing in this try closes descriptors it did not
    // open; the borrow ends before this function returns.
    let dir =
        (kind == "directory").then(|| dir_walk(unsafe { BorrowedFd::borrow_raw(fd) }, canary));
    HeldFd {
        fd,
        target: Called::from_io(
            fs::read_link(format!("/proc/self/fd/{fd}")).map(|p| p.display().to_string()),
        ),
        kind: kind.to_string(),
        dir,
    }
}

/// The file type's name for a mode.
pub(crate) fn kind(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "directory",
        libc::S_IFREG => "regular",
        libc::S_IFIFO => "pipe",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "char",
        libc::S_IFBLK => "block",
        libc::S_IFLNK => "symlink",
        _ => "unknown",
    }
}

fn dir_walk_of_path(path: &CStr, canary: &CStr) -> Called<DirWalk> {
    match open_path(None, path) {
        Ok(fd) => Called::Done(dir_walk(fd.as_fd(), canary)),
        Err(e) => Called::Failed(CallError::from_errno(e).at("open")),
    }
}

fn dir_walk(dir: BorrowedFd, canary: &CStr) -> DirWalk {
    let (dev, ino) = fstat_raw(dir.as_raw_fd())
        .map(|st| (st.st_dev, st.st_ino))
        .unwrap_or((0, 0));
    DirWalk {
        dev,
        ino,
        top: walk_up(dir, canary),
    }
}

/// `openat(dir, "..")` until the directory stops changing, then the canary through the top.
fn walk_up(dir: BorrowedFd, canary: &CStr) -> Called<WalkTop> {
    let step = |e: Errno, what: &str| Called::Failed(CallError::from_errno(e).at(what));
    let mut cur = match open_path(Some(dir), c".") {
        Ok(fd) => fd,
        Err(e) => return step(e, "openat ."),
    };
    let mut id = match fstat_raw(cur.as_raw_fd()) {
        Ok(st) => (st.st_dev, st.st_ino),
        Err(e) => return step(e, "fstat"),
    };
    for steps in 0..MAX_STEPS {
        let up = match open_path(Some(cur.as_fd()), c"..") {
            Ok(fd) => fd,
            Err(e) => return step(e, "openat .."),
        };
        let up_id = match fstat_raw(up.as_raw_fd()) {
            Ok(st) => (st.st_dev, st.st_ino),
            Err(e) => return step(e, "fstat"),
        };
        if up_id == id {
            return Called::Done(WalkTop {
                dev: id.0,
                ino: id.1,
                path: Called::from_io(
                    fs::read_link(format!("/proc/self/fd/{}", cur.as_raw_fd()))
                        .map(|p| p.display().to_string()),
                ),
                steps,
                canary: read_canary(cur.as_fd(), canary),
            });
        }
        cur = up;
        id = up_id;
    }
    Called::Failed(CallError::text(format!(
        "`..` still moved after {MAX_STEPS} steps"
    )))
}

/// The canary's first bytes through `top`: read-only, and non-blocking so that a FIFO an image
/// put at that path cannot hang the agent.
fn read_canary(top: BorrowedFd, canary: &CStr) -> Called<Content> {
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
    // SAFETY: a valid descriptor and NUL-terminated path.
    let fd = unsafe { libc::openat(top.as_raw_fd(), canary.as_ptr(), flags) };
    if fd < 0 {
        return Called::Failed(CallError::from_errno(Errno::last()).at("openat canary"));
    }
    // SAFETY: a descriptor just opened and owned by nothing else.
    let file = fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut buf = Vec::new();
    Called::from_io(file.take(MAX_READ).read_to_end(&mut buf).map(|_| Content {
        ok: String::from_utf8_lossy(&buf).into_owned(),
    }))
}

/// The kernel's `getcwd`, not libc's: glibc turns a working directory outside the root into
/// ENOENT, the kernel names it `(unreachable)/...`.
fn kernel_getcwd() -> Called<String> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer is as long as the length passed.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        return Called::Failed(CallError::from_errno(Errno::last()).at("getcwd"));
    }
    buf.truncate((n as usize).saturating_sub(1));
    Called::Done(String::from_utf8_lossy(&buf).into_owned())
}

/// An `O_PATH` descriptor of the directory `path` (relative to `dir`, or to the working
/// directory): it only names the directory, nothing is read.
fn open_path(dir: Option<BorrowedFd>, path: &CStr) -> Result<OwnedFd, Errno> {
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: a valid descriptor (or AT_FDCWD) and a NUL-terminated path.
    let fd = unsafe { libc::openat(at, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a descriptor just opened and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat_raw(fd: RawFd) -> Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills the buffer when it returns 0.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: initialised by the successful fstat.
    Ok(unsafe { st.assume_init() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absolute_or_empty_canary_is_refused() {
        for bad in ["/tmp/c", ""] {
            assert!(run(&FdsArgs { canary: bad.into() }).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_are_named_by_file_type() {
        assert_eq!(kind(libc::S_IFDIR | 0o755), "directory");
        assert_eq!(kind(libc::S_IFIFO | 0o600), "pipe");
        assert_eq!(kind(libc::S_IFREG), "regular");
        assert_eq!(kind(0), "unknown");
    }

    #[test]
    fn a_held_directory_walks_up_to_this_process_root_and_reads_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("canary");
        fs::write(&file, "token").unwrap();
        let held_dir = fs::File::open(dir.path()).unwrap();
        let rel = file.to_str().unwrap().trim_start_matches('/').to_string();
        let out = run(&FdsArgs { canary: rel }).unwrap();
        let root = out.root.done().unwrap();
        let root_top = root.top.done().unwrap();
        assert_eq!((root_top.dev, root_top.ino), (root.dev, root.ino));
        assert_eq!(root_top.canary.done().unwrap().ok, "token");
        let fds = out.fds.done().unwrap();
        let mine = fds.iter().find(|f| f.fd == held_dir.as_raw_fd()).unwrap();
        assert_eq!(mine.kind, "directory");
        let top = mine.dir.as_ref().unwrap().top.done().unwrap();
        assert_eq!((top.dev, top.ino), (root.dev, root.ino));
        assert!(top.steps >= 1);
        assert!(out.getcwd.done().unwrap().starts_with('/'));
    }
}
