//! The comparison as a text table for a terminal and as markdown for a CI job summary.

use super::{cell, check_ids, Comparison};
use crate::report::Status;

const LEGEND: &str = "pass/FAIL/skip: the check; ✓ its negative control was detected, \
                      MISSED it was not, · it was skipped";

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

pub fn render_text(cmp: &Comparison, reasons: bool) -> String {
    let ids = check_ids(cmp);
    let id_w = ids.iter().map(String::len).max().unwrap_or(5).max(5);
    let cols: Vec<String> = cmp.reports.iter().map(|r| r.runtime.name.clone()).collect();
    let widths: Vec<usize> = cols
        .iter()
        .zip(&cmp.reports)
        .map(|(name, r)| {
            ids.iter()
                .map(|id| cell(r, id).chars().count())
                .chain([name.len()])
                .max()
                .unwrap_or(4)
        })
        .collect();
    let mut s = header(cmp) + "\n";
    s += &format!("{:<id_w$}", "check");
    for (c, w) in cols.iter().zip(&widths) {
        s += &format!("  {c:<w$}");
    }
    s = s.trim_end().to_string() + "\n";
    for id in &ids {
        let mut line = format!("{id:<id_w$}");
        for (r, w) in cmp.reports.iter().zip(&widths) {
            let c = cell(r, id);
            let pad = w.saturating_sub(c.chars().count());
            line += &format!("  {c}{}", " ".repeat(pad));
        }
        s += line.trim_end();
        s += "\n";
    }
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
    let ids = check_ids(cmp);
    let mut s = format!("{}\n\n", header(cmp));
    s += "| check |";
    for r in &cmp.reports {
        s += &format!(" {} |", r.runtime.name);
    }
    s += "\n| --- |";
    for _ in &cmp.reports {
        s += " --- |";
    }
    s += "\n";
    for id in &ids {
        s += &format!("| `{id}` |");
        for r in &cmp.reports {
            s += &format!(" {} |", cell(r, id));
        }
        s += "\n";
    }
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
            ],
        }
    }

    #[test]
    fn markdown_has_a_row_per_check_and_a_column_per_runtime() {
        let md = render_markdown(&cmp(), true);
        assert!(md.contains("| check | native | weak | bwrap |"), "{md}");
        assert!(
            md.contains("| `pid.init-is-1` | pass ✓ | FAIL MISSED | skip |"),
            "{md}"
        );
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
        assert_eq!(row, "pid.init-is-1  pass ✓  FAIL MISSED  skip");
        assert!(t.contains("took 1.5 s"));
        assert!(!t.contains("weak reason"), "reasons only on demand");
        assert!(render_text(&cmp(), true).contains("weak reason"));
    }
}
