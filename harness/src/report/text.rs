//! The terminal rendering: one line per check, so a person sees at a glance what failed.

use std::fmt::Write as _;

use super::model::{ControlStatus, Report, Status};
use super::{control_counts, single_line};

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
    let _ = writeln!(
        out,
        "isoprobe {}, kernel {}, cgroup {}, runtime {} {}",
        single_line(&report.isoprobe_version),
        single_line(&report.kernel.release),
        single_line(&report.cgroup_mode),
        single_line(&report.runtime.name),
        single_line(&report.runtime.version),
    );

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
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped; controls: {} detected, {} missed, {} skipped",
        report.summary.pass, report.summary.fail, report.summary.skip, detected, missed, skipped,
    );
    out
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
        assert_eq!(out.lines().count(), 11);
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
}
