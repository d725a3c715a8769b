//! `alloc` with arg `mb=N`: a forked child allocates N MiB in 1 MiB steps, writing every page,
//! then exits 0; the agent waits and reports how it ended. The allocation happens in a child so
//! that the agent stays small: an OOM killer picks the child, and the agent lives to report.
//!
//! Result: `{"mb": N, "touched_mb": n, "child": {"code": n} | {"signal": name} | errno}`;
//! `touched_mb` counts the MiB the child had written when it ended (one byte on a pipe each).

use super::{errno_json, kv};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use serde_json::{json, Value};
use std::io::Read;
use std::os::fd::AsRawFd;

const DEFAULT_MB: usize = 256;
/// A bound that keeps a typo from exhausting the machine when no limit holds.
const HARD_MAX_MB: usize = 1024;
const STEP: usize = 1 << 20;
const PAGE: usize = 4096;

pub fn run(arg: &str) -> Value {
    let mb = kv(arg)
        .get("mb")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MB)
        .min(HARD_MAX_MB);
    let (r, w) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return json!({"mb": mb, "pipe": errno_json(e)}),
    };
    // SAFETY: the agent is single-threaded; the child only allocates, writes and exits.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(r);
            allocate(mb, w.as_raw_fd())
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return json!({"mb": mb, "child": errno_json(e)}),
    };
    drop(w);
    let mut progress = Vec::new();
    let _ = std::fs::File::from(r).read_to_end(&mut progress);
    let ended = match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, code)) => json!({"code": code}),
        Ok(WaitStatus::Signaled(_, sig, _)) => json!({"signal": sig.as_str()}),
        Ok(other) => json!({"other": format!("{other:?}")}),
        Err(e) => errno_json(e),
    };
    json!({"mb": mb, "touched_mb": progress.len(), "child": ended})
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
        let v = run("mb=2");
        assert_eq!(v["child"], json!({"code": 0}), "{v}");
        assert_eq!(v["touched_mb"], 2, "{v}");
    }
}
