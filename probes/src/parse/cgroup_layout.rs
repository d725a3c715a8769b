//! Which cgroup hierarchies are mounted where, and where one controller can be used.

use super::mountinfo::parse_mountinfo;
use super::proc_self::cgroup_path;
use super::ParseError;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

/// How the cgroup hierarchies of a mount namespace are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Only v1 hierarchies (named ones included); no cgroup2 mount.
    V1,
    /// A cgroup2 mount, and no v1 hierarchy that binds a controller.
    V2,
    /// A cgroup2 mount next to at least one v1 hierarchy that binds a controller.
    Hybrid,
}

impl fmt::Display for CgroupMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupMode::V1 => "v1",
            CgroupMode::V2 => "v2",
            CgroupMode::Hybrid => "hybrid",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Where one controller can be used by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerLocation {
    pub version: CgroupVersion,
    /// The mount of the hierarchy, e.g. `/sys/fs/cgroup/cpu` or `/sys/fs/cgroup`.
    pub mount_point: PathBuf,
    /// The caller's cgroup in that hierarchy as `/proc/self/cgroup` gives it, e.g. `/` or
    /// `/process_api/abc`.
    pub caller_path: String,
}

impl ControllerLocation {
    /// The caller's cgroup directory.
    ///
    /// Only right when the hierarchy is mounted from its root (mountinfo root `/`), which is
    /// the case on a host and inside a cgroup namespace; a runtime that bind-mounts a subtree
    /// without a cgroup namespace makes `/proc/self/cgroup` and the mount disagree.
    pub fn caller_dir(&self) -> PathBuf {
        let rel = self.caller_path.trim_start_matches('/');
        if rel.is_empty() {
            // `join("")` would add a trailing slash that then shows in every message.
            self.mount_point.clone()
        } else {
            self.mount_point.join(rel)
        }
    }
}

/// The cgroup mounts of one mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLayout {
    pub mode: CgroupMode,
    /// One entry per v1 hierarchy, in mountinfo order: its controllers, sorted, spelled as in
    /// `/proc/self/cgroup` (a named hierarchy appears as `name=systemd`), and its mount point.
    /// A hierarchy mounted more than once is listed once, preferring a mount of its root.
    pub v1_mounts: Vec<(Vec<String>, PathBuf)>,
    /// The cgroup2 mount, preferring a mount of its root when there are several.
    pub v2_mount: Option<PathBuf>,
}

/// Super options of a v1 cgroup mount that are not controllers (from the kernel's
/// `cgroup1_show_options`, plus the VFS's `rw`/`ro`). Listing the flags rather than the
/// controllers keeps a controller newer than this list (as `misc` was in 5.13) from vanishing.
const V1_FLAGS: [&str; 8] = [
    "rw",
    "ro",
    "noprefix",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
    "clone_children",
    "none",
];

fn v1_controllers(super_options: &HashMap<String, Option<String>>) -> Vec<String> {
    let mut controllers: Vec<String> = super_options
        .iter()
        .filter_map(|(k, v)| match (k.as_str(), v) {
            ("name", Some(name)) => Some(format!("name={name}")),
            // Valued options other than name= are settings such as release_agent=.
            (_, Some(_)) => None,
            (k, None) if V1_FLAGS.contains(&k) => None,
            (k, None) => Some(k.to_string()),
        })
        .collect();
    // procfs-core hands the options over as a map, so the kernel's order is gone already.
    controllers.sort();
    controllers
}

/// Reads the cgroup layout out of a mountinfo text.
///
/// A `name=systemd`-only v1 hierarchy next to a cgroup2 mount counts as [`CgroupMode::V2`],
/// not hybrid: it binds no controller, so every controller is on cgroup2, which is what
/// decides how limits are set (systemd's own "hybrid" also has its controllers on v1).
/// `Hybrid` therefore means that controllers are split between v1 and cgroup2.
pub fn parse_layout(mountinfo: &str) -> Result<CgroupLayout, ParseError> {
    let mounts = parse_mountinfo(mountinfo)?;
    let mut v1: Vec<(Vec<String>, PathBuf, bool)> = Vec::new();
    let mut v2: Option<(PathBuf, bool)> = None;
    for m in mounts {
        // Paths in /proc/self/cgroup are relative to a hierarchy's root, so a mount of the
        // root is the one they can be joined to; a bind mount of a subtree is a fallback.
        let whole = m.root == "/";
        match m.fs_type.as_str() {
            "cgroup" => {
                let controllers = v1_controllers(&m.super_options);
                match v1.iter_mut().find(|(c, _, _)| *c == controllers) {
                    Some(seen) if whole && !seen.2 => {
                        seen.1 = m.mount_point;
                        seen.2 = true;
                    }
                    Some(_) => {}
                    None => v1.push((controllers, m.mount_point, whole)),
                }
            }
            "cgroup2" => match &v2 {
                Some((_, true)) => {}
                Some((_, false)) if !whole => {}
                _ => v2 = Some((m.mount_point, whole)),
            },
            _ => {}
        }
    }
    let binds_a_controller = v1
        .iter()
        .any(|(c, _, _)| c.iter().any(|c| !c.starts_with("name=")));
    let mode = match (&v2, v1.is_empty(), binds_a_controller) {
        (None, true, _) => {
            return Err(ParseError::new(
                "mountinfo has no cgroup (v1) or cgroup2 mount",
            ))
        }
        (None, false, _) => CgroupMode::V1,
        (Some(_), _, false) => CgroupMode::V2,
        (Some(_), _, true) => CgroupMode::Hybrid,
    };
    Ok(CgroupLayout {
        mode,
        v1_mounts: v1.into_iter().map(|(c, p, _)| (c, p)).collect(),
        v2_mount: v2.map(|(p, _)| p),
    })
}

