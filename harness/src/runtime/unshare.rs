//! The `unshare` runtime: util-linux `unshare` (2.38 on this project's machines) run as root,
//! the smallest "container" there is: namespaces, a chroot, a fresh /proc.
//!
//! Its weaknesses are what the checks are for, so they are mapped, not hidden:
//! - `--root` is a chroot, never a pivot_root: a [`RootMode::PivotRoot`] asked for is done as a
//!   chroot, which `root.chroot-escape-blocked` must catch.
//! - A user namespace is mapped with `--map-root-user`, host root to root inside: util-linux
//!   2.38 maps a range (`--map-users`) only through the setuid `newuidmap` helper and the
//!   caller's /etc/subuid range, so as root it cannot map the container to an unprivileged
//!   range.
//!
//! What it has no option for at all (a hostname, cgroups, capabilities, no_new_privs, keeping
//! an old root) is reported by [`Runtime::unsupported`]. It has no bind mounts either: binds
//! are made by the harness in a private mount namespace of the unshare process just before it
//! execs unshare, whose own mount namespace (the container's) starts as a copy of that one.
//!
//! unshare forks the container's init itself and does not say its pid, so the host pid and
//! NSpid are not reported; the pid check then judges from inside only.

use super::process::{self, Binary};
use super::{parse_observation, Isolation, Job, RunError, RunOutcome, Runtime, Unavailable};
use crate::vocabulary::RootMode;
use isoprobe_probes::NsType;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

#[derive(Debug)]
pub struct UnshareRuntime {
    bin: Binary,
}

impl Default for UnshareRuntime {
    fn default() -> Self {
        UnshareRuntime {
            bin: Binary::new("unshare", "apt-get install util-linux"),
        }
    }
}

impl Runtime for UnshareRuntime {
    fn name(&self) -> String {
        "unshare".into()
    }

    fn version(&self) -> String {
        self.bin.version()
    }

    fn available(&self) -> Result<(), Unavailable> {
        self.bin.available()
    }

    fn known_weaknesses(&self) -> &'static [super::Weakness] {
        use super::Weakness;
        &[
            Weakness {
                check: "root.chroot-escape-blocked",
                why: "util-linux unshare --root is a chroot: `..` walks out of it",
            },
            Weakness {
                check: "root.old-root-gone",
                why: "util-linux unshare --root is a chroot: the old root stays underneath",
            },
            Weakness {
                check: "cwd.hostile-workdir-contained",
                why: "with --root and --wd, util-linux unshare chroots and then changes to --wd \
                      without entering the new root first: a relative --wd (`../../../tmp`) \
                      resolves from unshare's own working directory on the host, outside the \
                      root",
            },
            Weakness {
                check: "user.root-is-unprivileged",
                why: "--map-root-user maps root to host root (--map-users needs newuidmap and a \
                      subuid range)",
            },
        ]
    }

    fn unsupported(&self, iso: &Isolation) -> Option<String> {
        process::joined(unsupported_reasons(iso))
    }

    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        let iso = job.isolation;
        let bin = self.bin.for_job(self.unsupported(iso))?;
        let mut cmd = Command::new(&bin);
        cmd.args(args(iso, job.rootfs, &job.agent_argv()))
            .env_clear()
            .env("PATH", "/")
            .current_dir("/");
        if !iso.binds.is_empty() {
            bind_before_exec(&mut cmd, iso, job.rootfs)?;
        }
        if iso.etc_files {
            // unshare is no engine: isoprobe puts the files in place as native does.
            crate::spawner::write_etc_files(job.rootfs, iso.hostname.as_deref(), false)?;
        }
        let out = process::run(&mut cmd, job.timeout, Vec::new(), None)?;
        let observation = parse_observation(out.exit, &out.stdout, &out.stderr)?;
        Ok(RunOutcome {
            observation,
            exit: out.exit,
            host_pid: None,
            host_nspid: None,
            host_cgroup: None,
            cpu_time: Some(out.cpu_time),
            cgroup: None,
        })
    }
}

