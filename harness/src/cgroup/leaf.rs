//! A privileged container on a cgroup v2 host with a private cgroup namespace (Docker's and
//! GitHub Actions' default): isoprobe's cgroup is the namespace's root `/`, it holds the
//! container's processes, and its `cgroup.subtree_control` is empty. The kernel lets no cgroup
//! enable controllers for children while it holds processes ("no internal processes"), so
//! containers made under it get no cpu, pids or memory controller. What a container engine
//! does nested (docker-in-docker's entrypoint) isoprobe does too: it makes a leaf
//! `isoprobe-leaf-<pid>`, moves the processes of `/` into it, enables what it needs in `/`, and
//! makes every cgroup of its own under `/` from then on ([`own_cgroup_text`]).
//!
//! Only there: a cgroup that is not the root of isoprobe's cgroup namespace belongs to someone
//! else (a systemd slice, a CI runner), and the root of the initial cgroup namespace is the
//! machine's: isoprobe writes neither.

use super::{detect_layout, CgroupError, CgroupMode};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What isoprobe's containers use on v2.
pub const WANTED: [&str; 3] = ["cpu", "pids", "memory"];

/// `/proc/self/cgroup` as isoprobe's own cgroups must see it once it moved into a leaf: the
/// namespace's root, where they are made.
static MOVED: OnceLock<String> = OnceLock::new();

/// The text of `/proc/self/cgroup`, or, after [`prepare`] moved isoprobe into a leaf, the
/// line of the cgroup its own cgroups go under (the leaf's parent).
pub fn own_cgroup_text() -> Result<String, CgroupError> {
    match MOVED.get() {
        Some(t) => Ok(t.clone()),
        None => fs::read_to_string("/proc/self/cgroup").map_err(|source| CgroupError::ReadHost {
            path: "/proc/self/cgroup".into(),
            source,
        }),
    }
}

/// The cgroups path an OCI runtime is given for a container named `name`: relative (the
/// runtime nests it under its own cgroup, isoprobe's), or, once isoprobe moved into a leaf,
/// absolute, so that it lands in the namespace's root beside the leaf, where the controllers
/// are enabled, and not in the leaf, which holds processes.
pub fn runtime_cgroups_path(name: &str) -> String {
    runtime_path_for(MOVED.get().is_some(), name)
}

fn runtime_path_for(moved: bool, name: &str) -> String {
    if moved {
        format!("/{name}")
    } else {
        name.to_string()
    }
}

/// What [`prepare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// Nothing to do, and why.
    Untouched(&'static str),
    /// The controllers were enabled in `/` (it held no process, or it is the real root).
    Enabled(Vec<String>),
    /// The processes of `/` were moved into `leaf`, then the controllers enabled.
    Moved {
        leaf: PathBuf,
        processes: usize,
        controllers: Vec<String>,
    },
}

/// The controllers to enable in a cgroup, given the hierarchy mode, the caller's cgroup path
/// in it, what its parent offers it (`cgroup.controllers`) and what it enables already
/// (`cgroup.subtree_control`); `Err` says why nothing is to be done.
pub fn to_enable(
    mode: CgroupMode,
    own_path: &str,
    offered: &str,
    enabled: &str,
) -> Result<Vec<String>, &'static str> {
    if mode != CgroupMode::V2 {
        return Err("not a cgroup v2 host");
    }
    if own_path != "/" {
        return Err("isoprobe's cgroup is not the root of its cgroup namespace");
    }
    let has = |list: &str, c: &str| list.split_whitespace().any(|x| x == c);
    let v: Vec<String> = WANTED
        .iter()
        .filter(|c| has(offered, c) && !has(enabled, c))
        .map(|c| c.to_string())
        .collect();
    if v.is_empty() {
        return Err("the controllers are enabled already or not offered");
    }
    Ok(v)
}

