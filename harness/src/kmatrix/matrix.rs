//! `isoprobe matrix`: every requested kernel × cgroup mode booted, the suite's report brought
//! back, and one table of the results (checks and features as rows, kernel/mode as columns).

use super::error::{IoStep, MatrixError};
use super::{initramfs, kernels, qemu, GuestCgroup};
use crate::report::{self, Report, Table};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kernel booted in one cgroup mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub kernel: kernels::KernelSpec,
    pub cgroup: GuestCgroup,
    /// The whole cell: QEMU's start to its exit.
    pub boot_ms: u64,
    /// QEMU's start to the guest's /init reporting its setup: the kernel's boot, the
    /// initramfs, the mounts.
    #[serde(default)]
    pub ready_ms: Option<u64>,
    /// From there to the report's end: the suite inside the guest.
    #[serde(default)]
    pub suite_ms: Option<u64>,
    /// The suite's report from inside the guest, when it came back.
    pub report: Option<Report>,
    /// What the guest's /init set up (cgroup mounts that failed, ...).
    pub guest: Option<serde_json::Value>,
    /// Why there is no report: the boot timed out or the kernel died; with the console's tail.
    pub failure: Option<String>,
}

impl Cell {
    pub fn column(&self) -> String {
        format!("{} {}", self.kernel.name, self.cgroup.name())
    }

    /// Where the cell's time went: `boot 4.1 s + suite 6.0 s + power-off 0.3 s = 10.4 s`.
    pub fn timing(&self) -> String {
        let s = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
        match (self.ready_ms, self.suite_ms) {
            (Some(ready), Some(suite)) => format!(
                "boot {} + suite {} + power-off {} = {}",
                s(ready),
                s(suite),
                s(self.boot_ms.saturating_sub(ready + suite)),
                s(self.boot_ms)
            ),
            (Some(ready), None) => {
                format!("boot {}, no report, {} in all", s(ready), s(self.boot_ms))
            }
            _ => format!("{} in all", s(self.boot_ms)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub isoprobe_version: String,
    pub cells: Vec<Cell>,
    pub total_ms: u64,
}

pub struct MatrixOptions {
    pub jobs: usize,
    pub boot_timeout: Duration,
    /// The isoprobe binary that becomes the guest's /init.
    pub isoprobe_exe: std::path::PathBuf,
}

/// Boots every kernel × mode (`jobs` at a time); a kernel that fails to boot or report becomes
/// a failed cell and the others still run.
pub fn run(
    kernels: &[kernels::KernelSpec],
    modes: &[GuestCgroup],
    opts: &MatrixOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Matrix, MatrixError> {
    let started = Instant::now();
    // In the run's record: a SIGKILLed matrix leaves it to `isoprobe clean` (its QEMU guests
    // die with it).
    let work = crate::record::TempDir::new("matrix", None).map_err(IoStep::on(
        "create a work directory in",
        std::env::temp_dir(),
    ))?;
    let initrd = work.path().join("initramfs.cpio");
    initramfs::build(&initrd, &opts.isoprobe_exe)?;
    let mut jobs = Vec::new();
    for k in kernels {
        let vmlinuz = match &k.image {
            // The user's own build: booted as it is.
            Some(image) => image.clone(),
            None => {
                progress(&format!(
                    "fetching kernel {} ({} {})",
                    k.name, k.package, k.version
                ));
                let t = Instant::now();
                let files = kernels::fetch(k, progress)?;
                progress(&format!(
                    "kernel {} ready in {:.1} s",
                    k.name,
                    t.elapsed().as_secs_f64()
                ));
                files.vmlinuz
            }
        };
        for m in modes {
            jobs.push((k.clone(), *m, vmlinuz.clone()));
        }
    }
    let cells: Mutex<Vec<Option<Cell>>> = Mutex::new(vec![None; jobs.len()]);
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                if crate::cancel::requested() {
                    return;
                }
                let i = {
                    let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some((k, m, vmlinuz)) = jobs.get(i) else {
                    return;
                };
                progress(&format!("booting {} with cgroup {}", k.name, m.name()));
                let cell = boot_one(k, *m, vmlinuz, &initrd, opts.boot_timeout);
                progress(&format!(
                    "{} {}: {} ({})",
                    k.name,
                    m.name(),
                    if cell.report.is_some() {
                        "report"
                    } else {
                        "FAILED"
                    },
                    cell.timing()
                ));
                cells.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(cell);
            });
        }
    });
    if crate::cancel::requested() {
        return Err(MatrixError::Interrupted);
    }
    Ok(Matrix {
        isoprobe_version: env!("CARGO_PKG_VERSION").into(),
        cells: cells
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .flatten()
            .collect(),
        total_ms: started.elapsed().as_millis() as u64,
    })
}

