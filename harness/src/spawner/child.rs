//! The child's side of the spawn: a fixed checklist from clone to exec.
//!
//! The child is a clone of a thread in a possibly multi-threaded process (a test runner), so
//! until exec it may only make system calls: another thread may have held the allocator's lock
//! at the moment of the clone. Everything it needs is prepared by the parent as C strings and
//! pointer arrays in a [`ChildPlan`], and a failure is reported as two integers (step, errno)
//! written to a pipe that exec closes.

use super::masks::{make_readonly, mask, reopen_stdio, verify_dev_null, verify_not_link};
use super::step::Step;
use crate::vocabulary::RootMode;
use std::ffi::{c_char, CStr, CString};
use std::os::fd::RawFd;
use std::ptr;

/// The number a negative control's leaked host descriptor has in the container: high enough
/// to be clear of the pipes the child keeps.
pub(crate) const LEAKED_HOST_FD: RawFd = 99;

/// The standard `/dev`, as host paths under the rootfs.
pub(super) struct DevPlan {
    pub dir: CString,
    /// Character devices made with mode 0666: (path, number).
    pub nodes: Vec<(CString, libc::dev_t)>,
    pub pts: CString,
    /// (target, link path)
    pub links: Vec<(CString, CString)>,
}

/// Everything the child does, decided by the parent.
pub(super) struct ChildPlan {
    pub sync_fd: RawFd,
    pub err_fd: RawFd,
    pub stdio: [RawFd; 3],
    /// The join file (`cgroup::open_join_file`) of each cgroup the child joins by itself by
    /// writing `0`, then says so on `joined_fd`; empty when it was born in its cgroup or has
    /// none.
    pub join_cgroups: Vec<RawFd>,
    pub joined_fd: RawFd,
    /// The child is in a new user namespace: become its root, and no setgroups.
    pub in_user_ns: bool,
    pub unshare_cgroup: bool,
    pub make_mounts_private: bool,
    /// The mount the rootfs lives on. When mounts are not made private it is still made
    /// private on its own (not recursively): pivot_root refuses a shared parent, and a bind on
    /// a shared mount would propagate to the host.
    pub rootfs_parent_mount: Option<CString>,
    pub root_mode: RootMode,
    pub rootfs: CString,
    /// (host source, target on the host path of the rootfs)
    pub binds: Vec<(CString, CString)>,
    pub proc_target: Option<CString>,
    /// Refuse a `proc_target` that is a link (the image's `/proc` must be a directory).
    pub proc_check: bool,
    /// Where a read-only sysfs goes (host path of the rootfs's /sys).
    pub sys_target: Option<CString>,
    /// Host paths (in the rootfs, below the new /proc or /sys) to mask, then to make
    /// read-only; each is looked at in the child, as only there is the new /proc mounted.
    pub masks: Vec<CString>,
    /// What covers a masked file: the host's `/dev/null`, or in a negative control the
    /// image's (see `masks`).
    pub mask_source: CString,
    /// The rootfs's `/dev/null` (host path), checked to be the null device before anything is
    /// mounted, when no standard `/dev` covers it.
    pub dev_null_check: Option<CString>,
    /// Reopen stdio through this after the masks (a negative control).
    pub stdio_through: Option<CString>,
    pub readonly: Vec<CString>,
    pub dev: Option<DevPlan>,
    /// Where the old root goes when it is kept (`None`: detach it).
    pub put_old: Option<CString>,
    pub hostname: Option<CString>,
    pub drop_caps: Vec<u32>,
    pub user: Option<(u32, u32)>,
    pub no_new_privs: bool,
    /// The working directory, changed to after the root changed.
    pub cwd: Option<CString>,
    /// The weak variant a negative control needs: the working directory as a host path under
    /// the rootfs, looked up on the host just before the root changes (symlinks and `..`
    /// resolve against the host's root) and entered after it.
    pub cwd_on_host: Option<CString>,
    /// A host directory's descriptor (opened close-on-exec by the parent) to keep across exec,
    /// or -1.
    pub leak_fd: RawFd,
    /// The seccomp filters, in install order (empty: none).
    pub seccomp: Vec<seccompiler::BpfProgram>,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    env_ptrs: Vec<*const c_char>,
    seccomp_progs: Vec<libc::sock_fprog>,
}

