//! The child's setup steps, in the order it takes them. A failed step travels back to the
//! parent as its number and errno, and becomes a [`crate::spawner::SpawnError::Child`] that
//! names the step, the path and what to do.

use nix::errno::Errno;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    ParentDeathSignal = 1,
    RedirectStdio,
    JoinCgroup,
    LeakHostFd,
    WaitForParent,
    SetGid,
    SetUid,
    UnshareCgroup,
    MakeMountsPrivate,
    BindRootfs,
    BindMount,
    MountProc,
    MountSys,
    MaskPath,
    ReadonlyPath,
    MountDev,
    MakeDevNode,
    MountDevpts,
    LinkDev,
    ChdirRootfs,
    PivotRoot,
    DetachOldRoot,
    Chroot,
    ChdirRoot,
    Chdir,
    SetHostname,
    DropCapability,
    SetGroups,
    SetUser,
    NoNewPrivs,
    Exec,
    Seccomp,
    ImageDevNull,
    ReopenStdio,
    ImageProc,
}

impl Step {
    // A slice, so that a new step is one line here and no count to keep.
    const ALL: &'static [Step] = &[
        Step::ParentDeathSignal,
        Step::RedirectStdio,
        Step::JoinCgroup,
        Step::LeakHostFd,
        Step::WaitForParent,
        Step::SetGid,
        Step::SetUid,
        Step::UnshareCgroup,
        Step::MakeMountsPrivate,
        Step::BindRootfs,
        Step::BindMount,
        Step::MountProc,
        Step::MountSys,
        Step::MaskPath,
        Step::ReadonlyPath,
        Step::MountDev,
        Step::MakeDevNode,
        Step::MountDevpts,
        Step::LinkDev,
        Step::ChdirRootfs,
        Step::PivotRoot,
        Step::DetachOldRoot,
        Step::Chroot,
        Step::ChdirRoot,
        Step::Chdir,
        Step::SetHostname,
        Step::DropCapability,
        Step::SetGroups,
        Step::SetUser,
        Step::NoNewPrivs,
        Step::Exec,
        Step::Seccomp,
        Step::ImageDevNull,
        Step::ReopenStdio,
        Step::ImageProc,
    ];

    pub fn from_u32(n: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == n)
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::ParentDeathSignal => "prctl(PR_SET_PDEATHSIG)",
            Step::RedirectStdio => "dup2 stdio",
            Step::JoinCgroup => "join the container's cgroups (write 0 to tasks or cgroup.procs)",
            Step::WaitForParent => "wait for the parent",
            Step::SetGid => "setresgid(0)",
            Step::SetUid => "setresuid(0)",
            Step::UnshareCgroup => "unshare(CLONE_NEWCGROUP)",
            Step::MakeMountsPrivate => "make / rprivate",
            Step::BindRootfs => "bind-mount the rootfs",
            Step::BindMount => "bind-mount into the rootfs",
            Step::MountProc => "mount proc",
            Step::MountSys => "mount sysfs",
            Step::MaskPath => "mask a path (/dev/null or a read-only tmpfs over it)",
            Step::ReadonlyPath => "bind a path read-only onto itself",
            Step::MountDev => "mount a tmpfs on /dev",
            Step::MakeDevNode => "mknod a standard device in /dev",
            Step::MountDevpts => "mount devpts on /dev/pts",
            Step::LinkDev => "symlink in /dev",
            Step::ChdirRootfs => "chdir into the rootfs",
            Step::PivotRoot => "pivot_root",
            Step::DetachOldRoot => "detach the old root",
            Step::Chroot => "chroot",
            Step::ChdirRoot => "chdir /",
            Step::Chdir => "chdir to the working directory",
            Step::LeakHostFd => "keep the host descriptor open across exec",
            Step::SetHostname => "sethostname",
            Step::DropCapability => "prctl(PR_CAPBSET_DROP)",
            Step::SetGroups => "setgroups(0)",
            Step::SetUser => "setresgid/setresuid to the container user",
            Step::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Step::Exec => "execve",
            Step::Seccomp => "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)",
            Step::ImageDevNull => "check that the rootfs's /dev/null is the null device",
            Step::ReopenStdio => "reopen stdio through the rootfs's /dev/null",
            Step::ImageProc => "check that the rootfs's /proc is a directory, not a link",
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
            (Step::Chdir, Errno::ENOENT | Errno::ENOTDIR) => {
                "the working directory must be an existing directory inside the rootfs"
            }
            (Step::Seccomp, Errno::EINVAL) => {
                "this kernel has no seccomp filter mode (CONFIG_SECCOMP_FILTER, Linux 3.5+)"
            }
            (Step::Seccomp, Errno::EACCES) => {
                "a filter needs no_new_privs or CAP_SYS_ADMIN at the point it is installed"
            }
            (Step::MountProc, Errno::EPERM) => {
                "a proc mount inside a user namespace needs a new pid namespace and a fully \
                 visible /proc on the host"
            }
            (Step::MountSys, Errno::EPERM) => {
                "a sysfs mount needs CAP_SYS_ADMIN over the network namespace: give the \
                 container a network namespace of its own"
            }
            (Step::ReadonlyPath, Errno::EPERM) => {
                "a read-only remount that clears a locked flag (nosuid, nodev, noexec) is \
                 refused in a user namespace"
            }
            (Step::ImageDevNull, Errno::ENODEV) => {
                "the rootfs's /dev/null is not the character device 1:3 (a link, a file): it is \
                 neither used nor trusted; remove it, or give the container a standard /dev"
            }
            (Step::ImageProc, Errno::ENOTDIR) => {
                "the rootfs's /proc is a link: proc is mounted only on the container's own \
                 /proc directory, never where an image's link points"
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
        for &s in Step::ALL {
            assert_eq!(Step::from_u32(s as u32), Some(s));
        }
        assert_eq!(Step::from_u32(0), None);
        assert_eq!(Step::from_u32(999), None);
    }
}
