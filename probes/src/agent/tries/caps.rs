//! `caps`: the capability sets the agent holds, and two operations they guard tried for real:
//! mounting a tmpfs (CAP_SYS_ADMIN) and setting `lo` up (CAP_NET_ADMIN). A failed `lo` step
//! names its ioctl.

use crate::contract::{unit, CallError, Called, CapsOutcome, Done, Mounted};
use crate::parse::parse_cap_sets;
use nix::errno::Errno;
use nix::mount::{mount, umount, MsFlags};

/// Where the tmpfs goes: every rootfs isoprobe builds has it, and the mount stays in the
/// container's own mount namespace.
const MOUNT_TARGET: &str = "/tmp";

pub fn run() -> CapsOutcome {
    let sets = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| e.to_string())
        .and_then(|t| parse_cap_sets(&t).map_err(|e| e.to_string()));
    let (cap_bnd, cap_eff, status_error) = match sets {
        Ok(c) => (
            Some(format!("{:016x}", c.bounding)),
            Some(format!("{:016x}", c.effective)),
            None,
        ),
        Err(e) => (None, None, Some(e)),
    };
    CapsOutcome {
        cap_bnd,
        cap_eff,
        status_error,
        mount_tmpfs: try_mount(),
        lo_up: try_lo_up(),
    }
}

fn try_mount() -> Called<Mounted> {
    match mount(
        Some("tmpfs"),
        MOUNT_TARGET,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    ) {
        Ok(()) => Called::Done(match unit(umount(MOUNT_TARGET)) {
            Called::Done(d) => Mounted::Unmounted(d),
            Called::Failed(e) => Mounted::Stuck {
                mounted: true,
                umount: e,
            },
        }),
        Err(e) => Called::Failed(CallError::from_errno(e)),
    }
}

fn try_lo_up() -> Called<Done> {
    // SAFETY: plain socket call; the fd is closed below on every path.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return step_error("socket", Errno::last());
    }
    let r = set_up(fd);
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    match r {
        Ok(()) => Called::Done(Done::Ok),
        Err((step, e)) => step_error(step, e),
    }
}

fn set_up(fd: libc::c_int) -> Result<(), (&'static str, Errno)> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the ioctls read and write `req`, a valid ifreq naming `lo`.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(("SIOCGIFFLAGS", Errno::last()));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(("SIOCSIFFLAGS", Errno::last()));
        }
    }
    Ok(())
}

fn step_error(step: &str, e: Errno) -> Called<Done> {
    Called::Failed(CallError::from_errno(e).at(step))
}
