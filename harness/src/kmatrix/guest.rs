//! isoprobe as /init of a guest kernel: set the machine up the way a host would be (proc, sys,
//! dev, a real root file system, loopback up, cgroups in the mode asked for), run the whole
//! suite in-process, print the report on the console, power off.
//!
//! The kernel command line says what to do: `isoprobe.cgroup=v1|v2` (v2 when absent),
//! optionally `isoprobe.runtime=NAME` (native when absent), `isoprobe.checks=ID,ID` (all when
//! absent) and `isoprobe.watch=SECS` (list the processes every SECS seconds, to see where a
//! hanging check waits).
//!
//! Console lines: `ISOPROBE-GUEST {json}` (what was set up, [`GuestInfo`]) before the suite,
//! then the report between `REPORT_BEGIN` and `REPORT_END`, or `ISOPROBE-GUEST-ERROR <why>`.

use super::error::GuestError;
use super::{GuestCgroup, CGROUP_PARAM, REPORT_BEGIN, REPORT_END};
use crate::engine::{self, RunOptions};
use crate::rootfs::PreparedRootfs;
use isoprobe_probes::parse::enabled_controllers;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The console line prefix of what the guest set up (JSON of [`GuestInfo`]).
pub const GUEST_INFO: &str = "ISOPROBE-GUEST";
/// The console line prefix of an error that kept the guest from reporting.
pub const GUEST_ERROR: &str = "ISOPROBE-GUEST-ERROR";
pub const RUNTIME_PARAM: &str = "isoprobe.runtime";
pub const CHECKS_PARAM: &str = "isoprobe.checks";
/// `isoprobe.watch=SECS`: every SECS seconds, list the guest's processes on the console (to see
/// where a hanging check waits).
pub const WATCH_PARAM: &str = "isoprobe.watch";
/// The console line prefix of the process lists `isoprobe.watch` asks for.
pub const GUEST_WATCH: &str = "ISOPROBE-GUEST-WATCH";
/// `isoprobe.nested=1` (v2 only): run the suite as in a privileged container with a cgroup
/// namespace of its own (Docker's default): /init moves into a cgroup `ci` (offered cpu, pids
/// and memory, enabling none), enters a new cgroup namespace and mounts cgroup2 again, so that
/// isoprobe finds itself in the namespace's root holding processes.
pub const NESTED_PARAM: &str = "isoprobe.nested";

/// Under TCG a container start takes tens of milliseconds and the CPU check's spin is timed in
/// wall-clock seconds; this bounds one container, far above what any check needs there.
const CONTAINER_TIMEOUT: Duration = Duration::from_secs(60);
/// Runs at a time in the guest, though it has one vCPU: most of a run waits (a grace
/// period, the CPU check's throttled spin, a linger) rather than computes.
const GUEST_JOBS: usize = 2;

/// v2 controllers the harness's cgroups use: cpu (quota, statistics), pids, memory.
const V2_CONTROLLERS: [&str; 3] = ["cpu", "pids", "memory"];

/// What the guest's /init set up before the suite ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestInfo {
    /// `v1` or `v2`.
    pub cgroup: String,
    /// Whether `isoprobe.cgroup=` was on the command line (v2 is the default).
    pub cgroup_param: bool,
    pub runtime: String,
    /// The checks asked for by `isoprobe.checks=`; empty: all.
    pub checks: Vec<String>,
    /// `uname -r`.
    pub release: String,
    /// Mount points set up, in order (`/sys/fs/cgroup/cpu`, ...).
    pub mounted: Vec<String>,
    /// v1 controllers listed enabled in /proc/cgroups whose hierarchy could not be mounted,
    /// with the errno (`memory` and `cpuset` on kernels built without their v1 support).
    pub cgroup_mount_failures: Vec<Failure>,
    /// v2 controllers enabled in the root's cgroup.subtree_control.
    pub controllers_enabled: Vec<String>,
    /// v2 controllers that could not be enabled (not offered, or the write failed).
    pub controllers_failed: Vec<Failure>,
    /// Whether `lo` was brought up (without it 127.0.0.1 does not exist on the guest).
    pub loopback_up: bool,
    pub setup_ms: u64,
    /// With `isoprobe.nested=1`: what isoprobe did to get its controllers in the namespace's
    /// root (`cgroup::leaf::prepare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nested: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub name: String,
    pub error: String,
}

