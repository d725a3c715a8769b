//! Capability names by number (`capabilities(7)`): bwrap's `--cap-drop` and the OCI
//! runtime-spec take names, while an [`Isolation`](super::Isolation) drops numbers.

/// Every capability this table knows, indexed by its number.
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities the engines' default configuration keeps (Docker and containerd grant these
/// 14 to a container's root and drop every other one; podman 4 grants 11 of them, without
/// NET_RAW, MKNOD and AUDIT_WRITE).
pub const DEFAULT_SET: [u32; 14] = [
    0,  // CAP_CHOWN
    1,  // CAP_DAC_OVERRIDE
    3,  // CAP_FOWNER
    4,  // CAP_FSETID
    5,  // CAP_KILL
    6,  // CAP_SETGID
    7,  // CAP_SETUID
    8,  // CAP_SETPCAP
    10, // CAP_NET_BIND_SERVICE
    13, // CAP_NET_RAW
    18, // CAP_SYS_CHROOT
    27, // CAP_MKNOD
    29, // CAP_AUDIT_WRITE
    31, // CAP_SETFCAP
];

/// Every capability this table knows but those in `kept`, by number.
pub fn all_but(kept: &[u32]) -> Vec<u32> {
    (0..NAMES.len() as u32)
        .filter(|c| !kept.contains(c))
        .collect()
}

/// The name of capability number `cap` (`21` -> `CAP_SYS_ADMIN`), if this table knows it.
pub fn name(cap: u32) -> Option<&'static str> {
    NAMES.get(cap as usize).copied()
}

/// The number of a capability name (`CAP_SYS_ADMIN` -> 21), if it is one this table knows;
/// the `CAP_` prefix and the case are optional.
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// The capabilities this process can grant: its own bounding set, up to the kernel's last
/// capability that this table also knows. Unreadable files count as "everything" so a
/// restricted /proc does not silently strip a container of its capabilities.
pub fn grantable() -> std::collections::BTreeSet<u32> {
    let own = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| isoprobe_probes::parse::parse_cap_sets(&s).ok())
        .map_or(u64::MAX, |c| c.bounding);
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40);
    (0..=last.min(NAMES.len() as u32 - 1))
        .filter(|c| isoprobe_probes::parse::has_cap(own, *c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_number() {
        assert_eq!(name(21), Some("CAP_SYS_ADMIN"));
        assert_eq!(name(40), Some("CAP_CHECKPOINT_RESTORE"));
        assert_eq!(name(41), None);
    }

    #[test]
    fn the_default_set_is_the_engines_fourteen() {
        let names: Vec<&str> = DEFAULT_SET.iter().map(|c| name(*c).unwrap()).collect();
        for n in [
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FSETID",
            "CAP_FOWNER",
            "CAP_MKNOD",
            "CAP_NET_RAW",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETFCAP",
            "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT",
            "CAP_KILL",
            "CAP_AUDIT_WRITE",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        let dropped = all_but(&DEFAULT_SET);
        assert_eq!(dropped.len() + DEFAULT_SET.len(), NAMES.len());
        assert!(dropped.contains(&21) && !dropped.contains(&27));
    }

    #[test]
    fn cap_numbers_match_the_kernel_names() {
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("net_admin"), Some(12));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_NOPE"), None);
    }
}
