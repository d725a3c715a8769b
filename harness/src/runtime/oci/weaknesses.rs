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

/// runc 1.1.5 (CVE-2025-31133's class, fixed in runc 1.2.8/1.3.3) does not check that the
/// container's `/dev/null` is the null device: with no tmpfs on `/dev`, an image whose
/// `/dev/null` links to a procfs file keeps the link, gets stdout and stderr reopened onto
/// that file and has the masked paths bound to it (seen: "`/proc/keys` is bound to the procfs
/// file `/sys/net/ipv4/ip_default_ttl`").
const RUNC_DEV_NULL: Weakness = Weakness {
    check: "image.dev-null-symlink",
    why: "it uses the image's /dev/null unchecked: the link is kept, stdout and stderr are \
          reopened onto its procfs target and the masked paths are bound to it",
};

/// crun 1.8.1 masks with a null device of its own, but keeps the image's `/dev/null` link and
/// reopens stdout and stderr onto its procfs target (seen: "stdout (fd 1) is the procfs file
/// `/proc/sys/net/ipv4/ip_default_ttl`").
const CRUN_DEV_NULL: Weakness = Weakness {
    check: "image.dev-null-symlink",
    why: "it keeps the image's /dev/null link and reopens stdout and stderr onto its procfs \
          target (its masks use a real null device)",
};

/// youki 0.7 as root refuses the hostile image (its mknod of `/dev/null` meets the link,
/// EEXIST). Rootless it binds the host's nodes instead of making them and leaves the image's
/// link where `/dev/null` should be (seen: "`/dev/null` inside is link ->
/// /proc/sys/net/ipv4/ip_default_ttl"); its masks and stdin do get the host's null device.
const YOUKI_ROOTLESS_DEV_NULL: Weakness = Weakness {
    check: "image.dev-null-symlink",
    why: "rootless, it binds the host's device nodes but keeps the image's /dev/null link, which \
          points at a procfs file (its masks and stdin get the real null device)",
};

/// The checks a runtime by name fails; `no_pivot` for its `--no-pivot` variant, `rootless`
/// when it runs from isoprobe's user namespace.
pub fn of(flavor: Flavor, no_pivot: bool, rootless: bool) -> &'static [Weakness] {
    match (flavor, no_pivot) {
        (Flavor::Youki, _) if rootless => &[TUN_ALLOWED, YOUKI_ROOTLESS_DEV_NULL],
        (Flavor::Runc, true) => &[
            NO_PIVOT_ESCAPE,
            Weakness {
                check: "mnt.no-propagation",
                why: "runc refuses private propagation without pivot_root and uses rslave: host \
                      mounts propagate in",
            },
            TUN_ALLOWED,
            RUNC_DEV_NULL,
        ],
        (Flavor::Crun, true) => &[NO_PIVOT_ESCAPE, CRUN_DEV_NULL],
        (Flavor::Crun, false) => &[CRUN_DEV_NULL],
        (Flavor::Runc, false) => &[TUN_ALLOWED, RUNC_DEV_NULL],
        (Flavor::Youki, _) => &[TUN_ALLOWED],
        // setgroups "allow" in their user namespaces is not a weakness: the maps are written by
        // a privileged parent, and root inside still cannot take a group it was not mapped.
        (Flavor::Other, _) => &[],
    }
}
