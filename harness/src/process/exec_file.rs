//! Writing a file that a container will execute while other threads start containers.
//!
//! A descriptor open for writing makes `execve` of its file fail with ETXTBSY, and a fork
//! copies every descriptor of the process, close-on-exec or not, until the forked child execs.
//! So an agent written by one thread (a check's own rootfs) while another thread clones a
//! container could not be executed until that container had exec'd: the engine's concurrent
//! runs hit this (`execve`: ETXTBSY) about once in 20 suites. The file is therefore written by
//! a child that shares isoprobe's memory but has a descriptor table of its own: no other
//! thread's fork can copy a descriptor that was never in isoprobe's table.

use nix::errno::Errno;
use nix::sched::CloneFlags;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Writes `bytes` to `path` (created or truncated) with mode `mode`, from a child that shares
/// this process's memory but not its descriptors.
pub fn write_executable(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    in_child(path, || write_in_child(&c_path, bytes, mode))
}

/// Runs `step` in a child that shares this process's memory but not its descriptors, and
/// waits for it: 0 is success, anything else the errno of the step that failed.
fn in_child(path: &Path, step: impl Fn() -> isize) -> io::Result<()> {
    let mut stack = vec![0u8; 64 * 1024];
    // SAFETY: with CLONE_VFORK this thread waits until the child exits, so the memory the
    // child uses (the paths, the bytes, its stack) stays put; the child makes only system
    // calls (no allocation, no lock) and exits with 0 or the errno of the step that failed.
    let pid = unsafe {
        nix::sched::clone(
            Box::new(&step),
            &mut stack,
            CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    }
    .map_err(io::Error::from)?;
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => return Ok(()),
            Ok(nix::sys::wait::WaitStatus::Exited(_, errno)) => {
                return Err(io::Error::from_raw_os_error(errno))
            }
            Ok(other) => {
                return Err(io::Error::other(format!(
                    "the writer of {} ended: {other:?}",
                    path.display()
                )))
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// Copies the file `from` to `to` (created or truncated) with mode `mode`, the same way: the
/// kernel copies (`sendfile`), so no copy of an agent sits in isoprobe's memory.
pub fn copy_executable(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    let c_from = CString::new(from.as_os_str().as_bytes())?;
    let c_to = CString::new(to.as_os_str().as_bytes())?;
    in_child(to, || copy_in_child(&c_from, &c_to, mode))
}

fn copy_in_child(from: &CString, to: &CString, mode: u32) -> isize {
    let failed = || Errno::last_raw().clamp(1, 255) as isize;
    // SAFETY: system calls on memory the waiting parent keeps alive.
    unsafe {
        let src = libc::open(from.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if src < 0 {
            return failed();
        }
        let dst = libc::open(
            to.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            mode,
        );
        if dst < 0 {
            return failed();
        }
        loop {
            // sendfile, not copy_file_range: that one refuses a copy across file systems
            // (EXDEV) on older kernels, and the setuid helper's tmpfs is another one.
            let n = libc::sendfile(dst, src, std::ptr::null_mut(), 1 << 30);
            match n {
                0 => break,
                n if n > 0 => continue,
                _ if Errno::last() == Errno::EINTR => continue,
                _ => return failed(),
            }
        }
        if libc::fchmod(dst, mode) < 0 || libc::close(dst) < 0 {
            return failed();
        }
        libc::close(src);
    }
    0
}

fn write_in_child(path: &CString, bytes: &[u8], mode: u32) -> isize {
    let failed = || Errno::last_raw().clamp(1, 255) as isize;
    // SAFETY: system calls on memory the waiting parent keeps alive.
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            mode,
        );
        if fd < 0 {
            return failed();
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = libc::write(fd, rest.as_ptr().cast(), rest.len());
            if n < 0 {
                if Errno::last() == Errno::EINTR {
                    continue;
                }
                return failed();
            }
            rest = &rest[n as usize..];
        }
        // The umask may have taken bits of `mode` away at open.
        if libc::fchmod(fd, mode) < 0 || libc::close(fd) < 0 {
            return failed();
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_the_bytes_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent");
        std::fs::write(&p, b"an older and longer content").unwrap();
        write_executable(&p, b"new", 0o755).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o755);
    }

    #[test]
    fn copies_a_file_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&from, &bytes).unwrap();
        copy_executable(&from, &to, 0o4755).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), bytes);
        let mode = std::fs::metadata(&to).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o4755);
        let e = copy_executable(&dir.path().join("none"), &to, 0o755).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn a_failure_comes_back_as_its_errno() {
        let e = write_executable(Path::new("/nonexistent/dir/agent"), b"x", 0o755).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn no_descriptor_of_the_file_stays_open_here() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent");
        write_executable(&p, b"x", 0o755).unwrap();
        let open_here = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
            .any(|target| target == p);
        assert!(!open_here);
    }
}
