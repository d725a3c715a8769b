//! The `bwrap` runtime: bubblewrap (0.8 on this project's machines) run as root.
//!
//! What bubblewrap always does, whatever it is asked: a new mount namespace whose mounts are
//! made slaves of the host's, a root entered with pivot_root whose old root is unmounted, and
//! no_new_privs set. What it cannot do: cgroups (no limits, no cgroup of its own), a time
//! namespace (not in 0.8), a chroot-only root. Those parts of an [`Isolation`] are reported by
//! [`Runtime::unsupported`].
//!
//! Run as root, bubblewrap behaves differently from its usual unprivileged use, and the checks
//! see it as it is:
//! - `--unshare-user` maps only the caller's own uid: the container's root is the host's root
//!   (`0 0 1`), not an unprivileged range.
//! - `--cap-drop` takes the capability out of the effective, permitted and inheritable sets,
//!   but the bounding set is only reduced inside a user namespace.
//!
//! bwrap reports its child's host pid on `--info-fd`; the child waits on `--block-fd` until the
//! harness has read the child's NSpid, so that the pid is read while the agent still lives.

mod covers;

use super::process::{self, Binary};
use super::{
    capability, parse_observation, Isolation, Job, RunError, RunOutcome, Runtime, Unavailable,
};
use crate::process::SideChannel;
use crate::vocabulary::{Devices, ExitKind, HostStepError, RootMode};
use covers::{cover_args, host_kind, Kind};
use isoprobe_probes::NsType;
use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Command;

#[derive(Debug)]
pub struct BwrapRuntime {
    bin: Binary,
}

impl Default for BwrapRuntime {
    fn default() -> Self {
        BwrapRuntime {
            bin: Binary::new("bwrap", "apt-get install bubblewrap"),
        }
    }
}

impl Runtime for BwrapRuntime {
    fn name(&self) -> String {
        "bwrap".into()
    }

    fn version(&self) -> String {
        self.bin.version()
    }

    fn available(&self) -> Result<(), Unavailable> {
        self.bin.available()
    }

    /// bwrap needs no privilege: from the run's user namespace it makes its own.
    fn rootless_unsupported(&self) -> Option<String> {
        None
    }

