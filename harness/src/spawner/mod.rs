//! The native spawner: clone a child into new namespaces, set it up step by step, exec.
//!
//! The order follows what real runtimes do (bubblewrap, crun): the parent clones, writes the
//! uid/gid maps (setgroups "deny" first) and places the child in its cgroup while the child
//! waits on a pipe; then the child makes mounts private, binds the rootfs and the extra
//! directories, mounts /proc *before* it pivots (inside a user namespace the kernel accepts a
//! new proc only while a fully visible one is still in the mount tree), pivots into the
//! rootfs, sets the hostname and execs. A child step that fails comes back as
//! `{step, errno, path}`.
//!
//! The whole spawn runs on a thread of its own: a time namespace can only be entered through
//! `unshare(CLONE_NEWTIME)` of the parent (clone's flag word has no room for it), which must not
//! touch the caller's thread, and the parent-death signal is tied to the thread that cloned.
//! The offsets are written for that thread before the clone, so the child starts inside the
//! namespace (5.10 and 6.1 do not move a process into it at exec).

mod child;
mod error;
mod etc_files;
mod in_root;
mod masks;
mod plan;
mod spec;
mod step;

pub use error::SpawnError;
pub use etc_files::write_etc_files;
pub use in_root::resolve_in_root;
pub use spec::{CgroupPlacement, SpawnSpec};
pub use step::Step;

use crate::cgroup::{self, ContainerCgroups, DeviceCgroup};
use crate::process::{self, pipe, Bound, ChildGuard};
use crate::vocabulary::{CgroupSample, ExitKind, HostStepError, RootMode};
use child::{child_main, ChildPlan, RECORD_LEN};
use isoprobe_probes::NsType;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use plan::child_plan;
use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SpawnOutcome {
    pub exit: ExitKind,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The child's pid as the host sees it.
    pub host_pid: i32,
    /// `NSpid` of the child, read from the host's /proc while it waited to start.
    pub host_nspid: Option<Vec<i32>>,
    /// `/proc/<pid>/cgroup` of the child, read from the host after it joined its cgroups.
    pub host_cgroup: Option<Vec<String>>,
    /// User + system time of the child and its reaped descendants (from wait4).
    pub cpu_time: Duration,
    pub wall_time: Duration,
    pub cgroup: Option<CgroupSample>,
}

const CHILD_STACK: usize = 1 << 20;

