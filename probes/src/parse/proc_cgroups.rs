//! `/proc/cgroups`: the controllers the kernel was built with and whether each is enabled
//! (`cgroup_disable=` turns one off). Read by the feature inventory and by the kernel matrix's
//! guest, which mounts one v1 hierarchy per enabled controller.

/// The controllers marked enabled, in the file's order (the kernel's own order, which the
/// guest keeps when it mounts them).
///
/// A line is `name hierarchy num_cgroups enabled`; the `#` header and lines with fewer columns
/// are skipped.
pub fn enabled_controllers(proc_cgroups: &str) -> Vec<String> {
    proc_cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() >= 4 && cols[3] == "1").then(|| cols[0].to_string())
        })
        .collect()
}

/// The enabled controllers sorted and without duplicates: what the kernel has, whichever
/// hierarchy (v1, cgroup2 or none yet) they are bound to.
pub fn enabled_kernel_controllers(proc_cgroups: &str) -> Vec<String> {
    let mut list = enabled_controllers(proc_cgroups);
    list.sort();
    list.dedup();
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = include_str!("../../../fixtures/proc/cgroups-hybrid");
    /// 6.1 in the matrix's guest before anything is mounted, booted with hugetlb disabled.
    const GUEST: &str = include_str!("../../../fixtures/proc/cgroups-guest-hugetlb-disabled");

    #[test]
    fn guest_order_is_the_kernels_and_disabled_ones_are_left_out() {
        let c = enabled_controllers(GUEST);
        assert_eq!(c.len(), 13);
        assert_eq!(&c[..3], ["cpuset", "cpu", "cpuacct"]);
        assert!(!c.contains(&"hugetlb".to_string()));
    }

    #[test]
    fn kernel_controllers_are_sorted() {
        assert_eq!(
            enabled_kernel_controllers(HOST),
            [
                "blkio",
                "cpu",
                "cpuacct",
                "cpuset",
                "devices",
                "freezer",
                "hugetlb",
                "memory",
                "net_cls",
                "net_prio",
                "perf_event",
                "pids"
            ]
        );
    }

    #[test]
    fn disabled_and_malformed_lines_are_skipped() {
        let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
                    cpu\t1\t1\t1\n\
                    memory\t4\t19\t0\n\
                    broken line\n";
        assert_eq!(enabled_kernel_controllers(text), ["cpu"]);
        assert!(enabled_controllers("garbage\n\n").is_empty());
        assert!(enabled_kernel_controllers("#subsys_name\thierarchy\n").is_empty());
    }
}
