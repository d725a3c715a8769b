//! The bench's statistics: pure functions over samples, so that what the table says is tested
//! on literal numbers.
//!
//! Percentiles are nearest-rank: every figure is one of the samples, and for any sample set
//! `min <= median <= p90` holds by construction (an interpolated median of two could not be
//! compared with the samples it came from).

use serde::Serialize;

/// Median, 90th percentile and minimum of one set of samples (milliseconds in the bench).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub median: f64,
    pub p90: f64,
    pub min: f64,
}

/// The nearest-rank `p`-quantile (`0 < p <= 1`) of samples sorted ascending; None when there
/// are none.
pub fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Median, p90 and min of `samples`; None when there are none. NaN samples are left out (a
/// timer never gives one, but a NaN would make every comparison false).
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    s.sort_by(f64::total_cmp);
    Some(Summary {
        median: nearest_rank(&s, 0.5)?,
        p90: nearest_rank(&s, 0.9)?,
        min: *s.first()?,
    })
}

/// `value / base`, None when the base is not a positive figure.
pub fn ratio(value: f64, base: f64) -> Option<f64> {
    (base > 0.0 && base.is_finite()).then(|| value / base)
}

/// The smallest and the largest of `values`; None when there are none.
pub fn spread(values: &[f64]) -> Option<(f64, f64)> {
    let mut it = values.iter().copied().filter(|x| !x.is_nan());
    let first = it.next()?;
    Some(it.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x))))
}

/// True when every item equals the first (and there is at least one).
pub fn all_equal<T: PartialEq>(items: &[T]) -> bool {
    items.first().is_some_and(|f| items.iter().all(|x| x == f))
}

/// The order in which one round visits `n` subjects: shuffled (Fisher-Yates, `pick(k)` giving
/// a number below `k`), so that a drift of the machine hits all alike, and so does what one run
/// leaves for the next: a cgroup join right after another skips its RCU grace period (the
/// kernel's rcu_sync stays "recently written" for one), which in a fixed order would always
/// favour the same successor.
pub fn shuffled_order(n: usize, mut pick: impl FnMut(usize) -> usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, pick(i + 1) % (i + 1));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_samples() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(nearest_rank(&s, 0.5), Some(5.0));
        assert_eq!(nearest_rank(&s, 0.9), Some(9.0));
        assert_eq!(nearest_rank(&s, 1.0), Some(10.0));
        assert_eq!(nearest_rank(&s, 0.01), Some(1.0));
        assert_eq!(nearest_rank(&[4.0], 0.9), Some(4.0));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn summary_of_unsorted_samples() {
        let s = summarize(&[3.0, 1.0, 2.0, 10.0, 4.0]).unwrap();
        assert_eq!(
            s,
            Summary {
                median: 3.0,
                p90: 10.0,
                min: 1.0
            }
        );
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN]), None);
        let one = summarize(&[0.7]).unwrap();
        assert_eq!((one.median, one.p90, one.min), (0.7, 0.7, 0.7));
    }

    #[test]
    fn summaries_are_ordered_whatever_the_samples() {
        let sets: [&[f64]; 4] = [
            &[2.0, 2.0],
            &[5.0, 1.0],
            &[9.0, 0.1, 0.2, 0.3, 8.0, 7.0],
            &[1.5, f64::NAN, 0.5],
        ];
        for set in sets {
            let s = summarize(set).unwrap();
            assert!(s.min <= s.median && s.median <= s.p90, "{set:?}: {s:?}");
        }
    }

    #[test]
    fn ratios_need_a_positive_base() {
        assert_eq!(ratio(3.0, 1.5), Some(2.0));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(1.0, -1.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
    }

    #[test]
    fn spread_and_equality() {
        assert_eq!(spread(&[0.21, 0.19, 0.2]), Some((0.19, 0.21)));
        assert_eq!(spread(&[]), None);
        assert!(all_equal(&["pass", "pass"]));
        assert!(!all_equal(&["pass", "fail"]));
        assert!(!all_equal::<&str>(&[]));
    }

    #[test]
    fn a_shuffle_visits_every_subject_once() {
        assert_eq!(shuffled_order(3, |_| 0), vec![1, 2, 0]);
        assert_eq!(shuffled_order(3, |k| k - 1), vec![0, 1, 2]);
        assert_eq!(shuffled_order(0, |_| 0), Vec::<usize>::new());
        let mut seed = 7usize;
        let mut order = shuffled_order(10, |k| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 33) % k
        });
        order.sort();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
    }
}
