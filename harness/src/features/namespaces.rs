//! Which namespace types this kernel has, and how many of each a user may create.

use isoprobe_probes::parse::sysctl_number;
use isoprobe_probes::NsType;
use std::collections::BTreeMap;
use std::path::Path;

/// Type -> whether `/proc/self/ns/<type>` exists (the kernel makes the link for every type it
/// was built with).
pub(super) fn present() -> BTreeMap<String, bool> {
    NsType::ALL
        .into_iter()
        .map(|t| {
            let link = Path::new("/proc/self/ns").join(t.proc_name());
            // symlink_metadata: the link itself, not the nsfs inode behind it.
            (t.proc_name().to_string(), link.symlink_metadata().is_ok())
        })
        .collect()
}

/// Type -> `/proc/sys/user/max_<type>_namespaces`, `None` when absent (before 4.9, or a type
/// without a limit) or unreadable.
pub(super) fn max_counts() -> BTreeMap<String, Option<u64>> {
    NsType::ALL
        .into_iter()
        .map(|t| {
            let file = format!("/proc/sys/user/max_{}_namespaces", t.proc_name());
            let n = std::fs::read_to_string(file)
                .ok()
                .and_then(|s| sysctl_number(&s));
            (t.proc_name().to_string(), n)
        })
        .collect()
}