    fn known_weaknesses(&self) -> &'static [super::Weakness] {
        use super::Weakness;
        &[
            Weakness {
                check: "caps.bounding-dropped",
                why: "run as root, bwrap's --cap-drop leaves the bounding set without a user namespace",
            },
            Weakness {
                check: "caps.default-set",
                why: "run as root, bwrap's --cap-drop leaves the bounding set full without a user \
                      namespace (the calls needing a dropped capability are still refused, and \
                      its no_new_privs keeps an exec from taking the bounding set back)",
            },
            Weakness {
                check: "mnt.no-propagation",
                why: "bwrap's mounts are slaves of the host's: host mounts propagate in",
            },
            Weakness {
                check: "user.root-is-unprivileged",
                why: "run as root, bwrap's user namespace maps root to host root",
            },
            Weakness {
                check: "cwd.hostile-workdir-contained",
                why: "bwrap 0.8 enters --chdir while it still holds its descriptor of the \
                      host's /proc (the lowest free number, 3 here): `--chdir /proc/self/fd/3` \
                      starts the command in the host's /proc, from where `..` reaches the \
                      host's root (CVE-2024-21626's pattern; bwrap trusts its arguments)",
            },
        ]
    }

    fn unsupported(&self, iso: &Isolation) -> Option<String> {
        process::joined(unsupported_reasons(iso))
    }

    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        let bin = self.bin.for_job(self.unsupported(job.isolation))?;
        let (info_r, info_w) = process::pipe()?;
        let (block_r, block_w) = process::pipe()?;
        let filters = seccomp_pipes(job.isolation)?;
        let fds = Fds {
            info: info_w.as_raw_fd(),
            block: block_r.as_raw_fd(),
            seccomp: filters.iter().map(AsRawFd::as_raw_fd).collect(),
        };
        // The engine's /etc files, written where bwrap binds them from (Docker's way).
        let etc = match job.isolation.etc_files {
            true => Some(etc_sources(job.isolation)?),
            false => None,
        };
        let mut cmd = Command::new(&bin);
        cmd.args(args(
            job.isolation,
            job.rootfs,
            &job.agent_argv(),
            &fds,
            etc.as_ref().map(|d| d.path()),
            host_kind,
        ))
        .env_clear()
        .env("PATH", "/")
        .current_dir("/");

        let seen: RefCell<Seen> = RefCell::new(Seen::default());
        let mut release = Some(block_w);
        let side = SideChannel {
            read: info_r,
            on_data: Box::new(|buf: &[u8], eof| {
                let pid = child_pid(buf);
                if pid.is_none() && !eof {
                    return false;
                }
                if let Some(pid) = pid {
                    // Before the release: the child has not exec'd the agent yet.
                    *seen.borrow_mut() = Seen {
                        pid: Some(pid),
                        nspid: process::read_nspid(pid),
                        cgroup: process::read_cgroup(pid),
                    };
                }
                // Lets the child exec the agent (or, when bwrap failed, read end of file).
                if let Some(w) = release.take() {
                    let _ = nix::unistd::write(&w, b"g");
                }
                true
            }),
        };
        let mut inherit = vec![info_w, block_r];
        inherit.extend(filters);
        let out = process::run(&mut cmd, job.timeout, inherit, Some(side))?;
        let exit = bwrap_exit(out.exit);
        let observation = parse_observation(exit, &out.stdout, &out.stderr)?;
        let seen = seen.into_inner();
        Ok(RunOutcome {
            observation,
            exit,
            host_pid: seen.pid,
            host_nspid: seen.nspid,
            host_cgroup: seen.cgroup,
            cpu_time: Some(out.cpu_time),
            cgroup: None,
        })
    }
}

/// What the host read of bwrap's child before letting it exec the agent.
#[derive(Default)]
struct Seen {
    pid: Option<i32>,
    nspid: Option<Vec<i32>>,
    cgroup: Option<Vec<String>>,
}

/// The descriptors bwrap's command line names.
#[derive(Debug, Clone)]
struct Fds {
    info: RawFd,
    block: RawFd,
    /// One per seccomp filter, in install order (`--add-seccomp-fd`).
    seccomp: Vec<RawFd>,
}

/// For each filter of `iso`'s seccomp profile, the read end of a pipe holding its compiled
/// program, which bwrap reads to the end and installs before it execs the agent. A program
/// is a few hundred bytes: it fits in the pipe's buffer, so the write end is closed first.
fn seccomp_pipes(iso: &Isolation) -> Result<Vec<OwnedFd>, RunError> {
    let Some(profile) = iso.seccomp else {
        return Ok(Vec::new());
    };
    let step = "compile the seccomp profile";
    let programs = crate::seccomp_bpf::compile(profile)
        .map_err(|e| HostStepError::new(step, "-", std::io::Error::other(e.to_string())))?;
    programs
        .iter()
        .map(|p| -> Result<OwnedFd, RunError> {
            let (r, w) = process::pipe()?;
            std::fs::File::from(w)
                .write_all(&crate::seccomp_bpf::bytes(p))
                .map_err(|e| HostStepError::new("write the seccomp filter to a pipe", "-", e))?;
            Ok(r)
        })
        .collect()
}

/// `child-pid` of bwrap's info JSON, once all of it has arrived.
fn child_pid(buf: &[u8]) -> Option<i32> {
    serde_json::from_slice::<serde_json::Value>(buf)
        .ok()?
        .get("child-pid")?
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
}

/// bwrap exits with 128 + the signal that killed its child, as a shell does; the agent itself
/// never exits above 3.
fn bwrap_exit(e: ExitKind) -> ExitKind {
    match e {
        ExitKind::Code(c) if (129..=128 + 64).contains(&c) => ExitKind::Signal(c - 128),
        other => other,
    }
}

