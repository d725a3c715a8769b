//! The child's setup steps, in the order it takes them. A failed step travels back to the
//! parent as its number and errno, and becomes a [`crate::spawner::SpawnError::Child`] that
//! names the step, the path and what to do.

use nix::errno::Errno;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    ParentDeathSignal = 1,
    RedirectStdio,
    WaitForParent,
    SetGid,
    SetUid,
    UnshareCgroup,
    MakeMountsPrivate,
    BindRootfs,
    BindMount,
    MountProc,
    MountDev,
    MakeDevNode,
    MountDevpts,
    LinkDev,
    ChdirRootfs,
    PivotRoot,
    DetachOldRoot,
    Chroot,
    ChdirRoot,
    SetHostname,
    DropCapability,
    SetGroups,
    SetUser,
    NoNewPrivs,
    Exec,
}

impl Step {
    const ALL: [Step; 25] = [
        Step::ParentDeathSignal,
        Step::RedirectStdio,
        Step::WaitForParent,
        Step::SetGid,
        Step::SetUid,
        Step::UnshareCgroup,
        Step::MakeMountsPrivate,
        Step::BindRootfs,
        Step::BindMount,
        Step::MountProc,
        Step::MountDev,
        Step::MakeDevNode,
        Step::MountDevpts,
        Step::LinkDev,
        Step::ChdirRootfs,
        Step::PivotRoot,
        Step::DetachOldRoot,
        Step::Chroot,
        Step::ChdirRoot,
        Step::SetHostname,
        Step::DropCapability,
        Step::SetGroups,
        Step::SetUser,
        Step::NoNewPrivs,
        Step::Exec,
    ];

    pub fn from_u32(n: u32) -> Option<Step> {
        Step::ALL.into_iter().find(|s| *s as u32 == n)
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::ParentDeathSignal => "prctl(PR_SET_PDEATHSIG)",
            Step::RedirectStdio => "dup2 stdio",
            Step::WaitForParent => "wait for the parent",
            Step::SetGid => "setresgid(0)",
            Step::SetUid => "setresuid(0)",
            Step::UnshareCgroup => "unshare(CLONE_NEWCGROUP)",
            Step::MakeMountsPrivate => "make / rprivate",
            Step::BindRootfs => "bind-mount the rootfs",
            Step::BindMount => "bind-mount into the rootfs",
            Step::MountProc => "mount proc",
            Step::MountDev => "mount a tmpfs on /dev",
            Step::MakeDevNode => "mknod a standard device in /dev",
            Step::MountDevpts => "mount devpts on /dev/pts",
            Step::LinkDev => "symlink in /dev",
            Step::ChdirRootfs => "chdir into the rootfs",
            Step::PivotRoot => "pivot_root",
            Step::DetachOldRoot => "detach the old root",
            Step::Chroot => "chroot",
            Step::ChdirRoot => "chdir /",
            Step::SetHostname => "sethostname",
            Step::DropCapability => "prctl(PR_CAPBSET_DROP)",
            Step::SetGroups => "setgroups(0)",
            Step::SetUser => "setresgid/setresuid to the container user",
            Step::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Step::Exec => "execve",
        }
    }

    /// What the user can do about `errno` at this step, when we know.
    pub fn advice(self, errno: Errno) -> &'static str {
        match (self, errno) {
            (Step::PivotRoot, Errno::EINVAL) => {
                "pivot_root refuses an initramfs root (switch_root to a tmpfs first) and a \
                 new root whose parent mount is shared"
            }
            (Step::Exec, Errno::ENOENT) => {
                "the agent is not in the rootfs at that path (or an ELF interpreter it needs is \
                 missing): it must be the static isoprobe-agent"
            }
            (Step::Exec, Errno::EACCES) => {
                "the agent is not executable for the container's user, or the rootfs is on a \
                 noexec mount: chmod 0755 it, or use a rootfs on an exec mount"
            }
            (Step::Exec, Errno::ENOEXEC) => "the agent is not an executable for this machine",
            (Step::MountProc, Errno::EPERM) => {
                "a proc mount inside a user namespace needs a new pid namespace and a fully \
                 visible /proc on the host"
            }
            (_, Errno::EPERM) => "run isoprobe as root (with CAP_SYS_ADMIN)",
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_its_number() {
        for s in Step::ALL {
            assert_eq!(Step::from_u32(s as u32), Some(s));
        }
        assert_eq!(Step::from_u32(0), None);
        assert_eq!(Step::from_u32(999), None);
    }
}
