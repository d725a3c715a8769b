//! The kernel feature inventory: what this kernel offers a container runtime, each feature
//! found by trying it (a system call that answers ENOSYS, EINVAL, EBADF...), never by reading
//! the version number.
//!
//! It is a section of every report and of the per-kernel snapshot (which makes the snapshots a
//! kernel compatibility record), and `isoprobe features` prints it alone. Detection never
//! fails and never panics: what cannot be tried here (not root, no cgroup2) says so in its
//! `how` or `v2_files_skipped`. The only thing written is a temporary cgroup
//! `isoprobe-features-<pid>-<n>` under this process's own cgroup2 cgroup, always removed.
//!
//! Everything reflects what *this process* can use: a seccomp filter that makes a call return
//! ENOSYS (as some container engines do for clone3) shows as "absent", which is what a runtime
//! started here would meet too.

mod cgroup;
mod mount_api;
mod namespace_tries;
mod namespaces;
mod process_calls;
mod render;
mod sandboxing;
mod sys;

pub use cgroup::{CgroupFeatures, V2_FILES_OF_INTEREST};
pub use render::render_text;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The inventory. Field names are interface (they are in the JSON report and the snapshots).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Namespace type (as named in `/proc/self/ns/`) -> whether `/proc/self/ns/<type>` exists.
    pub namespaces: BTreeMap<String, bool>,
    /// Namespace type -> `/proc/sys/user/max_<type>_namespaces` (`None` when the file is
    /// absent or unreadable). Machine-specific; snapshots redact it.
    pub max_namespaces: BTreeMap<String, Option<u64>>,
    pub cgroup: CgroupFeatures,
    /// One tried feature each.
    pub syscalls: Syscalls,
}

/// The outcome of trying one feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub available: bool,
    /// What was tried and what came back, e.g. `clone3(NULL, 0) -> EINVAL: ...`.
    pub how: String,
    /// A version the kernel reported (Landlock's ABI version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl Entry {
    pub fn yes(how: impl Into<String>) -> Entry {
        Entry {
            available: true,
            how: how.into(),
            version: None,
        }
    }

    pub fn no(how: impl Into<String>) -> Entry {
        Entry {
            available: false,
            how: how.into(),
            version: None,
        }
    }
}

/// The features tried one by one. Not all are system calls of their own (overlayfs, the two
/// namespace entries), but each is found by doing, not by a version number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Syscalls {
    pub clone3: Entry,
    pub pidfd_open: Entry,
    pub clone_into_cgroup: Entry,
    pub mount_setattr: Entry,
    pub open_tree: Entry,
    pub move_mount: Entry,
    pub seccomp_user_notif: Entry,
    pub landlock: Entry,
    pub time_namespaces: Entry,
    pub overlayfs: Entry,
    pub unprivileged_userns: Entry,
}

impl Syscalls {
    /// The entries with their JSON names, in declaration order.
    pub fn entries(&self) -> [(&'static str, &Entry); 11] {
        [
            ("clone3", &self.clone3),
            ("pidfd_open", &self.pidfd_open),
            ("clone_into_cgroup", &self.clone_into_cgroup),
            ("mount_setattr", &self.mount_setattr),
            ("open_tree", &self.open_tree),
            ("move_mount", &self.move_mount),
            ("seccomp_user_notif", &self.seccomp_user_notif),
            ("landlock", &self.landlock),
            ("time_namespaces", &self.time_namespaces),
            ("overlayfs", &self.overlayfs),
            ("unprivileged_userns", &self.unprivileged_userns),
        ]
    }
}

/// Tries every feature on this kernel, as this process.
pub fn detect() -> Features {
    let namespaces = namespaces::present();
    let time_ns_listed = namespaces.get("time").copied().unwrap_or(false);
    Features {
        max_namespaces: namespaces::max_counts(),
        namespaces,
        cgroup: cgroup::detect(),
        syscalls: Syscalls {
            clone3: process_calls::clone3(),
            pidfd_open: process_calls::pidfd_open(),
            clone_into_cgroup: process_calls::clone_into_cgroup(),
            mount_setattr: mount_api::mount_setattr(),
            open_tree: mount_api::open_tree(),
            move_mount: mount_api::move_mount(),
            seccomp_user_notif: sandboxing::seccomp_user_notif(),
            landlock: sandboxing::landlock(),
            time_namespaces: namespace_tries::time_namespaces(time_ns_listed),
            overlayfs: mount_api::overlayfs(),
            unprivileged_userns: namespace_tries::unprivileged_userns(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_every_field_as_json_does() {
        let e = |n: &str| Entry::no(n);
        let s = Syscalls {
            clone3: e("clone3"),
            pidfd_open: e("pidfd_open"),
            clone_into_cgroup: e("clone_into_cgroup"),
            mount_setattr: e("mount_setattr"),
            open_tree: e("open_tree"),
            move_mount: e("move_mount"),
            seccomp_user_notif: e("seccomp_user_notif"),
            landlock: e("landlock"),
            time_namespaces: e("time_namespaces"),
            overlayfs: e("overlayfs"),
            unprivileged_userns: e("unprivileged_userns"),
        };
        let json = serde_json::to_value(&s).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), s.entries().len());
        for (name, entry) in s.entries() {
            assert_eq!(entry.how, name, "entries() pairs {name} with another field");
            assert_eq!(json[name]["how"], name);
        }
    }

    #[test]
    fn version_is_left_out_when_none_and_round_trips() {
        let mut e = Entry::yes("tried");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"available":true,"how":"tried"}"#
        );
        e.version = Some(7);
        let back: Entry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn detect_never_panics_and_round_trips() {
        let f = detect();
        let back: Features = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(f.namespaces.len(), isoprobe_probes::NsType::ALL.len());
        assert_eq!(f.max_namespaces.len(), isoprobe_probes::NsType::ALL.len());
        for (name, entry) in f.syscalls.entries() {
            assert!(
                !entry.how.is_empty(),
                "{name} does not say how it was tried"
            );
        }
    }
}