impl CgroupLayout {
    /// Where `controller` (e.g. "cpu") is usable: a v1 hierarchy whose super options list it,
    /// else the cgroup2 mount if `v2_controllers` (the text of
    /// `<v2 mount>/<caller>/cgroup.controllers`, `None` when it could not be read) lists it.
    /// `proc_self_cgroup` is the text of `/proc/self/cgroup`, which gives `caller_path`.
    ///
    /// The error is a full sentence saying why the controller is unavailable.
    pub fn locate(
        &self,
        controller: &str,
        proc_self_cgroup: &str,
        v2_controllers: Option<&str>,
    ) -> Result<ControllerLocation, Unlocated> {
        let named = || controller.to_string();
        if controller.is_empty() {
            return Err(Unlocated::NoName);
        }
        // A controller is bound to at most one hierarchy, so a v1 mount listing it is the
        // only place it can be used; cgroup2 is not even worth asking about then.
        if let Some((_, mount_point)) = self
            .v1_mounts
            .iter()
            .find(|(c, _)| c.iter().any(|c| c == controller))
        {
            let caller_path = cgroup_path(proc_self_cgroup, Some(controller)).ok_or_else(|| {
                Unlocated::V1WithoutLine {
                    controller: named(),
                    mount_point: mount_point.clone(),
                }
            })?;
            return Ok(ControllerLocation {
                version: CgroupVersion::V1,
                mount_point: mount_point.clone(),
                caller_path,
            });
        }
        let Some(v2) = &self.v2_mount else {
            return Err(Unlocated::Nowhere {
                controller: named(),
            });
        };
        let Some(listed) = v2_controllers else {
            return Err(Unlocated::V2Unread {
                controller: named(),
                v2: v2.clone(),
            });
        };
        if !listed.split_whitespace().any(|c| c == controller) {
            return Err(Unlocated::V2NotListed {
                controller: named(),
                v2: v2.clone(),
                listed: listed.split_whitespace().map(str::to_string).collect(),
            });
        }
        let caller_path =
            cgroup_path(proc_self_cgroup, None).ok_or_else(|| Unlocated::V2WithoutLine {
                controller: named(),
                v2: v2.clone(),
            })?;
        Ok(ControllerLocation {
            version: CgroupVersion::V2,
            mount_point: v2.clone(),
            caller_path,
        })
    }
}

/// Why a controller cannot be used by a child of the caller's cgroup. Each message is a full
/// sentence: checks print it as their skip reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unlocated {
    #[error("No controller was named.")]
    NoName,
    #[error(
        "The {controller} controller is mounted at {} (cgroup v1), but /proc/self/cgroup has no \
         line for it.",
        .mount_point.display()
    )]
    V1WithoutLine {
        controller: String,
        mount_point: PathBuf,
    },
    #[error(
        "No cgroup v1 hierarchy binds the {controller} controller, and there is no cgroup2 mount."
    )]
    Nowhere { controller: String },
    #[error(
        "No cgroup v1 hierarchy binds the {controller} controller, and whether cgroup2 at {} \
         offers it is unknown: the caller's cgroup.controllers was not read.",
        .v2.display()
    )]
    V2Unread { controller: String, v2: PathBuf },
    #[error(
        "No cgroup v1 hierarchy binds the {controller} controller, and the caller's \
         cgroup.controllers under cgroup2 at {} does not list it (it lists: {}).",
        .v2.display(),
        listed_or_none(.listed)
    )]
    V2NotListed {
        controller: String,
        v2: PathBuf,
        listed: Vec<String>,
    },
    #[error(
        "The {controller} controller is offered by cgroup2 at {}, but /proc/self/cgroup has no \
         `0::` line.",
        .v2.display()
    )]
    V2WithoutLine { controller: String, v2: PathBuf },
}

