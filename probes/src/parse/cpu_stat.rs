//! `cpu.stat` of the cpu controller, v1 and v2.

use super::ParseError;

/// CFS bandwidth counters of one cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CpuStat {
    pub nr_periods: u64,
    pub nr_throttled: u64,
    /// Microseconds, also on v1 (whose `throttled_time` is in nanoseconds).
    pub throttled_usec: u64,
    /// CPU time used by the cgroup; v2 only (v1 keeps it in cpuacct.usage).
    pub usage_usec: Option<u64>,
}

/// Parses both v1 (`throttled_time` in ns -> converted to usec) and v2 (`throttled_usec`)
/// cpu.stat. Unknown keys are ignored: kernels keep adding some (v1 on 6.x also has
/// `nr_bursts`, `burst_time`, `wait_sum`; v2 has `nice_usec`, `core_sched.force_idle_usec`).
///
/// The bandwidth lines are required. v2 prints them only where the cpu controller is enabled,
/// so their absence means the cgroup is not CPU-limited at all, which is not the same as
/// "never throttled" and must not read as zeros.
pub fn parse_cpu_stat(text: &str) -> Result<CpuStat, ParseError> {
    let mut nr_periods = None;
    let mut nr_throttled = None;
    let mut throttled_usec = None;
    let mut usage_usec = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(key), Some(value), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(ParseError::new(format!(
                "cpu.stat line {} is not `key value`: {line:?}",
                i + 1
            )));
        };
        let slot = match key {
            "nr_periods" => &mut nr_periods,
            "nr_throttled" => &mut nr_throttled,
            "throttled_usec" | "throttled_time" => &mut throttled_usec,
            "usage_usec" => &mut usage_usec,
            _ => continue,
        };
        let n: u64 = value.parse().map_err(|_| {
            ParseError::new(format!(
                "cpu.stat line {}: {key} {value:?} is not a count",
                i + 1
            ))
        })?;
        *slot = Some(if key == "throttled_time" { n / 1000 } else { n });
    }
    let need = |v: Option<u64>, key: &str| {
        v.ok_or_else(|| {
            ParseError::new(format!(
                "cpu.stat has no {key} line (CFS bandwidth control is not active for this cgroup)"
            ))
        })
    };
    Ok(CpuStat {
        nr_periods: need(nr_periods, "nr_periods")?,
        nr_throttled: need(nr_throttled, "nr_throttled")?,
        throttled_usec: need(throttled_usec, "throttled_usec or throttled_time")?,
        usage_usec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::v1_idle_root_of_this_host(
        include_str!("../../../fixtures/cgroup/cpu.stat-v1"),
        CpuStat { nr_periods: 0, nr_throttled: 0, throttled_usec: 0, usage_usec: None }
    )]
    #[case::v1_throttled_at_20pct_on_this_host(
        include_str!("../../../fixtures/cgroup/cpu.stat-v1-throttled"),
        CpuStat { nr_periods: 11, nr_throttled: 11, throttled_usec: 822_665, usage_usec: None }
    )]
    #[case::v2(
        include_str!("../../../fixtures/cgroup/cpu.stat-v2"),
        CpuStat {
            nr_periods: 215,
            nr_throttled: 168,
            throttled_usec: 9_263_011,
            usage_usec: Some(8_312_345),
        }
    )]
    #[case::v1_with_schedstats(
        "nr_periods 3\nnr_throttled 1\nthrottled_time 1999\nnr_bursts 0\nburst_time 0\nwait_sum 12345\n",
        CpuStat { nr_periods: 3, nr_throttled: 1, throttled_usec: 1, usage_usec: None }
    )]
    #[case::no_trailing_newline_and_blank_lines(
        "\nnr_periods 1\n\nnr_throttled 0\nthrottled_usec 0",
        CpuStat { nr_periods: 1, nr_throttled: 0, throttled_usec: 0, usage_usec: None }
    )]
    fn parses(#[case] text: &str, #[case] want: CpuStat) {
        assert_eq!(parse_cpu_stat(text).unwrap(), want);
    }

    #[rstest]
    #[case::v2_without_cpu_controller_on_this_host(
        include_str!("../../../fixtures/cgroup/cpu.stat-v2-no-cpu-controller"),
        "no nr_periods line"
    )]
    #[case::missing_throttled(
        "nr_periods 1\nnr_throttled 0\n",
        "no throttled_usec or throttled_time"
    )]
    #[case::empty("", "no nr_periods")]
    #[case::not_a_number(
        "nr_periods 1\nnr_throttled lots\nthrottled_usec 0\n",
        "line 2: nr_throttled \"lots\""
    )]
    #[case::negative("nr_periods -1\nnr_throttled 0\nthrottled_usec 0\n", "line 1")]
    #[case::key_alone("nr_periods\n", "line 1 is not `key value`")]
    #[case::three_fields("nr_periods 1 2\n", "line 1 is not `key value`")]
    #[case::garbage("<html>hello</html>", "line 1")]
    fn errors(#[case] text: &str, #[case] needle: &str) {
        let e = parse_cpu_stat(text).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }

    #[test]
    fn unknown_keys_with_odd_values_are_ignored() {
        let s = parse_cpu_stat("nr_periods 2\nnr_throttled 1\nthrottled_usec 5\nfuture_key -3\n");
        assert_eq!(s.unwrap().nr_periods, 2);
    }

    #[test]
    fn serialises_with_field_names() {
        let v = serde_json::to_value(CpuStat {
            nr_periods: 1,
            nr_throttled: 2,
            throttled_usec: 3,
            usage_usec: None,
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"nr_periods": 1, "nr_throttled": 2, "throttled_usec": 3, "usage_usec": null})
        );
    }
}
