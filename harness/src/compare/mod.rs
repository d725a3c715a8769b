//! `isoprobe compare`: the same checks under several runtimes, side by side. Checks are rows,
//! runtimes columns; a cell is the check's status and its control's.

mod render;

pub use render::{render_markdown, render_text};

use crate::checks::Check;
use crate::engine::{self, RunOptions};
use crate::error::HarnessError;
use crate::report::{Kernel, Report};
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
    let runtimes: Vec<&dyn Runtime> = runtimes.iter().map(|r| r.as_ref()).collect();
    let reports = engine::run_runtimes(&runtimes, checks, rootfs, opts)?;
    Ok(Comparison {
        isoprobe_version: env!("CARGO_PKG_VERSION").into(),
        kernel: engine::kernel(),
        cgroup_mode: engine::cgroup_mode(),
        duration_ms: started.elapsed().as_millis() as u64,
        reports,
    })
}

/// Controls that ran and did not show their check can fail (missed or inconclusive), over all
/// runtimes.
pub fn unproven_controls(cmp: &Comparison) -> usize {
    cmp.reports.iter().map(Report::unproven_controls).sum()
}
