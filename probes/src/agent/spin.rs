//! A busy loop that measures what it got: the process's CPU time against wall time.

use crate::observation::CpuSample;
use nix::time::{clock_gettime, ClockId};
use std::time::Duration;

fn now_ns(clock: ClockId) -> u64 {
    // Both clocks exist on every kernel isoprobe supports; a failure here is a broken system.
    let ts = clock_gettime(clock).unwrap_or_else(|_| nix::sys::time::TimeSpec::new(0, 0));
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// Spins for `wall` of wall-clock time. Under a CPU quota the process is throttled for part of
/// each period, so `cpu_ns / wall_ns` approaches the quota's share.
pub fn spin(wall: Duration) -> CpuSample {
    let wall_ns = wall.as_nanos() as u64;
    let w0 = now_ns(ClockId::CLOCK_MONOTONIC);
    let c0 = now_ns(ClockId::CLOCK_PROCESS_CPUTIME_ID);
    let mut x: u64 = 0;
    loop {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        if now_ns(ClockId::CLOCK_MONOTONIC) - w0 >= wall_ns {
            break;
        }
    }
    CpuSample {
        wall_ns: now_ns(ClockId::CLOCK_MONOTONIC) - w0,
        cpu_ns: now_ns(ClockId::CLOCK_PROCESS_CPUTIME_ID) - c0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unthrottled_spin_uses_cpu_and_takes_the_time_asked() {
        let s = spin(Duration::from_millis(50));
        assert!(s.wall_ns >= 50_000_000);
        // The process clock counts every thread of the test runner, so only a lower bound holds.
        assert!(
            s.cpu_ns > 10_000_000,
            "a busy loop used only {} ns of CPU",
            s.cpu_ns
        );
    }
}
