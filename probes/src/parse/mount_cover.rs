//! Which mount a path is on, and whether that mount is read-only, from a mountinfo text.

use super::mountinfo::parse_mountinfo;
use super::ParseError;
use crate::contract::{MountAt, MountCover};
use std::path::Path;

/// The mount `path` (absolute, without `..`) is on: the deepest mount point at or above it,
/// and of several mounts on that point the last listed (the one on top). `read_only` is the
/// mount's own `ro` flag (the per-mount options, not the super block's): a read-only bind of a
/// writable proc shows `ro` there and `rw` after the separator. `None` when no mount covers it.
pub fn mount_covering(mountinfo: &str, path: &str) -> Result<Option<MountCover>, ParseError> {
    let path = Path::new(path);
    let mut best: Option<(usize, MountCover)> = None;
    for m in parse_mountinfo(mountinfo)? {
        if !path.starts_with(&m.mount_point) {
            continue;
        }
        let depth = m.mount_point.components().count();
        if best.as_ref().is_some_and(|(d, _)| *d > depth) {
            continue;
        }
        best = Some((
            depth,
            MountCover {
                mount_point: m.mount_point.to_string_lossy().into_owned(),
                read_only: m.mount_options.contains_key("ro"),
            },
        ));
    }
    Ok(best.map(|(_, c)| c))
}

/// The mount on top at exactly `path` (the last listed there), or `None` when nothing is
/// mounted at that point: what a runtime bound over a masked path.
pub fn mount_at(mountinfo: &str, path: &str) -> Result<Option<MountAt>, ParseError> {
    Ok(parse_mountinfo(mountinfo)?
        .into_iter()
        .rfind(|m| m.mount_point == Path::new(path))
        .map(|m| MountAt {
            fs_type: m.fs_type,
            root: m.root,
        }))
}

/// The mount point of every mount of file system type `fs_type`, in order.
pub fn mounts_of_type(mountinfo: &str, fs_type: &str) -> Result<Vec<String>, ParseError> {
    Ok(parse_mountinfo(mountinfo)?
        .into_iter()
        .filter(|m| m.fs_type == fs_type)
        .map(|m| m.mount_point.to_string_lossy().into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SAMPLE: &str = include_str!("../../../fixtures/proc/mountinfo-readonly-proc");

    fn cover(point: &str, read_only: bool) -> Option<MountCover> {
        Some(MountCover {
            mount_point: point.into(),
            read_only,
        })
    }

    #[rstest]
    #[case::read_only_bind_of_a_directory(
        "/proc/sys/kernel/core_pattern",
        cover("/proc/sys", true)
    )]
    #[case::the_bind_itself("/proc/sys", cover("/proc/sys", true))]
    #[case::read_only_bind_of_a_file(
        "/proc/irq/default_smp_affinity",
        cover("/proc/irq/default_smp_affinity", true)
    )]
    #[case::a_sibling_stays_on_proc("/proc/irq/24/smp_affinity", cover("/proc", false))]
    #[case::not_a_prefix_by_text("/proc/sysrq-trigger", cover("/proc", false))]
    #[case::tmpfs_over_a_directory("/proc/acpi/x", cover("/proc/acpi", true))]
    #[case::root("/etc/passwd", cover("/", false))]
    fn finds_the_deepest_mount(#[case] path: &str, #[case] want: Option<MountCover>) {
        assert_eq!(mount_covering(SAMPLE, path).unwrap(), want);
    }

    #[test]
    fn the_last_mount_on_a_point_is_the_one_on_top() {
        let text = "45 43 0:21 / /proc rw,relatime - proc proc rw\n\
                    63 45 0:21 /sys /proc/sys rw,relatime - proc proc rw\n\
                    64 63 0:21 /sys /proc/sys ro,relatime - proc proc rw\n";
        assert_eq!(
            mount_covering(text, "/proc/sys/kernel/core_pattern").unwrap(),
            cover("/proc/sys", true)
        );
    }

    #[test]
    fn nothing_covers_a_path_of_an_empty_table_and_bad_text_is_an_error() {
        assert_eq!(mount_covering("", "/proc/sys").unwrap(), None);
        assert!(mount_covering("garbage", "/proc/sys").is_err());
    }

    #[test]
    fn the_mount_on_top_at_exactly_a_path() {
        let text = include_str!("../../../fixtures/proc/mountinfo-devnull-hijack");
        let keys = mount_at(text, "/proc/keys").unwrap().unwrap();
        assert_eq!(keys.fs_type, "proc");
        assert_eq!(keys.root, "/sys/net/ipv4/ip_default_ttl");
        // Two mounts there: the later one is on top.
        let timers = mount_at(text, "/proc/timer_list").unwrap().unwrap();
        assert_eq!(timers.fs_type, "proc");
        // A path below a mount point is not a mount of its own.
        assert_eq!(mount_at(text, "/proc/kcore").unwrap(), None);
        assert!(mount_at("garbage", "/").is_err());
    }

    #[test]
    fn every_mount_of_a_type() {
        let text = include_str!("../../../fixtures/proc/mountinfo-proc-link");
        assert_eq!(
            mounts_of_type(text, "proc").unwrap(),
            ["/fakeproc", "/proc/sys"]
        );
        assert!(mounts_of_type(text, "sysfs").unwrap().is_empty());
    }
}
