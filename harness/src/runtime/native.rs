//! The `native` runtime: isoprobe's own spawner.

use super::{parse_observation, Isolation, Job, RunError, RunOutcome, Runtime};
use crate::spawner::{self, CgroupLimits, CgroupPlacement, RootMode, SpawnSpec};

pub struct NativeRuntime;

impl Runtime for NativeRuntime {
    fn name(&self) -> String {
        "native".into()
    }

    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").into()
    }

    fn unsupported(&self, _iso: &Isolation) -> Option<String> {
        None
    }

    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        let spec = spawn_spec(job);
        let out = spawner::spawn(&spec)?;
        let observation = parse_observation(out.exit, &out.stdout, &out.stderr)?;
        Ok(RunOutcome {
            observation,
            exit: out.exit,
            host_pid: Some(out.host_pid),
            host_nspid: out.host_nspid,
            cpu_time: Some(out.cpu_time),
            cgroup: out.cgroup,
        })
    }
}

/// The spawner's spec for a job: a straight mapping, nothing added.
pub fn spawn_spec(job: &Job) -> SpawnSpec {
    let iso = job.isolation;
    let agent = match iso.root {
        RootMode::None => job
            .rootfs
            .join(job.agent.trim_start_matches('/'))
            .display()
            .to_string(),
        _ => job.agent.to_string(),
    };
    let mut argv = vec![agent];
    argv.extend(job.args.to_argv());
    let mut spec = SpawnSpec::new(job.rootfs, argv);
    spec.root_mode = iso.root;
    spec.namespaces = iso.namespaces.clone();
    spec.hostname = iso.hostname.clone();
    let limits = CgroupLimits {
        cpu_quota: iso.cpu_quota,
        pids_max: iso.pids_max,
        memory_max: iso.memory_max,
    };
    spec.cgroup = if iso.own_cgroup || limits != CgroupLimits::default() {
        CgroupPlacement::Own(limits)
    } else {
        CgroupPlacement::None
    };
    spec.make_mounts_private = iso.make_mounts_private;
    spec.detach_old_root = iso.detach_old_root;
    spec.binds = iso
        .binds
        .iter()
        .map(|b| (b.source.clone(), b.target.clone()))
        .collect();
    spec.drop_caps = iso.drop_caps.clone();
    spec.no_new_privs = iso.no_new_privs;
    spec.user = iso.user;
    spec.time_offsets = iso
        .time_offsets
        .map(|t| (t.monotonic_secs, t.boottime_secs));
    spec.timeout = job.timeout;
    spec
}
