//! The report: the stable, documented JSON shape (see README "JSON report") and the types the
//! renderers read. Field names here are interface: change them only with the schema.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub isoprobe_version: String,
    pub kernel: Kernel,
    /// `v1`, `v2` or `hybrid`.
    pub cgroup_mode: String,
    pub runtime: RuntimeInfo,
    pub checks: Vec<CheckResult>,
    pub summary: Summary,
    /// The kernel feature inventory (`crate::features::Features` as JSON; a `Value` here so
    /// that the model does not depend on how features are detected). `None` in reports that
    /// predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Value>,
    /// Set when the run was rootless: an unprivileged user in a user namespace isoprobe made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootless: Option<Rootless>,
}

/// How a rootless run mapped the user (see `crate::rootless`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rootless {
    /// The user's uid and gid outside, root's inside.
    pub uid: u32,
    pub gid: u32,
    /// `single` (the user's own id as root) or `subordinate ranges` (/etc/subuid, /etc/subgid).
    pub mapping: String,
    /// The maps' lines, joined with `, `.
    pub uid_map: String,
    pub gid_map: String,
    /// How many uids and gids, from 0, exist inside.
    pub uids_inside: u64,
    pub gids_inside: u64,
}

impl Rootless {
    /// `mapping` of a run that maps only the user's own id.
    pub const SINGLE: &'static str = "single";
    /// `mapping` of a run that also maps the user's subordinate ranges.
    pub const RANGES: &'static str = "subordinate ranges";

    /// `rootless (uid 65534, single mapping)`: what the run lines of the renderings say.
    pub fn describe(&self) -> String {
        format!(
            "rootless (uid {}, {} mapping {})",
            self.uid, self.mapping, self.uid_map
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kernel {
    /// `uname -r`
    pub release: String,
    /// `uname -v`
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlStatus {
    /// The sabotaged setup made the check fail, as it must.
    Detected,
    /// The sabotaged setup still passed: the check cannot tell isolation from its absence.
    Missed,
    /// The sabotaged run showed neither: something kept the property from being tested, so
    /// the control proves nothing.
    Inconclusive,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: String,
    pub status: Status,
    /// Why it passed, failed or was skipped, in one sentence.
    pub reason: String,
    pub expected: Value,
    pub observed: Value,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_control: Option<ControlResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResult {
    /// What was sabotaged, in words.
    pub sabotage: String,
    pub status: ControlStatus,
    /// What the sabotaged run's judge said.
    pub reason: String,
    pub observed: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Summary {
    pub fn of(checks: &[CheckResult]) -> Summary {
        let mut s = Summary::default();
        for c in checks {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Skip => s.skip += 1,
            }
        }
        s
    }
}

impl Report {
    /// Controls that ran and were not detected.
    pub fn missed_controls(&self) -> usize {
        self.controls(ControlStatus::Missed)
    }

    /// Controls whose sabotaged run could not test the property.
    pub fn inconclusive_controls(&self) -> usize {
        self.controls(ControlStatus::Inconclusive)
    }

    /// Controls that ran and did not show the check can fail: missed or inconclusive.
    pub fn unproven_controls(&self) -> usize {
        self.missed_controls() + self.inconclusive_controls()
    }

    fn controls(&self, status: ControlStatus) -> usize {
        self.checks
            .iter()
            .filter_map(|c| c.negative_control.as_ref())
            .filter(|n| n.status == status)
            .count()
    }

    pub fn skipped_controls(&self) -> usize {
        self.checks
            .iter()
            .filter_map(|c| c.negative_control.as_ref())
            .filter(|n| n.status == ControlStatus::Skip)
            .count()
    }
}
