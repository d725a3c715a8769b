//! The terminal rendering: one line per check, so a person sees at a glance what failed.

use std::fmt::Write as _;

use serde_json::Value;

use super::model::{ControlStatus, Report, Status};
use super::{control_counts, run_line, single_line};

/// Beyond this, one long id would push every reason far to the right; longer ids just get a
/// single space after them.
const MAX_ID_COLUMN: usize = 40;

/// Width of a status word plus the gap after it, so control lines line up under the ids.
const INDENT: &str = "      ";

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// Renders `report` for a terminal; with `color`, status words are ANSI-colored and nothing else
/// is, so the output stays greppable.
pub fn render_text(report: &Report, color: bool) -> String {
    let mut out = String::new();
    // `write!` into a `String` cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "{}", run_line(report));

    let id_width = report
        .checks
        .iter()
        .map(|c| c.id.chars().count())
        .filter(|&n| n <= MAX_ID_COLUMN)
        .max()
        .unwrap_or(0);

    for check in &report.checks {
        let (word, paint) = match check.status {
            Status::Pass => ("PASS", GREEN),
            Status::Fail => ("FAIL", RED),
            Status::Skip => ("SKIP", YELLOW),
        };
        let line = format!(
            "{}  {:<id_width$}  {}",
            painted(word, paint, color),
            single_line(&check.id),
            single_line(&check.reason),
        );
        let _ = writeln!(out, "{}", line.trim_end());

        if let Some(control) = &check.negative_control {
            let (word, paint) = match control.status {
                ControlStatus::Detected => ("detected", GREEN),
                // Upper case because a missed control discredits a PASS above it.
                ControlStatus::Missed => ("MISSED", RED),
                ControlStatus::Inconclusive => ("INCONCLUSIVE", RED),
                ControlStatus::Skip => ("skip", YELLOW),
            };
            let _ = write!(
                out,
                "{INDENT}control: {} -> {}",
                single_line(&control.sabotage),
                painted(word, paint, color),
            );
            if !control.reason.is_empty() {
                let _ = write!(out, " ({})", single_line(&control.reason));
            }
            out.push('\n');
        }
    }

    let (detected, missed, skipped) = control_counts(report);
    let _ = write!(
        out,
        "{} passed, {} failed, {} skipped; controls: {} detected, {} missed, {} skipped",
        report.summary.pass, report.summary.fail, report.summary.skip, detected, missed, skipped,
    );
    match report.inconclusive_controls() {
        0 => out.push('\n'),
        n => {
            let _ = writeln!(out, ", {n} inconclusive");
        }
    }
    if let Some(features) = &report.features {
        let _ = writeln!(out, "{}", single_line(&features_line(features)));
    }
    out
}

