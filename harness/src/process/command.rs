//! Running a program to its end: /dev/null as stdin, stdout and stderr captured, a deadline,
//! Ctrl-C, and kill-and-reap on every path.

use super::{collect, Bound, ChildGuard, WaitError};
use crate::vocabulary::{ExitKind, HostStepError};
use nix::unistd::Pid;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How the process ended and what it printed.
#[derive(Debug)]
pub(crate) struct Finished {
    pub exit: ExitKind,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// User + system time of the process and the descendants it reaped.
    pub cpu_time: Duration,
}

/// Called with all that arrived on a side channel so far, and whether it was end of file.
pub(crate) type OnData<'a> = Box<dyn FnMut(&[u8], bool) -> bool + 'a>;

/// A pipe the process writes to while it runs (bwrap's `--info-fd`). `on_data` sees all that
/// has arrived so far after every read, and once more at end of file; it returns true when it
/// has what it needs, and the pipe is closed then.
pub(crate) struct SideChannel<'a> {
    pub read: OwnedFd,
    pub on_data: OnData<'a>,
}

/// How to run it.
pub(crate) struct RunOptions<'a> {
    pub timeout: Duration,
    /// Whether Ctrl-C cuts the run (not for clean-up commands).
    pub cancellable: bool,
    /// Descriptors the process gets under their own numbers (its command line names them);
    /// the harness's copies are closed once it started.
    pub inherit: Vec<OwnedFd>,
    pub side: Option<SideChannel<'a>>,
    /// How to stop it at the deadline, on Ctrl-C, or on an error.
    pub stop: fn(Pid),
    /// Names the read step in an error ("read the runtime's output").
    pub reading: &'static str,
}

impl RunOptions<'_> {
    /// `timeout`, cut by Ctrl-C, stopped with SIGKILL, nothing inherited.
    pub(crate) fn plain(timeout: Duration) -> RunOptions<'static> {
        RunOptions {
            timeout,
            cancellable: true,
            inherit: Vec::new(),
            side: None,
            stop: super::sigkill,
            reading: "read the runtime's output",
        }
    }
}

/// Starts `cmd` and waits for it.
/// Where marking inherited descriptors one by one stops (kernels without `close_range`'s
/// CLOSE_RANGE_CLOEXEC).
const INHERITED_FD_BOUND: libc::c_int = 4096;

pub(crate) fn run(cmd: &mut Command, opts: RunOptions) -> Result<Finished, WaitError> {
    let started = Instant::now();
    let keep: Vec<RawFd> = opts.inherit.iter().map(AsRawFd::as_raw_fd).collect();
    // The harness's descriptors stay close-on-exec, so that a container started at the
    // same time by another thread never inherits them; only this child clears the flag.
    // Descriptors isoprobe itself inherited from whoever started it are made close-on-exec
    // first: a runtime that passes its descriptors on (bwrap, unshare) would otherwise hand
    // them to the container, and `fd.no-host-leak` would blame the runtime for them.
    // SAFETY: close_range and fcntl are async-signal-safe and `keep` was allocated before the
    // fork.
    unsafe {
        cmd.pre_exec(move || {
            let marked = libc::syscall(
                libc::SYS_close_range,
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            // Before Linux 5.11 the flag is refused (EINVAL): one descriptor at a time, up to
            // a bound far above what isoprobe ever holds.
            if marked < 0 {
                for fd in 3..INHERITED_FD_BOUND {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                }
            }
            for fd in &keep {
                if libc::fcntl(*fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = PathBuf::from(cmd.get_program());
    let mut child = cmd
        .spawn()
        .map_err(|e| HostStepError::new("start", &program, e))?;
    let mut guard = ChildGuard::new(Pid::from_raw(child.id() as i32), opts.stop);
    drop(opts.inherit);
    let out: OwnedFd = child.stdout.take().expect("stdout is piped").into();
    let err: OwnedFd = child.stderr.take().expect("stderr is piped").into();
    let (side_fd, mut on_data) = match opts.side {
        Some(s) => (Some(fs::File::from(s.read)), Some(s.on_data)),
        None => (None, None),
    };
    let bound = Bound {
        cancellable: opts.cancellable,
        ..Bound::interruptible(started, opts.timeout)
    };
    let io = collect(
        [Some(out.into()), Some(err.into()), side_fd],
        bound,
        opts.reading,
        || guard.kill(),
        |slot, buf, eof| match (slot, on_data.as_mut()) {
            (2, Some(f)) => f(buf, eof),
            _ => false,
        },
    );
    let reaped = guard.reap();
    let [stdout, stderr, _] = io?;
    Ok(Finished {
        exit: reaped.exit,
        stdout,
        stderr,
        cpu_time: reaped.cpu_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::pipe;

    #[test]
    fn captures_output_and_exit() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let f = run(&mut cmd, RunOptions::plain(Duration::from_secs(10))).unwrap();
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr, b"err\n");
        assert_eq!(f.exit, ExitKind::Code(3));
    }

    #[test]
    fn a_timeout_kills_and_reaps() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "exec sleep 30"]);
        let t = Instant::now();
        match run(&mut cmd, RunOptions::plain(Duration::from_millis(200))) {
            Err(WaitError::Timeout(_)) => {}
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    // With the tests that fork: a stand-in holder forked meanwhile keeps a copy of the write
    // end until it closes foreign descriptors, and the end of file comes too late.
    #[test]
    #[serial_test::serial(machine)]
    fn an_inherited_descriptor_feeds_the_side_channel() {
        let (r, w) = pipe().unwrap();
        let fd = w.as_raw_fd();
        let mut seen = Vec::new();
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", &format!("printf hello >&{fd}; echo done")]);
        let side = SideChannel {
            read: r,
            on_data: Box::new(|b: &[u8], eof| {
                if eof {
                    seen = b.to_vec();
                }
                eof
            }),
        };
        let opts = RunOptions {
            inherit: vec![w],
            side: Some(side),
            ..RunOptions::plain(Duration::from_secs(10))
        };
        let f = run(&mut cmd, opts).unwrap();
        assert_eq!(f.stdout, b"done\n");
        assert_eq!(seen, b"hello");
    }

    #[test]
    fn what_isoprobe_inherited_is_not_passed_on() {
        // Opened without close-on-exec, as a descriptor isoprobe's own parent left it.
        // SAFETY: a NUL-terminated path; the descriptor is closed below.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0);
        let mut cmd = Command::new("/bin/sh");
        cmd.args([
            "-c",
            &format!("if [ -e /proc/self/fd/{fd} ]; then echo passed; else echo closed; fi"),
        ]);
        let f = run(&mut cmd, RunOptions::plain(Duration::from_secs(10)));
        // SAFETY: the descriptor opened above.
        unsafe { libc::close(fd) };
        assert_eq!(f.unwrap().stdout, b"closed\n");
    }

    #[test]
    fn a_missing_binary_is_a_start_error() {
        let mut cmd = Command::new("/nonexistent/isoprobe-nothing");
        let e = run(&mut cmd, RunOptions::plain(Duration::from_secs(1))).unwrap_err();
        assert!(e.to_string().contains("start"), "{e}");
    }

    #[test]
    fn status_reads_as_the_standard_library_writes_it() {
        assert_eq!(
            super::super::status_text(ExitKind::Code(1)),
            "exit status: 1"
        );
        assert_eq!(
            super::super::status_text(ExitKind::Signal(9)),
            "signal: 9 (SIGKILL)"
        );
    }
}
