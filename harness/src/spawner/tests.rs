//! The spawner's clone into a cgroup v2 directory, tried on whatever cgroup2 hierarchy this
//! machine has (the whole tree on v2, the controller-less `unified` one on a hybrid host),
//! since a hybrid host never takes that path in a real spawn (its cpu controller is on v1).

use super::*;
use isoprobe_probes::testing::{not_root, skip};

/// Where this process sits in the cgroup2 hierarchy, as a host path.
fn own_v2_dir() -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))?
    })?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(mount.join(own.trim_start_matches('/')))
}

/// `argv` run on the host's root, in no namespace of its own.
fn in_place(argv: &[&str]) -> SpawnSpec {
    SpawnSpec {
        root_mode: RootMode::None,
        namespaces: Default::default(),
        ..SpawnSpec::new("/", argv.iter().map(|a| a.to_string()).collect())
    }
}

#[test]
fn a_child_is_born_in_its_v2_cgroup() {
    const TEST: &str = "spawner::tests::a_child_is_born_in_its_v2_cgroup";
    if let Some(why) = not_root() {
        return skip(TEST, &why);
    }
    let Some(parent) = own_v2_dir().filter(|d| d.is_dir()) else {
        return skip(TEST, "no cgroup2 hierarchy mounted");
    };
    let dir = parent.join(format!("isoprobe-clone3-{}", std::process::id()));
    fs::create_dir(&dir).expect("create a cgroup2 directory under our own");
    let spec = in_place(&["/bin/true"]);
    let (sync_r, sync_w) = pipe().unwrap();
    let (err_r, err_w) = pipe().unwrap();
    let devnull: OwnedFd = fs::File::open("/dev/null").unwrap().into();
    let fd = devnull.as_raw_fd();
    let plan = child_plan(&spec, [sync_r.as_raw_fd(), err_w.as_raw_fd()], [fd; 3]).unwrap();
    let cgroup: OwnedFd = fs::File::open(&dir).unwrap().into();
    // SAFETY: the plan is complete; the child only runs child_main.
    let pid = unsafe { clone_into_cgroup(0, &cgroup, &plan) };
    drop((sync_r, err_w));
    let seen = pid.map(|p| process::read_cgroup(p.as_raw()));
    if let Some(p) = pid {
        let _ = nix::unistd::write(&sync_w, b"g");
        drop(sync_w);
        let _ = nix::sys::wait::waitpid(p, None);
    }
    drop(err_r);
    let removed = fs::remove_dir(&dir);
    let Some(seen) = seen else {
        return skip(
            TEST,
            "clone3 with CLONE_INTO_CGROUP failed (kernel before 5.7?)",
        );
    };
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let v2_line = seen
        .unwrap_or_default()
        .into_iter()
        .find(|l| l.starts_with("0::"));
    assert!(
        v2_line.as_deref().is_some_and(|l| l.ends_with(&name)),
        "the child started in {v2_line:?}, not in {name}"
    );
    removed.expect("remove the test cgroup");
}

#[test]
fn bind_targets_are_resolved_inside_the_rootfs_unless_a_control_asks_otherwise() {
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("rootfs");
    fs::create_dir_all(rootfs.join("inside")).unwrap();
    std::os::unix::fs::symlink(t.path().join("outside"), rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../inside", rootfs.join("rel")).unwrap();
    let mut spec = SpawnSpec::new(&rootfs, vec!["/agent".into()]);
    let outside = t.path().strip_prefix("/").unwrap().join("outside");
    assert_eq!(bind_target_of(&spec, "/abs"), rootfs.join(&outside));
    assert_eq!(bind_target_of(&spec, "/rel"), rootfs.join("inside"));
    spec.binds_on_host = true;
    assert_eq!(bind_target_of(&spec, "/abs"), rootfs.join("abs"));
}

#[test]
fn the_child_joins_its_cgroups_itself_before_the_host_reads_them() {
    const TEST: &str =
        "spawner::tests::the_child_joins_its_cgroups_itself_before_the_host_reads_them";
    if let Some(why) = not_root() {
        return skip(TEST, &why);
    }
    let spec = SpawnSpec {
        cgroup: CgroupPlacement::Own(crate::vocabulary::CgroupLimits {
            pids_max: Some(64),
            ..Default::default()
        }),
        ..in_place(&["/bin/cat", "/proc/self/cgroup"])
    };
    let out = spawn(&spec).expect("spawn");
    assert_eq!(out.exit, ExitKind::Code(0));
    let inside = String::from_utf8_lossy(&out.stdout).into_owned();
    let host = out.host_cgroup.expect("the host read the child's cgroups");
    // The cpu and pids lines, inside and as the host read them before "go", both name the
    // container's own cgroup.
    for controller in ["cpu", "pids"] {
        let own = |text: &str| {
            isoprobe_probes::parse::cgroup_path(text, Some(controller))
                .or_else(|| isoprobe_probes::parse::cgroup_path(text, None))
                .is_some_and(|p| p.contains("isoprobe-spawn-"))
        };
        assert!(own(&inside), "{controller} inside: {inside}");
        assert!(own(&host.join("\n")), "{controller} on the host: {host:?}");
    }
}

#[test]
fn a_join_that_fails_comes_back_as_its_step_and_errno() {
    let spec = in_place(&["/bin/true"]);
    let (sync_r, sync_w) = pipe().unwrap();
    let (err_r, err_w) = pipe().unwrap();
    let (joined_r, joined_w) = pipe().unwrap();
    let devnull: OwnedFd = fs::File::open("/dev/null").unwrap().into();
    let fd = devnull.as_raw_fd();
    let mut plan = child_plan(&spec, [sync_r.as_raw_fd(), err_w.as_raw_fd()], [fd; 3]).unwrap();
    // Open for reading only: the child's write of `0` fails with EBADF.
    plan.join_cgroups = vec![fd];
    plan.joined_fd = joined_w.as_raw_fd();
    let mut stack = vec![0u8; CHILD_STACK];
    // SAFETY: the plan is complete; the child only runs child_main.
    let pid = unsafe {
        nix::sched::clone(
            Box::new(|| child_main(&plan)),
            &mut stack,
            CloneFlags::empty(),
            Some(libc::SIGCHLD),
        )
    }
    .unwrap();
    drop((sync_r, err_w, joined_w));
    let joined = wait_joined(&joined_r, Duration::from_secs(10)).unwrap();
    let mut rec = [0u8; RECORD_LEN];
    let n = nix::unistd::read(&err_r, &mut rec).unwrap();
    drop(sync_w);
    nix::sys::wait::waitpid(pid, None).unwrap();
    assert!(!joined, "the child said it joined");
    assert_eq!(n, RECORD_LEN);
    let step = Step::from_u32(u32::from_ne_bytes(rec[..4].try_into().unwrap()));
    let errno = Errno::from_raw(i32::from_ne_bytes(rec[4..].try_into().unwrap()));
    assert_eq!((step, errno), (Some(Step::JoinCgroup), Errno::EBADF));
}
