//! What one check's result looks like where several reports sit side by side (the runtime
//! comparison, the kernel matrix): rows are check ids, a cell is a status and its control's mark.

use super::model::{ControlStatus, Report, Status};

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
