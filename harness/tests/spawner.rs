//! The native spawner as a library: bad specs are refused with a message, a failing child step
//! comes back with its step and errno, and nothing is left behind.

mod common;

use isoprobe::rootfs::{write_executable, FreshRootfs, AGENT_IN_ROOTFS};
use isoprobe::spawner::{spawn, CgroupPlacement, SpawnError, SpawnSpec, Step};
use isoprobe::vocabulary::{CgroupLimits, CpuQuota, RootMode};
use isoprobe_probes::{NsType, Observation};
use nix::errno::Errno;
use serial_test::serial;

fn rootfs() -> FreshRootfs {
    FreshRootfs::build(isoprobe::agent_binary::AGENT, None).unwrap()
}

fn spec(r: &FreshRootfs) -> SpawnSpec {
    let mut s = SpawnSpec::new(r.path(), vec![AGENT_IN_ROOTFS.to_string()]);
    s.namespaces = [NsType::Mnt, NsType::Pid, NsType::Uts]
        .into_iter()
        .collect();
    s.hostname = Some("spawned".into());
    s
}

#[test]
#[serial(machine)]
fn runs_the_agent_in_a_pivoted_root() {
    require_root!("runs_the_agent_in_a_pivoted_root");
    let r = rootfs();
    let out = spawn(&spec(&r)).expect("spawn");
    let obs: Observation = serde_json::from_slice(&out.stdout).expect("observation");
    assert_eq!(obs.pid, 1);
    assert_eq!(obs.hostname.ok().map(String::as_str), Some("spawned"));
    assert_eq!(out.host_nspid.as_ref().and_then(|v| v.last()), Some(&1));
    assert!(out.host_cgroup.is_some_and(|l| !l.is_empty()));
    assert_ne!(out.host_pid, 1);
    common::assert_nothing_left_behind();
}

#[test]
#[serial(machine)]
fn a_failing_child_step_reports_step_errno_and_path() {
    require_root!("a_failing_child_step_reports_step_errno_and_path");
    let r = rootfs();
    // Executable bits, but not an executable format.
    write_executable(&r.agent_host_path(), b"not an ELF file").unwrap();
    match spawn(&spec(&r)) {
        Err(SpawnError::Child {
            step, errno, path, ..
        }) => {
            assert_eq!(step, Step::Exec);
            assert_eq!(errno, Errno::ENOEXEC);
            assert_eq!(path, std::path::Path::new(AGENT_IN_ROOTFS));
        }
        other => panic!("expected a child exec error, got {other:?}"),
    }
    let msg = spawn(&spec(&r)).unwrap_err().to_string();
    assert!(msg.contains("execve") && msg.contains("ENOEXEC"), "{msg}");
    common::assert_nothing_left_behind();
}