/// Enables the controllers isoprobe needs in the root of its cgroup namespace, moving the
/// processes there into a leaf first when the kernel requires it (see the module). Called once,
/// before any cgroup is made.
pub fn prepare() -> Result<Prepared, CgroupError> {
    // With no layout to tell, there is nothing to prepare: the checks that need a cgroup say
    // why they cannot have one, each in its own words.
    let Ok(layout) = detect_layout() else {
        return Ok(Prepared::Untouched("the cgroup layout cannot be told"));
    };
    // In the initial cgroup namespace `/` is the machine's own root cgroup: rearranging it
    // (moving its processes, enabling controllers) would change the machine, not a container.
    if in_initial_cgroup_namespace() != Some(false) {
        return Ok(Prepared::Untouched(
            "not in a cgroup namespace of its own: the root cgroup is the machine's",
        ));
    }
    let own = own_cgroup_text()?;
    let path = isoprobe_probes::parse::cgroup_path(&own, None).unwrap_or_default();
    let Some(mount) = layout.v2_mount.clone() else {
        return Ok(Prepared::Untouched("no cgroup2 mount"));
    };
    let read = |name: &str| fs::read_to_string(mount.join(name)).unwrap_or_default();
    let wanted = match to_enable(
        layout.mode,
        &path,
        &read("cgroup.controllers"),
        &read("cgroup.subtree_control"),
    ) {
        Ok(w) => w,
        Err(why) => return Ok(Prepared::Untouched(why)),
    };
    if enable(&mount, &wanted).is_ok() {
        return Ok(Prepared::Enabled(wanted));
    }
    let leaf = mount.join(format!("isoprobe-leaf-{}", std::process::id()));
    let step = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| {
            CgroupError::Host(crate::vocabulary::HostStepError::new(what, p, e))
        }
    };
    match fs::create_dir(&leaf) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(step("create the leaf cgroup", &leaf)(e))
        }
        _ => {}
    }
    let procs = mount.join("cgroup.procs");
    let pids: Vec<String> = fs::read_to_string(&procs)
        .map_err(step("read", &procs))?
        .split_whitespace()
        .map(String::from)
        .collect();
    let leaf_procs = leaf.join("cgroup.procs");
    let mut moved = 0;
    for pid in &pids {
        match fs::write(&leaf_procs, pid) {
            Ok(()) => moved += 1,
            // Gone since, or a kernel thread (never in a container's namespace root anyway).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH) | Some(libc::EINVAL)) => {}
            Err(e) => return Err(step("move a process into the leaf cgroup", &leaf_procs)(e)),
        }
    }
    // From here on isoprobe's cgroups go under `/`, not under the leaf it now is in.
    let _ = MOVED.set("0::/\n".to_string());
    enable(&mount, &wanted).map_err(step(
        "enable controllers in",
        &mount.join("cgroup.subtree_control"),
    ))?;
    Ok(Prepared::Moved {
        leaf,
        processes: moved,
        controllers: wanted,
    })
}

/// The inode number of the initial cgroup namespace, fixed by the kernel (`PROC_CGROUP_INIT_INO`
/// in include/linux/proc_ns.h, Linux 4.6+).
const INITIAL_CGROUP_NS: &str = "cgroup:[4026531835]";

/// Whether isoprobe is in the initial cgroup namespace (`None`: no cgroup namespaces, or
/// /proc unreadable).
pub fn in_initial_cgroup_namespace() -> Option<bool> {
    let own = fs::read_link("/proc/self/ns/cgroup").ok()?;
    Some(own.as_os_str() == INITIAL_CGROUP_NS)
}

fn enable(dir: &Path, controllers: &[String]) -> std::io::Result<()> {
    let line: Vec<String> = controllers.iter().map(|c| format!("+{c}")).collect();
    fs::write(dir.join("cgroup.subtree_control"), line.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_namespace_root_of_a_v2_host_is_touched() {
        let all = "cpuset cpu io memory pids";
        assert_eq!(
            to_enable(CgroupMode::V2, "/", all, ""),
            Ok(vec!["cpu".into(), "pids".into(), "memory".into()])
        );
        assert_eq!(
            to_enable(CgroupMode::V2, "/", all, "cpu"),
            Ok(vec!["pids".into(), "memory".into()])
        );
        assert!(
            to_enable(CgroupMode::V2, "/", "cpu pids memory", "cpu pids memory")
                .unwrap_err()
                .contains("already")
        );
        assert!(
            to_enable(CgroupMode::V2, "/system.slice/ci.service", all, "")
                .unwrap_err()
                .contains("not the root")
        );
        assert!(to_enable(CgroupMode::Hybrid, "/", all, "")
            .unwrap_err()
            .contains("not a cgroup v2"));
    }

    #[test]
    fn a_runtime_gets_an_absolute_path_only_after_the_move() {
        assert_eq!(
            runtime_path_for(false, "isoprobe-oci-1-2"),
            "isoprobe-oci-1-2"
        );
        assert_eq!(
            runtime_path_for(true, "isoprobe-oci-1-2"),
            "/isoprobe-oci-1-2"
        );
    }

    #[test]
    fn the_initial_cgroup_namespace_is_known_by_its_fixed_inode() {
        // The machine's tests run in the initial cgroup namespace.
        assert_eq!(in_initial_cgroup_namespace(), Some(true));
    }
}