fn boot_one(
    k: &kernels::KernelSpec,
    m: GuestCgroup,
    vmlinuz: &Path,
    initrd: &Path,
    timeout: Duration,
) -> Cell {
    let t = Instant::now();
    let mut cell = Cell {
        kernel: k.clone(),
        cgroup: m,
        boot_ms: 0,
        ready_ms: None,
        suite_ms: None,
        report: None,
        guest: None,
        failure: None,
    };
    match qemu::boot(vmlinuz, initrd, m, timeout) {
        Ok(b) => {
            // A user's kernel may lack what the guest needs: say what, not only that it failed.
            let lacks = k
                .image
                .as_ref()
                .and_then(|_| super::user_kernel::diagnose(&b.console))
                .map(|d| format!("{d}; "))
                .unwrap_or_default();
            cell.guest = b.guest_info.clone();
            cell.ready_ms = b.ready_after.map(|d| d.as_millis() as u64);
            cell.suite_ms = b
                .ready_after
                .zip(b.reported_after)
                .map(|(r, e)| e.saturating_sub(r).as_millis() as u64);
            match (&b.outcome, b.report) {
                (_, Some(r)) => cell.report = Some(r),
                (qemu::BootOutcome::TimedOut, None) => {
                    cell.failure = Some(format!(
                        "{lacks}no report within {:?}; console tail:\n{}",
                        timeout,
                        qemu::console_tail(&b.console, 15)
                    ))
                }
                (qemu::BootOutcome::NoReport { reason }, None) => {
                    cell.failure = Some(format!(
                        "{lacks}{reason}; console tail:\n{}",
                        qemu::console_tail(&b.console, 15)
                    ))
                }
                (qemu::BootOutcome::Reported, None) => {
                    cell.failure = Some("the report could not be parsed".into())
                }
            }
        }
        Err(e) => cell.failure = Some(e.to_string()),
    }
    cell.boot_ms = t.elapsed().as_millis() as u64;
    cell
}

/// What a whole matrix run says, as `git bisect run` needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every kernel reported, every check that ran passed and every control was detected.
    AllPassed,
    /// A check failed on some kernel (its reason says whether the property was violated or the
    /// kernel kept it from being tested).
    CheckFailed,
    /// No check failed, but a kernel gave no report (it did not boot, or the guest could not
    /// run) or a control was not detected: this kernel cannot be judged.
    Untested,
}

pub fn outcome(m: &Matrix) -> Outcome {
    let reports = || m.cells.iter().filter_map(|c| c.report.as_ref());
    if reports().any(|r| r.summary.fail > 0) {
        Outcome::CheckFailed
    } else if m.cells.iter().any(|c| c.report.is_none())
        || reports().any(|r| r.unproven_controls() > 0)
        || m.cells.is_empty()
    {
        Outcome::Untested
    } else {
        Outcome::AllPassed
    }
}

/// Every check id as a row, then the features that differ between cells; a column per cell.
fn table(m: &Matrix) -> Table {
    let mut t =
        Table::with_head(std::iter::once(String::new()).chain(m.cells.iter().map(Cell::column)));
    for id in report::check_ids(m.cells.iter().filter_map(|c| c.report.as_ref())) {
        let row = m.cells.iter().map(|c| match &c.report {
            None => "no report".to_string(),
            Some(r) => report::cell(r, &id),
        });
        t.push(std::iter::once(format!("`{id}`")).chain(row));
    }
    let features: Vec<_> = m
        .cells
        .iter()
        .map(|c| c.report.as_ref().and_then(|r| r.features.as_ref()))
        .collect();
    for row in report::feature_rows::rows(&features) {
        t.push(row);
    }
    t
}