impl ChildPlan {
    pub fn new(sync_fd: RawFd, err_fd: RawFd, stdio: [RawFd; 3], rootfs: CString) -> ChildPlan {
        ChildPlan {
            sync_fd,
            err_fd,
            stdio,
            join_cgroups: Vec::new(),
            joined_fd: -1,
            in_user_ns: false,
            unshare_cgroup: false,
            make_mounts_private: true,
            rootfs_parent_mount: None,
            root_mode: RootMode::PivotRoot,
            rootfs,
            binds: Vec::new(),
            proc_target: None,
            proc_check: false,
            sys_target: None,
            masks: Vec::new(),
            mask_source: c"/dev/null".into(),
            dev_null_check: None,
            stdio_through: None,
            readonly: Vec::new(),
            dev: None,
            put_old: None,
            hostname: None,
            drop_caps: Vec::new(),
            user: None,
            no_new_privs: false,
            cwd: None,
            cwd_on_host: None,
            leak_fd: -1,
            seccomp: Vec::new(),
            argv: Vec::new(),
            env: Vec::new(),
            argv_ptrs: Vec::new(),
            env_ptrs: Vec::new(),
            seccomp_progs: Vec::new(),
        }
    }

    /// Builds the pointer arrays execve and seccomp need; call after the last change to argv,
    /// env and the filters.
    pub fn seal(&mut self) {
        self.seccomp_progs = self
            .seccomp
            .iter()
            .map(|p| libc::sock_fprog {
                len: p.len() as libc::c_ushort,
                // seccompiler's sock_filter is the kernel's struct sock_filter (repr(C)).
                filter: p.as_ptr() as *mut libc::sock_filter,
            })
            .collect();
        self.argv_ptrs = self
            .argv
            .iter()
            .map(|s| s.as_ptr())
            .chain([ptr::null()])
            .collect();
        self.env_ptrs = self
            .env
            .iter()
            .map(|s| s.as_ptr())
            .chain([ptr::null()])
            .collect();
    }
}

/// The size of a failure record: step (u32) then errno (i32), native endian.
pub(super) const RECORD_LEN: usize = 8;

pub(super) fn fail(plan: &ChildPlan, step: Step) -> ! {
    let errno = nix::errno::Errno::last_raw();
    let mut rec = [0u8; RECORD_LEN];
    rec[..4].copy_from_slice(&(step as u32).to_ne_bytes());
    rec[4..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: plain syscalls on fds the plan owns; the record is smaller than PIPE_BUF, so the
    // write is atomic.
    unsafe {
        libc::write(plan.err_fd, rec.as_ptr().cast(), RECORD_LEN);
        libc::_exit(127)
    }
}

pub(super) fn check(plan: &ChildPlan, step: Step, rc: libc::c_long) {
    if rc < 0 {
        fail(plan, step)
    }
}

pub(super) fn mount(
    src: &CStr,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
) -> libc::c_long {
    mount_with(src, target, fstype, flags, None)
}

fn mount_with(
    src: &CStr,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> libc::c_long {
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.map_or(ptr::null(), CStr::as_ptr),
            flags,
            data.map_or(ptr::null(), |d| d.as_ptr().cast()),
        ) as libc::c_long
    }
}

