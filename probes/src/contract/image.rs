//! The tries of the hostile-image checks: what a container shows of the layout its image
//! tried to turn against the runtime.

use super::call::Called;
use super::kinds::{DevNumber, MountCover, PathSeen};
use serde::{Deserialize, Serialize};

/// Looks at `/dev/null`, the three stdio descriptors and `masked` (each a path the runtime
/// was asked to mask), then writes the outcome as JSON to `report` as well as returning it: a
/// runtime that reopened stdout onto the image's `/dev/null` target swallows the stdout report,
/// not the file (a bind of a host scratch directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevNullArgs {
    pub report: String,
    pub masked: Vec<String>,
}

/// What a path or descriptor is: `kind` (`char`, `block`, `link`, `dir`, `file`, `fifo`,
/// `socket`, `other`), its device number for a device, its link target for a link, and the
/// magic of the file system it is on (`statfs`'s `f_type`; procfs is `0x9fa0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSeen {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<DevNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub fs_magic: u64,
}

/// A descriptor 0, 1 or 2: what it is and the path the kernel names for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdioSeen {
    pub fd: u32,
    pub seen: Called<NodeSeen>,
    pub path: Called<String>,
}

/// The mount on top at exactly a path, from the container's mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountAt {
    pub fs_type: String,
    /// The mount's root within its file system (a bind of a procfs file shows that file).
    pub root: String,
}

/// A masked path: what it is now, and the mount on it (`None`: nothing is mounted there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskSeen {
    pub path: String,
    pub seen: Called<NodeSeen>,
    pub mount: Called<Option<MountAt>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevNullOutcome {
    /// `lstat` of `/dev/null` (a link is reported as a link, with its target).
    pub dev_null: Called<NodeSeen>,
    pub stdio: Vec<StdioSeen>,
    pub masked: Vec<MaskSeen>,
}

/// Looks at `/proc` (is it the directory with proc mounted on it?), where proc is mounted,
/// `masked` (what each shows, sizes only) and what mount covers each of `readonly`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcLinkArgs {
    pub masked: Vec<String>,
    pub readonly: Vec<String>,
}

/// The mount covering a path that should be read-only (`None`: no mount covers it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverSeen {
    pub path: String,
    pub cover: Called<Option<MountCover>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcLinkOutcome {
    /// `lstat` of `/proc`.
    pub proc: Called<NodeSeen>,
    /// The mount point of every proc mount, in mountinfo order.
    pub proc_mounts: Called<Vec<String>>,
    pub masked: Vec<PathSeen>,
    pub readonly: Vec<CoverSeen>,
}
