//! The comparison as a text table for a terminal and as markdown for a CI job summary.

use super::Comparison;
use crate::report::matrix_cell::{check_table, LEGEND};
use crate::report::{Status, Table};

fn header(cmp: &Comparison) -> String {
    format!(
        "isoprobe {}, kernel {}, cgroup {}",
        cmp.isoprobe_version, cmp.kernel.release, cmp.cgroup_mode
    )
}

/// Why each check that did not pass, did not (`runtime / id: reason`).
fn notes(cmp: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    for r in &cmp.reports {
        for c in r.checks.iter().filter(|c| c.status != Status::Pass) {
            out.push(format!("{} / {}: {}", r.runtime.name, c.id, c.reason));
        }
    }
    out
}

/// Checks as rows, runtimes as columns.
fn table(cmp: &Comparison, id_label: impl Fn(&str) -> String) -> Table {
    let columns: Vec<_> = cmp
        .reports
        .iter()
        .map(|r| (r.runtime.name.clone(), r))
        .collect();
    check_table("check", &columns, id_label)
}

pub fn render_text(cmp: &Comparison, reasons: bool) -> String {
    let mut s = header(cmp) + "\n";
    s += &table(cmp, str::to_string).text();
    s += &format!("{LEGEND}\n");
    for r in &cmp.reports {
        s += &format!("{} {}\n", r.runtime.name, r.runtime.version);
    }
    s += &format!("took {:.1} s\n", cmp.duration_ms as f64 / 1000.0);
    if reasons {
        for n in notes(cmp) {
            s += &format!("  {n}\n");
        }
    }
    s
}

/// Markdown without timings, so that the same machine gives the same text.
pub fn render_markdown(cmp: &Comparison, reasons: bool) -> String {
    let mut s = format!("{}\n\n", header(cmp));
    s += &table(cmp, |id| format!("`{id}`")).markdown();
    s += &format!("\n{LEGEND}. Versions: ");
    s += &cmp
        .reports
        .iter()
        .map(|r| format!("{} {}", r.runtime.name, r.runtime.version))
        .collect::<Vec<_>>()
        .join(", ");
    s += ".\n";
    if reasons {
        s += "\n";
        for n in notes(cmp) {
            s += &format!("- {}\n", n.replace('|', "\\|"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::*;

    fn report(name: &str, status: Status, control: Option<ControlStatus>) -> Report {
        let checks = vec![CheckResult {
            id: "pid.init-is-1".into(),
            status,
            reason: format!("{name} reason"),
            expected: serde_json::Value::Null,
            observed: serde_json::Value::Null,
            duration_ms: 1,
            negative_control: control.map(|status| ControlResult {
                sabotage: "s".into(),
                status,
                reason: "r".into(),
                observed: serde_json::Value::Null,
            }),
        }];
        Report {
            isoprobe_version: "0".into(),
            kernel: Kernel {
                release: "6.18".into(),
                version: "v".into(),
            },
            cgroup_mode: "v2".into(),
            runtime: RuntimeInfo {
                name: name.into(),
                version: "1".into(),
            },
            summary: Summary::of(&checks),
            checks,
            features: None,
            rootless: None,
        }
    }

    fn cmp() -> Comparison {
        Comparison {
            isoprobe_version: "0".into(),
            kernel: Kernel {
                release: "6.18".into(),
                version: "v".into(),
            },
            cgroup_mode: "v2".into(),
            duration_ms: 1500,
            reports: vec![
                report("native", Status::Pass, Some(ControlStatus::Detected)),
                report("weak", Status::Fail, Some(ControlStatus::Missed)),
                report("bwrap", Status::Skip, None),
                report("odd", Status::Fail, Some(ControlStatus::Inconclusive)),
            ],
        }
    }

    #[test]
    fn markdown_has_a_row_per_check_and_a_column_per_runtime() {
        let md = render_markdown(&cmp(), true);
        assert!(
            md.contains("| check | native | weak | bwrap | odd |"),
            "{md}"
        );
        assert!(
            md.contains("| `pid.init-is-1` | pass ✓ | FAIL MISSED | skip | FAIL INCONCLUSIVE |"),
            "{md}"
        );
        assert!(md.contains("INCONCLUSIVE its run could not test the property"));
        assert!(md.contains("- weak / pid.init-is-1: weak reason"));
        assert!(
            !md.contains("native / pid.init-is-1"),
            "passes need no note"
        );
        assert!(!md.contains("1.5"), "no timings in markdown");
    }

    #[test]
    fn text_aligns_columns_and_reports_the_time() {
        let t = render_text(&cmp(), false);
        let row = t.lines().find(|l| l.starts_with("pid.init-is-1")).unwrap();
        assert_eq!(
            row,
            "pid.init-is-1  pass ✓  FAIL MISSED  skip   FAIL INCONCLUSIVE"
        );
        assert!(t.contains("took 1.5 s"));
        assert!(!t.contains("weak reason"), "reasons only on demand");
        assert!(render_text(&cmp(), true).contains("weak reason"));
    }
}
