//! `forks`: forks children that stay alive until the agent lets them go, until fork fails or
//! `max` are alive, then releases and reaps them all. `threads` is the agent's own task count
//! before forking (each counts against a pids limit).

use crate::contract::{CallError, ForksArgs, ForksOutcome};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use std::os::fd::AsRawFd;

/// A bound that keeps a typo from fork-bombing the container.
const HARD_MAX: usize = 4096;

pub fn run(args: &ForksArgs) -> ForksOutcome {
    let max = args.max.min(HARD_MAX);
    let threads = own_threads();
    let mut out = ForksOutcome {
        max,
        threads,
        forked: 0,
        stopped_by: None,
        reaped: 0,
    };
    // Every child blocks reading this pipe; closing the write end releases them all at once.
    let (r, w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            out.stopped_by = Some(CallError::from_errno(e).at("pipe"));
            return out;
        }
    };
    let mut children: Vec<Pid> = Vec::with_capacity(max);
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
                out.stopped_by = Some(CallError::from_errno(e));
                break;
            }
        }
    }
    drop(w);
    out.forked = children.len();
    out.reaped = children
        .iter()
        .filter(|c| waitpid(**c, None).is_ok())
        .count();
    out
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
        let v = run(&ForksArgs { max: 3 });
        assert_eq!(v.forked, 3, "{v:?}");
        assert_eq!(v.reaped, 3, "{v:?}");
        assert!(v.stopped_by.is_none(), "{v:?}");
        assert!(v.threads.is_some_and(|t| t >= 1), "{v:?}");
    }
}
