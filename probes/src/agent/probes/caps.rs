//! `caps`: the capability sets the agent holds, and two operations they guard tried for real:
//! mounting a tmpfs (CAP_SYS_ADMIN) and setting `lo` up (CAP_NET_ADMIN).
//!
//! Result: `{"cap_bnd": hex, "cap_eff": hex, "mount_tmpfs": "ok" | errno, "lo_up": "ok" |
//! errno}` (a failed status read gives `{"status_error": text}` in place of the sets; a
//! failed `lo` step adds `"step"` to its errno object).

use super::errno_json;
use crate::parse::parse_cap_sets;
use nix::errno::Errno;
use nix::mount::{mount, umount, MsFlags};
use serde_json::{json, Map, Value};

/// Where the tmpfs goes: every rootfs isoprobe builds has it, and the mount stays in the
/// container's own mount namespace.
const MOUNT_TARGET: &str = "/tmp";

pub fn run(_arg: &str) -> Value {
    let mut out = Map::new();
    match std::fs::read_to_string("/proc/self/status")
        .map_err(|e| e.to_string())
        .and_then(|t| parse_cap_sets(&t).map_err(|e| e.to_string()))
    {
        Ok(c) => {
            out.insert("cap_bnd".into(), json!(format!("{:016x}", c.bounding)));
            out.insert("cap_eff".into(), json!(format!("{:016x}", c.effective)));
        }
        Err(e) => {
            out.insert("status_error".into(), json!(e));
        }
    }
    out.insert("mount_tmpfs".into(), try_mount());
    out.insert("lo_up".into(), try_lo_up());
    Value::Object(out)
}

fn try_mount() -> Value {
    match mount(
        Some("tmpfs"),
        MOUNT_TARGET,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    ) {
        Ok(()) => match umount(MOUNT_TARGET) {
            Ok(()) => json!("ok"),
            // The mount worked (that is the finding); a stuck mount is worth seeing too.
            Err(e) => json!({"mounted": true, "umount": errno_json(e)}),
        },
        Err(e) => errno_json(e),
    }
}

fn try_lo_up() -> Value {
    // SAFETY: plain socket call; the fd is closed below on every path.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return step_error("socket", Errno::last());
    }
    let r = set_up(fd);
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    match r {
        Ok(()) => json!("ok"),
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

fn step_error(step: &str, e: Errno) -> Value {
    let mut v = errno_json(e);
    v["step"] = json!(step);
    v
}
