//! `cgroup.cpu-throttled`: under a quota of 20% of one CPU a busy agent gets about 20%, and the
//! cgroup records the throttling.
//!
//! The share is measured per enforcement period that elapsed (CPU time over nr_periods x
//! period), not over wall time: on a busy machine the wall clock also counts time the container
//! merely waited for a CPU, while the periods count only the bandwidth it was given.

use super::{Check, Ctx, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::CpuQuota;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::AgentArgs;
use serde_json::json;

pub struct CpuThrottled;

pub const QUOTA: CpuQuota = CpuQuota {
    quota_us: 10_000,
    period_us: 50_000,
};
/// Ten periods at least: enough for a steady share, short enough for a quick suite.
const SPIN_MS: u64 = 500;
/// The measured share may differ from the quota's by this fraction of it.
const TOLERANCE: f64 = 0.25;

/// Rounds for reports and snapshots: two decimals say all the judge used.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Check for CpuThrottled {
    fn id(&self) -> String {
        "cgroup.cpu-throttled".into()
    }
    fn description(&self) -> String {
        format!(
            "with a CPU quota of {}% of one CPU, a busy agent gets that share (±{}%) and the \
             cgroup records throttling",
            (QUOTA.share() * 100.0).round(),
            (TOLERANCE * 100.0).round()
        )
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            own_cgroup: true,
            cpu_quota: Some(QUOTA),
            ..Isolation::base()
        }
    }
    fn sabotage(&self) -> Sabotage {
        Sabotage::NoCpuQuota
    }
    fn control_evidence(&self) -> &'static str {
        "no throttling recorded"
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(
            iso,
            AgentArgs {
                spin_ms: SPIN_MS,
                ..AgentArgs::default()
            },
        )?;
        let sample = out.observation.cpu;
        let wall_share = sample.map(|s| s.wall_share());
        let stat = out.cgroup.as_ref().map(|c| c.cpu_stat.clone());
        // Host-side CPU time first (wait4, or the cgroup's own usage on v2, or its v1 cpuacct
        // usage for a runtime whose container is not isoprobe's child): the agent's figure
        // is its claim, the host's is a measurement.
        let cpu_us = stat
            .as_ref()
            .and_then(|s| s.as_ref().ok())
            .and_then(|s| s.usage_usec)
            .or_else(|| out.cpu_time.map(|d| d.as_micros() as u64))
            .or_else(|| out.cgroup.as_ref().and_then(|c| c.cpu_usage_usec));
        let mut failures = Vec::new();
        let (periods, throttled) = match &stat {
            Some(Ok(s)) => (s.nr_periods, s.nr_throttled),
            Some(Err(e)) => {
                failures.push(format!("cpu.stat unreadable: {e}"));
                (0, 0)
            }
            None => {
                failures.push("the runtime reported no cgroup statistics".into());
                (0, 0)
            }
        };
        let per_period = match (cpu_us, periods) {
            (Some(c), p) if p > 0 => Some(c as f64 / (p * QUOTA.period_us) as f64),
            _ => None,
        };
        let target = QUOTA.share();
        let (lo, hi) = (target * (1.0 - TOLERANCE), target * (1.0 + TOLERANCE));
        if throttled == 0 {
            failures.push(format!(
                "no throttling recorded (nr_periods {periods}, nr_throttled 0; wall share {})",
                wall_share.map_or("unknown".into(), |w| format!("{:.2}", w))
            ));
        }
        match per_period {
            Some(s) if (lo..=hi).contains(&s) => {}
            Some(s) => failures.push(format!(
                "CPU share per period {s:.3} outside {lo:.2}..{hi:.2}"
            )),
            None if throttled > 0 => failures.push("no CPU time measured".into()),
            None => {}
        }
        Ok(Verdict::from_failures(
            failures,
            &format!(
                "share {:.2} of one CPU per period (quota {:.2}), throttled in {throttled} of {periods} periods",
                per_period.unwrap_or(0.0),
                target
            ),
            json!({
                "quota_share": target,
                "share_range": [round2(lo), round2(hi)],
                "throttled": true,
            }),
            json!({
                "share_per_period": per_period.map(round2),
                "share_of_wall": wall_share.map(round2),
                "nr_periods": periods,
                "nr_throttled": throttled,
                "cpu_us": cpu_us,
            }),
        ))
    }
}
