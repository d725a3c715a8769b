//! What the OCI runtimes isoprobe knows by name are known not to isolate here.

use super::flavor::Flavor;
use crate::runtime::Weakness;

const NO_PIVOT_ESCAPE: Weakness = Weakness {
    check: "root.chroot-escape-blocked",
    why: "--no-pivot moves the rootfs over / and chroots: the old root stays underneath, and \
          detaching the covering mount reaches it",
};

/// runc 1.1 (runc 1.2 dropped the rule) and youki 0.7 append their own default device rules
/// after the config's deny-all, and those allow `/dev/net/tun` read-write: a node the container
/// makes for it opens (seen: "opened the host device net/tun (c 10:200)"). crun allows only
/// what the config lists.
const TUN_ALLOWED: Weakness = Weakness {
    check: "dev.host-devices-denied",
    why: "its default device rules, appended after the config's, allow /dev/net/tun (c 10:200 \
          rwm): a node the container makes for the host's tun device opens",
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
            TUN_ALLOWED,
        ],
        (Flavor::Crun, true) => &[NO_PIVOT_ESCAPE],
        (Flavor::Runc | Flavor::Youki, _) => &[TUN_ALLOWED],
        // setgroups "allow" in their user namespaces is not a weakness: the maps are written by
        // a privileged parent, and root inside still cannot take a group it was not mapped.
        (Flavor::Crun | Flavor::Other, _) => &[],
    }
}