/// What /init reads from the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestParams {
    pub cgroup: GuestCgroup,
    pub cgroup_given: bool,
    pub runtime: String,
    pub checks: Vec<String>,
    pub watch: Option<Duration>,
    pub nested: bool,
}

/// Parses `/proc/cmdline`. As with the kernel's own parameters, the last occurrence wins.
pub fn parse_cmdline(cmdline: &str) -> Result<GuestParams, GuestError> {
    let mut p = GuestParams {
        cgroup: GuestCgroup::V2,
        cgroup_given: false,
        runtime: "native".into(),
        checks: Vec::new(),
        watch: None,
        nested: false,
    };
    for word in cmdline.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            k if k == CGROUP_PARAM => {
                p.cgroup = match value {
                    "v1" => GuestCgroup::V1,
                    "v2" => GuestCgroup::V2,
                    other => {
                        return Err(GuestError::Param {
                            param: CGROUP_PARAM,
                            value: other.to_string(),
                            expected: "v1 or v2",
                        });
                    }
                };
                p.cgroup_given = true;
            }
            k if k == RUNTIME_PARAM => p.runtime = value.to_string(),
            k if k == NESTED_PARAM => p.nested = value == "1",
            k if k == WATCH_PARAM => {
                let secs: u64 = value.parse().map_err(|_| GuestError::Param {
                    param: WATCH_PARAM,
                    value: value.to_string(),
                    expected: "seconds",
                })?;
                p.watch = (secs > 0).then(|| Duration::from_secs(secs));
            }
            k if k == CHECKS_PARAM => {
                p.checks = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
            }
            _ => {}
        }
    }
    Ok(p)
}

/// /init in the guest. Prints the report (or `ISOPROBE-GUEST-ERROR <why>`) on the console and
/// powers off; returns only if the power-off itself failed, and then the kernel panics on
/// init's exit, which under `panic=-1 -no-reboot` also ends QEMU.
pub fn init_main() -> i32 {
    let outcome = std::panic::catch_unwind(run);
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(format!(
            "panic: {}",
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into())
        )),
    };
    if let Some(e) = error {
        console_write(&format!("\n{GUEST_ERROR} {}\n", one_line(&e)));
    }
    power_off()
}

fn run() -> Result<(), GuestError> {
    let started = Instant::now();
    mount_fs("proc", "/proc", "proc", "")?;
    mount_fs("sysfs", "/sys", "sysfs", "")?;
    mount_fs("devtmpfs", "/dev", "devtmpfs", "mode=0755")?;
    let cmdline =
        fs::read_to_string("/proc/cmdline").map_err(GuestError::io("read", "/proc/cmdline"))?;
    let params = parse_cmdline(&cmdline)?;
    switch_root()?;
    mount_fs("tmpfs", "/tmp", "tmpfs", "mode=1777")?;
    let mut info = GuestInfo {
        cgroup: params.cgroup.name().into(),
        cgroup_param: params.cgroup_given,
        runtime: params.runtime.clone(),
        checks: params.checks.clone(),
        release: engine::kernel().release,
        mounted: vec!["/proc".into(), "/sys".into(), "/dev".into(), "/tmp".into()],
        ..GuestInfo::default()
    };
    info.loopback_up = loopback_up().is_ok();
    match params.cgroup {
        GuestCgroup::V2 => setup_v2(&mut info)?,
        GuestCgroup::V1 => setup_v1(&mut info)?,
    }
    if params.nested {
        if params.cgroup != GuestCgroup::V2 {
            return Err(GuestError::Selection(format!(
                "{NESTED_PARAM}=1 needs {CGROUP_PARAM}=v2"
            )));
        }
        enter_container_cgroup()?;
        let prepared = crate::cgroup::leaf::prepare()
            .map_err(|e| GuestError::Selection(format!("cgroup leaf: {e}")))?;
        info.nested = Some(format!("{prepared:?}"));
    }
    info.setup_ms = started.elapsed().as_millis() as u64;
    let info_json = serde_json::to_string(&info)?;
    console_write(&format!("{GUEST_INFO} {info_json}\n"));

    if let Some(every) = params.watch {
        std::thread::spawn(move || loop {
            std::thread::sleep(every);
            console_write(&process_list());
        });
    }
    let runtime = crate::runtime::by_name(&params.runtime)
        .map_err(|e| GuestError::Selection(e.to_string()))?;
    let checks =
        crate::checks::select(&params.checks).map_err(|e| GuestError::Selection(e.to_string()))?;
    let rootfs = PreparedRootfs::fresh(crate::agent_binary::AGENT).map_err(GuestError::Rootfs)?;
    let opts = RunOptions {
        negative_controls: true,
        timeout: CONTAINER_TIMEOUT,
        jobs: GUEST_JOBS.max(crate::engine::default_jobs()),
    };
    let report =
        engine::run_checks(runtime.as_ref(), &checks, &rootfs, &opts).map_err(GuestError::Suite)?;
    let json = serde_json::to_string(&report)?;
    // Kernel messages written in the middle of the long report line would break its JSON;
    // from here on only emergencies reach the console.
    let _ = fs::write("/proc/sys/kernel/printk", "1");
    console_write(&format!("\n{REPORT_BEGIN}\n{json}\n{REPORT_END}\n"));
    Ok(())
}

