//! The CFS bandwidth limit: v2 `cpu.max`, v1 `cpu.cfs_quota_us` + `cpu.cfs_period_us`.

use super::ParseError;

/// A CPU bandwidth limit: `quota_us` of CPU time per `period_us` of wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMax {
    /// `None` means no limit ("max" on v2, -1 on v1).
    pub quota_us: Option<u64>,
    /// Never 0: callers divide by it.
    pub period_us: u64,
}

/// v2 `cpu.max`: `$MAX $PERIOD`, where `$MAX` is a number or `max`.
pub fn parse_cpu_max(text: &str) -> Result<CpuMax, ParseError> {
    let mut fields = text.split_whitespace();
    let (Some(quota), Some(period), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(ParseError::new(format!(
            "cpu.max is not `QUOTA PERIOD` (QUOTA a number or \"max\"): {text:?}"
        )));
    };
    let quota_us = match quota {
        "max" => None,
        q => Some(number("cpu.max quota", q)?),
    };
    Ok(CpuMax {
        quota_us,
        period_us: period_of("cpu.max period", period)?,
    })
}

/// v1 `cpu.cfs_quota_us` (-1 = no limit) and `cpu.cfs_period_us`, each a file of its own.
pub fn parse_cfs_quota(quota_text: &str, period_text: &str) -> Result<CpuMax, ParseError> {
    let quota_us = match quota_text.trim() {
        "-1" => None,
        q => Some(number("cpu.cfs_quota_us", q)?),
    };
    Ok(CpuMax {
        quota_us,
        period_us: period_of("cpu.cfs_period_us", period_text.trim())?,
    })
}

fn number(what: &str, s: &str) -> Result<u64, ParseError> {
    s.parse()
        .map_err(|_| ParseError::new(format!("{what}: {s:?} is not a number of microseconds")))
}

fn period_of(what: &str, s: &str) -> Result<u64, ParseError> {
    match number(what, s)? {
        // The kernel refuses periods under 1 ms, so a 0 can only come from a broken text.
        0 => Err(ParseError::new(format!(
            "{what}: a period of 0 is impossible"
        ))),
        p => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const PERIOD_V1: &str = include_str!("../../../fixtures/cgroup/cpu.cfs_period_us");

    #[rstest]
    #[case::unlimited(include_str!("../../../fixtures/cgroup/cpu.max-unlimited"), None, 100_000)]
    #[case::twenty_percent(include_str!("../../../fixtures/cgroup/cpu.max-20pct"), Some(20_000), 100_000)]
    #[case::no_newline("150000 50000", Some(150_000), 50_000)]
    fn cpu_max(#[case] text: &str, #[case] quota: Option<u64>, #[case] period: u64) {
        assert_eq!(
            parse_cpu_max(text).unwrap(),
            CpuMax {
                quota_us: quota,
                period_us: period
            }
        );
    }

    #[rstest]
    #[case::empty("", "not `QUOTA PERIOD`")]
    #[case::no_period("max\n", "not `QUOTA PERIOD`")]
    #[case::three_fields("max 100000 1\n", "not `QUOTA PERIOD`")]
    #[case::v1_minus_one("-1 100000\n", "quota: \"-1\"")]
    #[case::uppercase_max("MAX 100000\n", "quota: \"MAX\"")]
    #[case::bad_period("max 1e5\n", "period: \"1e5\"")]
    #[case::zero_period("max 0\n", "period of 0")]
    fn cpu_max_errors(#[case] text: &str, #[case] needle: &str) {
        let e = parse_cpu_max(text).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }

    #[rstest]
    #[case::unlimited_on_this_host(
        include_str!("../../../fixtures/cgroup/cpu.cfs_quota_us-unlimited"),
        None
    )]
    #[case::twenty_percent_on_this_host(
        include_str!("../../../fixtures/cgroup/cpu.cfs_quota_us-20pct"),
        Some(20_000)
    )]
    fn cfs_quota(#[case] quota_text: &str, #[case] quota: Option<u64>) {
        assert_eq!(
            parse_cfs_quota(quota_text, PERIOD_V1).unwrap(),
            CpuMax {
                quota_us: quota,
                period_us: 100_000
            }
        );
    }

    #[rstest]
    #[case::other_negative("-2\n", "100000\n", "cpu.cfs_quota_us: \"-2\"")]
    #[case::max_is_v2_only("max\n", "100000\n", "cpu.cfs_quota_us: \"max\"")]
    #[case::empty_quota("", "100000\n", "cpu.cfs_quota_us: \"\"")]
    #[case::empty_period("-1\n", "", "cpu.cfs_period_us: \"\"")]
    #[case::zero_period("-1\n", "0\n", "period of 0")]
    #[case::two_numbers("20000 100000\n", "100000\n", "cpu.cfs_quota_us")]
    fn cfs_quota_errors(#[case] quota: &str, #[case] period: &str, #[case] needle: &str) {
        let e = parse_cfs_quota(quota, period).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
}
