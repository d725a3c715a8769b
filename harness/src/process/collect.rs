//! Reading what a supervised process writes, under a deadline, while polling for Ctrl-C.

use super::WaitError;
use crate::cancel;
use crate::vocabulary::HostStepError;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Output beyond this is dropped: the agent prints a few KiB.
const MAX_OUTPUT: usize = 4 << 20;
/// Ctrl-C is noticed within this.
const POLL: Duration = Duration::from_millis(100);

/// How long a wait may last, and whether Ctrl-C cuts it. Clean-up commands (an OCI
/// runtime's `delete` after an interrupt) must not be cut by the interrupt they clean up
/// after.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    pub deadline: Instant,
    /// What the deadline was given as, for the error.
    pub timeout: Duration,
    pub cancellable: bool,
}

impl Bound {
    /// `timeout` from `start`, cut by Ctrl-C.
    pub(crate) fn interruptible(start: Instant, timeout: Duration) -> Bound {
        Bound {
            deadline: start + timeout,
            timeout,
            cancellable: true,
        }
    }

    /// `timeout` from now, not cut by Ctrl-C.
    pub(crate) fn uninterruptible(timeout: Duration) -> Bound {
        Bound {
            deadline: Instant::now() + timeout,
            timeout,
            cancellable: false,
        }
    }
}

/// Reads `files` until all are closed (or `on_read` closes them). When the deadline passes or
/// the user interrupts, `stop` is called (it kills whatever writes) and the wait ends. After
/// every read, `on_read(slot, all read on that slot so far, end of file)` says whether that
/// slot is done (at end of file it always is). `reading` names the step in a read error.
/// Returns what arrived on each slot.
pub(crate) fn collect<const N: usize>(
    mut files: [Option<fs::File>; N],
    bound: Bound,
    reading: &'static str,
    mut stop: impl FnMut(),
    mut on_read: impl FnMut(usize, &[u8], bool) -> bool,
) -> Result<[Vec<u8>; N], WaitError> {
    let mut bufs: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
    loop {
        if bound.cancellable && cancel::requested() {
            stop();
            return Err(WaitError::Interrupted);
        }
        let now = Instant::now();
        if now >= bound.deadline {
            stop();
            return Err(WaitError::Timeout(bound.timeout));
        }
        let open: Vec<usize> = (0..N).filter(|i| files[*i].is_some()).collect();
        if open.is_empty() {
            return Ok(bufs);
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .filter_map(|i| files[*i].as_ref())
            .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
            .collect();
        let wait = (bound.deadline - now).min(POLL);
        match poll(
            &mut fds,
            PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(HostStepError::errno("poll", "-", e).into()),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (slot, is_ready) in open.into_iter().zip(ready) {
            let Some(file) = files[slot].as_mut().filter(|_| is_ready) else {
                continue;
            };
            let mut chunk = [0u8; 8192];
            let eof = match file.read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    if bufs[slot].len() < MAX_OUTPUT {
                        bufs[slot].extend_from_slice(&chunk[..n]);
                    }
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HostStepError::new(reading, "-", e).into()),
            };
            if on_read(slot, &bufs[slot], eof) || eof {
                files[slot] = None;
            }
        }
    }
}
