//! The kernel matrix: real Debian kernels booted under QEMU, the suite run inside each, the
//! reports brought back over the serial console and compared with per-kernel snapshots.
//!
//! - `catalogue`: which kernels exist, resolved from Debian's archive through a private apt
//!   configuration (`apt`) under the cache directory (`cache`); `fetch`: their vmlinuz, cached;
//!   `kernels`: the list as `isoprobe kernels` shows it, and the way in for the CLI and tests.
//! - `error`: what each step can fail with, for a person to act on.
//! - `initramfs` and `guest`: the initramfs holding isoprobe as /init, and what /init does in
//!   the guest (mounts, cgroup mode, switch_root, the suite, the report on the console).
//! - `qemu`: one bounded boot, its console captured.
//! - `user_kernel`: a kernel image the user built (`--kernel`), checked by its boot header and
//!   diagnosed from its console when it does not report.

pub mod apt;
pub mod cache;
pub mod catalogue;
pub mod error;
pub mod fetch;
pub mod guest;
pub mod initramfs;
pub mod kernels;
pub mod matrix;
pub mod qemu;
pub mod user_kernel;

use serde::{Deserialize, Serialize};

/// How the guest mounts cgroups before the suite runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GuestCgroup {
    /// cgroup2 alone at /sys/fs/cgroup, with cpu, pids and memory enabled for children.
    V2,
    /// v1 hierarchies (a tmpfs at /sys/fs/cgroup and one mount per controller the kernel can
    /// still mount on v1).
    V1,
}

impl GuestCgroup {
    pub fn name(self) -> &'static str {
        match self {
            GuestCgroup::V1 => "v1",
            GuestCgroup::V2 => "v2",
        }
    }
}

/// The kernel command-line word that tells /init which cgroup mode to mount.
pub const CGROUP_PARAM: &str = "isoprobe.cgroup";
/// The console lines around the guest's JSON report.
pub const REPORT_BEGIN: &str = "ISOPROBE-REPORT-BEGIN";
pub const REPORT_END: &str = "ISOPROBE-REPORT-END";