/// The standard `/dev`: a tmpfs (without `nodev`, or no node in it would open), the
/// character devices, a devpts of its own for `ptmx`, and the links. Only system calls.
fn make_dev(plan: &ChildPlan, dev: &DevPlan) {
    check(
        plan,
        Step::MountDev,
        mount_with(
            c"tmpfs",
            &dev.dir,
            Some(c"tmpfs"),
            libc::MS_NOSUID | libc::MS_STRICTATIME,
            Some(c"mode=755,size=65536k"),
        ),
    );
    for (path, number) in &dev.nodes {
        // SAFETY: a path prepared by the parent; the chmod undoes the umask.
        unsafe {
            check(
                plan,
                Step::MakeDevNode,
                libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, *number) as _,
            );
            check(
                plan,
                Step::MakeDevNode,
                libc::chmod(path.as_ptr(), 0o666) as _,
            );
        }
    }
    // SAFETY: as above.
    unsafe {
        check(
            plan,
            Step::MountDevpts,
            libc::mkdir(dev.pts.as_ptr(), 0o755) as _,
        );
    }
    check(
        plan,
        Step::MountDevpts,
        mount_with(
            c"devpts",
            &dev.pts,
            Some(c"devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(c"newinstance,ptmxmode=0666,mode=0620"),
        ),
    );
    for (target, link) in &dev.links {
        // SAFETY: as above.
        unsafe {
            check(
                plan,
                Step::LinkDev,
                libc::symlink(target.as_ptr(), link.as_ptr()) as _,
            );
        }
    }
}

// The credential calls go to the kernel directly, never through glibc's wrappers: those make
// every thread of the process change too, walking the thread list the child inherited from its
// multi-threaded parent and signalling each tid with tgkill(getpid(), tid) until none answers.
// In the child that list is stale, and where isoprobe is PID 1 (a kernel-matrix guest) its main
// thread's tid is 1, which in the container's PID namespace is the child itself: it answers
// every time and the wrapper spins forever.
fn raw_setresuid(uid: libc::uid_t) -> libc::c_long {
    // SAFETY: a system call without pointers.
    unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }
}

fn raw_setresgid(gid: libc::gid_t) -> libc::c_long {
    // SAFETY: a system call without pointers.
    unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }
}

/// Installs the plan's seccomp filters, without allocating. prctl rather than seccomp(2):
/// the same filter mode, and there since Linux 3.5 (seccomp(2) came in 3.17).
fn install_seccomp(plan: &ChildPlan) {
    for prog in &plan.seccomp_progs {
        // SAFETY: `prog` points into filters the plan owns, alive until exec.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                prog as *const libc::sock_fprog,
            )
        };
        check(plan, Step::Seccomp, rc as libc::c_long);
    }
}

