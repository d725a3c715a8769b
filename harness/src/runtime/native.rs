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
        if iso.etc_files && iso.root == RootMode::None {
            return Some("the engine's /etc files need a root of the container's own".into());
        }
        (self.chroot_only && !iso.detach_old_root)
            .then(|| "native-chroot does not pivot, so there is no old root to keep".into())
    }

    /// The spawner runs as root of the run's user namespace.
    fn rootless_unsupported(&self) -> Option<String> {
        None
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
    spec.binds_on_host = iso.binds_on_host;
    spec.drop_caps = iso.drop_caps.clone();
    spec.no_new_privs = iso.no_new_privs;
    spec.seccomp = iso.seccomp;
    spec.user = iso.user;
    spec.uid_map = iso.id_map;
    spec.gid_map = iso.id_map;
    spec.time_offsets = iso
        .time_offsets
        .map(|t| (t.monotonic_secs, t.boottime_secs));
    spec.cwd = iso.cwd.clone();
    spec.cwd_before_root = iso.cwd_on_host;
    // The host's root as the spawning thread sees it (a stand-in host's, under the engine).
    spec.dev_null = iso.dev_null;
    spec.dev_null_from_image = iso.dev_null_from_image;
    spec.proc_through_link = iso.proc_through_link;
    spec.etc_files = iso.etc_files;
    spec.etc_files_on_host = iso.etc_files_on_host;
    spec.leak_dir = iso.leak_host_dir.then(|| "/".into());
    spec.mount_sys = iso.mount_sys;
    spec.masked_paths = iso.masked_paths.clone();
    spec.readonly_paths = iso.readonly_paths.clone();
    spec.devices = iso.devices;
    spec.timeout = job.timeout;
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::IdMap;
    use isoprobe_probes::{AgentArgs, NsType};
    use std::path::Path;
    use std::time::Duration;

    fn spec_for(iso: &Isolation) -> SpawnSpec {
        spawn_spec(&Job {
            isolation: iso,
            rootfs: Path::new("/tmp/r"),
            agent: "/isoprobe-agent",
            args: AgentArgs::default(),
            timeout: Duration::from_secs(1),
        })
    }

    #[test]
    fn the_user_namespace_gets_the_isolations_map() {
        let base = spec_for(&Isolation::base().with_ns(NsType::User));
        assert_eq!(
            (base.uid_map, base.gid_map),
            (IdMap::DEFAULT, IdMap::DEFAULT)
        );
        let iso = crate::checks::isolation_of("cgroup.release-agent-protected");
        let s = spec_for(&iso);
        assert_eq!((s.uid_map, s.gid_map), (IdMap::HOST_ROOT, IdMap::HOST_ROOT));
        assert!(s.has(NsType::User) && s.has(NsType::Cgroup) && s.has(NsType::Mnt));
    }
}
