//! `hostproc` (arg `pid=N`): can the container reach a host process whose host pid is `N`?
//! Signals it (signal 0), looks for `/proc/N`, tries to ptrace it (and lets go at once), opens
//! its net namespace; and says who `/proc/1` is: the container's own init (same mount
//! namespace, same root) or somebody else's.
//!
//! Output: `{"self_pid", "kill": "ok" | {errno}, "proc_entry": bool, "ptrace_seize": "ok" |
//! {errno}, "ptrace_detach": "ok" | {errno} | null, "open_ns_net": "ok" | {errno},
//! "pid1_mnt_ns": link | {errno}, "self_mnt_ns": link | {errno}, "pid1_root": [names] | {errno},
//! "self_root": [names] | {errno}}`.

use super::oldroot::io_json;
use super::{errno_json, kv};
use nix::errno::Errno;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a seized tracee gets to report the interrupt stop before detaching is attempted.
const STOP_WAIT: Duration = Duration::from_secs(2);

pub fn run(arg: &str) -> Value {
    let args = kv(arg);
    let Some(pid) = args
        .get("pid")
        .and_then(|p| p.parse::<i32>().ok())
        .filter(|p| *p > 1)
    else {
        return json!({"error": format!("hostproc needs pid=N (N > 1), got `{arg}`")});
    };
    let (seize, detach) = ptrace_and_let_go(pid);
    json!({
        "self_pid": nix::unistd::getpid().as_raw(),
        "kill": unit(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)),
        "proc_entry": std::fs::symlink_metadata(format!("/proc/{pid}")).is_ok(),
        "ptrace_seize": seize,
        "ptrace_detach": detach,
        "open_ns_net": std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map(|_| json!("ok"))
            .unwrap_or_else(|e| io_json(&e)),
        "pid1_mnt_ns": link("/proc/1/ns/mnt"),
        "self_mnt_ns": link("/proc/self/ns/mnt"),
        "pid1_root": entries("/proc/1/root"),
        "self_root": entries("/"),
    })
}

fn unit(r: Result<(), Errno>) -> Value {
    match r {
        Ok(()) => json!("ok"),
        Err(e) => errno_json(e),
    }
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
fn ptrace_and_let_go(pid: i32) -> (Value, Value) {
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
        return (errno_json(e), Value::Null);
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
    (json!("ok"), unit(detach))
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

fn link(path: &str) -> Value {
    match std::fs::read_link(path) {
        Ok(t) => json!(t.to_string_lossy()),
        Err(e) => io_json(&e),
    }
}

fn entries(dir: &str) -> Value {
    match std::fs::read_dir(dir) {
        Ok(it) => {
            let mut names: Vec<String> = it
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            json!(names)
        }
        Err(e) => io_json(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visible_child_is_reached_and_let_go() {
        let Ok(mut child) = std::process::Command::new("sleep").arg("10").spawn() else {
            eprintln!("SKIP a_visible_child_is_reached_and_let_go: no `sleep`");
            return;
        };
        let v = run(&format!("pid={}", child.id()));
        let still_running = matches!(child.try_wait(), Ok(None));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(v["kill"], json!("ok"));
        assert_eq!(v["proc_entry"], json!(true));
        assert_eq!(v["open_ns_net"], json!("ok"));
        if v["ptrace_seize"]["errno"] == json!("EPERM") {
            // Yama's ptrace_scope 2 or 3 keeps even a parent from tracing without the capability.
            eprintln!("SKIP a_visible_child_is_reached_and_let_go (ptrace part): {v}");
            return;
        }
        // A parent may trace its own child (same uid), so the seize must succeed here.
        assert_eq!(v["ptrace_seize"], json!("ok"), "{v}");
        assert_eq!(v["ptrace_detach"], json!("ok"), "{v}");
        assert!(
            still_running,
            "the traced child must run on after the detach"
        );
        assert!(v["self_root"].is_array());
    }

    #[test]
    fn bad_pids_are_refused() {
        for arg in ["", "pid=x", "pid=1", "pid=-5"] {
            assert!(run(arg)["error"].is_string(), "{arg}");
        }
    }
}
