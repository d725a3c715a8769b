//! cgroups as isoprobe uses them: find the cpu controller, make a cgroup of our own under the
//! caller's, and always remove it.
//!
//! Only cgroups isoprobe creates are ever written to. The caller's own cgroup (on this project's
//! machines, one owned by the machine's management) is read, never written; the one exception
//! is the root of a cgroup namespace on a v2 host (a privileged container's), see `leaf`.

mod container;
mod device_bpf;
mod devices;
mod error;
pub mod leaf;

pub use container::{sample_cgroups_of, sample_runtime_cgroups, ContainerCgroups};
pub use devices::{standard_rules, DeviceCgroup, DeviceKind, DeviceRule};
pub use error::CgroupError;
pub use isoprobe_probes::parse::{CgroupLayout, CgroupMode, CgroupVersion, ControllerLocation};

use crate::vocabulary::HostStepError;
use std::fs;

/// The cgroup layout of the host, from `/proc/self/mountinfo`.
pub fn detect_layout() -> Result<CgroupLayout, CgroupError> {
    let mountinfo = read_host("/proc/self/mountinfo")?;
    isoprobe_probes::parse::parse_layout(&mountinfo).map_err(CgroupError::Layout)
}

fn read_host(path: &str) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::ReadHost {
        path: path.into(),
        source,
    })
}

/// Where a child cgroup of the caller's can use `controller`, or why it cannot.
pub fn locate(controller: &str) -> Result<ControllerLocation, CgroupError> {
    let layout = detect_layout()?;
    let own = leaf::own_cgroup_text()?;
    // On v2 a child may use a controller only if the caller's cgroup enables it for its
    // children; isoprobe never writes the caller's subtree_control itself.
    let subtree = layout.v2_mount.as_ref().and_then(|m| {
        let caller = isoprobe_probes::parse::cgroup_path(&own, None)?;
        fs::read_to_string(
            m.join(caller.trim_start_matches('/'))
                .join("cgroup.subtree_control"),
        )
        .ok()
    });
    layout
        .locate(controller, &own, subtree.as_deref())
        .map_err(CgroupError::ControllerUnavailable)
}

/// A name no other run on this machine uses at the same time.
/// The file of `dir` a single-threaded child joins the cgroup through by writing `0`, open for
/// writing (close-on-exec): on v1 `tasks`, where a thread that moves itself skips the global
/// lock whose RCU grace period a move by pid or by process waits for (about 5 ms here; see
/// ARCHITECTURE.md); on v2 `cgroup.procs` (`cgroup.threads` only moves a thread within its
/// domain; v2 children are born in their cgroup by clone3 where the kernel can). The kernel
/// checks the credentials of the opener, the caller, whatever namespaces the child is in.
pub(crate) fn open_join_file(
    dir: &std::path::Path,
    version: &CgroupVersion,
) -> Result<std::os::fd::OwnedFd, HostStepError> {
    let file = dir.join(match version {
        CgroupVersion::V1 => "tasks",
        CgroupVersion::V2 => "cgroup.procs",
    });
    fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .map(Into::into)
        .map_err(|e| HostStepError::new("open for joining", file, e))
}

pub fn unique_name(purpose: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "isoprobe-{}-{}-{}",
        purpose,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where a cgroup named `name` under the caller's own cgroup is in every mounted hierarchy:
/// the places an OCI runtime given the relative cgroups path `name` may make it.
pub fn in_every_hierarchy(name: &str) -> Vec<std::path::PathBuf> {
    let (Ok(layout), Ok(own)) = (detect_layout(), leaf::own_cgroup_text()) else {
        return Vec::new();
    };
    let under = |mount: &std::path::Path, controller: Option<&str>| {
        isoprobe_probes::parse::cgroup_path(&own, controller)
            .map(|p| mount.join(p.trim_start_matches('/')).join(name))
    };
    let mut dirs: Vec<std::path::PathBuf> = layout
        .v1_mounts
        .iter()
        .filter_map(|(controllers, mount)| under(mount, controllers.first().map(String::as_str)))
        .collect();
    dirs.extend(layout.v2_mount.as_ref().and_then(|m| under(m, None)));
    dirs
}