/// Checks the spec against the machine before anything is started, so that bad input gets a
/// message about the input and not an errno from deep in the child.
pub fn validate(spec: &SpawnSpec) -> Result<(), SpawnError> {
    let invalid = |m: String| Err(SpawnError::InvalidSpec(m));
    if !nix::unistd::geteuid().is_root() {
        return invalid(
            "the native spawner needs root (it creates namespaces, mounts and cgroups): \
             run isoprobe with sudo or as root"
                .into(),
        );
    }
    let Some(argv0) = spec.argv.first() else {
        return invalid("no command to run in the container".into());
    };
    if spec.root_mode == RootMode::PivotRoot && !spec.has(NsType::Mnt) {
        return invalid(
            "root mode pivot-root needs a mount namespace (it would move the host's root)".into(),
        );
    }
    if spec.root_mode != RootMode::None {
        match fs::metadata(&spec.rootfs) {
            Err(e) => {
                return invalid(format!(
                    "rootfs `{}` cannot be used: {e}; give an existing directory",
                    spec.rootfs.display()
                ))
            }
            Ok(m) if !m.is_dir() => {
                return invalid(format!(
                    "rootfs `{}` is not a directory; give the directory of an unpacked root file system",
                    spec.rootfs.display()
                ))
            }
            Ok(_) => {}
        }
        // A link is the child's to refuse as a setup step (or the control's to follow).
        let proc = spec.rootfs.join("proc");
        let link = proc
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if spec.has(NsType::Mnt) && !link && !proc.is_dir() {
            return invalid(format!(
                "rootfs `{}` has no /proc directory to mount proc on; create it (mkdir {}/proc)",
                spec.rootfs.display(),
                spec.rootfs.display()
            ));
        }
    }
    let exe = host_path_of(spec, argv0);
    match fs::metadata(&exe) {
        Err(e) => {
            return invalid(format!(
                "the agent `{argv0}` is missing in the rootfs (`{}`: {e}); copy the static \
                 isoprobe-agent there",
                exe.display()
            ))
        }
        Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => {
            return invalid(format!(
                "the agent `{}` is not an executable file; chmod 0755 it",
                exe.display()
            ))
        }
        Ok(_) => {}
    }
    for (src, target) in &spec.binds {
        if !src.is_dir() {
            return invalid(format!(
                "bind source `{}` is not a directory",
                src.display()
            ));
        }
        let t = bind_target_of(spec, target);
        if spec.root_mode == RootMode::None || !t.is_dir() {
            return invalid(format!(
                "bind target `{target}` must be an existing directory in the rootfs (`{}`)",
                t.display()
            ));
        }
    }
    if spec.mount_sys && spec.root_mode != RootMode::None && !host_path_of(spec, "/sys").is_dir() {
        return invalid(format!(
            "rootfs `{}` has no /sys directory to mount sysfs on; create it",
            spec.rootfs.display()
        ));
    }
    let covered = spec.masked_paths.iter().chain(&spec.readonly_paths);
    if let Some(bad) = covered
        .clone()
        .find(|p| !p.starts_with('/') || p.split('/').any(|c| c == ".."))
    {
        return invalid(format!(
            "masked or read-only path `{bad}` must be absolute, without `..`"
        ));
    }
    if (covered.count() > 0 || spec.mount_sys) && !spec.has(NsType::Mnt) {
        return invalid("masked and read-only paths and /sys need a mount namespace".into());
    }
    if spec.devices.standard_dev() && (spec.root_mode == RootMode::None || !spec.has(NsType::Mnt)) {
        return invalid(
            "a standard /dev is a tmpfs over the rootfs's /dev: it needs a root and a mount \
             namespace"
                .into(),
        );
    }
    if spec.etc_files && spec.root_mode == RootMode::None {
        return invalid("the engine's /etc files need a rootfs to be written into".into());
    }
    if spec.time_offsets.is_some() && !spec.has(NsType::Time) {
        return invalid("time offsets need a time namespace".into());
    }
    if !spec.detach_old_root && spec.root_mode != RootMode::PivotRoot {
        return invalid("keeping the old root only makes sense with pivot-root".into());
    }
    if let Some(h) = &spec.hostname {
        if h.is_empty() || h.len() > 64 || h.contains('\0') {
            return invalid(format!("hostname `{h}` must be 1 to 64 bytes without NUL"));
        }
    }
    Ok(())
}

fn host_path_of(spec: &SpawnSpec, inside: &str) -> PathBuf {
    match spec.root_mode {
        RootMode::None => PathBuf::from(inside),
        _ => spec.rootfs.join(inside.trim_start_matches('/')),
    }
}

/// Where a bind onto `inside` goes on the host: resolved inside the rootfs (a hostile image
/// may have a symlink there), or naively joined, symlinks followed on the host, when a
/// negative control asks for it.
fn bind_target_of(spec: &SpawnSpec, inside: &str) -> PathBuf {
    match spec.root_mode {
        RootMode::None => PathBuf::from(inside),
        _ if spec.binds_on_host => host_path_of(spec, inside),
        _ => resolve_in_root(&spec.rootfs, inside),
    }
}