/// One line per process: pid, state, what it runs, where it waits (wchan and the system call
/// it is in).
fn process_list() -> String {
    let mut out = String::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let read = |f: &str| fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
        let status = read("status");
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        let cmdline = read("cmdline").replace('\0', " ");
        // Kernel threads have no command line; only user processes tell where a check waits.
        if cmdline.trim().is_empty() {
            continue;
        }
        out.push_str(&format!(
            "{GUEST_WATCH} pid {pid} ppid {} {} uid {} wchan {} syscall {} cmd {}\n",
            field("PPid:"),
            field("State:"),
            field("Uid:").split_whitespace().next().unwrap_or(""),
            read("wchan"),
            read("syscall").trim(),
            one_line(cmdline.trim()),
        ));
    }
    out
}

fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("{:?}", Errno::from_raw(n)),
        None => e.to_string(),
    }
}

fn mount_fs(source: &str, target: &str, fstype: &str, data: &str) -> Result<(), GuestError> {
    let _ = fs::create_dir_all(target);
    // /dev must hold usable device nodes; the others hold none.
    let flags = if target == "/dev" {
        MsFlags::MS_NOSUID
    } else {
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV
    };
    mount(Some(source), target, Some(fstype), flags, Some(data))
        .map_err(GuestError::setup(format!("mount {fstype} on {target}")))
}

/// Moves / from the initramfs (rootfs) to a tmpfs, as switch_root does: the kernel refuses
/// pivot_root while the caller's root is rootfs (EINVAL on 5.10, 6.1 and 6.12), and the
/// containers' pivot_root needs a root that is a real mount.
fn switch_root() -> Result<(), GuestError> {
    let new = Path::new("/newroot");
    mount(
        Some("tmpfs"),
        new,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0755"),
    )
    .map_err(GuestError::setup("mount a tmpfs on /newroot"))?;
    let mount_points = ["proc", "sys", "dev", "newroot"];
    for entry in fs::read_dir("/").map_err(GuestError::io("read", "/"))? {
        let entry = entry.map_err(GuestError::io("read", "/"))?;
        let name = entry.file_name();
        let to = new.join(&name);
        if mount_points.iter().any(|m| name == *m) {
            if name != "newroot" {
                fs::create_dir(&to).map_err(GuestError::io("mkdir", &to))?;
            }
            continue;
        }
        copy_tree(&entry.path(), &to)?;
    }
    for m in ["proc", "sys", "dev"] {
        let from = Path::new("/").join(m);
        mount(
            Some(&from),
            &new.join(m),
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .map_err(GuestError::setup(format!("move /{m} into the new root")))?;
    }
    nix::unistd::chdir(new).map_err(GuestError::setup("chdir /newroot"))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(GuestError::setup("move the new root onto /"))?;
    nix::unistd::chroot(".").map_err(GuestError::setup("chroot"))?;
    nix::unistd::chdir("/").map_err(GuestError::setup("chdir /"))
}

/// Copies the initramfs's few files (regular files, directories, symlinks), keeping modes.
fn copy_tree(from: &Path, to: &Path) -> Result<(), GuestError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(from).map_err(GuestError::io("stat", from))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        fs::create_dir(to).map_err(GuestError::io("mkdir", to))?;
        for entry in fs::read_dir(from).map_err(GuestError::io("read", from))? {
            let entry = entry.map_err(GuestError::io("read", from))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(from).map_err(GuestError::io("readlink", from))?;
        std::os::unix::fs::symlink(target, to).map_err(GuestError::io("symlink", to))?;
    } else if ft.is_file() {
        fs::copy(from, to).map_err(GuestError::io("copy", from))?;
    } else {
        // Device nodes live in /dev, which devtmpfs provides.
        return Ok(());
    }
    fs::set_permissions(to, fs::Permissions::from_mode(meta.permissions().mode()))
        .map_err(GuestError::io("chmod", to))
}

