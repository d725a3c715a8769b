//! What the OCI runtimes isoprobe knows by name are known not to isolate here.

use super::flavor::Flavor;
use crate::runtime::Weakness;

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
            Weakness {
                check: "mnt.no-propagation",
                why: "runc refuses private propagation without pivot_root and uses rslave: host \
                      mounts propagate in",
            },
        ],
        (Flavor::Crun, true) => &[NO_PIVOT_ESCAPE],
        // setgroups "allow" in their user namespaces is not a weakness: the maps are written by
        // a privileged parent, and root inside still cannot take a group it was not mapped.
        (Flavor::Runc | Flavor::Crun | Flavor::Youki | Flavor::Other, _) => &[],
    }
}