fn listed_or_none(listed: &[String]) -> String {
    if listed.is_empty() {
        "none".to_string()
    } else {
        listed.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::path::Path;

    const MI_HYBRID: &str = include_str!("../../../fixtures/proc/mountinfo-hybrid");
    const MI_V2: &str = include_str!("../../../fixtures/proc/mountinfo-v2");
    const MI_V1: &str = include_str!("../../../fixtures/proc/mountinfo-v1-cpu-cpuacct");
    const CG_HYBRID: &str = include_str!("../../../fixtures/proc/cgroup-hybrid");
    const CG_V2: &str = include_str!("../../../fixtures/proc/cgroup-v2");
    const CG_V1: &str = include_str!("../../../fixtures/proc/cgroup-v1-cpu-cpuacct");
    const CTRL_UNIFIED: &str =
        include_str!("../../../fixtures/cgroup/cgroup.controllers-hybrid-unified");
    const CTRL_V2_ROOT: &str = include_str!("../../../fixtures/cgroup/cgroup.controllers-v2-root");
    const CTRL_V2_SESSION: &str =
        include_str!("../../../fixtures/cgroup/cgroup.controllers-v2-session");

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[rstest]
    #[case::hybrid(MI_HYBRID, CgroupMode::Hybrid, "hybrid")]
    #[case::v2(MI_V2, CgroupMode::V2, "v2")]
    #[case::v1(MI_V1, CgroupMode::V1, "v1")]
    fn mode_of_each_sample(#[case] text: &str, #[case] mode: CgroupMode, #[case] shown: &str) {
        let l = parse_layout(text).unwrap();
        assert_eq!(l.mode, mode);
        assert_eq!(l.mode.to_string(), shown);
        assert_eq!(
            serde_json::to_string(&l.mode).unwrap(),
            format!("\"{shown}\"")
        );
        assert_eq!(
            serde_json::from_str::<CgroupMode>(&format!("\"{shown}\"")).unwrap(),
            mode
        );
    }

    #[test]
    fn hybrid_sample_of_this_host() {
        let l = parse_layout(MI_HYBRID).unwrap();
        assert_eq!(
            l.v2_mount.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(l.v1_mounts.len(), 9);
        assert_eq!(
            l.v1_mounts[0],
            (names(&["cpu"]), PathBuf::from("/sys/fs/cgroup/cpu"))
        );
        assert_eq!(
            l.v1_mounts[8],
            (
                names(&["name=systemd"]),
                PathBuf::from("/sys/fs/cgroup/systemd")
            )
        );
    }

    #[test]
    fn v1_sample_has_cpu_and_cpuacct_on_one_hierarchy_and_flags_are_not_controllers() {
        let l = parse_layout(MI_V1).unwrap();
        assert_eq!(l.v2_mount, None);
        assert_eq!(
            l.v1_mounts[0],
            (
                names(&["name=systemd"]),
                PathBuf::from("/sys/fs/cgroup/systemd")
            )
        );
        assert!(l.v1_mounts.contains(&(
            names(&["cpu", "cpuacct"]),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        )));
        assert!(l.v1_mounts.contains(&(
            names(&["net_cls", "net_prio"]),
            PathBuf::from("/sys/fs/cgroup/net_cls,net_prio")
        )));
    }

    #[test]
    fn v2_sample() {
        let l = parse_layout(MI_V2).unwrap();
        assert_eq!(l.v2_mount.as_deref(), Some(Path::new("/sys/fs/cgroup")));
        assert!(l.v1_mounts.is_empty());
    }

    #[rstest]
    #[case::named_only_next_to_cgroup2(
        "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n\
         31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd",
        CgroupMode::V2
    )]
    #[case::named_only_alone(
        "31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd",
        CgroupMode::V1
    )]
    #[case::a_controller_next_to_cgroup2(
        "30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
         31 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids",
        CgroupMode::Hybrid
    )]
    fn named_hierarchies_do_not_make_it_hybrid(#[case] text: &str, #[case] mode: CgroupMode) {
        assert_eq!(parse_layout(text).unwrap().mode, mode);
    }

    #[test]
    fn a_hierarchy_mounted_twice_is_listed_once_preferring_its_root() {
        let text = "40 25 0:30 /docker/abc /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu\n\
                    41 25 0:30 / /mnt/cpu\\040all rw - cgroup cgroup rw,cpu\n\
                    42 25 0:30 / /mnt/again rw - cgroup cgroup rw,cpu\n\
                    43 25 0:31 /x /a rw - cgroup2 cgroup2 rw\n\
                    44 25 0:31 / /b rw - cgroup2 cgroup2 rw\n\
                    45 25 0:31 / /c rw - cgroup2 cgroup2 rw";
        let l = parse_layout(text).unwrap();
        assert_eq!(
            l.v1_mounts,
            vec![(names(&["cpu"]), PathBuf::from("/mnt/cpu all"))]
        );
        assert_eq!(l.v2_mount, Some(PathBuf::from("/b")));
    }

    #[rstest]
    #[case::no_cgroup_mount("22 27 0:21 / /proc rw,relatime - proc proc rw", "no cgroup")]
    #[case::empty("", "no cgroup")]
    #[case::garbage("22 27 0:21 / /proc rw,relatime - proc proc rw\nnonsense", "line 2")]
    fn errors(#[case] text: &str, #[case] needle: &str) {
        let e = parse_layout(text).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }

    #[test]
    fn locate_cpu_on_this_host_is_v1_at_the_root() {
        let l = parse_layout(MI_HYBRID).unwrap();
        let loc = l.locate("cpu", CG_HYBRID, Some(CTRL_UNIFIED)).unwrap();
        assert_eq!(loc.version, CgroupVersion::V1);
        assert_eq!(loc.caller_path, "/");
        assert_eq!(loc.caller_dir().to_str(), Some("/sys/fs/cgroup/cpu"));
    }

    #[test]
    fn locate_memory_on_this_host_is_inside_the_management_cgroup() {
        let l = parse_layout(MI_HYBRID).unwrap();
        let loc = l.locate("memory", CG_HYBRID, None).unwrap();
        assert_eq!(
            loc.caller_dir(),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/0a9acd32a6ea182cb6cfe06030b8d6cc")
        );
    }

    #[test]
    fn locate_hugetlb_on_this_host_is_on_cgroup2() {
        let l = parse_layout(MI_HYBRID).unwrap();
        let loc = l.locate("hugetlb", CG_HYBRID, Some(CTRL_UNIFIED)).unwrap();
        assert_eq!(
            loc,
            ControllerLocation {
                version: CgroupVersion::V2,
                mount_point: PathBuf::from("/sys/fs/cgroup/unified"),
                caller_path: "/".to_string(),
            }
        );
        assert_eq!(loc.caller_dir(), PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn locate_cpu_on_v2() {
        let l = parse_layout(MI_V2).unwrap();
        let loc = l.locate("cpu", CG_V2, Some(CTRL_V2_ROOT)).unwrap();
        assert_eq!(loc.version, CgroupVersion::V2);
        assert_eq!(
            loc.caller_dir(),
            PathBuf::from("/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope")
        );
    }

    #[test]
    fn locate_co_mounted_cpuacct_on_v1() {
        let l = parse_layout(MI_V1).unwrap();
        for c in ["cpu", "cpuacct"] {
            let loc = l.locate(c, CG_V1, None).unwrap();
            assert_eq!(
                loc.caller_dir(),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/user.slice")
            );
        }
    }

    #[rstest]
    #[case::not_delegated(
        MI_V2,
        "cpu",
        CG_V2,
        Some(CTRL_V2_SESSION),
        "does not list it (it lists: memory pids)"
    )]
    #[case::empty_controllers(MI_V2, "cpu", CG_V2, Some("\n"), "(it lists: none)")]
    #[case::controllers_unread(MI_V2, "cpu", CG_V2, None, "was not read")]
    #[case::no_zero_line(MI_V2, "cpu", CG_V1, Some(CTRL_V2_ROOT), "no `0::` line")]
    #[case::no_v1_line(MI_V1, "cpu", CG_V2, None, "has no line for it")]
    #[case::nowhere(MI_V1, "misc", CG_V1, Some(CTRL_V2_ROOT), "there is no cgroup2 mount")]
    #[case::on_neither_in_hybrid(
        MI_HYBRID,
        "rdma",
        CG_HYBRID,
        Some(CTRL_UNIFIED),
        "(it lists: hugetlb)"
    )]
    #[case::garbage_proc_cgroup(MI_HYBRID, "cpu", "garbage", None, "has no line for it")]
    fn unavailable_controller_says_why(
        #[case] mi: &str,
        #[case] controller: &str,
        #[case] cg: &str,
        #[case] ctrl: Option<&str>,
        #[case] needle: &str,
    ) {
        let l = parse_layout(mi).unwrap();
        let why = l.locate(controller, cg, ctrl).unwrap_err().to_string();
        assert!(why.contains(needle), "{why}");
        assert!(why.ends_with('.'), "a full sentence: {why}");
    }

    #[test]
    fn locate_without_a_controller_name() {
        let l = parse_layout(MI_V2).unwrap();
        assert!(l.locate("", CG_V2, Some(CTRL_V2_ROOT)).is_err());
    }

    #[test]
    fn caller_dir_joins_nested_paths() {
        let loc = ControllerLocation {
            version: CgroupVersion::V1,
            mount_point: PathBuf::from("/sys/fs/cgroup/memory"),
            caller_path: "/process_api/abc".to_string(),
        };
        assert_eq!(
            loc.caller_dir(),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
    }
}