/// Runs in the cloned child. Never returns: it execs or exits.
pub(super) fn child_main(plan: &ChildPlan) -> isize {
    // SAFETY: each call below is a system call on memory prepared before the clone.
    unsafe {
        // Tied to the spawning thread, which lives until this child is reaped.
        check(
            plan,
            Step::ParentDeathSignal,
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) as _,
        );
        for (target, fd) in plan.stdio.iter().enumerate() {
            check(
                plan,
                Step::RedirectStdio,
                libc::dup2(*fd, target as i32) as _,
            );
        }

        if !plan.join_cgroups.is_empty() {
            for fd in &plan.join_cgroups {
                check(
                    plan,
                    Step::JoinCgroup,
                    libc::write(*fd, c"0".as_ptr().cast(), 1) as _,
                );
            }
            check(
                plan,
                Step::JoinCgroup,
                libc::write(plan.joined_fd, c"j".as_ptr().cast(), 1) as _,
            );
        }

        // Only the sync and error pipes stay: the sync pipe reads EOF when the parent dies only
        // once no copy of its write end is left (a parent killed before the death signal was
        // armed is then noticed), and other threads' descriptors must not live on in here.
        // The leak a negative control asks for takes one fixed number, so that its report
        // does not depend on how many descriptors the caller had open; dup3 without flags
        // also clears close-on-exec, here in this child only: the parent's other threads
        // never see it without the flag.
        let mut leak_fd = plan.leak_fd;
        if leak_fd >= 0 && ![leak_fd, plan.sync_fd, plan.err_fd].contains(&LEAKED_HOST_FD) {
            check(
                plan,
                Step::LeakHostFd,
                libc::dup3(leak_fd, LEAKED_HOST_FD, 0) as _,
            );
            leak_fd = LEAKED_HOST_FD;
        }
        crate::process::close_all_but(&mut [plan.sync_fd, plan.err_fd, leak_fd]);
        if leak_fd >= 0 {
            check(
                plan,
                Step::LeakHostFd,
                libc::fcntl(leak_fd, libc::F_SETFD, 0) as _,
            );
        }

        // The parent writes the id maps and places us in the cgroup, then says go. EOF means
        // it gave up: leave without a report.
        let mut go = 0u8;
        let n = loop {
            let n = libc::read(plan.sync_fd, (&mut go as *mut u8).cast(), 1);
            if n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                continue;
            }
            break n;
        };
        if n != 1 {
            libc::_exit(1);
        }

        if plan.in_user_ns {
            check(plan, Step::SetGid, raw_setresgid(0));
            check(plan, Step::SetUid, raw_setresuid(0));
        }
        // After joining the cgroup, so that the namespace's root is the container's own cgroup.
        if plan.unshare_cgroup {
            check(
                plan,
                Step::UnshareCgroup,
                libc::unshare(libc::CLONE_NEWCGROUP) as _,
            );
        }
        if plan.make_mounts_private {
            check(
                plan,
                Step::MakeMountsPrivate,
                mount(c"none", c"/", None, libc::MS_REC | libc::MS_PRIVATE),
            );
        } else if let Some(parent) = &plan.rootfs_parent_mount {
            for m in [c"/", parent.as_c_str()] {
                check(
                    plan,
                    Step::MakeMountsPrivate,
                    mount(c"none", m, None, libc::MS_PRIVATE),
                );
            }
        }

        let proc_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        // Binds and /proc go in before the root changes: the sources are host paths, and inside
        // a user namespace the kernel allows a new proc mount only while a fully visible one
        // (the host's) is still in the tree.
        let mount_into_rootfs = |plan: &ChildPlan| {
            if let Some(dev_null) = &plan.dev_null_check {
                verify_dev_null(plan, dev_null);
            }
            for (src, target) in &plan.binds {
                check(
                    plan,
                    Step::BindMount,
                    mount(src, target, None, libc::MS_BIND | libc::MS_REC),
                );
            }
            if let Some(target) = &plan.proc_target {
                if plan.proc_check {
                    verify_not_link(plan, target);
                }
                check(
                    plan,
                    Step::MountProc,
                    mount(c"proc", target, Some(c"proc"), proc_flags),
                );
            }
            if let Some(target) = &plan.sys_target {
                check(
                    plan,
                    Step::MountSys,
                    mount(
                        c"sysfs",
                        target,
                        Some(c"sysfs"),
                        proc_flags | libc::MS_RDONLY,
                    ),
                );
            }
            // After /proc and /sys, which hold what they cover.
            for path in &plan.masks {
                mask(plan, path);
            }
            for path in &plan.readonly {
                make_readonly(plan, path);
            }
            if let Some(through) = &plan.stdio_through {
                reopen_stdio(plan, through);
            }
            if let Some(dev) = &plan.dev {
                make_dev(plan, dev);
            }
        };
        let open_cwd_on_host = |plan: &ChildPlan| match &plan.cwd_on_host {
            Some(path) => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                );
                check(plan, Step::Chdir, fd as _);
                fd
            }
            None => -1,
        };
        let mut cwd_on_host = -1;
        match plan.root_mode {
            RootMode::PivotRoot => {
                // pivot_root needs the new root to be a mount point.
                check(
                    plan,
                    Step::BindRootfs,
                    mount(
                        &plan.rootfs,
                        &plan.rootfs,
                        None,
                        libc::MS_BIND | libc::MS_REC,
                    ),
                );
                mount_into_rootfs(plan);
                cwd_on_host = open_cwd_on_host(plan);
                check(
                    plan,
                    Step::ChdirRootfs,
                    libc::chdir(plan.rootfs.as_ptr()) as _,
                );
                match &plan.put_old {
                    None => {
                        // pivot_root(".", "."): the old root ends up stacked on the new one,
                        // and the detach takes it away without needing a directory for it. A
                        // descriptor of the old root, opened before, lets us name it alone.
                        let old = libc::open(
                            c"/".as_ptr(),
                            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
                        );
                        check(plan, Step::PivotRoot, old as _);
                        check(
                            plan,
                            Step::PivotRoot,
                            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()),
                        );
                        check(plan, Step::DetachOldRoot, libc::fchdir(old) as _);
                        libc::close(old);
                        // rslave first: where the host's mounts are shared, the detach would
                        // otherwise propagate and unmount them on the host. Only the old root:
                        // the new root keeps the propagation it was given.
                        check(
                            plan,
                            Step::DetachOldRoot,
                            mount(c"none", c".", None, libc::MS_SLAVE | libc::MS_REC),
                        );
                        check(
                            plan,
                            Step::DetachOldRoot,
                            libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as _,
                        );
                    }
                    Some(put_old) => {
                        // The weak variant a negative control needs: the old root stays
                        // mounted inside the new one.
                        libc::mkdir(put_old.as_ptr(), 0o700);
                        check(
                            plan,
                            Step::PivotRoot,
                            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), put_old.as_ptr()),
                        );
                    }
                }
                check(plan, Step::ChdirRoot, libc::chdir(c"/".as_ptr()) as _);
            }
            RootMode::Chroot => {
                mount_into_rootfs(plan);
                cwd_on_host = open_cwd_on_host(plan);
                check(plan, Step::Chroot, libc::chroot(plan.rootfs.as_ptr()) as _);
                check(plan, Step::ChdirRoot, libc::chdir(c"/".as_ptr()) as _);
            }
            RootMode::None => mount_into_rootfs(plan),
        }
        // After the root changed and /proc is the container's: the path resolves inside it,
        // and `/proc/self/fd/N` names only this child's own descriptors (pipes, and the
        // error pipe is close-on-exec).
        if cwd_on_host >= 0 {
            check(plan, Step::Chdir, libc::fchdir(cwd_on_host) as _);
            libc::close(cwd_on_host);
        } else if let Some(cwd) = &plan.cwd {
            check(plan, Step::Chdir, libc::chdir(cwd.as_ptr()) as _);
        }

        if let Some(h) = &plan.hostname {
            check(
                plan,
                Step::SetHostname,
                libc::sethostname(h.as_ptr(), h.as_bytes().len()) as _,
            );
        }
        // Without no_new_privs the kernel accepts a filter only from a process with
        // CAP_SYS_ADMIN, which switching to an unprivileged user below takes away: so the
        // filter goes in here, while we are still root, as runc does. With no_new_privs it is
        // the very last step before exec. Either way the filter allows every call that follows.
        if !plan.no_new_privs {
            install_seccomp(plan);
        }
        for cap in &plan.drop_caps {
            check(
                plan,
                Step::DropCapability,
                libc::prctl(libc::PR_CAPBSET_DROP, *cap as libc::c_ulong, 0, 0, 0) as _,
            );
        }
        if let Some((uid, gid)) = plan.user {
            // A user namespace whose setgroups is denied has no supplementary groups to drop.
            if !plan.in_user_ns {
                check(
                    plan,
                    Step::SetGroups,
                    libc::syscall(libc::SYS_setgroups, 0, ptr::null::<libc::gid_t>()),
                );
            }
            check(plan, Step::SetUser, raw_setresgid(gid));
            check(plan, Step::SetUser, raw_setresuid(uid));
        }
        if plan.no_new_privs {
            check(
                plan,
                Step::NoNewPrivs,
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as _,
            );
            install_seccomp(plan);
        }

        libc::execve(
            plan.argv[0].as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.env_ptrs.as_ptr(),
        );
        fail(plan, Step::Exec)
    }
}