/// The feature inventory in one line. Read from the JSON value (not the typed inventory) so
/// that a report from another isoprobe version shows what it has and skips what it lacks.
fn features_line(f: &Value) -> String {
    fn names(v: Option<&Value>) -> String {
        let list: Vec<&str> = v
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if list.is_empty() {
            "none".into()
        } else {
            list.join(",")
        }
    }
    fn keys_where(v: Option<&Value>, want: bool) -> Vec<&str> {
        v.and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.as_bool() == Some(want))
                    .map(|(k, _)| k.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    let mut parts = Vec::new();
    if f.get("namespaces").is_some() {
        let have = keys_where(f.get("namespaces"), true);
        let lacking = keys_where(f.get("namespaces"), false);
        let mut s = format!("namespaces {}", have.join(","));
        if !lacking.is_empty() {
            let _ = write!(s, " (not: {})", lacking.join(","));
        }
        parts.push(s);
    }
    if let Some(c) = f.get("cgroup") {
        let mode = c.get("mode").and_then(Value::as_str).unwrap_or("?");
        let files = match c.get("v2_files_skipped").and_then(Value::as_str) {
            Some(why) => format!("v2 files not probed: {why}"),
            None => {
                let present = keys_where(c.get("v2_files"), true);
                format!("v2 files: {}", present.join(","))
            }
        };
        parts.push(format!(
            "cgroup {mode} (v1: {}; v2: {}; {files})",
            names(c.get("v1_controllers")),
            names(c.get("v2_controllers")),
        ));
    }
    if let Some(entries) = f.get("syscalls").and_then(Value::as_object) {
        let tried: Vec<String> = entries
            .iter()
            .map(|(name, e)| {
                let word = match e.get("available").and_then(Value::as_bool) {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "?",
                };
                match e.get("version").and_then(Value::as_u64) {
                    Some(v) if name == "landlock" => format!("{name} {word} (ABI {v})"),
                    Some(v) => format!("{name} {word} (version {v})"),
                    None => format!("{name} {word}"),
                }
            })
            .collect();
        parts.push(tried.join(", "));
    }
    format!("features: {}", parts.join("; "))
}

fn painted(word: &str, paint: &str, color: bool) -> String {
    if color {
        format!("{paint}{word}{RESET}")
    } else {
        word.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn plain_output_is_exact_and_has_no_escapes() {
        let out = render_text(&sample::report(), false);
        assert!(!out.contains('\x1b'));
        let expected = "\
isoprobe 0.1.0, kernel 6.8.0-45-generic, cgroup v2, runtime runc 1.1.12
PASS  pid.isolated         the probe sees only its own processes
      control: share the host PID namespace -> detected (the probe saw 214 processes)
FAIL  mount.proc-masked    /proc/kcore is readable: <&\"> leaked
      control: unmask /proc -> detected (/proc/kcore is readable)
PASS  cgroup.memory-limit  allocation stopped at 64 MiB
      control: remove the memory limit -> MISSED (allocation still stopped at 64 MiB)
SKIP  user.ns-mapping      runtime has no user namespaces
      control: map root to host root -> skip (check was skipped)
PASS  uts.hostname         hostname differs from the host's
3 passed, 1 failed, 1 skipped; controls: 2 detected, 1 missed, 1 skipped
features: namespaces cgroup,ipc,mnt,net,pid,user,uts (not: time); cgroup v2 (v1: none; \
v2: cpu,cpuset,io,memory,pids; v2 files: cgroup.kill,memory.peak); clone3 yes, \
landlock yes (ABI 4), time_namespaces no
";
        assert_eq!(out, expected);
    }

    #[test]
    fn color_paints_status_words_only() {
        let out = render_text(&sample::report(), true);
        assert!(out.contains("\x1b[32mPASS\x1b[0m  pid.isolated "));
        assert!(out.contains("\x1b[31mFAIL\x1b[0m  mount.proc-masked "));
        assert!(out.contains("\x1b[33mSKIP\x1b[0m  user.ns-mapping "));
        assert!(out.contains("-> \x1b[31mMISSED\x1b[0m (allocation"));
        assert!(out.contains("-> \x1b[32mdetected\x1b[0m (the probe"));
        assert!(out.contains("-> \x1b[33mskip\x1b[0m (check was"));
        // 5 check words and 4 control words, each closed right after the word.
        assert_eq!(out.matches(RESET).count(), 9);
        let stripped = out
            .replace(GREEN, "")
            .replace(RED, "")
            .replace(YELLOW, "")
            .replace(RESET, "");
        assert_eq!(stripped, render_text(&sample::report(), false));
    }

    #[test]
    fn summary_uses_the_report_counts() {
        let mut report = sample::report();
        report.summary.pass = 12;
        report.checks.truncate(1);
        report.features = None;
        let out = render_text(&report, false);
        assert!(out.ends_with(
            "12 passed, 1 failed, 1 skipped; controls: 1 detected, 0 missed, 0 skipped\n"
        ));
    }

    #[test]
    fn probe_text_cannot_break_lines_or_inject_escapes() {
        let mut report = sample::report();
        report.checks[0].reason = "line one\nline two \x1b[2J".into();
        let out = render_text(&report, false);
        assert!(!out.contains('\x1b'));
        assert!(out.contains("line one line two \\u{1b}[2J\n"));
        assert_eq!(out.lines().count(), 12);
    }

    #[test]
    fn features_line_follows_the_summary_and_survives_odd_values() {
        let mut report = sample::report();
        let out = render_text(&report, false);
        let last = out.lines().last().unwrap();
        assert!(last.starts_with("features: namespaces "), "{last}");

        // A skipped cgroup probe says why; unknown or missing parts do not break the line.
        let f = report.features.as_mut().unwrap();
        f["cgroup"]["v2_files_skipped"] = serde_json::json!("needs root");
        f["syscalls"]["clone3"]["available"] = serde_json::json!("maybe");
        f.as_object_mut().unwrap().remove("namespaces");
        let out = render_text(&report, false);
        let last = out.lines().last().unwrap();
        assert!(
            last.starts_with(
                "features: cgroup v2 (v1: none; v2: cpu,cpuset,io,memory,pids; \
                              v2 files not probed: needs root); clone3 ?, landlock yes"
            ),
            "{last}"
        );

        report.features = None;
        assert!(!render_text(&report, false).contains("features:"));
    }

    #[test]
    fn long_ids_do_not_widen_the_column() {
        let mut report = sample::report();
        report.checks[4].id = "x".repeat(MAX_ID_COLUMN + 10);
        let out = render_text(&report, false);
        assert!(out.contains("PASS  pid.isolated         the probe"));
        assert!(out.contains(&format!(
            "PASS  {}  hostname",
            "x".repeat(MAX_ID_COLUMN + 10)
        )));
    }

    #[test]
    fn an_inconclusive_check_and_control_are_shown_and_counted() {
        let out = render_text(&sample::report_with_inconclusive(), false);
        assert!(out.contains(
            "FAIL  net.only-loopback    could not be tested: the container made no connect attempt\n"
        ));
        assert!(out.contains(
            "      control: share the host's net namespace -> INCONCLUSIVE (could not be tested: \
             the container could not list its interfaces)\n"
        ));
        assert!(out.contains(
            "3 passed, 2 failed, 1 skipped; controls: 2 detected, 1 missed, 1 skipped, \
             1 inconclusive\n"
        ));
        let painted = render_text(&sample::report_with_inconclusive(), true);
        assert!(painted.contains("-> \x1b[31mINCONCLUSIVE\x1b[0m (could not"));
    }
}
