//! `hostproc` (arg `pid=N`): can the container reach a host process whose host pid is `N`?
//! Signals it (signal 0), looks for `/proc/N`, tries to ptrace it (and lets go at once), opens
//! its net namespace; and says who `/proc/1` is: the container's own init (same mount
//! namespace, same root) or somebody else's.
//!
//! Output: `{"self_pid", "kill": "ok" | {errno}, "proc_entry": bool, "ptrace_seize": "ok" |
//! {errno}, "ptrace_detach": "ok" | {errno} | null, "open_ns_net": "ok" | {errno},
//! "pid1_mnt_ns": link | {errno}, "self_mnt_ns": link | {errno}, "pid1_root": [names] | {errno},
//! "self_root": [names] | {errno}}`.

use super::BadArgument;
use crate::contract::{unit, Called, Done, HostprocArgs, HostprocOutcome};
use nix::errno::Errno;
use std::time::{Duration, Instant};

/// How long a seized tracee gets to report the interrupt stop before detaching is attempted.
const STOP_WAIT: Duration = Duration::from_secs(2);

pub fn run(args: &HostprocArgs) -> Result<HostprocOutcome, BadArgument> {
    let pid = args.pid;
    if pid <= 1 {
        return Err(BadArgument(format!("hostproc needs a pid > 1, got {pid}")));
    }
    let (ptrace_seize, ptrace_detach) = ptrace_and_let_go(pid);
    Ok(HostprocOutcome {
        self_pid: nix::unistd::getpid().as_raw(),
        kill: unit(nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            None,
        )),
        proc_entry: std::fs::symlink_metadata(format!("/proc/{pid}")).is_ok(),
        ptrace_seize,
        ptrace_detach,
        open_ns_net: Called::from_io(
            std::fs::File::open(format!("/proc/{pid}/ns/net")).map(|_| Done::Ok),
        ),
        pid1_mnt_ns: link("/proc/1/ns/mnt"),
        self_mnt_ns: link("/proc/self/ns/mnt"),
        pid1_root: entries("/proc/1/root"),
        self_root: entries("/"),
    })
}

fn rc(r: libc::c_long) -> Result<(), Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// PTRACE_SEIZE does not stop the tracee, and PTRACE_DETACH needs a stopped one: interrupt it,
/// wait for the stop (bounded), then detach. A tracee left attached would be let go anyway when
/// this process exits.
fn ptrace_and_let_go(pid: i32) -> (Called<Done>, Option<Called<Done>>) {
    // SAFETY: ptrace requests on a pid with null addr/data pointers.
    let seize = rc(unsafe {
        libc::ptrace(
            libc::PTRACE_SEIZE,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    });
    if let Err(e) = seize {
        return (unit(Err(e)), None);
    }
    // SAFETY: as above.
    let detach = rc(unsafe {
        libc::ptrace(
            libc::PTRACE_INTERRUPT,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    })
    .and_then(|()| wait_stopped(pid))
    .and_then(|()| {
        // SAFETY: as above.
        rc(unsafe {
            libc::ptrace(
                libc::PTRACE_DETACH,
                pid,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            )
        })
    });
    (Called::Done(Done::Ok), Some(unit(detach)))
}

fn wait_stopped(pid: i32) -> Result<(), Errno> {
    let deadline = Instant::now() + STOP_WAIT;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::WNOHANG) };
        if r < 0 {
            return Err(Errno::last());
        }
        if r == pid && libc::WIFSTOPPED(status) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Errno::ETIMEDOUT);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn link(path: &str) -> Called<String> {
    Called::from_io(std::fs::read_link(path).map(|t| t.to_string_lossy().into_owned()))
}

fn entries(dir: &str) -> Called<Vec<String>> {
    Called::from_io(std::fs::read_dir(dir).map(|it| {
        let mut names: Vec<String> = it
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Called<Done> = Called::Done(Done::Ok);

    #[test]
    fn a_visible_child_is_reached_and_let_go() {
        let Ok(mut child) = std::process::Command::new("sleep").arg("10").spawn() else {
            crate::testing::skip("a_visible_child_is_reached_and_let_go", "no `sleep`");
            return;
        };
        let v = run(&HostprocArgs {
            pid: child.id() as i32,
        })
        .unwrap();
        let still_running = matches!(child.try_wait(), Ok(None));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(v.kill, OK);
        assert!(v.proc_entry);
        assert_eq!(v.open_ns_net, OK);
        if v.ptrace_seize.errno() == Some("EPERM") {
            // Yama's ptrace_scope 2 or 3 keeps even a parent from tracing without the capability.
            crate::testing::skip(
                "a_visible_child_is_reached_and_let_go (ptrace part)",
                &format!("ptrace_seize of an own child was refused: {v:?}"),
            );
            return;
        }
        // A parent may trace its own child (same uid), so the seize must succeed here.
        assert_eq!(v.ptrace_seize, OK, "{v:?}");
        assert_eq!(v.ptrace_detach, Some(OK), "{v:?}");
        assert!(
            still_running,
            "the traced child must run on after the detach"
        );
        assert!(v.self_root.done().is_some());
    }

    #[test]
    fn bad_pids_are_refused() {
        for pid in [0, 1, -5] {
            assert!(run(&HostprocArgs { pid }).is_err(), "{pid}");
        }
    }
}
