//! Waiting for something that is not ready yet: a bounded number of tries or a bounded time,
//! with a delay that may grow between tries. Every retry loop of the harness goes through
//! here, so that none of them can spin or wait forever.

use std::time::{Duration, Instant};

/// How long to keep trying.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// At most this many tries.
    Tries(u32),
    /// Until this instant; the last sleep is cut short so that it is not overrun.
    Until(Instant),
}

impl Budget {
    /// Until `limit` from now.
    pub fn within(limit: Duration) -> Budget {
        Budget::Until(Instant::now() + limit)
    }
}

/// The delays between tries: `first`, then doubled after each try up to `max` (equal for a
/// fixed pace).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The same delay between every try.
    pub const fn every(delay: Duration) -> Backoff {
        Backoff {
            first: delay,
            max: delay,
        }
    }

    /// A delay that starts at `first` and doubles up to `max`: quick when the wait is short,
    /// cheap when it is long.
    pub const fn doubling(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max }
    }

    /// Calls `attempt` until it gives an answer (`Some`) or the budget is spent (`None`). The
    /// first try is immediate.
    pub fn retry<T>(&self, budget: Budget, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
        let mut delay = self.first;
        let mut tries = 0u32;
        loop {
            if let Some(answer) = attempt() {
                return Some(answer);
            }
            tries += 1;
            let pause = match budget {
                Budget::Tries(n) if tries >= n => return None,
                Budget::Tries(_) => delay,
                Budget::Until(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    delay.min(deadline - now)
                }
            };
            std::thread::sleep(pause);
            delay = (delay * 2).min(self.max);
        }
    }

    /// Polls `ready` until it holds (true), or `give_up` says waiting is pointless or the
    /// budget is spent (false).
    pub fn until(
        &self,
        budget: Budget,
        mut ready: impl FnMut() -> bool,
        mut give_up: impl FnMut() -> bool,
    ) -> bool {
        self.retry(budget, || {
            if ready() {
                Some(true)
            } else if give_up() {
                Some(false)
            } else {
                None
            }
        })
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_are_bounded_and_delays_grow() {
        let mut n = 0;
        let started = Instant::now();
        let r: Option<()> = Backoff::doubling(Duration::from_millis(1), Duration::from_millis(4))
            .retry(Budget::Tries(4), || {
                n += 1;
                None
            });
        assert_eq!((r, n), (None, 4));
        // 1 + 2 + 4 ms of sleep between the four tries.
        assert!(started.elapsed() >= Duration::from_millis(7));
    }

    #[test]
    fn a_deadline_bounds_the_wait_and_an_answer_ends_it() {
        let started = Instant::now();
        let b = Backoff::every(Duration::from_millis(20));
        assert!(!b.until(
            Budget::within(Duration::from_millis(50)),
            || false,
            || false
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        let mut n = 0;
        assert_eq!(
            b.retry(Budget::Tries(10), || {
                n += 1;
                (n == 3).then_some(n)
            }),
            Some(3)
        );
        assert!(!b.until(Budget::Tries(100), || false, || true));
        assert!(b.until(Budget::Tries(1), || true, || true));
    }
}