/// A host's init brings lo up; the kernel gives it 127.0.0.1 only then.
fn loopback_up() -> Result<(), Errno> {
    // SAFETY: plain system calls on a socket this function owns and closes, with an ifreq
    // zero-initialised and filled within bounds.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(Errno::last());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if r == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let err = Errno::last();
        libc::close(fd);
        if r == 0 {
            Ok(())
        } else {
            Err(err)
        }
    }
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn cgroup_flags() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// cgroup2 at the cgroup root; `where_` completes the error's step.
fn mount_cgroup2(where_: &str) -> Result<(), GuestError> {
    mount(
        Some("cgroup2"),
        CGROUP_ROOT,
        Some("cgroup2"),
        cgroup_flags(),
        None::<&str>,
    )
    .map_err(GuestError::setup(format!(
        "mount cgroup2 on {CGROUP_ROOT}{where_}"
    )))
}

/// cgroup2 alone, with the controllers the harness uses enabled for children. isoprobe itself
/// stays in the root cgroup: its containers' cgroups are the root's children, and the root is
/// exempt from the rule that a cgroup with controllers enabled holds no processes.
fn setup_v2(info: &mut GuestInfo) -> Result<(), GuestError> {
    mount_cgroup2("")?;
    info.mounted.push(CGROUP_ROOT.into());
    let root = Path::new(CGROUP_ROOT);
    let offered = fs::read_to_string(root.join("cgroup.controllers"))
        .map_err(GuestError::io("read", "cgroup.controllers"))?;
    let offered: Vec<&str> = offered.split_whitespace().collect();
    for c in V2_CONTROLLERS {
        if !offered.contains(&c) {
            info.controllers_failed.push(Failure {
                name: c.into(),
                error: "not offered by the root's cgroup.controllers".into(),
            });
            continue;
        }
        // One write per controller: a refused one must not keep the others off.
        match fs::write(root.join("cgroup.subtree_control"), format!("+{c}")) {
            Ok(()) => info.controllers_enabled.push(c.into()),
            Err(e) => info.controllers_failed.push(Failure {
                name: c.into(),
                error: errno_name(&e),
            }),
        }
    }
    Ok(())
}

/// Where a privileged container with a private cgroup namespace puts its processes: /init
/// moves into `ci` (its parent enables the controllers for it, it enables none), enters a new
/// cgroup namespace there and mounts cgroup2 again, rooted at `ci`.
fn enter_container_cgroup() -> Result<(), GuestError> {
    let ci = Path::new(CGROUP_ROOT).join("ci");
    fs::create_dir(&ci).map_err(GuestError::io("create", &ci))?;
    fs::write(ci.join("cgroup.procs"), std::process::id().to_string())
        .map_err(GuestError::io("move /init into", &ci))?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .map_err(GuestError::setup("unshare a cgroup namespace"))?;
    nix::mount::umount2(CGROUP_ROOT, nix::mount::MntFlags::MNT_DETACH)
        .map_err(GuestError::setup(format!("unmount {CGROUP_ROOT}")))?;
    mount_cgroup2(" in the new cgroup namespace")
}

