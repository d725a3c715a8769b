//! What one check's result looks like where several reports sit side by side (the runtime
//! comparison, the kernel matrix): rows are check ids, a cell is a status and its control's mark.

use super::model::{ControlStatus, Report, Status};
use super::Table;

/// What a cell's words and marks mean, printed under every such matrix.
pub const LEGEND: &str = "pass/FAIL/skip: the check; ✓ its negative control was detected, \
                          MISSED it was not, INCONCLUSIVE its run could not test the property, \
                          · it was skipped";

/// Checks as rows (labelled by `id_label`), one column per `(heading, report)`; `corner` heads
/// the check column.
pub fn check_table(
    corner: &str,
    columns: &[(String, &Report)],
    id_label: impl Fn(&str) -> String,
) -> Table {
    let mut t = Table::with_head(
        std::iter::once(corner.to_string()).chain(columns.iter().map(|(h, _)| h.clone())),
    );
    for id in check_ids(columns.iter().map(|(_, r)| *r)) {
        t.push(std::iter::once(id_label(&id)).chain(columns.iter().map(|(_, r)| cell(r, &id))));
    }
    t
}

/// `pass`, `FAIL` or `skip`, and the control's mark when it ran; `-` when `report` lacks `id`.
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
        Some(ControlStatus::Inconclusive) => format!("{status} INCONCLUSIVE"),
        Some(ControlStatus::Skip) => format!("{status} ·"),
    }
}

/// Every check id of `reports`, once, in the order they first appear.
pub fn check_ids<'a>(reports: impl IntoIterator<Item = &'a Report>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for r in reports {
        for c in &r.checks {
            if !ids.contains(&c.id) {
                ids.push(c.id.clone());
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn each_control_status_has_its_mark() {
        let r = sample::report_with_inconclusive();
        assert_eq!(cell(&r, "pid.isolated"), "pass ✓");
        assert_eq!(cell(&r, "cgroup.memory-limit"), "pass MISSED");
        assert_eq!(cell(&r, "net.only-loopback"), "FAIL INCONCLUSIVE");
        assert_eq!(cell(&r, "user.ns-mapping"), "skip ·");
        assert_eq!(cell(&r, "uts.hostname"), "pass");
        assert_eq!(cell(&r, "nope"), "-");
    }
}
