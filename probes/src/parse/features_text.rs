//! The small texts the kernel feature inventory reads: `/proc/filesystems`, a cgroup2
//! `cgroup.controllers` and one-number sysctl files (`/proc/cgroups` is `proc_cgroups.rs`).

/// Whether a `/proc/filesystems` text lists the file system `name` (e.g. `overlay`).
///
/// Each line is an optional `nodev` flag, a tab and the name. A file system built as a module
/// is listed only once the module is loaded.
pub fn lists_filesystem(proc_filesystems: &str, name: &str) -> bool {
    proc_filesystems
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .any(|n| n == name)
}

/// The controllers of a cgroup2 `cgroup.controllers` (or `cgroup.subtree_control`) text,
/// sorted, without duplicates.
pub fn controller_list(text: &str) -> Vec<String> {
    let mut list: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    list.sort();
    list.dedup();
    list
}

/// The number in a one-number sysctl file such as `/proc/sys/user/max_pid_namespaces`.
pub fn sysctl_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Whether a `/proc/cmdline` text disables named cgroup v1 hierarchies
/// (`cgroup_no_v1=named`, alone or in a list; every occurrence counts, as the kernel adds them
/// up). Words after `--` are init's, not the kernel's.
pub fn boot_disables_named_cgroup_v1(cmdline: &str) -> bool {
    cmdline
        .split_whitespace()
        .take_while(|w| *w != "--")
        .filter_map(|w| w.strip_prefix("cgroup_no_v1="))
        .any(|v| v.split(',').any(|c| c == "named"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILESYSTEMS: &str = include_str!("../../../fixtures/proc/filesystems");

    #[test]
    fn this_hosts_filesystems_list_overlay_and_cgroup2() {
        assert!(lists_filesystem(FILESYSTEMS, "overlay"));
        assert!(lists_filesystem(FILESYSTEMS, "cgroup2"));
        // cgroup v1 (`cgroup`) is told apart from cgroup2.
        assert!(lists_filesystem(FILESYSTEMS, "cgroup"));
        assert!(!lists_filesystem(
            "nodev\tcgroup2\nnodev\ttmpfs\n",
            "cgroup"
        ));
        // A block file system (no `nodev` column) is found too.
        assert!(lists_filesystem(FILESYSTEMS, "ext4"));
    }

    #[test]
    fn named_v1_hierarchies_are_disabled_only_by_a_kernel_word() {
        let disabled = include_str!("../../../fixtures/proc/cmdline-no-v1-named");
        let vm = include_str!("../../../fixtures/proc/cmdline-vm");
        assert!(boot_disables_named_cgroup_v1(disabled));
        // After `--` the words are init's.
        assert!(!boot_disables_named_cgroup_v1(vm));
        assert!(boot_disables_named_cgroup_v1("cgroup_no_v1=memory,named"));
        assert!(!boot_disables_named_cgroup_v1("cgroup_no_v1=all"));
        assert!(!boot_disables_named_cgroup_v1(
            "xcgroup_no_v1=named cgroup_no_v1=namedx"
        ));
        assert!(!boot_disables_named_cgroup_v1(""));
    }

    #[test]
    fn absent_or_partial_names_are_not_listed() {
        assert!(!lists_filesystem(FILESYSTEMS, "nfs"));
        // `overlay` is listed, `over` is not: names are compared whole.
        assert!(!lists_filesystem(FILESYSTEMS, "over"));
        // `nodev` is a flag column, not a file system.
        assert!(!lists_filesystem(FILESYSTEMS, "nodev"));
        assert!(!lists_filesystem("nodev\tsysfs\n\text4\n", "overlay"));
        assert!(!lists_filesystem("", "overlay"));
    }

    #[test]
    fn controllers_are_sorted_and_deduplicated() {
        assert_eq!(
            controller_list("cpuset cpu io memory hugetlb pids rdma misc\n"),
            ["cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma"]
        );
        assert_eq!(controller_list("hugetlb\n"), ["hugetlb"]);
        assert_eq!(controller_list("memory memory"), ["memory"]);
        assert!(controller_list("\n").is_empty());
    }

    #[test]
    fn sysctl_numbers() {
        assert_eq!(sysctl_number("96364\n"), Some(96364));
        assert_eq!(sysctl_number("0\n"), Some(0));
        assert_eq!(sysctl_number("-1\n"), None);
        assert_eq!(sysctl_number(""), None);
    }
}