/// A tmpfs at /sys/fs/cgroup and one v1 hierarchy per controller /proc/cgroups lists enabled,
/// each alone (cpu and cpuacct apart, as on this project's hosts). A controller the kernel
/// lists but cannot mount on v1 is recorded and left out.
fn setup_v1(info: &mut GuestInfo) -> Result<(), GuestError> {
    mount(
        Some("tmpfs"),
        CGROUP_ROOT,
        Some("tmpfs"),
        cgroup_flags(),
        Some("mode=0755"),
    )
    .map_err(GuestError::setup(format!("mount a tmpfs on {CGROUP_ROOT}")))?;
    info.mounted.push(CGROUP_ROOT.into());
    let listed =
        fs::read_to_string("/proc/cgroups").map_err(GuestError::io("read", "/proc/cgroups"))?;
    for c in enabled_controllers(&listed) {
        let dir = Path::new(CGROUP_ROOT).join(&c);
        fs::create_dir(&dir).map_err(GuestError::io("mkdir", &dir))?;
        match mount(
            Some("cgroup"),
            &dir,
            Some("cgroup"),
            cgroup_flags(),
            Some(c.as_str()),
        ) {
            Ok(()) => info.mounted.push(dir.display().to_string()),
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                info.cgroup_mount_failures.push(Failure {
                    name: c,
                    error: format!("{e:?}"),
                });
            }
        }
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Writes to the console (stdout), ignoring errors: there is nowhere else to say anything.
fn console_write(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

fn power_off() -> i32 {
    let _ = std::io::stderr().flush();
    // SAFETY: sync and reboot take no pointers; reboot only returns on failure.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_gives_the_mode_runtime_and_checks() {
        let p = parse_cmdline(
            "console=ttyS0 panic=-1 quiet isoprobe.cgroup=v1 isoprobe.checks=pid.init-is-one,uts.hostname\n",
        )
        .unwrap();
        assert_eq!(p.cgroup, GuestCgroup::V1);
        assert!(p.cgroup_given);
        assert_eq!(p.runtime, "native");
        assert_eq!(p.checks, vec!["pid.init-is-one", "uts.hostname"]);
    }

    #[test]
    fn cmdline_defaults_to_v2_and_the_last_word_wins() {
        let p = parse_cmdline("console=ttyS0 quiet").unwrap();
        assert_eq!(p.cgroup, GuestCgroup::V2);
        assert!(!p.cgroup_given);
        assert!(p.checks.is_empty());
        let p =
            parse_cmdline("isoprobe.cgroup=v2 isoprobe.cgroup=v1 isoprobe.runtime=native-chroot")
                .unwrap();
        assert_eq!(p.cgroup, GuestCgroup::V1);
        assert_eq!(p.runtime, "native-chroot");
    }

    #[test]
    fn cmdline_watch_is_seconds() {
        let p = parse_cmdline("isoprobe.watch=20").unwrap();
        assert_eq!(p.watch, Some(Duration::from_secs(20)));
        assert_eq!(parse_cmdline("isoprobe.watch=0").unwrap().watch, None);
        assert!(parse_cmdline("isoprobe.watch=soon").is_err());
    }

    #[test]
    fn cmdline_refuses_an_unknown_mode() {
        let e = parse_cmdline("isoprobe.cgroup=hybrid")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hybrid") && e.contains("v1 or v2"), "{e}");
    }

    #[test]
    fn guest_info_round_trips() {
        let info = GuestInfo {
            cgroup: "v1".into(),
            cgroup_mount_failures: vec![Failure {
                name: "memory".into(),
                error: "EINVAL".into(),
            }],
            ..GuestInfo::default()
        };
        let json = serde_json::to_string(&info).unwrap();
        assert!(!json.contains('\n'));
        assert_eq!(serde_json::from_str::<GuestInfo>(&json).unwrap(), info);
    }
}