/// Makes `iso`'s binds in a private mount namespace of the forked unshare process, before it
/// execs: unshare's `--mount` then copies them into the container's namespace. Nothing of it
/// reaches the host, and it all goes when the process ends.
fn bind_before_exec(cmd: &mut Command, iso: &Isolation, rootfs: &Path) -> Result<(), RunError> {
    let unsupported = |reason: String| RunError::Unsupported {
        runtime: "unshare".into(),
        reason,
    };
    if iso.root == RootMode::None || !iso.namespaces.contains(&NsType::Mnt) {
        return Err(unsupported(
            "binds need a mount namespace and a rootfs to bind into".into(),
        ));
    }
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| unsupported(format!("`{}` contains a NUL byte", p.display())))
    };
    let pairs: Vec<(CString, CString)> = iso
        .binds
        .iter()
        .map(|b| {
            Ok((
                c(&b.source)?,
                // Inside the rootfs: a symlink at the target must not take the bind out.
                c(&crate::spawner::resolve_in_root(rootfs, &b.target))?,
            ))
        })
        .collect::<Result<_, RunError>>()?;
    // SAFETY: only unshare and mount, async-signal-safe system calls, on C strings prepared
    // above; the closure runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            let err = || Err(std::io::Error::last_os_error());
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return err();
            }
            // Private first: the binds below must not propagate to the host.
            let root = c"/";
            let flags = libc::MS_REC | libc::MS_PRIVATE;
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            ) != 0
            {
                return err();
            }
            for (src, dst) in &pairs {
                let flags = libc::MS_BIND | libc::MS_REC;
                if libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    std::ptr::null(),
                    flags,
                    std::ptr::null(),
                ) != 0
                {
                    return err();
                }
            }
            Ok(())
        });
    }
    Ok(())
}

/// Why util-linux unshare cannot build `iso`, one reason per part it cannot express.
fn unsupported_reasons(iso: &Isolation) -> Vec<String> {
    let mut r: Vec<String> = Vec::new();
    if iso.hostname.is_some() && iso.namespaces.contains(&NsType::Uts) {
        r.push("util-linux unshare cannot set a hostname".into());
    }
    r.extend(process::cgroup_reasons("util-linux unshare", iso));
    r.extend(process::negative_control_only("util-linux unshare", iso));
    if !iso.drop_caps.is_empty() {
        r.push("util-linux unshare cannot drop capabilities from the bounding set".into());
    }
    if iso.no_new_privs {
        r.push("util-linux unshare cannot set no_new_privs".into());
    }
    if iso.seccomp.is_some() {
        r.push("util-linux unshare has no option to install a seccomp filter".into());
    }
    if iso.devices.standard_dev() {
        r.push(
            "util-linux unshare has no device cgroup and cannot mount a /dev of standard \
             nodes"
                .into(),
        );
    }
    if !iso.detach_old_root {
        r.push(
            "util-linux unshare does not pivot_root (--root is a chroot), so there is no old \
             root to keep"
                .into(),
        );
    }
    if iso.namespaces.contains(&NsType::User) && iso.user.is_some_and(|u| u != (0, 0)) {
        r.push(
            "util-linux unshare 2.38 as root maps only root itself into a user namespace \
             (--map-root-user), so no other uid/gid exists inside"
                .into(),
        );
    }
    if !iso.masked_paths.is_empty() {
        r.push(
            "util-linux unshare cannot mask paths: it mounts /proc itself after the harness's \
             last chance to mount over it, and has no option to cover a path"
                .into(),
        );
    }
    if !iso.readonly_paths.is_empty() {
        r.push(
            "util-linux unshare cannot make paths read-only: it mounts /proc itself after the \
             harness's last chance to bind over it, and has no option for it"
                .into(),
        );
    }
    if iso.mount_sys {
        r.push("util-linux unshare has no option to mount sysfs".into());
    }
    if iso.etc_files && iso.root == RootMode::None {
        r.push("the engine's /etc files need a rootfs to be written into".into());
    }
    if iso.dev_null && !iso.devices.standard_dev() {
        r.push(
            "util-linux unshare leaves the rootfs's /dev as it is and has no option to supply \
             /dev/null"
                .into(),
        );
    }
    if !iso.binds.is_empty() && !iso.make_mounts_private {
        r.push(
            "binds are made in a private mount namespace around unshare, so its mounts cannot \
             also stay shared with the host"
                .into(),
        );
    }
    r
}

