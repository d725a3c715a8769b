//! The whole suite as users run it (`isoprobe run`, one process each), timed from outside,
//! and the CPU check alone, repeated to see how stable its measured share and verdict are.

use super::stats;
use super::wait;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The check whose measurement is the suite's longest part.
pub const CPU_CHECK: &str = "cgroup.cpu-throttled";

#[derive(Debug, Clone, Serialize)]
pub struct SuiteRun {
    pub runtime: String,
    pub controls: bool,
    /// Runs at a time (`isoprobe run --jobs`).
    pub jobs: usize,
    pub wall_s: f64,
    /// Passed, failed and skipped checks of its report (a runtime's known weaknesses fail).
    pub pass: u64,
    pub fail: u64,
    pub skip: u64,
}

/// One `isoprobe run --runtime RUNTIME --jobs JOBS --format json` (with
/// `--negative-controls` when `controls`), through `exe`.
pub fn run_suite(
    exe: &Path,
    runtime: &str,
    controls: bool,
    jobs: usize,
) -> Result<SuiteRun, String> {
    let mut cmd = isoprobe_run(exe, runtime);
    cmd.args(["--jobs", &jobs.to_string()]);
    if controls {
        cmd.arg("--negative-controls");
    }
    let started = Instant::now();
    let done = wait::run(&mut cmd).map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let wall_s = started.elapsed().as_secs_f64();
    let report = parse_report(&done.stdout)?;
    let count = |k: &str| report["summary"][k].as_u64().unwrap_or(0);
    Ok(SuiteRun {
        runtime: runtime.into(),
        controls,
        jobs,
        wall_s,
        pass: count("pass"),
        fail: count("fail"),
        skip: count("skip"),
    })
}

pub fn isoprobe_run(exe: &Path, runtime: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args([
        "run",
        "--runtime",
        runtime,
        "--format",
        "json",
        "--color",
        "never",
    ])
    // A skip must not turn into exit 1 here: the report is what is read.
    .env_remove("ISOPROBE_REQUIRE_ALL");
    cmd
}

fn parse_report(stdout: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(stdout).map_err(|e| {
        format!(
            "isoprobe run printed no JSON report ({e}): {}",
            String::from_utf8_lossy(stdout)
                .chars()
                .take(200)
                .collect::<String>()
        )
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct CpuCheck {
    pub repeats: usize,
    /// Median of the check's own duration (its report's `duration_ms`), seconds.
    pub wall_s: f64,
    pub share_min: f64,
    pub share_max: f64,
    /// Whether every repetition reached the same verdict.
    pub verdicts_equal: bool,
    /// How many repetitions passed.
    pub passed: usize,
}

/// What one repetition of the CPU check reported.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuSample {
    pub status: String,
    pub share: Option<f64>,
    pub duration_s: f64,
}

/// The CPU check's status, measured share and duration from a report's JSON.
pub fn cpu_sample(report: &Value) -> Result<CpuSample, String> {
    let check = report["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == CPU_CHECK))
        .ok_or_else(|| format!("the report has no {CPU_CHECK}"))?;
    Ok(CpuSample {
        status: check["status"].as_str().unwrap_or("unknown").to_string(),
        share: check["observed"]["share_per_period"].as_f64(),
        duration_s: check["duration_ms"].as_f64().unwrap_or(0.0) / 1e3,
    })
}

/// The CPU check run `repeats` times under the native runtime.
pub fn cpu_check(exe: &Path, repeats: usize) -> Result<CpuCheck, String> {
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        if crate::cancel::requested() {
            return Err("interrupted".into());
        }
        let mut cmd = isoprobe_run(exe, "native");
        cmd.args(["--check", CPU_CHECK]);
        let done = wait::run(&mut cmd).map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        samples.push(cpu_sample(&parse_report(&done.stdout)?)?);
    }
    summarize_cpu(&samples)
}

/// The figures of the CPU check's table row from its repetitions.
pub fn summarize_cpu(samples: &[CpuSample]) -> Result<CpuCheck, String> {
    let shares: Vec<f64> = samples.iter().filter_map(|s| s.share).collect();
    let (share_min, share_max) = stats::spread(&shares).ok_or("no share was measured")?;
    let durations: Vec<f64> = samples.iter().map(|s| s.duration_s).collect();
    let statuses: Vec<&str> = samples.iter().map(|s| s.status.as_str()).collect();
    Ok(CpuCheck {
        repeats: samples.len(),
        wall_s: stats::summarize(&durations).map_or(0.0, |s| s.median),
        share_min,
        share_max,
        verdicts_equal: stats::all_equal(&statuses),
        passed: statuses.iter().filter(|s| **s == "pass").count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(status: &str, share: Value, ms: u64) -> Value {
        json!({"checks": [
            {"id": "ns.distinct", "status": "pass", "duration_ms": 3},
            {"id": CPU_CHECK, "status": status, "duration_ms": ms,
             "observed": {"share_per_period": share}}
        ]})
    }

    #[test]
    fn reads_the_cpu_check_of_a_report() {
        let s = cpu_sample(&report("pass", json!(0.21), 540)).unwrap();
        assert_eq!(
            s,
            CpuSample {
                status: "pass".into(),
                share: Some(0.21),
                duration_s: 0.54
            }
        );
        assert_eq!(
            cpu_sample(&report("skip", Value::Null, 0)).unwrap().share,
            None
        );
        assert!(cpu_sample(&json!({"checks": []})).is_err());
    }

    #[test]
    fn summary_of_repetitions() {
        let samples: Vec<CpuSample> =
            [(0.19, "pass", 0.5), (0.22, "pass", 0.7), (0.2, "pass", 0.6)]
                .into_iter()
                .map(|(share, status, d)| CpuSample {
                    status: status.into(),
                    share: Some(share),
                    duration_s: d,
                })
                .collect();
        let c = summarize_cpu(&samples).unwrap();
        assert_eq!((c.share_min, c.share_max), (0.19, 0.22));
        assert_eq!((c.repeats, c.passed, c.verdicts_equal), (3, 3, true));
        assert_eq!(c.wall_s, 0.6);
        let mut mixed = samples.clone();
        mixed[1].status = "fail".into();
        let c = summarize_cpu(&mixed).unwrap();
        assert_eq!((c.passed, c.verdicts_equal), (2, false));
        assert!(summarize_cpu(&[]).is_err());
    }
}