/// Runs the spec to completion and returns what the container printed and how it ended.
pub fn spawn(spec: &SpawnSpec) -> Result<SpawnOutcome, SpawnError> {
    validate(spec)?;
    if spec.etc_files {
        write_etc_files(
            &spec.rootfs,
            spec.hostname.as_deref(),
            spec.etc_files_on_host,
        )?;
    }
    let cg = match &spec.cgroup {
        CgroupPlacement::None => None,
        CgroupPlacement::Own(limits) => Some(
            ContainerCgroups::create(&cgroup::unique_name("spawn"), *limits)
                .map_err(SpawnError::CgroupUnavailable)?,
        ),
    };
    let devices = if spec.devices.restricted() {
        Some(
            DeviceCgroup::create(&cgroup::unique_name("devices"), &cgroup::standard_rules())
                .map_err(SpawnError::CgroupUnavailable)?,
        )
    } else {
        None
    };
    // On v2 a process is in one cgroup of the hierarchy: the device cgroup would take it out of
    // its limits' cgroup. No check asks for both yet; the program would then go on that one.
    if let (Some(d), Some(c)) = (&devices, &cg) {
        if let Some(parent) = d.path().parent() {
            if c.paths().iter().any(|p| p.parent() == Some(parent)) {
                return Err(SpawnError::InvalidSpec(
                    "a device cgroup together with limits on cgroup v2 is not supported yet".into(),
                ));
            }
        }
    }
    let result = std::thread::scope(|s| {
        s.spawn(|| spawn_on_this_thread(spec, cg.as_ref(), devices.as_ref()))
            .join()
            .unwrap_or_else(|_| {
                Err(SpawnError::InvalidSpec(
                    "internal error: the spawn thread panicked".into(),
                ))
            })
    });
    let mut outcome = result?;
    outcome.cgroup = cg.as_ref().map(ContainerCgroups::sample);
    Ok(outcome)
}

fn cstring(what: &str, bytes: &[u8]) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError::InvalidSpec(format!("{what} contains a NUL byte")))
}

