//! The `native` runtime: isoprobe's own spawner.

use super::{parse_observation, Isolation, Job, RunError, RunOutcome, Runtime};
use crate::spawner::{self, CgroupPlacement, RootMode, SpawnSpec};

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
    spec.cgroup = if iso.cpu_cgroup || iso.cpu_quota.is_some() {
        CgroupPlacement::Cpu(iso.cpu_quota)
    } else {
        CgroupPlacement::None
    };
    spec.timeout = job.timeout;
    spec
}
