//! `isoprobe compare`: the same checks under several runtimes, side by side. Checks are rows,
//! runtimes columns; a cell is the check's status and its control's.

mod render;

pub use render::{render_markdown, render_text};

use crate::checks::Check;
use crate::engine::{self, RunOptions};
use crate::error::HarnessError;
use crate::report::{ControlStatus, Kernel, Report, Status};
use crate::rootfs::PreparedRootfs;
use crate::runtime::Runtime;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Every runtime's report, from one run on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub isoprobe_version: String,
    pub kernel: Kernel,
    pub cgroup_mode: String,
    pub duration_ms: u64,
    /// One report per runtime, in the order asked for.
    pub reports: Vec<Report>,
}

pub fn compare(
    runtimes: &[Box<dyn Runtime>],
    checks: &[Box<dyn Check>],
    rootfs: &PreparedRootfs,
    opts: &RunOptions,
) -> Result<Comparison, HarnessError> {
    let started = Instant::now();
    let mut reports = Vec::new();
    for rt in runtimes {
        reports.push(engine::run_checks(rt.as_ref(), checks, rootfs, opts)?);
    }
    Ok(Comparison {
        isoprobe_version: env!("CARGO_PKG_VERSION").into(),
        kernel: engine::kernel(),
        cgroup_mode: engine::cgroup_mode(),
        duration_ms: started.elapsed().as_millis() as u64,
        reports,
    })
}

/// One cell: `pass`, `FAIL` or `skip`, and the control's mark when it ran.
pub fn cell(report: &Report, id: &str) -> String {
    let Some(c) = report.checks.iter().find(|c| c.id == id) else {
        return "-".into();
    };
    let status = match c.status {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::Skip => "skip",
    };
    match c.negative_control.as_ref().map(|n| n.status) {
        None => status.into(),
        Some(ControlStatus::Detected) => format!("{status} ✓"),
        Some(ControlStatus::Missed) => format!("{status} MISSED"),
        Some(ControlStatus::Skip) => format!("{status} ·"),
    }
}

/// Check ids in report order, from the first report that has any.
pub fn check_ids(cmp: &Comparison) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for r in &cmp.reports {
        for c in &r.checks {
            if !ids.contains(&c.id) {
                ids.push(c.id.clone());
            }
        }
    }
    ids
}

/// Controls that ran and were not detected, over all runtimes.
pub fn missed_controls(cmp: &Comparison) -> usize {
    cmp.reports.iter().map(Report::missed_controls).sum()
}
