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
