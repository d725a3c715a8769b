//! What the OCI runtimes isoprobe knows by name are known not to isolate here.

use super::flavor::Flavor;
use crate::runtime::Weakness;

const SETGROUPS_ALLOWED: Weakness = Weakness {
    check: "user.root-is-unprivileged",
    why: "run as root, the runtime leaves /proc/<pid>/setgroups at \"allow\" in the user \
          namespace (the runtime spec has no setting for it)",
};

const NO_PIVOT_ESCAPE: Weakness = Weakness {
    check: "root.chroot-escape-blocked",
    why: "--no-pivot moves the rootfs over / and chroots: the old root stays underneath, and \
          detaching the covering mount reaches it",
};

/// The checks a runtime by name fails; `no_pivot` for its `--no-pivot` variant.
pub fn of(flavor: Flavor, no_pivot: bool) -> &'static [Weakness] {
    match (flavor, no_pivot) {
        (Flavor::Runc, true) => &[
            NO_PIVOT_ESCAPE,
            SETGROUPS_ALLOWED,
            Weakness {
                check: "mnt.no-propagation",
                why: "runc refuses private propagation without pivot_root and uses rslave: host \
                      mounts propagate in",
            },
        ],
        (Flavor::Crun, true) => &[NO_PIVOT_ESCAPE, SETGROUPS_ALLOWED],
        (Flavor::Runc | Flavor::Crun | Flavor::Youki, _) => &[SETGROUPS_ALLOWED],
        (Flavor::Other, _) => &[],
    }
}
