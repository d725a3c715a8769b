//! `forks` with arg `max=N`: forks children that stay alive until the agent lets them go,
//! until fork fails or N are alive, then releases and reaps them all.
//!
//! Result: `{"max": N, "threads": n | null, "forked": n, "stopped_by": errno | null,
//! "reaped": n}`. `threads` is the agent's own task count before forking (each counts
//! against a pids limit).

use super::{errno_json, kv};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use serde_json::{json, Value};
use std::os::fd::AsRawFd;

const DEFAULT_MAX: usize = 64;
/// A bound that keeps a typo from fork-bombing the container.
const HARD_MAX: usize = 4096;

pub fn run(arg: &str) -> Value {
    let max = kv(arg)
        .get("max")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX)
        .min(HARD_MAX);
    let threads = own_threads();
    // Every child blocks reading this pipe; closing the write end releases them all at once.
    let (r, w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return json!({"max": max, "threads": threads, "pipe": errno_json(e)}),
    };
    let mut children: Vec<Pid> = Vec::with_capacity(max);
    let mut stopped_by = Value::Null;
    while children.len() < max {
        // SAFETY: the agent is single-threaded; the child only makes system calls.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => unsafe {
                libc::close(w.as_raw_fd());
                let mut b = 0u8;
                libc::read(r.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
                libc::_exit(0)
            },
            Ok(ForkResult::Parent { child }) => children.push(child),
            Err(e) => {
                stopped_by = errno_json(e);
                break;
            }
        }
    }
    drop(w);
    let reaped = children
        .iter()
        .filter(|c| waitpid(**c, None).is_ok())
        .count();
    json!({
        "max": max,
        "threads": threads,
        "forked": children.len(),
        "stopped_by": stopped_by,
        "reaped": reaped,
    })
}

fn own_threads() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_up_to_max_and_reaps_every_child() {
        let v = run("max=3");
        assert_eq!(v["forked"], 3, "{v}");
        assert_eq!(v["reaped"], 3, "{v}");
        assert!(v["stopped_by"].is_null(), "{v}");
        assert!(v["threads"].as_u64().is_some_and(|t| t >= 1), "{v}");
    }
}