/// Why bwrap cannot build `iso`, one reason per part it cannot express.
fn unsupported_reasons(iso: &Isolation) -> Vec<String> {
    let mut r: Vec<String> = Vec::new();
    if !iso.namespaces.contains(&NsType::Mnt) || iso.root == RootMode::None {
        r.push(
            "bwrap always runs the command in a new mount namespace under a new root; it \
             cannot leave it in the host's"
                .into(),
        );
    } else if iso.root == RootMode::Chroot {
        r.push("bwrap always enters the new root with pivot_root; it has no chroot mode".into());
    }
    if iso.namespaces.contains(&NsType::Time) {
        r.push("bubblewrap 0.8 has no option for a time namespace".into());
    }
    r.extend(process::cgroup_reasons("bwrap", iso));
    r.extend(process::negative_control_only("bwrap", iso));
    if !iso.make_mounts_private {
        r.push(
            "bwrap always makes the mounts of its namespace slaves of the host's; it cannot \
             leave them shared"
                .into(),
        );
    }
    if !iso.detach_old_root {
        r.push("bwrap always unmounts the old root after pivot_root; it cannot keep it".into());
    }
    let unprivileged = iso.user.is_some_and(|(u, g)| (u, g) != (0, 0));
    if unprivileged && !iso.namespaces.contains(&NsType::User) {
        r.push(
            "bwrap switches to another uid/gid (--uid/--gid) only inside a user namespace \
             (--unshare-user), which this setup does not have"
                .into(),
        );
    }
    // no_new_privs only changes what an exec can gain for a process that is not already
    // root with every capability, so leaving it set elsewhere changes nothing a check sees.
    if unprivileged && !iso.no_new_privs {
        r.push("bwrap always sets no_new_privs; it cannot leave it unset".into());
    }
    for cap in &iso.drop_caps {
        if capability::name(*cap).is_none() {
            r.push(format!("capability number {cap} has no name bwrap knows"));
        }
    }
    r
}

/// A directory of the run's own holding the engine's `/etc` files for `iso`.
fn etc_sources(iso: &Isolation) -> Result<crate::record::TempDir, RunError> {
    let dir = crate::record::TempDir::new("etc", None)
        .map_err(|e| HostStepError::new("create a directory", std::env::temp_dir(), e))?;
    for (inside, content) in crate::vocabulary::etc_file_contents(iso.hostname.as_deref()) {
        let path = dir.path().join(etc_name(inside));
        std::fs::write(&path, content)
            .map_err(|e| HostStepError::new("write an /etc file", &path, e))?;
    }
    Ok(dir)
}

/// The file name an `/etc` file has in the directory bwrap binds it from.
fn etc_name(inside: &str) -> &str {
    inside.rsplit('/').next().unwrap_or(inside)
}