#[test]
#[serial(machine)]
fn bad_specs_are_refused_before_anything_starts() {
    require_root!("bad_specs_are_refused_before_anything_starts");
    let r = rootfs();
    let cases: Vec<(SpawnSpec, &str)> = vec![
        (
            SpawnSpec {
                rootfs: "/nonexistent/isoprobe".into(),
                ..spec(&r)
            },
            "rootfs",
        ),
        (
            SpawnSpec {
                rootfs: r.agent_host_path(),
                ..spec(&r)
            },
            "not a directory",
        ),
        (
            SpawnSpec {
                argv: vec!["/missing-agent".into()],
                ..spec(&r)
            },
            "missing",
        ),
        (
            SpawnSpec {
                namespaces: Default::default(),
                ..spec(&r)
            },
            "mount namespace",
        ),
        (
            SpawnSpec {
                hostname: Some("x".repeat(65)),
                ..spec(&r)
            },
            "hostname",
        ),
        (
            SpawnSpec {
                masked_paths: vec!["proc/keys".into()],
                ..spec(&r)
            },
            "must be absolute",
        ),
        (
            SpawnSpec {
                readonly_paths: vec!["/proc/../etc".into()],
                ..spec(&r)
            },
            "without `..`",
        ),
    ];
    for (s, needle) in cases {
        match spawn(&s) {
            Err(SpawnError::InvalidSpec(m)) => {
                assert!(m.contains(needle), "`{m}` lacks `{needle}`")
            }
            other => panic!("expected InvalidSpec({needle}), got {other:?}"),
        }
    }
    std::fs::set_permissions(
        r.agent_host_path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    assert!(
        matches!(spawn(&spec(&r)), Err(SpawnError::InvalidSpec(m)) if m.contains("not an executable"))
    );
}

#[test]
#[serial(machine)]
fn a_hung_container_is_killed_at_the_timeout_and_its_cgroup_removed() {
    require_root!("a_hung_container_is_killed_at_the_timeout_and_its_cgroup_removed");
    let r = rootfs();
    let mut s = spec(&r);
    s.argv.extend(["--linger-ms".into(), "10000".into()]);
    s.timeout = std::time::Duration::from_millis(300);
    if let Err(reason) = isoprobe::cgroup::locate("cpu") {
        common::skip("timeout test (cgroup part)", &reason.to_string());
    } else {
        s.cgroup = CgroupPlacement::Own(CgroupLimits {
            cpu_quota: Some(CpuQuota {
                quota_us: 50_000,
                period_us: 100_000,
            }),
            ..CgroupLimits::default()
        });
    }
    let t = std::time::Instant::now();
    assert!(matches!(spawn(&s), Err(SpawnError::Timeout(_))));
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    common::assert_nothing_left_behind();
}

#[test]
#[serial(machine)]
fn chroot_mode_and_user_namespace_work() {
    require_root!("chroot_mode_and_user_namespace_work");
    let r = rootfs();
    let mut s = spec(&r);
    s.root_mode = RootMode::Chroot;
    s.namespaces.insert(NsType::User);
    let out = spawn(&s).expect("spawn");
    let obs: Observation = serde_json::from_slice(&out.stdout).expect("observation");
    assert_eq!(obs.uid, 0, "root inside the user namespace");
    common::assert_nothing_left_behind();
}

/// Masks and read-only binds are made in a user namespace too, where a read-only remount that
/// dropped the proc mount's locked nosuid/nodev/noexec would be refused, and where sysfs needs
/// the container's own network namespace. A path the kernel lacks is left alone.
#[test]
#[serial(machine)]
fn masks_and_read_only_binds_work_in_a_user_namespace() {
    use isoprobe_probes::contract::{MaskedArgs, MaskedOutcome, ReadonlyArgs, ReadonlyOutcome};
    use isoprobe_probes::AgentArgs;
    require_root!("masks_and_read_only_binds_work_in_a_user_namespace");
    let r = rootfs();
    let mut s = spec(&r);
    s.namespaces.extend([NsType::User, NsType::Net]);
    s.mount_sys = true;
    s.masked_paths = ["/proc/timer_list", "/sys/firmware", "/proc/isoprobe-absent"]
        .map(String::from)
        .to_vec();
    s.readonly_paths = vec!["/proc/sys".into(), "/proc/isoprobe-absent".into()];
    let args = AgentArgs::trying(MaskedArgs {
        paths: s.masked_paths.clone(),
    })
    .with_try(ReadonlyArgs {
        paths: vec!["/proc/sys/kernel/core_pattern".into()],
    });
    s.argv.extend(args.to_argv());
    let out = spawn(&s).expect("spawn");
    let obs: Observation = serde_json::from_slice(&out.stdout).expect("observation");
    let masked = obs.tried::<MaskedOutcome>().expect("masked outcome");
    for p in &masked.paths[..2] {
        assert!(
            p.seen.done().is_some_and(|s| !s.has_content()),
            "{}: {:?}",
            p.path,
            p.seen
        );
    }
    assert_eq!(masked.paths[2].seen.errno(), Some("ENOENT"));
    let ro = obs.tried::<ReadonlyOutcome>().expect("readonly outcome");
    // Root of a user namespace may not write a host-wide sysctl anyway (EACCES comes first);
    // the bind's own read-only flag shows the remount was made.
    let refused = ro.opens[0].open.errno();
    assert!(
        matches!(refused, Some("EROFS" | "EACCES")),
        "{:?}",
        ro.opens[0]
    );
    let mount = ro.opens[0].mount.done().expect("mount");
    assert!(
        mount.read_only && mount.mount_point == "/proc/sys",
        "{mount:?}"
    );
}

#[test]
#[serial(machine)]
fn the_filter_is_installed_for_root_for_another_user_and_with_no_new_privs() {
    use isoprobe::vocabulary::SeccompProfile;
    use isoprobe_probes::contract::{SeccompArgs, SeccompOutcome};
    use isoprobe_probes::AgentArgs;
    require_root!("the_filter_is_installed_for_root_for_another_user_and_with_no_new_privs");
    let r = rootfs();
    let args = AgentArgs::trying(SeccompArgs {
        calls: vec!["mount".into(), "getpid".into()],
    });
    // Without no_new_privs the filter needs CAP_SYS_ADMIN, which the switch to uid 1000 takes
    // away: it must go in before that switch.
    for (user, nnp, userns) in [
        (None, false, false),
        (Some((1000, 1000)), false, false),
        (Some((1000, 1000)), true, false),
        (None, false, true),
    ] {
        let mut s = spec(&r);
        s.argv.extend(args.to_argv());
        s.seccomp = Some(SeccompProfile::Default);
        s.user = user;
        s.no_new_privs = nnp;
        if userns {
            s.namespaces.insert(NsType::User);
        }
        let case = format!("user {user:?}, no_new_privs {nnp}, user namespace {userns}");
        let out = spawn(&s).unwrap_or_else(|e| panic!("{case}: {e}"));
        let obs: Observation = serde_json::from_slice(&out.stdout).expect("observation");
        let o = obs.tried::<SeccompOutcome>().expect("seccomp outcome");
        assert_eq!(o.calls[0].result.errno(), Some("EPERM"), "{case}: {o:?}");
        assert!(o.calls[1].result.done().is_some(), "{case}: {o:?}");
        assert_eq!(o.mode.done(), Some(&Some(2)), "{case}: {o:?}");
    }
    common::assert_nothing_left_behind();
}
