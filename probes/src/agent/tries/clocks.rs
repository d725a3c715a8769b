//! `clocks`: CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME as this process reads them, in
//! nanoseconds (a time namespace offsets the first two, never the third).

use crate::contract::{Called, ClocksOutcome};
use nix::errno::Errno;

pub fn run() -> ClocksOutcome {
    ClocksOutcome {
        monotonic_ns: read(libc::CLOCK_MONOTONIC),
        boottime_ns: read(libc::CLOCK_BOOTTIME),
        realtime_ns: read(libc::CLOCK_REALTIME),
    }
}

fn read(clock: libc::clockid_t) -> Called<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Called::from_errno(Err(Errno::last()));
    }
    Called::Done(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_three_clocks_in_ns() {
        let v = run();
        let mono = *v.monotonic_ns.done().expect("monotonic");
        let boot = *v.boottime_ns.done().expect("boottime");
        let real = *v.realtime_ns.done().expect("realtime");
        // Boottime also counts suspend, so it never lags monotonic; realtime is past 2020.
        assert!(boot >= mono, "{v:?}");
        assert!(real > 1_577_836_800 * 1_000_000_000, "{v:?}");
    }
}