fn spawn_on_this_thread(
    spec: &SpawnSpec,
    cg: Option<&ContainerCgroups>,
    devices: Option<&DeviceCgroup>,
) -> Result<SpawnOutcome, SpawnError> {
    let started = Instant::now();
    let (sync_r, sync_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (errout_r, errout_w) = pipe()?;
    let devnull: OwnedFd = fs::File::open("/dev/null")
        .map_err(|e| SpawnError::parent("open", "/dev/null", e))?
        .into();

    let mut plan = child_plan(
        spec,
        [sync_r.as_raw_fd(), err_w.as_raw_fd()],
        [devnull.as_raw_fd(), out_w.as_raw_fd(), errout_w.as_raw_fd()],
    )?;
    // Close-on-exec here, so that no other thread's child inherits it; the child clears the
    // flag for itself.
    let leak: Option<OwnedFd> = match &spec.leak_dir {
        Some(dir) => Some(
            fs::File::open(dir)
                .map_err(|e| SpawnError::parent("open the directory to leak", dir, e))?
                .into(),
        ),
        None => None,
    };
    plan.leak_fd = leak.as_ref().map_or(-1, |fd| fd.as_raw_fd());

    if spec.has(NsType::Time) {
        // Affects only this thread's future children, never the caller's thread.
        nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
            .map_err(|e| SpawnError::parent("unshare(CLONE_NEWTIME)", "-", e.into()))?;
        if let Some((mono, boot)) = spec.time_offsets {
            // Written before the clone, while no process is in the namespace yet, and the
            // child enters it at clone. A child that unshared for itself would enter it only
            // at exec, which 5.10 and 6.1 do not do (the agent stayed in the host's time
            // namespace there). /proc/self names the thread group leader; this thread's own
            // namespace for children is read through its tid.
            let path = format!("/proc/{}/timens_offsets", nix::unistd::gettid());
            fs::write(&path, format!("monotonic {mono} 0\nboottime {boot} 0\n"))
                .map_err(|e| SpawnError::parent("write the time offsets", path, e))?;
        }
    }
    let flags = spec
        .namespaces
        .iter()
        // Time is entered through unshare above; cgroup by the child after it joins its cgroup.
        .filter(|t| !matches!(t, NsType::Time | NsType::Cgroup))
        .fold(0, |f, t| f | t.clone_flag());

    // A process placed in a cgroup by pid waits for an RCU grace period (see ARCHITECTURE.md,
    // "Where a native spawn's time goes"); one created inside its cgroup (clone3, on v2) or a
    // thread that moves itself (v1) does not. The child moves itself through these.
    let (joined_r, joined_w) = pipe()?;
    let container_procs = cg
        .map(ContainerCgroups::open_join_files)
        .transpose()?
        .unwrap_or_default();
    let device_procs = devices.map(DeviceCgroup::open_join_file).transpose()?;
    plan.joined_fd = joined_w.as_raw_fd();
    plan.join_cgroups = device_procs.iter().map(AsRawFd::as_raw_fd).collect();
    let born_in = cg
        .and_then(ContainerCgroups::single_v2_dir)
        .and_then(|dir| fs::File::open(dir).ok().map(OwnedFd::from));
    let into_cgroup = match &born_in {
        // SAFETY: as for the clone below; the child never returns from `clone_into_cgroup`.
        Some(dir) => unsafe { clone_into_cgroup(flags, dir, &plan) },
        None => None,
    };
    if into_cgroup.is_none() {
        plan.join_cgroups
            .extend(container_procs.iter().map(AsRawFd::as_raw_fd));
    }
    let joins = !plan.join_cgroups.is_empty();
    let pid = match into_cgroup {
        Some(pid) => Ok(pid),
        None => {
            let mut stack = vec![0u8; CHILD_STACK];
            // SAFETY: the child runs `child_main`, which only makes system calls on memory
            // prepared above and then execs or exits; without CLONE_VM it works on a copy of
            // this address space.
            unsafe {
                nix::sched::clone(
                    Box::new(|| child_main(&plan)),
                    &mut stack,
                    CloneFlags::from_bits_retain(flags),
                    Some(libc::SIGCHLD),
                )
            }
        }
    }
    .map_err(|e| {
        let advice = match e {
            Errno::EINVAL | Errno::ENOSPC | Errno::EPERM | Errno::EUSERS => {
                "a namespace type may be missing from this kernel, or its max_*_namespaces \
                 limit (in /proc/sys/user/) is reached"
            }
            _ => "",
        };
        SpawnError::Parent(HostStepError {
            advice,
            ..HostStepError::errno("clone", "-", e)
        })
    })?;
    let mut child = ChildGuard::new(pid, process::sigkill);
    drop((sync_r, err_w, out_w, errout_w, devnull, leak));
    drop((joined_w, container_procs, device_procs));

    let host_nspid = process::read_nspid(pid.as_raw());
    if spec.has(NsType::User) {
        write_id_maps(pid, spec)?;
    }
    // A child that failed before it joined has sent its step and errno instead: it gets no
    // "go", and the report is read below.
    let joined = !joins || wait_joined(&joined_r, spec.timeout)?;
    // Before "go": the child unshares its cgroup namespace only then, and this names its
    // cgroups as the host sees them whatever it does.
    let host_cgroup = process::read_cgroup(pid.as_raw());
    if joined {
        nix::unistd::write(&sync_w, b"g")
            .map_err(|e| SpawnError::parent("signal the child", "-", e.into()))?;
    }
    drop(sync_w);

    let io = collect_output(&child, err_r, out_r, errout_r, started, spec.timeout);
    let reaped = child.reap();
    let (stdout, stderr, record) = io?;

    if let Some(rec) = record {
        let step = Step::from_u32(u32::from_ne_bytes(rec[..4].try_into().unwrap()));
        let errno = Errno::from_raw(i32::from_ne_bytes(rec[4..].try_into().unwrap()));
        if let Some(step) = step {
            return Err(SpawnError::Child {
                step,
                errno,
                path: step_path(spec, step),
                advice: step.advice(errno),
            });
        }
    }
    Ok(SpawnOutcome {
        exit: reaped.exit,
        stdout,
        stderr,
        host_pid: pid.as_raw(),
        host_nspid,
        host_cgroup,
        cpu_time: reaped.cpu_time,
        wall_time: started.elapsed(),
        cgroup: None,
    })
}

/// Waits for the child's word that it is in its cgroups: true when it came, false when the
/// child ended first (it failed a step, and says which on the error pipe).
fn wait_joined(joined: &OwnedFd, timeout: Duration) -> Result<bool, SpawnError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SpawnError::parent(
                "wait for the child to join its cgroups",
                "-",
                std::io::Error::from_raw_os_error(libc::ETIMEDOUT),
            ));
        }
        let mut fds = [PollFd::new(joined.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(SpawnError::parent("poll", "-", e.into())),
        }
        let mut byte = [0u8; 1];
        return match nix::unistd::read(joined, &mut byte) {
            Ok(n) => Ok(n == 1),
            Err(Errno::EINTR) => continue,
            Err(e) => Err(SpawnError::parent("read", "-", e.into())),
        };
    }
}

