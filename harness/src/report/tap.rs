//! TAP version 13: each check is a test point, and each negative control that ran is a test point
//! of its own, so a harness that only counts `not ok` still notices a check that cannot fail.

use std::fmt::Write as _;

use serde_json::Value;

use super::model::{ControlStatus, Report, Status};
use super::{compact_json, run_line, single_line, CONTROL_EXPECTED};

/// Renders `report` as a TAP version 13 stream.
pub fn render_tap(report: &Report) -> String {
    let points = report.checks.len()
        + report
            .checks
            .iter()
            .filter(|c| c.negative_control.is_some())
            .count();

    let mut out = String::new();
    // `write!` into a `String` cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "TAP version 13");
    let _ = writeln!(out, "1..{points}");
    let _ = writeln!(out, "# {}", run_line(report));

    let mut n = 0;
    for check in &report.checks {
        n += 1;
        let name = description(&check.id);
        match check.status {
            Status::Pass => {
                let _ = writeln!(out, "ok {n} - {name}");
            }
            Status::Skip => skip_line(&mut out, n, &name, &check.reason),
            Status::Fail => {
                let _ = writeln!(out, "not ok {n} - {name}");
                diagnostic(
                    &mut out,
                    &[
                        ("message", Value::from(check.reason.as_str())),
                        ("expected", check.expected.clone()),
                        ("observed", check.observed.clone()),
                    ],
                );
            }
        }

        let Some(control) = &check.negative_control else {
            continue;
        };
        n += 1;
        let name = format!("{name} negative control");
        match control.status {
            ControlStatus::Detected => {
                let _ = writeln!(out, "ok {n} - {name}");
            }
            ControlStatus::Skip => skip_line(&mut out, n, &name, &control.reason),
            ControlStatus::Missed | ControlStatus::Inconclusive => {
                let _ = writeln!(out, "not ok {n} - {name}");
                diagnostic(
                    &mut out,
                    &[
                        ("message", Value::from(control.reason.as_str())),
                        ("sabotage", Value::from(control.sabotage.as_str())),
                        ("expected", Value::from(CONTROL_EXPECTED)),
                        ("observed", control.observed.clone()),
                    ],
                );
            }
        }
    }
    out
}

/// In a TAP description `#` starts a directive, so an id containing one must escape it.
fn description(id: &str) -> String {
    single_line(id).replace('\\', "\\\\").replace('#', "\\#")
}

fn skip_line(out: &mut String, n: usize, name: &str, reason: &str) {
    let reason = single_line(reason);
    let _ = if reason.is_empty() {
        writeln!(out, "ok {n} - {name} # SKIP")
    } else {
        writeln!(out, "ok {n} - {name} # SKIP {reason}")
    };
}

/// Every value is written as compact JSON: JSON is valid YAML flow syntax, so each key stays on
/// one line whatever the probe observed, and no YAML quoting rules need reimplementing.
fn diagnostic(out: &mut String, fields: &[(&str, Value)]) {
    out.push_str("  ---\n");
    for (key, value) in fields {
        let _ = writeln!(out, "  {key}: {}", compact_json(value));
    }
    out.push_str("  ...\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn plan_counts_checks_and_controls_that_ran() {
        let out = render_tap(&sample::report());
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("TAP version 13"));
        // 5 checks, 4 of which have a control.
        assert_eq!(lines.next(), Some("1..9"));
    }

    #[test]
    fn test_points_are_exact() {
        let out = render_tap(&sample::report());
        let points: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
            .collect();
        assert_eq!(
            points,
            [
                "ok 1 - pid.isolated",
                "ok 2 - pid.isolated negative control",
                "not ok 3 - mount.proc-masked",
                "ok 4 - mount.proc-masked negative control",
                "ok 5 - cgroup.memory-limit",
                "not ok 6 - cgroup.memory-limit negative control",
                "ok 7 - user.ns-mapping # SKIP runtime has no user namespaces",
                "ok 8 - user.ns-mapping negative control # SKIP check was skipped",
                "ok 9 - uts.hostname",
            ]
        );
    }

    #[test]
    fn failures_carry_a_yaml_block() {
        let out = render_tap(&sample::report());
        let failed_check = "\
not ok 3 - mount.proc-masked
  ---
  message: \"/proc/kcore is readable: <&\\\"> leaked\"
  expected: {\"readable\":false}
  observed: {\"note\":\"<&\\\">\",\"path\":\"/proc/kcore\",\"readable\":true}
  ...
ok 4 - mount.proc-masked negative control
";
        assert!(out.contains(failed_check), "{out}");
        let missed_control = "\
not ok 6 - cgroup.memory-limit negative control
  ---
  message: \"allocation still stopped at 64 MiB\"
  sabotage: \"remove the memory limit\"
  expected: \"the sabotaged property is found violated\"
  observed: {\"peak_bytes\":67100000}
  ...
ok 7 - ";
        assert!(out.contains(missed_control), "{out}");
        assert_eq!(out.matches("  ---\n").count(), 2);
        assert_eq!(out.matches("  ...\n").count(), 2);
    }

    #[test]
    fn empty_report_has_an_empty_plan() {
        let mut report = sample::report();
        report.checks.clear();
        let out = render_tap(&report);
        assert!(out.starts_with("TAP version 13\n1..0\n"));
        assert!(!out.contains("ok"));
    }

    #[test]
    fn ids_and_reasons_cannot_forge_directives_or_lines() {
        let mut report = sample::report();
        report.checks[0].id = "odd#id".into();
        report.checks[3].reason = "two\nlines".into();
        let out = render_tap(&report);
        assert!(out.contains("ok 1 - odd\\#id\n"));
        assert!(out.contains("ok 2 - odd\\#id negative control\n"));
        assert!(out.contains("ok 7 - user.ns-mapping # SKIP two lines\n"));
    }

    #[test]
    fn an_inconclusive_control_is_not_ok_and_says_why() {
        let out = render_tap(&sample::report_with_inconclusive());
        assert!(out.contains("1..11\n"), "{out}");
        let control = "\
not ok 11 - net.only-loopback negative control
  ---
  message: \"could not be tested: the container could not list its interfaces\"
  sabotage: \"share the host's net namespace\"
  expected: \"the sabotaged property is found violated\"
  observed: {\"interfaces\":null}
  ...
";
        assert!(out.ends_with(control), "{out}");
        assert!(out.contains(
            "not ok 10 - net.only-loopback\n  ---\n  message: \"could not be tested: the \
             container made no connect attempt\"\n"
        ));
    }
}
