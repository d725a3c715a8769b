//! A bounded pool for the engine's runs: at most `jobs` at a time, handed out in the order
//! given, results kept in that order, so that the report never depends on which run ended
//! first.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// What one task asks of the pool once it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Hand out no further task (an interrupt): the tasks not started stay `None`.
    Stop,
}

/// How many workers [`run`] starts for `tasks` with `jobs` asked for.
pub fn workers(jobs: usize, tasks: usize) -> usize {
    jobs.clamp(1, tasks.max(1))
}

/// Runs `f(worker, task)` on each of `tasks`, on [`workers`] threads (`worker` numbers them
/// from 0), and returns each result at its task's index. With one worker everything runs on
/// the calling thread in order.
pub fn run<T: Sync, R: Send>(
    jobs: usize,
    tasks: &[T],
    f: impl Fn(usize, &T) -> (R, Next) + Sync,
) -> Vec<Option<R>> {
    let slots: Vec<Mutex<Option<R>>> = tasks.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let worker = |w: usize| loop {
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(task) = tasks.get(i) else { return };
        let (result, then) = f(w, task);
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        if then == Next::Stop {
            stopped.store(true, Ordering::SeqCst);
        }
    };
    let threads = workers(jobs, tasks.len());
    if threads == 1 {
        worker(0);
    } else {
        let worker = &worker;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|w| s.spawn(move || worker(w))).collect();
            for h in handles {
                if let Err(panic) = h.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
    }
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_keep_the_tasks_order_whatever_ends_first() {
        let tasks: Vec<u64> = (0..12).collect();
        // Early tasks sleep longest, so they end last.
        let out = run(4, &tasks, |_, &t| {
            std::thread::sleep(Duration::from_millis(2 * (12 - t)));
            (t * 10, Next::Continue)
        });
        let want: Vec<Option<u64>> = (0..12).map(|t| Some(t * 10)).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn never_more_than_jobs_at_once() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let tasks = vec![(); 16];
        run(3, &tasks, |_, _| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
            ((), Next::Continue)
        });
        let peak = peak.load(Ordering::SeqCst);
        assert!((2..=3).contains(&peak), "peak {peak}");
    }

    #[test]
    fn a_stop_hands_out_nothing_more() {
        let tasks: Vec<usize> = (0..10).collect();
        let out = run(1, &tasks, |_, &t| {
            (t, if t == 3 { Next::Stop } else { Next::Continue })
        });
        assert_eq!(&out[..4], &[Some(0), Some(1), Some(2), Some(3)]);
        assert!(out[4..].iter().all(Option::is_none));
    }

    #[test]
    fn zero_jobs_is_one_and_no_tasks_is_fine() {
        assert_eq!(
            run(0, &[1, 2], |_, &t| (t, Next::Continue)),
            [Some(1), Some(2)]
        );
        assert!(run(4, &[] as &[u8], |_, &t| (t, Next::Continue)).is_empty());
    }
}
