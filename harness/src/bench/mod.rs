//! `isoprobe bench`: what a container costs under each runtime, measured in one run so that the
//! figures can be compared as ratios on a machine whose speed drifts.
//!
//! - [`spawns`]: start-to-exit of the agent's no-op in the same isolation under each runtime,
//!   against the floor (the same agent fork+exec'd by the same timer), interleaved.
//! - [`suite`]: the wall time of `isoprobe run` per runtime with and without controls, its peak
//!   RSS, and the CPU check repeated to show the spread of its measured share.
//! - [`stats`]: the pure statistics; [`render`]: the text table.
//!
//! Figures are printed, never asserted: speed targets live in the README, not in tests.

mod render;
pub mod spawns;
pub mod stats;
pub mod suite;
mod wait;

use crate::error::{exit, HarnessError};
use crate::rootfs::PreparedRootfs;
use serde::Serialize;
use std::time::Duration;

pub const DEFAULT_RUNTIMES: &str = "native,unshare,bwrap,crun,runc,youki";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Comma-separated runtimes to measure; one that is not installed is reported as skipped.
    #[arg(long, value_delimiter = ',', value_name = "NAMES", default_value = DEFAULT_RUNTIMES)]
    pub runtimes: Vec<String>,
    /// Measured start-to-exit runs of each runtime (after one warm-up run).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: u64,
    /// Repetitions of the CPU check for the spread of its share (0: leave it out).
    #[arg(long, default_value_t = 20)]
    pub cpu_repeats: usize,
    /// Leave out the suite's wall times (and the CPU check): only the start-to-exit table.
    #[arg(long)]
    pub no_suite: bool,
    #[arg(long, value_enum, default_value_t = BenchFormat::Text)]
    pub format: BenchFormat,
}

/// One row of the start-to-exit table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    /// What the row does differently from the asked isolation.
    pub note: Option<String>,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub min_ms: f64,
    pub ratio_to_floor: Option<f64>,
    /// Against `native` with the same namespaces (`native +net` for a `+net` row).
    pub ratio_to_native: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// Peak RSS (`VmHWM` at exit), MiB; None when it could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct PeakRss {
    /// `isoprobe run --negative-controls` under native, its main process.
    pub isoprobe_run_mb: Option<f64>,
    /// The agent's no-op.
    pub agent_mb: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bench {
    pub runs: u64,
    pub isolation: String,
    /// Median of the floor.
    pub floor_ms: f64,
    pub floor_p90_ms: f64,
    pub floor_min_ms: f64,
    pub runtimes: Vec<Row>,
    pub skipped: Vec<Skipped>,
    pub suite: Vec<suite::SuiteRun>,
    pub cpu_check: Option<suite::CpuCheck>,
    pub peak_rss: PeakRss,
}

/// What the rows ask for, in words, for the table's heading.
pub const ISOLATION: &str = "mnt, pid, uts, ipc, cgroup namespaces (+net: and a net namespace), \
                             pivot_root into a rootfs holding only the agent, a fresh /proc, a \
                             cgroup of its own (-cgroup: without)";

/// `isoprobe bench`: measures, prints, and returns the exit code.
pub fn command(args: &BenchArgs) -> i32 {
    match bench(args) {
        Ok(b) => {
            match args.format {
                BenchFormat::Text => print!("{}", render::text(&b)),
                BenchFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&b).unwrap_or_default())
                }
            }
            exit::PASS
        }
        Err(e) => {
            eprintln!("isoprobe: {e}");
            e.exit_code()
        }
    }
}