/// bwrap's command line for `iso`; `agent_argv` is the agent's path inside the rootfs and its
/// arguments; `etc` holds the engine's `/etc` files; `kind_of` says what a path to mask is.
fn args(
    iso: &Isolation,
    rootfs: &Path,
    agent_argv: &[String],
    fds: &Fds,
    etc: Option<&Path>,
    kind_of: impl Fn(&str) -> Kind,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    // The container dies with bwrap, and bwrap with the harness's thread that started it.
    push(&["--die-with-parent"]);
    let has = |ns| iso.namespaces.contains(&ns);
    for (ns, flag) in [
        (NsType::Pid, "--unshare-pid"),
        (NsType::Ipc, "--unshare-ipc"),
        (NsType::Net, "--unshare-net"),
        (NsType::Uts, "--unshare-uts"),
        (NsType::Cgroup, "--unshare-cgroup"),
    ] {
        if has(ns) {
            push(&[flag]);
        }
    }
    if has(NsType::User) {
        let (uid, gid) = iso.user.unwrap_or((0, 0));
        push(&[
            "--unshare-user",
            "--uid",
            &uid.to_string(),
            "--gid",
            &gid.to_string(),
        ]);
    }
    if has(NsType::Pid) {
        // Without it bwrap's own reaper is PID 1 and the agent PID 2.
        push(&["--as-pid-1"]);
    }
    if let (Some(h), true) = (&iso.hostname, has(NsType::Uts)) {
        push(&["--hostname", h]);
    }
    for cap in &iso.drop_caps {
        if let Some(name) = capability::name(*cap) {
            push(&["--cap-drop", name]);
        }
    }
    for fd in &fds.seccomp {
        push(&["--add-seccomp-fd", &fd.to_string()]);
    }
    push(&["--chdir", iso.cwd.as_deref().unwrap_or("/")]);
    // bwrap has no device cgroup: what keeps a container from using a device node it makes is
    // `nodev` on every mount it binds (`--bind`), and `--dev` fills its /dev with binds of the
    // host's standard nodes. The devices control takes `nodev` off the root (`--dev-bind`).
    let root_bind = if iso.devices == Devices::StandardNodesAnyDevice {
        "--dev-bind"
    } else {
        "--bind"
    };
    a.extend([root_bind.into(), rootfs.as_os_str().to_owned(), "/".into()]);
    a.extend(["--proc", "/proc"].map(OsString::from));
    if iso.devices.standard_dev() {
        a.extend(["--dev", "/dev"].map(OsString::from));
    } else if iso.dev_null {
        // The host's null device over whatever the image has at /dev/null.
        a.extend(["--dev-bind", "/dev/null", "/dev/null"].map(OsString::from));
    }
    if let (true, Some(dir)) = (iso.etc_files, etc) {
        for inside in crate::vocabulary::ETC_FILES {
            a.extend([
                "--bind".into(),
                dir.join(etc_name(inside)).into_os_string(),
                OsString::from(inside),
            ]);
        }
    }
    for b in &iso.binds {
        a.extend([
            "--bind".into(),
            b.source.as_os_str().to_owned(),
            OsString::from(&b.target),
        ]);
    }
    a.extend(cover_args(iso, kind_of).into_iter().map(OsString::from));
    a.extend(
        [
            "--info-fd".to_string(),
            fds.info.to_string(),
            "--block-fd".to_string(),
            fds.block.to_string(),
            "--".to_string(),
        ]
        .map(OsString::from),
    );
    a.extend(agent_argv.iter().map(OsString::from));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::CpuQuota;
    use crate::vocabulary::{Bind, Sabotage};

    fn fds() -> Fds {
        Fds {
            info: 7,
            block: 8,
            seccomp: Vec::new(),
        }
    }

    fn argv_with(iso: &Isolation, fds: &Fds) -> Vec<String> {
        args(
            iso,
            Path::new("/tmp/r"),
            &["/isoprobe-agent".into(), "--linger-ms".into(), "5".into()],
            fds,
            Some(Path::new("/tmp/e")),
            |p| match p {
                "/proc/keys" => Kind::File,
                "/sys/firmware" => Kind::Dir,
                _ => Kind::Absent,
            },
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect()
    }

    fn argv(iso: &Isolation) -> Vec<String> {
        argv_with(iso, &fds())
    }

    fn has_seq(v: &[String], seq: &[&str]) -> bool {
        v.windows(seq.len()).any(|w| w == seq)
    }

    #[test]
    fn base_is_a_pid_namespace_with_the_agent_as_pid_1_in_the_bound_root() {
        let a = argv(&Isolation::base());
        assert!(has_seq(&a, &["--unshare-pid"]));
        assert!(has_seq(&a, &["--as-pid-1"]));
        assert!(has_seq(&a, &["--bind", "/tmp/r", "/"]));
        assert!(has_seq(&a, &["--proc", "/proc"]));
        assert!(has_seq(&a, &["--info-fd", "7", "--block-fd", "8"]));
        assert!(has_seq(&a, &["--", "/isoprobe-agent", "--linger-ms", "5"]));
        assert!(!a
            .iter()
            .any(|s| s == "--unshare-net" || s == "--unshare-user"));
        assert_eq!(
            unsupported_reasons(&Isolation::base()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_seccomp_filter_is_an_inherited_descriptor() {
        let iso = Isolation {
            seccomp: Some(crate::vocabulary::SeccompProfile::Default),
            ..Isolation::base()
        };
        let a = argv_with(
            &iso,
            &Fds {
                seccomp: vec![9, 10],
                ..fds()
            },
        );
        assert!(has_seq(
            &a,
            &["--add-seccomp-fd", "9", "--add-seccomp-fd", "10"]
        ));
        assert!(unsupported_reasons(&iso).is_empty());
        let pipes = seccomp_pipes(&iso).unwrap();
        let programs = crate::seccomp_bpf::compile(crate::vocabulary::SeccompProfile::Default);
        assert_eq!(pipes.len(), programs.unwrap().len());
        assert!(seccomp_pipes(&Isolation::base()).unwrap().is_empty());
        assert!(!argv(&Isolation::base())
            .iter()
            .any(|s| s.contains("seccomp")));
    }

    #[test]
    fn without_a_pid_namespace_bwrap_keeps_its_reaper() {
        let iso = Sabotage::DropNamespace(NsType::Pid).apply(&Isolation::base());
        let a = argv(&iso);
        assert!(!a.iter().any(|s| s == "--unshare-pid" || s == "--as-pid-1"));
    }

    #[test]
    fn standard_devices_are_a_dev_of_binds_and_the_control_allows_devices_on_the_root() {
        let base = argv(&Isolation::base());
        assert!(has_seq(&base, &["--bind", "/tmp/r", "/"]));
        assert!(!base.contains(&"--dev".to_string()));
        let iso = Isolation {
            devices: Devices::Standard,
            ..Isolation::base()
        };
        let a = argv(&iso);
        assert!(has_seq(&a, &["--bind", "/tmp/r", "/"]));
        assert!(has_seq(&a, &["--dev", "/dev"]));
        let c = argv(&Sabotage::AllDevices.apply(&iso));
        assert!(has_seq(&c, &["--dev-bind", "/tmp/r", "/"]));
        assert!(has_seq(&c, &["--dev", "/dev"]));
    }

    #[test]
    fn the_null_device_is_the_hosts_bound_over_the_images() {
        let iso = crate::checks::isolation_of("image.dev-null-symlink");
        let a = argv(&iso);
        assert!(has_seq(&a, &["--dev-bind", "/dev/null", "/dev/null"]));
        assert!(!argv(&Isolation::base()).contains(&"/dev/null".to_string()));
        // A standard /dev has its own.
        let dev = argv(&Isolation {
            devices: Devices::Standard,
            ..iso.clone()
        });
        assert!(!has_seq(&dev, &["--dev-bind", "/dev/null", "/dev/null"]));
        let proc_control = Sabotage::ProcThroughImageLink
            .apply(&crate::checks::isolation_of("image.proc-symlink"));
        assert!(unsupported_reasons(&proc_control)
            .join("; ")
            .contains("cannot be made to mount proc where the image's /proc link points"));
        let control = Sabotage::DevNullFromImage.apply(&iso);
        assert!(unsupported_reasons(&control)
            .join("; ")
            .contains("cannot be made to take the image's /dev/null"));
        assert!(unsupported_reasons(&iso).is_empty());
    }

    #[test]
    fn namespaces_hostname_user_caps_and_binds_map_to_flags() {
        let iso = Isolation {
            hostname: Some("h1".into()),
            drop_caps: vec![21, 12],
            binds: vec![Bind {
                source: "/src".into(),
                target: "/tmp".into(),
            }],
            ..Isolation::base()
                .with_ns(NsType::Uts)
                .with_ns(NsType::Net)
                .with_ns(NsType::Ipc)
                .with_ns(NsType::Cgroup)
                .with_ns(NsType::User)
        };
        let a = argv(&iso);
        for f in [
            "--unshare-uts",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-cgroup",
        ] {
            assert!(has_seq(&a, &[f]), "{f}");
        }
        assert!(has_seq(&a, &["--unshare-user", "--uid", "0", "--gid", "0"]));
        assert!(has_seq(&a, &["--hostname", "h1"]));
        assert!(has_seq(
            &a,
            &["--cap-drop", "CAP_SYS_ADMIN", "--cap-drop", "CAP_NET_ADMIN"]
        ));
        let root = a.iter().position(|s| s == "/tmp/r").unwrap();
        let bind = a.iter().position(|s| s == "/src").unwrap();
        assert!(
            root < bind,
            "the root is bound before what is bound into it"
        );
        assert!(has_seq(&a, &["--bind", "/src", "/tmp"]));
        assert!(unsupported_reasons(&iso).is_empty());
    }

    #[test]
    fn the_working_directory_is_bwraps_chdir() {
        assert!(has_seq(&argv(&Isolation::base()), &["--chdir", "/"]));
        let iso = Isolation {
            cwd: Some("/proc/self/fd/3".into()),
            ..Isolation::base()
        };
        assert!(has_seq(&argv(&iso), &["--chdir", "/proc/self/fd/3"]));
    }

    #[test]
    fn sys_masks_and_read_only_paths_follow_proc_and_the_binds() {
        let iso = Isolation {
            mount_sys: true,
            masked_paths: ["/proc/keys", "/proc/kcore", "/sys/firmware"]
                .map(String::from)
                .to_vec(),
            readonly_paths: vec!["/proc/sys".into()],
            ..Isolation::base().with_ns(NsType::Net)
        };
        let a = argv(&iso);
        assert!(has_seq(&a, &["--ro-bind", "/sys", "/sys"]));
        assert!(has_seq(&a, &["--ro-bind", "/dev/null", "/proc/keys"]));
        assert!(has_seq(
            &a,
            &["--tmpfs", "/sys/firmware", "--remount-ro", "/sys/firmware"]
        ));
        assert!(!a.iter().any(|s| s == "/proc/kcore"), "absent: left out");
        assert!(has_seq(&a, &["--ro-bind-try", "/proc/sys", "/proc/sys"]));
        let proc = a.iter().position(|s| s == "--proc").unwrap();
        let sys = a.iter().position(|s| s == "/sys").unwrap();
        let keys = a.iter().position(|s| s == "/proc/keys").unwrap();
        assert!(proc < sys && sys < keys, "{a:?}");
        assert!(unsupported_reasons(&iso).is_empty());
        let plain = argv(&Isolation::base());
        assert!(!plain.iter().any(|s| s == "/sys" || s == "--ro-bind-try"));
    }

    #[test]
    fn the_release_agent_check_is_root_in_its_own_user_and_cgroup_namespaces() {
        // bwrap run by root maps only root, to itself: the check's `0 0 1`.
        let iso = crate::checks::isolation_of("cgroup.release-agent-protected");
        let a = argv(&iso);
        assert!(has_seq(&a, &["--unshare-cgroup"]));
        assert!(has_seq(&a, &["--unshare-user", "--uid", "0", "--gid", "0"]));
        assert!(unsupported_reasons(&iso).is_empty());
        let control = Sabotage::DropNamespace(NsType::User).apply(&iso);
        let a = argv(&control);
        assert!(has_seq(&a, &["--unshare-cgroup"]) && !has_seq(&a, &["--unshare-user"]));
        assert!(unsupported_reasons(&control).is_empty());
    }

    #[test]
    fn a_hostname_without_a_uts_namespace_is_ignored() {
        let iso = Isolation {
            hostname: Some("h1".into()),
            ..Isolation::base()
        };
        assert!(!argv(&iso).iter().any(|s| s == "--hostname"));
    }

    #[test]
    fn what_bwrap_cannot_express_is_named() {
        let base = Isolation::base();
        let cases: Vec<(Isolation, &str)> = vec![
            (
                Sabotage::DropNamespace(NsType::Mnt).apply(&base),
                "new mount namespace",
            ),
            (
                Sabotage::RootMode(RootMode::Chroot).apply(&base),
                "no chroot mode",
            ),
            (base.clone().with_ns(NsType::Time), "time namespace"),
            (
                Isolation {
                    own_cgroup: true,
                    cpu_quota: Some(CpuQuota {
                        quota_us: 20_000,
                        period_us: 100_000,
                    }),
                    ..base.clone()
                },
                "CPU quota",
            ),
            (
                Isolation {
                    own_cgroup: true,
                    pids_max: Some(8),
                    ..base.clone()
                },
                "pids limit",
            ),
            (
                Isolation {
                    own_cgroup: true,
                    memory_max: Some(1 << 20),
                    ..base.clone()
                },
                "memory limit",
            ),
            (
                Isolation {
                    own_cgroup: true,
                    ..base.clone()
                },
                "cgroup of its own",
            ),
            (Sabotage::SharedMounts.apply(&base), "slaves"),
            (Sabotage::KeepOldRoot.apply(&base), "old root"),
            (Sabotage::LeakHostFd.apply(&base), "leak a host descriptor"),
            (
                Sabotage::CwdResolvedOnHost.apply(&base),
                "resolve the working directory on the host",
            ),
            (
                Sabotage::BindsResolvedOnHost.apply(&base),
                "follow a bind target's symlink on the host",
            ),
            (
                Sabotage::EtcWrittenOnHost.apply(&base),
                "write the engine's /etc files through the image's links",
            ),
            (
                Isolation {
                    user: Some((1000, 1000)),
                    no_new_privs: true,
                    ..base.clone()
                },
                "--uid/--gid",
            ),
            (
                Isolation {
                    user: Some((1000, 1000)),
                    ..base.clone().with_ns(NsType::User)
                },
                "no_new_privs",
            ),
            (
                Isolation {
                    drop_caps: vec![99],
                    ..base.clone()
                },
                "99",
            ),
        ];
        for (iso, needle) in cases {
            let r = unsupported_reasons(&iso).join("; ");
            assert!(r.contains(needle), "{needle}: {r}");
        }
    }

    #[test]
    fn root_inside_needs_no_user_switch() {
        let iso = Isolation {
            user: Some((0, 0)),
            ..Isolation::base()
        };
        assert!(unsupported_reasons(&iso).is_empty());
    }

    #[test]
    fn info_and_exit_decoding() {
        assert_eq!(child_pid(b"{\n    \"child-pid\": 42,\n"), None);
        assert_eq!(
            child_pid(b"{\n    \"child-pid\": 42,\n    \"mnt-namespace\": 4026532177\n}\n"),
            Some(42)
        );
        assert_eq!(bwrap_exit(ExitKind::Code(137)), ExitKind::Signal(9));
        assert_eq!(bwrap_exit(ExitKind::Code(1)), ExitKind::Code(1));
        assert_eq!(bwrap_exit(ExitKind::Signal(9)), ExitKind::Signal(9));
    }

    #[test]
    #[serial_test::serial(machine)]
    fn live_run_reports_the_host_pid_and_a_timeout_leaves_nothing() {
        use crate::runtime::process::live;
        if let Some(why) = live::unmet("bwrap") {
            crate::testing::skip("bwrap live test", &why);
            return;
        }
        let rt = BwrapRuntime::default();
        let out = live::run(&rt, &Isolation::base());
        assert_eq!(out.observation.pid, 1);
        assert_eq!(out.exit, ExitKind::Code(0));
        let host = out.host_pid.expect("bwrap reports its child's pid");
        assert!(host > 1);
        assert_eq!(out.host_nspid, Some(vec![host, 1]));
        assert!(out.host_cgroup.is_some_and(|l| !l.is_empty()));
        live::timeout_leaves_nothing(&rt);
    }
}