/// `clone3` of this thread into `flags`' namespaces with `CLONE_INTO_CGROUP`: fork-like (no
/// new stack, no shared memory), the child runs `child_main` and never returns. None when it
/// fails for any reason (no clone3 before 5.3, no cgroup field before 5.7, a directory it
/// refuses, a namespace it cannot make): the caller then clones as before and joins the
/// cgroup afterwards, and a failure that is not the cgroup's is reported from there.
///
/// # Safety
/// As `nix::sched::clone` with `child_main`: the plan is ready and the child allocates nothing.
unsafe fn clone_into_cgroup(flags: i32, cgroup: &OwnedFd, plan: &ChildPlan) -> Option<Pid> {
    use crate::process::clone_args::{CloneArgs, CLONE_INTO_CGROUP};
    let args = CloneArgs {
        flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    let r = libc::syscall(
        libc::SYS_clone3,
        &args as *const CloneArgs,
        std::mem::size_of::<CloneArgs>(),
    );
    match r {
        0 => {
            child_main(plan);
            libc::_exit(127)
        }
        pid if pid > 0 => Some(Pid::from_raw(pid as i32)),
        _ => None,
    }
}

fn step_path(spec: &SpawnSpec, step: Step) -> PathBuf {
    match step {
        Step::BindRootfs | Step::ChdirRootfs | Step::PivotRoot | Step::Chroot => {
            spec.rootfs.clone()
        }
        Step::MountProc => host_path_of(spec, "/proc"),
        Step::MountSys => host_path_of(spec, "/sys"),
        Step::MaskPath => spec.masked_paths.join(", ").into(),
        Step::ImageDevNull | Step::ReopenStdio => host_path_of(spec, "/dev/null"),
        Step::ImageProc => host_path_of(spec, "/proc"),
        Step::ReadonlyPath => spec.readonly_paths.join(", ").into(),
        Step::MountDev | Step::MakeDevNode | Step::MountDevpts | Step::LinkDev => {
            host_path_of(spec, "/dev")
        }
        Step::BindMount => spec
            .binds
            .iter()
            .map(|(s, t)| format!("{} -> {t}", s.display()))
            .collect::<Vec<_>>()
            .join(", ")
            .into(),
        Step::Exec => PathBuf::from(&spec.argv[0]),
        Step::Chdir => spec.cwd.as_deref().unwrap_or("/").into(),
        Step::LeakHostFd => spec.leak_dir.clone().unwrap_or_else(|| "-".into()),
        Step::DetachOldRoot | Step::ChdirRoot | Step::MakeMountsPrivate => "/".into(),
        _ => "-".into(),
    }
}

fn write_id_maps(pid: Pid, spec: &SpawnSpec) -> Result<(), SpawnError> {
    // setgroups must be denied before an unprivileged-style gid map is accepted, and denying
    // it keeps the container from dropping supplementary groups to gain access.
    for (file, content) in [
        ("setgroups", "deny\n".to_string()),
        ("uid_map", spec.uid_map.map_line()),
        ("gid_map", spec.gid_map.map_line()),
    ] {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, content).map_err(|e| SpawnError::parent("write", path, e))?;
    }
    Ok(())
}

type Output = (Vec<u8>, Vec<u8>, Option<[u8; RECORD_LEN]>);

/// Reads the child's stdout, stderr and failure pipe until all are closed, killing the child
/// when the deadline passes or the user interrupts.
fn collect_output(
    child: &ChildGuard,
    err_r: OwnedFd,
    out_r: OwnedFd,
    errout_r: OwnedFd,
    started: Instant,
    timeout: Duration,
) -> Result<Output, SpawnError> {
    let files = [
        Some(out_r.into()),
        Some(errout_r.into()),
        Some(err_r.into()),
    ];
    let [out, err, rec] = process::collect(
        files,
        Bound::interruptible(started, timeout),
        "read the container's output",
        || child.kill(),
        |_, _, _| false,
    )?;
    let record = (rec.len() >= RECORD_LEN).then(|| rec[..RECORD_LEN].try_into().unwrap());
    Ok((out, err, record))
}

#[cfg(test)]
mod tests;