fn bench(args: &BenchArgs) -> Result<Bench, HarnessError> {
    for name in &args.runtimes {
        crate::runtime::by_name(name).map_err(HarnessError::from)?;
    }
    crate::cli::require_root("bench")?;
    crate::cli::own_cgroup_ready()?;
    let _record = crate::record::start_of_run()?;
    crate::cancel::install_handlers()
        .map_err(|e| HarnessError::Setup(format!("cannot install signal handlers: {e}")))?;
    let mut skipped = Vec::new();
    let mut subjects = Vec::new();
    for name in &args.runtimes {
        match spawns::subjects_of(name) {
            Ok(rows) => subjects.extend(rows),
            Err(reason) => skipped.push(Skipped {
                name: name.clone(),
                reason,
            }),
        }
    }
    let rootfs = PreparedRootfs::fresh(crate::agent_binary::AGENT)?;
    // The containers start in a stand-in host, as the checks' do: nothing of the machine is
    // touched, and the costs are those of a suite run.
    let standin =
        crate::standin::StandIn::create().map_err(|e| HarnessError::Setup(e.to_string()))?;
    let timings = standin
        .within(|| {
            spawns::measure(
                &subjects,
                rootfs.path(),
                rootfs.agent(),
                args.runs as usize,
                Duration::from_secs(30),
            )
        })
        .map_err(|e| HarnessError::Setup(e.to_string()))?
        .map_err(|e| interrupted_or(e, HarnessError::Runtime))?;
    let mut runtimes = Vec::new();
    for m in &timings.rows {
        match &m.result {
            Ok(s) => runtimes.push(Row {
                name: m.name.clone(),
                note: m.note.clone(),
                median_ms: s.median,
                p90_ms: s.p90,
                min_ms: s.min,
                ratio_to_floor: stats::ratio(s.median, timings.floor.median),
                ratio_to_native: None,
            }),
            Err(reason) => skipped.push(Skipped {
                name: m.name.clone(),
                reason: format!("failed: {reason}"),
            }),
        }
    }
    set_ratios_to_native(&mut runtimes);

    let (mut suites, mut cpu_check) = (Vec::new(), None);
    if !args.no_suite {
        let exe = std::env::current_exe()
            .map_err(|e| HarnessError::Setup(format!("cannot find its own binary: {e}")))?;
        let jobs = crate::engine::default_jobs();
        // The native suite also one run at a time: what running runs side by side gains, in
        // the same bench.
        let native_serial = (jobs > 1 && args.runtimes.iter().any(|n| n == "native"))
            .then(|| ("native".to_string(), 1));
        let plans = args
            .runtimes
            .iter()
            .map(|n| (n.clone(), jobs))
            .chain(native_serial);
        for (name, jobs) in plans {
            if skipped.iter().any(|s| s.name == name) {
                continue;
            }
            for controls in [false, true] {
                match suite::run_suite(&exe, &name, controls, jobs) {
                    Ok(s) => suites.push(s),
                    Err(reason) => skipped.push(Skipped {
                        name: format!("{name} suite"),
                        reason,
                    }),
                }
                if crate::cancel::requested() {
                    return Err(HarnessError::Interrupted);
                }
            }
        }
        if args.cpu_repeats > 0 {
            match suite::cpu_check(&exe, args.cpu_repeats) {
                Ok(c) => cpu_check = Some(c),
                Err(e) if crate::cancel::requested() => {
                    return Err(interrupted_or(e, HarnessError::Runtime))
                }
                Err(reason) => skipped.push(Skipped {
                    name: suite::CPU_CHECK.into(),
                    reason,
                }),
            }
        }
    }
    let mib = |kib: std::io::Result<u64>| kib.ok().map(|k| k as f64 / 1024.0);
    let agent_mb = mib(wait::peak_rss_kib(&mut std::process::Command::new(
        rootfs.path().join(rootfs.agent().trim_start_matches('/')),
    )));
    let isoprobe_run_mb = match (args.no_suite, std::env::current_exe()) {
        (false, Ok(exe)) => mib(wait::peak_rss_kib(
            suite::isoprobe_run(&exe, "native").arg("--negative-controls"),
        )),
        _ => None,
    };
    Ok(Bench {
        runs: args.runs,
        isolation: ISOLATION.into(),
        floor_ms: timings.floor.median,
        floor_p90_ms: timings.floor.p90,
        floor_min_ms: timings.floor.min,
        runtimes,
        skipped,
        suite: suites,
        cpu_check,
        peak_rss: PeakRss {
            isoprobe_run_mb,
            agent_mb,
        },
    })
}

fn interrupted_or(e: String, other: impl Fn(String) -> HarnessError) -> HarnessError {
    if crate::cancel::requested() {
        HarnessError::Interrupted
    } else {
        other(e)
    }
}

/// Each row against `native` with the same namespaces.
fn set_ratios_to_native(rows: &mut [Row]) {
    let native = |net: bool| {
        let name = if net { "native +net" } else { "native" };
        rows.iter().find(|r| r.name == name).map(|r| r.median_ms)
    };
    let (plain, net) = (native(false), native(true));
    for r in rows.iter_mut() {
        let base = if r.name.ends_with(" +net") {
            net
        } else {
            plain
        };
        r.ratio_to_native = base.and_then(|b| stats::ratio(r.median_ms, b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, median_ms: f64) -> Row {
        Row {
            name: name.into(),
            note: None,
            median_ms,
            p90_ms: median_ms,
            min_ms: median_ms,
            ratio_to_floor: None,
            ratio_to_native: None,
        }
    }

    #[test]
    fn ratios_to_native_pair_rows_by_namespaces() {
        let mut rows = vec![
            row("native", 1.0),
            row("native +net", 2.0),
            row("runc", 10.0),
            row("runc +net", 12.0),
        ];
        set_ratios_to_native(&mut rows);
        let r: Vec<Option<f64>> = rows.iter().map(|r| r.ratio_to_native).collect();
        assert_eq!(r, vec![Some(1.0), Some(1.0), Some(10.0), Some(6.0)]);
        let mut alone = vec![row("runc", 10.0)];
        set_ratios_to_native(&mut alone);
        assert_eq!(alone[0].ratio_to_native, None);
    }
}
