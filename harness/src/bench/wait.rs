//! Runs a command to its end: once for its output and exit status, once (traced) for its peak
//! RSS.
//!
//! The peak is not wait4's `ru_maxrss`: the kernel carries the high-water mark of the address
//! space a process execs away from into it, and a child spawned from isoprobe starts in a copy
//! of isoprobe's (or, after vfork, in isoprobe's own), so `ru_maxrss` says "at least isoprobe's
//! size" of every child. The child's own `VmHWM` is read instead, at its exit stop (ptrace's
//! `PTRACE_O_TRACEEXIT`), when its address space is complete and still there.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

pub struct Done {
    pub success: bool,
    /// The raw wait status, for messages.
    pub status: i32,
    pub stdout: Vec<u8>,
}

/// Spawns `cmd` with stdout piped and stderr discarded, reads stdout to its end and reaps it.
pub fn run(cmd: &mut Command) -> io::Result<Done> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)?;
    }
    let status = child.wait()?;
    Ok(Done {
        success: status.success(),
        status: std::os::unix::process::ExitStatusExt::into_raw(status),
        stdout,
    })
}

/// `VmHWM` of `status` text (a `/proc/<pid>/status`), KiB.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    use procfs_core::FromRead;
    procfs_core::process::Status::from_read(status.as_bytes())
        .ok()?
        .vmhwm
}

fn check(r: libc::c_long) -> io::Result<()> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The peak RSS (KiB) of the program `cmd` runs (its main process only), its output discarded.
pub fn peak_rss_kib(cmd: &mut Command) -> io::Result<u64> {
    // SAFETY: between fork and exec the hook makes one system call and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            check(libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0))?;
            Ok(())
        });
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut hwm = None;
    let mut exec_seen = false;
    loop {
        let mut status = 0;
        // SAFETY: status is valid for writes; `pid` is our child, reaped here only.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            break;
        }
        let sig = libc::WSTOPSIG(status);
        let event = status >> 16;
        let mut deliver = 0;
        if sig == libc::SIGTRAP && event == libc::PTRACE_EVENT_EXIT {
            hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|t| parse_vm_hwm(&t));
        } else if sig == libc::SIGTRAP && !exec_seen {
            // The stop after exec: from here on, stop once more at the exit.
            exec_seen = true;
            let opts = libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL;
            // SAFETY: plain ptrace requests on our stopped tracee.
            check(unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts) })?;
        } else {
            // Any other signal is the program's own (SIGCHLD of its children, say): pass it on.
            deliver = sig;
        }
        // SAFETY: as above.
        check(unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, deliver) })?;
    }
    hwm.ok_or_else(|| io::Error::other("no VmHWM read at the exit stop"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_output_and_status() {
        let d = run(Command::new("sh").args(["-c", "echo hi; exit 3"])).unwrap();
        assert_eq!(d.stdout, b"hi\n");
        assert!(!d.success);
        assert!(run(&mut Command::new("true")).unwrap().success);
    }

    #[test]
    fn vm_hwm_from_status_text() {
        let text = |f| isoprobe_fixtures::text(f).unwrap();
        assert_eq!(parse_vm_hwm(&text("proc/status-host")), Some(1616));
        // A kernel thread has no address space, so no VmHWM line.
        assert_eq!(parse_vm_hwm(&text("proc/status-kthread")), None);
    }

    #[test]
    fn peak_rss_sees_a_program_grow() {
        // The 16 MB the shell holds in a variable are its own peak.
        let small = peak_rss_kib(Command::new("sh").args(["-c", "exit 0"])).unwrap();
        assert!(small > 0 && small < 16 * 1024, "{small}");
        let big = peak_rss_kib(
            Command::new("sh").args(["-c", "x=$(head -c 16000000 /dev/zero | tr '\\0' a); exit 0"]),
        )
        .unwrap();
        assert!(big > small + 8 * 1024, "{big} vs {small}");
    }
}