/// unshare's command line for `iso`; `agent_argv` is the agent's path (inside the rootfs, or on
/// the host without a root) and its arguments.
fn args(iso: &Isolation, rootfs: &Path, agent_argv: &[String]) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let has = |ns| iso.namespaces.contains(&ns);
    // The forked child is the container's init (PID 1 with --pid); it is killed when unshare
    // dies, and unshare is what the harness kills.
    a.extend(["--fork", "--kill-child"].map(OsString::from));
    for (ns, flag) in [
        (NsType::Mnt, "--mount"),
        (NsType::Uts, "--uts"),
        (NsType::Ipc, "--ipc"),
        (NsType::Net, "--net"),
        (NsType::Pid, "--pid"),
        (NsType::Cgroup, "--cgroup"),
        (NsType::Time, "--time"),
        // Implies --user; also denies setgroups.
        (NsType::User, "--map-root-user"),
    ] {
        if has(ns) {
            a.push(flag.into());
        }
    }
    if has(NsType::Mnt) {
        let propagation = if iso.make_mounts_private {
            "private"
        } else {
            "unchanged"
        };
        a.extend(["--propagation", propagation].map(OsString::from));
    }
    if iso.root != RootMode::None {
        let mut root = OsString::from("--root=");
        root.push(rootfs.as_os_str());
        a.push(root);
    }
    if has(NsType::Mnt) {
        // Mounted after the chroot, so at the rootfs's /proc.
        a.push("--mount-proc=/proc".into());
    }
    if let Some(cwd) = &iso.cwd {
        a.push(format!("--wd={cwd}").into());
    }
    if let (Some(t), true) = (iso.time_offsets, has(NsType::Time)) {
        a.extend(
            [
                "--monotonic".to_string(),
                t.monotonic_secs.to_string(),
                "--boottime".to_string(),
                t.boottime_secs.to_string(),
            ]
            .map(OsString::from),
        );
    }
    // In a user namespace only root is mapped, and switching to it again would call
    // setgroups, which --map-root-user denies.
    if let (Some((uid, gid)), false) = (iso.user, has(NsType::User)) {
        a.extend(
            [
                "--setgid".to_string(),
                gid.to_string(),
                "--setuid".to_string(),
                uid.to_string(),
            ]
            .map(OsString::from),
        );
    }
    a.push("--".into());
    a.extend(agent_argv.iter().map(OsString::from));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::CpuQuota;
    use crate::vocabulary::{Bind, Sabotage, TimeOffsets};

    fn argv(iso: &Isolation) -> Vec<String> {
        args(
            iso,
            Path::new("/tmp/r"),
            &["/isoprobe-agent".into(), "-x".into()],
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect()
    }

    fn has_seq(v: &[String], seq: &[&str]) -> bool {
        v.windows(seq.len()).any(|w| w == seq)
    }

    #[test]
    fn base_forks_an_init_in_new_mount_and_pid_namespaces_chrooted_with_proc() {
        let a = argv(&Isolation::base());
        assert_eq!(
            a,
            [
                "--fork",
                "--kill-child",
                "--mount",
                "--pid",
                "--propagation",
                "private",
                "--root=/tmp/r",
                "--mount-proc=/proc",
                "--",
                "/isoprobe-agent",
                "-x"
            ]
        );
        assert!(unsupported_reasons(&Isolation::base()).is_empty());
    }

    #[test]
    fn pivot_root_and_chroot_are_both_a_chroot() {
        let chroot = Sabotage::RootMode(RootMode::Chroot).apply(&Isolation::base());
        assert_eq!(argv(&chroot), argv(&Isolation::base()));
    }

    #[test]
    fn without_a_mount_namespace_nothing_is_mounted_or_chrooted() {
        let iso = Sabotage::DropNamespace(NsType::Mnt).apply(&Isolation::base());
        let a = argv(&iso);
        assert!(!a
            .iter()
            .any(|s| s.starts_with("--mount") || s.starts_with("--root") || s == "--propagation"));
    }

    #[test]
    fn shared_mounts_leave_propagation_unchanged() {
        let a = argv(&Sabotage::SharedMounts.apply(&Isolation::base()));
        assert!(has_seq(&a, &["--propagation", "unchanged"]));
    }

    #[test]
    fn namespaces_time_offsets_and_users_map_to_flags() {
        let iso = Isolation {
            time_offsets: Some(TimeOffsets {
                monotonic_secs: 86400,
                boottime_secs: -5,
            }),
            ..Isolation::base()
                .with_ns(NsType::Uts)
                .with_ns(NsType::Ipc)
                .with_ns(NsType::Net)
                .with_ns(NsType::Cgroup)
                .with_ns(NsType::Time)
                .with_ns(NsType::User)
        };
        let a = argv(&iso);
        for f in [
            "--uts",
            "--ipc",
            "--net",
            "--cgroup",
            "--time",
            "--map-root-user",
        ] {
            assert!(has_seq(&a, &[f]), "{f}");
        }
        assert!(has_seq(&a, &["--monotonic", "86400", "--boottime", "-5"]));
        assert!(!a.iter().any(|s| s == "--setuid"));
        let user = Isolation {
            user: Some((1000, 1001)),
            ..Isolation::base()
        };
        assert!(has_seq(
            &argv(&user),
            &["--setgid", "1001", "--setuid", "1000"]
        ));
        assert!(unsupported_reasons(&iso).is_empty());
    }

    #[test]
    fn the_working_directory_is_unshares_wd() {
        assert!(!argv(&Isolation::base())
            .iter()
            .any(|a| a.starts_with("--wd")));
        let iso = Isolation {
            cwd: Some("../../../tmp".into()),
            ..Isolation::base()
        };
        let a = argv(&iso);
        let wd = a.iter().position(|s| s == "--wd=../../../tmp").unwrap();
        let root = a.iter().position(|s| s.starts_with("--root=")).unwrap();
        let agent = a.iter().position(|s| s == "--").unwrap();
        assert!(root < wd && wd < agent, "{a:?}");
    }

    #[test]
    fn the_release_agent_check_is_root_in_its_own_user_and_cgroup_namespaces() {
        // --map-root-user run by root writes `0 0 1`: the check's map.
        let iso = crate::checks::isolation_of("cgroup.release-agent-protected");
        let a = argv(&iso);
        assert!(has_seq(&a, &["--cgroup"]) && has_seq(&a, &["--map-root-user"]));
        assert!(unsupported_reasons(&iso).is_empty());
        let control = Sabotage::DropNamespace(NsType::User).apply(&iso);
        let a = argv(&control);
        assert!(has_seq(&a, &["--cgroup"]) && !has_seq(&a, &["--map-root-user"]));
        assert!(unsupported_reasons(&control).is_empty());
    }

    #[test]
    fn what_unshare_cannot_express_is_named() {
        let base = Isolation::base();
        let cases: Vec<(Isolation, &str)> = vec![
            (
                Isolation {
                    dev_null: true,
                    ..base.clone()
                },
                "no option to supply /dev/null",
            ),
            (
                Isolation {
                    hostname: Some("h".into()),
                    ..base.clone().with_ns(NsType::Uts)
                },
                "hostname",
            ),
            (
                Isolation {
                    own_cgroup: true,
                    cpu_quota: Some(CpuQuota {
                        quota_us: 1,
                        period_us: 2,
                    }),
                    ..base.clone()
                },
                "CPU quota",
            ),
            (
                Isolation {
                    pids_max: Some(3),
                    ..base.clone()
                },
                "pids limit",
            ),
            (
                Isolation {
                    memory_max: Some(3),
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
            (
                Isolation {
                    drop_caps: vec![21],
                    ..base.clone()
                },
                "capabilities",
            ),
            (
                Isolation {
                    no_new_privs: true,
                    ..base.clone()
                },
                "no_new_privs",
            ),
            (
                Isolation {
                    seccomp: Some(crate::vocabulary::SeccompProfile::Default),
                    ..base.clone()
                },
                "seccomp filter",
            ),
            (
                Isolation {
                    devices: crate::vocabulary::Devices::Standard,
                    ..base.clone()
                },
                "no device cgroup",
            ),
            (Sabotage::KeepOldRoot.apply(&base), "no old root"),
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
                    ..base.clone().with_ns(NsType::User)
                },
                "--map-root-user",
            ),
            (
                Isolation {
                    make_mounts_private: false,
                    binds: vec![Bind {
                        source: "/s".into(),
                        target: "/tmp".into(),
                    }],
                    ..base.clone()
                },
                "shared",
            ),
            (
                Isolation {
                    masked_paths: vec!["/proc/keys".into()],
                    ..base.clone()
                },
                "cannot mask paths",
            ),
            (
                Isolation {
                    readonly_paths: vec!["/proc/sys".into()],
                    ..base.clone()
                },
                "cannot make paths read-only",
            ),
            (
                Isolation {
                    mount_sys: true,
                    ..base.clone()
                },
                "mount sysfs",
            ),
        ];
        for (iso, needle) in cases {
            let r = unsupported_reasons(&iso).join("; ");
            assert!(r.contains(needle), "{needle}: {r}");
        }
        let hostname_without_uts = Isolation {
            hostname: Some("h".into()),
            ..base.clone()
        };
        assert!(unsupported_reasons(&hostname_without_uts).is_empty());
    }

    #[test]
    #[serial_test::serial(machine)]
    fn live_run_and_a_timeout_leaves_nothing() {
        use crate::runtime::process::live;
        if let Some(why) = live::unmet("unshare") {
            crate::testing::skip("unshare live test", &why);
            return;
        }
        let rt = UnshareRuntime::default();
        let out = live::run(&rt, &Isolation::base());
        assert_eq!(out.observation.pid, 1);
        assert_eq!(out.observation.proc_pids.ok(), Some(&vec![1]));
        live::timeout_leaves_nothing(&rt);
    }
}
