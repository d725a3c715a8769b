//! The child's side of the spawn: a fixed checklist from clone to exec.
//!
//! The child is a clone of a thread in a possibly multi-threaded process (a test runner), so
//! until exec it may only make system calls: another thread may have held the allocator's lock
//! at the moment of the clone. Everything it needs is prepared by the parent as C strings and
//! pointer arrays in a [`ChildPlan`], and a failure is reported as two integers (step, errno)
//! written to a pipe that exec closes.

use super::spec::RootMode;
use super::step::Step;
use std::ffi::{c_char, CStr, CString};
use std::os::fd::RawFd;
use std::ptr;

pub(super) struct ChildPlan {
    pub sync_fd: RawFd,
    pub err_fd: RawFd,
    pub stdio: [RawFd; 3],
    pub set_ids: bool,
    pub unshare_cgroup: bool,
    pub make_mounts_private: bool,
    pub root_mode: RootMode,
    pub rootfs: CString,
    pub proc_target: Option<CString>,
    pub hostname: Option<CString>,
    pub argv0: CString,
    // Keep the strings alive for the pointer arrays below.
    _argv: Vec<CString>,
    _env: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    env_ptrs: Vec<*const c_char>,
}

impl ChildPlan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sync_fd: RawFd,
        err_fd: RawFd,
        stdio: [RawFd; 3],
        set_ids: bool,
        unshare_cgroup: bool,
        make_mounts_private: bool,
        root_mode: RootMode,
        rootfs: CString,
        proc_target: Option<CString>,
        hostname: Option<CString>,
        argv: Vec<CString>,
        env: Vec<CString>,
    ) -> ChildPlan {
        let argv0 = argv[0].clone();
        let argv_ptrs = argv
            .iter()
            .map(|s| s.as_ptr())
            .chain([ptr::null()])
            .collect();
        let env_ptrs = env
            .iter()
            .map(|s| s.as_ptr())
            .chain([ptr::null()])
            .collect();
        ChildPlan {
            sync_fd,
            err_fd,
            stdio,
            set_ids,
            unshare_cgroup,
            make_mounts_private,
            root_mode,
            rootfs,
            proc_target,
            hostname,
            argv0,
            _argv: argv,
            _env: env,
            argv_ptrs,
            env_ptrs,
        }
    }
}

/// The size of a failure record: step (u32) then errno (i32), native endian.
pub(super) const RECORD_LEN: usize = 8;

fn fail(plan: &ChildPlan, step: Step) -> ! {
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

fn check(plan: &ChildPlan, step: Step, rc: libc::c_long) {
    if rc < 0 {
        fail(plan, step)
    }
}

fn mount(src: &CStr, target: &CStr, fstype: Option<&CStr>, flags: libc::c_ulong) -> libc::c_long {
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.map_or(ptr::null(), CStr::as_ptr),
            flags,
            ptr::null(),
        ) as libc::c_long
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

        if plan.set_ids {
            check(plan, Step::SetGid, libc::setresgid(0, 0, 0) as _);
            check(plan, Step::SetUid, libc::setresuid(0, 0, 0) as _);
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
        }

        let proc_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        // /proc is mounted before the root changes: inside a user namespace the kernel allows
        // a new proc mount only while a fully visible one (the host's) is still in the tree.
        let mount_proc = |plan: &ChildPlan| {
            if let Some(target) = &plan.proc_target {
                check(
                    plan,
                    Step::MountProc,
                    mount(c"proc", target, Some(c"proc"), proc_flags),
                );
            }
        };
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
                mount_proc(plan);
                check(
                    plan,
                    Step::ChdirRootfs,
                    libc::chdir(plan.rootfs.as_ptr()) as _,
                );
                // pivot_root(".", "."): the old root ends up stacked on the new one, and the
                // detach below takes it away without needing a directory to put it in.
                check(
                    plan,
                    Step::PivotRoot,
                    libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()),
                );
                check(
                    plan,
                    Step::DetachOldRoot,
                    libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as _,
                );
                check(plan, Step::ChdirRoot, libc::chdir(c"/".as_ptr()) as _);
            }
            RootMode::Chroot => {
                mount_proc(plan);
                check(plan, Step::Chroot, libc::chroot(plan.rootfs.as_ptr()) as _);
                check(plan, Step::ChdirRoot, libc::chdir(c"/".as_ptr()) as _);
            }
            RootMode::None => mount_proc(plan),
        }

        if let Some(h) = &plan.hostname {
            check(
                plan,
                Step::SetHostname,
                libc::sethostname(h.as_ptr(), h.as_bytes().len()) as _,
            );
        }

        libc::execve(
            plan.argv0.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.env_ptrs.as_ptr(),
        );
        fail(plan, Step::Exec)
    }
}
