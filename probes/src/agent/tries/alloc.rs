//! `alloc`: a forked child allocates N MiB in 1 MiB steps, writing every page, then exits 0;
//! the agent waits and reports how it ended. The allocation happens in a child so that the
//! agent stays small: an OOM killer picks the child, and the agent lives to report.
//! `touched_mb` counts the MiB the child had written when it ended (one byte on a pipe each).

use crate::contract::{AllocArgs, AllocOutcome, CallError, Called, Ended};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};
use std::io::Read;
use std::os::fd::AsRawFd;

/// A bound that keeps a typo from exhausting the machine when no limit holds.
const HARD_MAX_MB: usize = 1024;
const STEP: usize = 1 << 20;
const PAGE: usize = 4096;

pub fn run(args: &AllocArgs) -> AllocOutcome {
    let mb = args.mb.min(HARD_MAX_MB);
    let failed = |e| AllocOutcome {
        mb,
        touched_mb: 0,
        child: Called::Failed(e),
    };
    let (r, w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return failed(CallError::from_errno(e).at("pipe")),
    };
    // SAFETY: the agent is single-threaded; the child only allocates, writes and exits.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(r);
            allocate(mb, w.as_raw_fd())
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return failed(CallError::from_errno(e)),
    };
    drop(w);
    let mut progress = Vec::new();
    let _ = std::fs::File::from(r).read_to_end(&mut progress);
    AllocOutcome {
        mb,
        touched_mb: progress.len(),
        child: Called::from_errno(waitpid(child, None).map(Ended::from_status)),
    }
}

/// The child's work: never returns. Memory is never freed, so every MiB stays charged.
fn allocate(mb: usize, progress: libc::c_int) -> ! {
    for _ in 0..mb {
        // SAFETY: malloc'd memory is written only within its STEP bytes; the pipe write
        // reads one byte of a local.
        unsafe {
            let p = libc::malloc(STEP).cast::<u8>();
            if p.is_null() {
                libc::_exit(2);
            }
            // Writing every page is what makes the kernel back (and charge) it.
            for off in (0..STEP).step_by(PAGE) {
                std::ptr::write_volatile(p.add(off), 1);
            }
            libc::write(progress, b".".as_ptr().cast(), 1);
        }
    }
    // SAFETY: leaves without running the agent's atexit handlers or flushing its stdout.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlimited_child_writes_everything_and_exits_0() {
        let v = run(&AllocArgs { mb: 2 });
        assert_eq!(v.child, Called::Done(Ended::Code(0)), "{v:?}");
        assert_eq!(v.touched_mb, 2, "{v:?}");
    }
}