pub fn render_markdown(m: &Matrix) -> String {
    let mut s = table(m).markdown();
    s += "\nKernels: ";
    s += &m
        .cells
        .iter()
        .filter(|c| c.cgroup == GuestCgroup::V2 || m.cells.len() == 1)
        .map(|c| {
            format!(
                "{} = {} {}",
                c.kernel.name, c.kernel.package, c.kernel.version
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    s += ".\n";
    for c in m.cells.iter().filter(|c| c.failure.is_some()) {
        s += &format!(
            "\n{}: {}\n",
            c.column(),
            c.failure.as_deref().unwrap_or_default()
        );
    }
    s
}

pub fn render_text(m: &Matrix) -> String {
    let mut s = table(m).text();
    for c in &m.cells {
        s += &format!(
            "{}: {} {}, {}{}\n",
            c.column(),
            c.kernel.package,
            c.kernel.version,
            c.timing(),
            c.failure
                .as_ref()
                .map(|f| format!("; FAILED: {f}"))
                .unwrap_or_default()
        );
    }
    s += &format!("total {:.1} s\n", m.total_ms as f64 / 1000.0);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKDOWN: &str = r#"| | 5.10 v1 | 5.10 v2 | sid v2 |
| --- | --- | --- | --- |
| `pid.isolated` | pass ✓ | pass ✓ | no report |
| `mount.proc-masked` | FAIL ✓ | FAIL ✓ | no report |
| `cgroup.memory-limit` | pass MISSED | - | no report |
| `user.ns-mapping` | skip · | - | no report |
| `uts.hostname` | pass | - | no report |
| v1 controllers |  |  | - |
| v2 controllers | cpu,cpuset,io,memory,pids | - | - |
| cgroup.kill | yes | no | - |
| memory.peak | yes | - | - |
| cpu.stat.local | - | - | - |
| clone3 | yes | - | - |
| mount_setattr | - | - | - |
| landlock ABI | 4 | 4 | - |
| time namespaces | no | - | - |

Kernels: 5.10 = linux-image-5.10 5.10-1; sid = linux-image-sid sid-1.

sid v2: no report within 1s; console tail:
x
"#;

    const TEXT: &str = r#"                       5.10 v1                    5.10 v2  sid v2
`pid.isolated`         pass ✓                     pass ✓   no report
`mount.proc-masked`    FAIL ✓                     FAIL ✓   no report
`cgroup.memory-limit`  pass MISSED                -        no report
`user.ns-mapping`      skip ·                     -        no report
`uts.hostname`         pass                       -        no report
v1 controllers                                             -
v2 controllers         cpu,cpuset,io,memory,pids  -        -
cgroup.kill            yes                        no       -
memory.peak            yes                        -        -
cpu.stat.local         -                          -        -
clone3                 yes                        -        -
mount_setattr          -                          -        -
landlock ABI           4                          4        -
time namespaces        no                         -        -
5.10 v1: linux-image-5.10 5.10-1, boot 0.4 s + suite 0.7 s + power-off 0.1 s = 1.2 s
5.10 v2: linux-image-5.10 5.10-1, boot 0.4 s + suite 0.7 s + power-off 0.1 s = 1.2 s
sid v2: linux-image-sid sid-1, boot 0.9 s, no report, 1.2 s in all; FAILED: no report within 1s; console tail:
x
total 5.7 s
"#;

    fn spec(name: &str) -> kernels::KernelSpec {
        kernels::KernelSpec {
            name: name.into(),
            suite: "s".into(),
            package: format!("linux-image-{name}"),
            version: format!("{name}-1"),
            release: format!("{name}.0-1-cloud-amd64"),
            image: None,
        }
    }

    #[test]
    fn a_failed_check_outweighs_a_kernel_that_did_not_boot() {
        // The sample's first check passed and its control was detected; its second failed.
        let sample = crate::report::sample::report();
        let mut ok = sample.clone();
        ok.checks.truncate(1);
        ok.summary = crate::report::Summary::of(&ok.checks);
        let mut failed = sample.clone();
        failed.checks.truncate(2);
        failed.summary = crate::report::Summary::of(&failed.checks);
        let mut missed = sample;
        missed.checks = vec![missed.checks[2].clone()];
        missed.summary = crate::report::Summary::of(&missed.checks);
        let cell = |report: Option<Report>| Cell {
            kernel: spec("k"),
            cgroup: GuestCgroup::V2,
            boot_ms: 1,
            ready_ms: None,
            suite_ms: None,
            report,
            guest: None,
            failure: None,
        };
        let m = |cells: Vec<Cell>| Matrix {
            isoprobe_version: "0".into(),
            cells,
            total_ms: 1,
        };
        assert_eq!(
            outcome(&m(vec![cell(Some(ok.clone()))])),
            Outcome::AllPassed
        );
        assert_eq!(outcome(&m(vec![cell(Some(missed))])), Outcome::Untested);
        assert_eq!(outcome(&m(vec![cell(None)])), Outcome::Untested);
        assert_eq!(
            outcome(&m(vec![cell(None), cell(Some(failed))])),
            Outcome::CheckFailed
        );
        assert_eq!(outcome(&m(vec![])), Outcome::Untested);
    }

    #[test]
    fn tables_keep_their_bytes() {
        let mut r = crate::report::sample::report();
        r.features = Some(crate::report::sample::features());
        let mut r2 = r.clone();
        r2.checks.truncate(2);
        r2.features = Some(
            serde_json::json!({"cgroup": {"v1_controllers": [], "v2_files": {"cgroup.kill": false}}, "syscalls": {"landlock": {"version": 4}}}),
        );
        let cell = |k: &str, cg, report: Option<Report>, failure: Option<&str>| Cell {
            kernel: spec(k),
            cgroup: cg,
            boot_ms: 1234,
            ready_ms: Some(if report.is_some() { 400 } else { 900 }),
            suite_ms: report.is_some().then_some(700),
            report,
            guest: None,
            failure: failure.map(String::from),
        };
        let m = Matrix {
            isoprobe_version: "0".into(),
            cells: vec![
                cell("5.10", GuestCgroup::V1, Some(r.clone()), None),
                cell("5.10", GuestCgroup::V2, Some(r2), None),
                cell(
                    "sid",
                    GuestCgroup::V2,
                    None,
                    Some("no report within 1s; console tail:\nx"),
                ),
            ],
            total_ms: 5678,
        };
        // Written by the renderer before it moved onto `report::Table`; the README's kernel
        // matrix depends on these bytes.
        assert_eq!(render_markdown(&m), MARKDOWN);
        assert_eq!(render_text(&m), TEXT);
    }
}
