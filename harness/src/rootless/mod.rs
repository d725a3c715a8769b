//! Rootless mode: run as an unprivileged user by making a user namespace first.
//!
//! The whole process enters one user namespace at the start of a run (`enter`), before any
//! thread exists (the kernel refuses `unshare(CLONE_NEWUSER)` to a multi-threaded process).
//! Inside it isoprobe is root over every namespace it makes next: the stand-in hosts, and the
//! containers the runtime starts from them. What the user namespace cannot give (cgroups that
//! are not delegated to the user, device nodes, ids the mapping lacks, a cgroup v1 mount) is
//! what checks declare as requirements (`checks::Requirement`); unmet, they skip with
//! "needs root: …". The report says the run was rootless (`report::Rootless`).

mod mapping;

pub use mapping::{choose, Mapping, Offer, Side};

use crate::report::Rootless;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use std::io::{Read, Write};
use std::sync::OnceLock;

static ACTIVE: OnceLock<Rootless> = OnceLock::new();

/// The rootless run this process is in, if it entered one.
pub fn active() -> Option<&'static Rootless> {
    ACTIVE.get()
}

/// Why the user namespace of a rootless run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error(
        "rootless mode: {step}: {errno} ({}){}",
        .errno.desc(),
        crate::vocabulary::hint(advice(.step, *.errno))
    )]
    Step { step: &'static str, errno: Errno },
    #[error(
        "rootless mode: {helper} could not map the ranges of /etc/subuid and /etc/subgid \
         ({status}; its message is above); fix the user's ranges there, or remove them to use \
         a single mapping"
    )]
    Helper {
        helper: &'static str,
        status: String,
    },
}

const UNSHARE: &str = "unshare a user namespace";

fn advice(step: &str, errno: Errno) -> &'static str {
    if step != UNSHARE {
        return "";
    }
    match errno {
        Errno::EPERM | Errno::ENOSPC => {
            "this machine does not let unprivileged users make user namespaces \
             (user.max_user_namespaces, kernel.unprivileged_userns_clone, or a container's \
             seccomp profile); run isoprobe as root instead"
        }
        Errno::EINVAL => "isoprobe was already multi-threaded: this is a bug of isoprobe",
        _ => "",
    }
}

fn step(step: &'static str) -> impl Fn(Errno) -> RootlessError {
    move |errno| RootlessError::Step { step, errno }
}

/// What this machine offers the calling user (their ids, `/etc/subuid`, `/etc/subgid`, the
/// helpers), read here so that `choose` stays pure.
pub fn mapping_for_caller() -> Mapping {
    // The kernel lets a process map only its effective ids (and the helpers check the same).
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let (subuid, subgid) = (read("/etc/subuid"), read("/etc/subgid"));
    let helpers = ["newuidmap", "newgidmap"]
        .iter()
        .all(|h| crate::process::which(h).is_some());
    choose(&Offer {
        name: &name,
        uid: uid.as_raw(),
        gid: gid.as_raw(),
        subuid: &subuid,
        subgid: &subgid,
        helpers,
    })
}

/// Moves this (single-threaded) process into a new user namespace where the caller is root,
/// mapped as `mapping_for_caller` decides, and remembers it for `active`.
pub fn enter() -> Result<&'static Rootless, RootlessError> {
    if let Some(r) = active() {
        return Ok(r);
    }
    let mapping = mapping_for_caller();
    if mapping.uses_helpers() {
        enter_with_helpers(&mapping)?;
    } else {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(step(UNSHARE))?;
        // Without `deny` the kernel refuses an unprivileged gid map (setgroups could drop a
        // group that denies access).
        write_proc("/proc/self/setgroups", "deny", "write /proc/self/setgroups")?;
        write_proc(
            "/proc/self/uid_map",
            &mapping.uid.map_text(),
            "write /proc/self/uid_map",
        )?;
        write_proc(
            "/proc/self/gid_map",
            &mapping.gid.map_text(),
            "write /proc/self/gid_map",
        )?;
    }
    Ok(ACTIVE.get_or_init(|| Rootless {
        uid: mapping.uid.own,
        gid: mapping.gid.own,
        mapping: mapping.kind().into(),
        uid_map: mapping.uid.map_text().trim_end().replace('\n', ", "),
        gid_map: mapping.gid.map_text().trim_end().replace('\n', ", "),
        uids_inside: mapping.uid.ids_inside(),
        gids_inside: mapping.gid.ids_inside(),
    }))
}

fn write_proc(path: &str, text: &str, what: &'static str) -> Result<(), RootlessError> {
    std::fs::write(path, text).map_err(|e| RootlessError::Step {
        step: what,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

/// newuidmap and newgidmap must write the maps from outside the namespace: a helper process
/// forked before the unshare waits for it, runs both, and exits with how they went.
fn enter_with_helpers(mapping: &Mapping) -> Result<(), RootlessError> {
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(step("pipe2"))?;
    let target = std::process::id().to_string();
    // SAFETY: the process is single-threaded (the unshare below needs that too), so the child
    // may allocate and run commands.
    match unsafe { nix::unistd::fork() }.map_err(step("fork the id-map helper"))? {
        nix::unistd::ForkResult::Child => {
            drop(go_w);
            let mut byte = [0u8; 1];
            let go = std::fs::File::from(go_r).read(&mut byte).unwrap_or(0) == 1;
            let code = if go { run_helpers(&target, mapping) } else { 3 };
            // SAFETY: leaves the forked copy without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(go_r);
            let unshared = nix::sched::unshare(CloneFlags::CLONE_NEWUSER);
            let mut go_w = std::fs::File::from(go_w);
            if unshared.is_ok() {
                let _ = go_w.write_all(b"g");
            }
            drop(go_w);
            let status = nix::sys::wait::waitpid(child, None);
            unshared.map_err(step(UNSHARE))?;
            match status.map_err(step("wait for the id-map helper"))? {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                nix::sys::wait::WaitStatus::Exited(_, 1) => Err(RootlessError::Helper {
                    helper: "newuidmap",
                    status: "exit status 1".into(),
                }),
                nix::sys::wait::WaitStatus::Exited(_, 2) => Err(RootlessError::Helper {
                    helper: "newgidmap",
                    status: "exit status 1".into(),
                }),
                other => Err(RootlessError::Helper {
                    helper: "the id-map helper",
                    status: format!("{other:?}"),
                }),
            }
        }
    }
}

/// In the helper: 0 when both maps were written, 1 when newuidmap failed, 2 newgidmap.
fn run_helpers(target: &str, mapping: &Mapping) -> i32 {
    for (code, helper, side) in [
        (1, "newuidmap", &mapping.uid),
        (2, "newgidmap", &mapping.gid),
    ] {
        let ok = std::process::Command::new(helper)
            .arg(target)
            .args(side.helper_args())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return code;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_unshare_says_what_the_machine_forbids() {
        let e = RootlessError::Step {
            step: UNSHARE,
            errno: Errno::EPERM,
        }
        .to_string();
        assert!(
            e.starts_with("rootless mode: unshare a user namespace: EPERM"),
            "{e}"
        );
        assert!(e.contains("max_user_namespaces") && e.ends_with("run isoprobe as root instead"));
        let other = RootlessError::Step {
            step: "write /proc/self/uid_map",
            errno: Errno::EPERM,
        }
        .to_string();
        assert!(!other.contains("max_user_namespaces"), "{other}");
    }
}
