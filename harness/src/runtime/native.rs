//! The `native` runtime: isoprobe's own spawner; and `native-chroot`, the same spawner entering
//! the rootfs with chroot only, kept as a weak runtime the escape checks must catch.

use super::Weakness;
use super::{parse_observation, Isolation, Job, RunError, RunOutcome, Runtime};
use crate::spawner::{self, CgroupPlacement, SpawnSpec};
use crate::vocabulary::{CgroupLimits, RootMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeRuntime {
    /// Enter every rootfs with chroot, whatever the check asks for.
    pub chroot_only: bool,
}

impl NativeRuntime {
    pub const PIVOT: NativeRuntime = NativeRuntime { chroot_only: false };
    pub const CHROOT: NativeRuntime = NativeRuntime { chroot_only: true };
}

const CHROOT_WEAKNESSES: &[Weakness] = &[
    Weakness {
        check: "root.chroot-escape-blocked",
        why: "chroot only: the old root stays reachable by walking `..`",
    },
    Weakness {
        check: "root.old-root-gone",
        why: "chroot only: the old root stays underneath the container's root",
    },
];

impl Runtime for NativeRuntime {
    fn name(&self) -> String {
        if self.chroot_only {
            "native-chroot".into()
        } else {
            "native".into()
        }
    }

    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").into()
    }

    fn unsupported(&self, iso: &Isolation) -> Option<String> {
        if iso.devices.standard_dev() && (iso.root == RootMode::None) {
            return Some("a standard /dev needs a root of the container's own".into());
        }
        (self.chroot_only && !iso.detach_old_root)
            .then(|| "native-chroot does not pivot, so there is no old root to keep".into())
    }

    fn known_weaknesses(&self) -> &'static [Weakness] {
        if self.chroot_only {
            CHROOT_WEAKNESSES
        } else {
            &[]
        }
    }

    fn run(&self, job: &Job) -> Result<RunOutcome, RunError> {
        let mut spec = spawn_spec(job);
        if self.chroot_only && spec.root_mode == RootMode::PivotRoot {
            spec.root_mode = RootMode::Chroot;
        }
        let out = spawner::spawn(&spec)?;
        let observation = parse_observation(out.exit, &out.stdout, &out.stderr)?;
        Ok(RunOutcome {
            observation,
            exit: out.exit,
            host_pid: Some(out.host_pid),
            host_nspid: out.host_nspid,
            host_cgroup: out.host_cgroup,
            cpu_time: Some(out.cpu_time),
            cgroup: out.cgroup,
        })
    }
}

/// The spawner's spec for a job: a straight mapping, nothing added.
pub fn spawn_spec(job: &Job) -> SpawnSpec {
    let iso = job.isolation;
    let mut spec = SpawnSpec::new(job.rootfs, job.agent_argv());
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
    spec.devices = iso.devices;
    spec.timeout = job.timeout;
    spec
}
