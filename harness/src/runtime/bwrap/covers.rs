//! What bwrap is given for /sys, masked paths and read-only paths (see [`cover_args`]).

use crate::vocabulary::Isolation;

/// What a path to mask is where bwrap would find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Absent,
    File,
    Dir,
}

/// The kind of a masked path as the host (the stand-in) sees it: the container's /proc and
/// /sys show the same kernel's files, and bwrap fails on a mount target that is missing, so
/// an absent path is left out (as runc leaves it).
pub(super) fn host_kind(path: &str) -> Kind {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Kind::Dir,
        Ok(_) => Kind::File,
        Err(_) => Kind::Absent,
    }
}

/// /sys, masks and read-only paths, after /proc and the binds:
/// - bwrap has no sysfs option: `/sys` is the host's, bound read-only (as runc does when the
///   container has no network namespace of its own);
/// - a masked file gets `/dev/null` bound read-only over it, a masked directory an empty
///   tmpfs remounted read-only;
/// - a read-only path is bound from the host read-only over itself (`--ro-bind-try`, skipped
///   when the host has no such path): bwrap's bind sources are host paths, and these hold the
///   same kernel's files (sysctls under /proc/sys/net follow the opener's network namespace).
pub(super) fn cover_args(iso: &Isolation, kind_of: impl Fn(&str) -> Kind) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if iso.mount_sys {
        a.extend(["--ro-bind", "/sys", "/sys"].map(String::from));
    }
    for p in &iso.masked_paths {
        match kind_of(p) {
            Kind::Absent => {}
            Kind::File => a.extend(["--ro-bind", "/dev/null", p].map(String::from)),
            Kind::Dir => a.extend(["--tmpfs", p, "--remount-ro", p].map(String::from)),
        }
    }
    for p in &iso.readonly_paths {
        a.extend(["--ro-bind-try", p, p].map(String::from));
    }
    a
}
