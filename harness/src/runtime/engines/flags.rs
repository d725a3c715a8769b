//! An [`Isolation`] said in an engine's `run` flags, pure and unit-tested: every field as a
//! flag, or as the reason the engine cannot express it; and the defaults mode, where the
//! engine's own configuration stands and a negative control is the engine's escape hatch.

use super::Engine;
use crate::runtime::capability;
use crate::runtime::process::negative_control_only;
use crate::vocabulary::{Devices, Isolation, RootMode, Sabotage, MASKED_PATHS, READONLY_PATHS};
use isoprobe_probes::NsType;
use std::collections::BTreeSet;

/// What docker 20.10 masks by default (`--security-opt systempaths=unconfined` lifts it).
const DOCKER_MASKED: [&str; 10] = MASKED_PATHS;
/// What docker 20.10 and podman 4.3 make read-only by default (podman adds /proc/asound).
const DEFAULT_READONLY: [&str; 5] = READONLY_PATHS;

/// The RLIMIT_NPROC a podman container gets. podman asks for 1048576 by default, above what
/// its conmon holds (32768 here); raising a limit needs CAP_SYS_RESOURCE, which this project's
/// VMs lack in their bounding set, so runc's `setrlimit` would fail and no container start.
pub const PODMAN_NPROC: u64 = 32768;
/// RLIMIT_NOFILE for both engines: their default (1048576) fails the same way.
pub const NOFILE: u64 = 1024;

/// What every run gets whatever the isolation: the limits the engine needs to start here.
pub fn start_flags(engine: Engine) -> Vec<String> {
    let mut f = vec!["--ulimit".into(), format!("nofile={NOFILE}:{NOFILE}")];
    if engine == Engine::Podman {
        f.extend([
            "--ulimit".into(),
            format!("nproc={PODMAN_NPROC}:{PODMAN_NPROC}"),
        ]);
    }
    f
}

/// Why `engine` cannot build `iso`, one reason per part it cannot express.
pub fn unsupported_reasons(engine: Engine, iso: &Isolation) -> Vec<String> {
    let who = engine.name();
    let mut r = Vec::new();
    if !iso.namespaces.contains(&NsType::Mnt) || iso.root == RootMode::None {
        r.push(format!(
            "{who} always runs a container in a mount namespace of its own under its root"
        ));
    } else if iso.root == RootMode::Chroot {
        r.push(format!(
            "{who} always enters the root with runc's pivot_root; it has no chroot mode"
        ));
    }
    if iso.namespaces.contains(&NsType::Time) {
        r.push(format!("{who} has no option for a time namespace"));
    }
    if iso.namespaces.contains(&NsType::User) && engine == Engine::Docker {
        r.push(
            "docker maps users only daemon-wide (dockerd --userns-remap), not per container".into(),
        );
    }
    r.extend(negative_control_only(who, iso));
    if !iso.make_mounts_private {
        r.push(match engine {
            Engine::Podman => "podman has no option for the propagation of the rootfs's bind \
                               (runc binds it private)"
                .into(),
            Engine::Docker => "docker runs an imported copy of the rootfs: no mount of the \
                               host's can reach it, shared or not"
                .into(),
        });
    }
    if !iso.detach_old_root {
        r.push(format!(
            "{who} runs runc, which always detaches the old root after pivot_root"
        ));
    }
    for cap in &iso.drop_caps {
        if capability::name(*cap).is_none() {
            r.push(format!("capability number {cap} has no name {who} knows"));
        }
    }
    r.extend(path_reasons(engine, iso));
    r
}

/// Masked and read-only paths the engine cannot give exactly enough of.
fn path_reasons(engine: Engine, iso: &Isolation) -> Vec<String> {
    let mut r = Vec::new();
    let unknown_ro: Vec<&str> = iso
        .readonly_paths
        .iter()
        .map(String::as_str)
        .filter(|p| !DEFAULT_READONLY.contains(p))
        .collect();
    if !unknown_ro.is_empty() {
        r.push(format!(
            "{} can only keep its default read-only paths, not make {} read-only",
            engine.name(),
            unknown_ro.join(", ")
        ));
    }
    if engine == Engine::Docker {
        let unknown: Vec<&str> = iso
            .masked_paths
            .iter()
            .map(String::as_str)
            .filter(|p| !DOCKER_MASKED.contains(p))
            .collect();
        if !unknown.is_empty() {
            r.push(format!(
                "docker can only keep its default masked paths, not mask {}",
                unknown.join(", ")
            ));
        }
    }
    r
}

/// The flags that build `iso` (which [`unsupported_reasons`] accepts). `available_caps`: the
/// capabilities this machine can grant at all; `seccomp_file`: the engine's profile file for
/// `iso.seccomp`.
pub fn configured(
    engine: Engine,
    iso: &Isolation,
    available_caps: &BTreeSet<u32>,
    seccomp_file: Option<&str>,
) -> Vec<String> {
    let mut f: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| f.extend(items.iter().map(|s| s.to_string()));
    let has = |ns| iso.namespaces.contains(&ns);
    // Sharing a namespace means the one the engine's runc inherits. For podman that is the
    // stand-in host it runs in. For docker it is its daemon's (the machine's, for a daemon
    // behind DOCKER_HOST), never the stand-in's: a docker container always gets network, IPC
    // and UTS namespaces of its own, which only adds isolation the check did not ask for,
    // and the controls that share them are not run ([`control_unsupported`]). A private pid
    // or UTS namespace is both engines' default, and docker has no word for it.
    // podman in a user namespace shares the host's IPC namespace by binding the host's
    // /dev/mqueue, which not every machine mounts (this project's do not): such a container
    // gets its own IPC namespace too.
    let own = |ns| {
        has(ns)
            || (engine == Engine::Docker && DAEMON_SHARED.contains(&ns))
            || (engine == Engine::Podman && ns == NsType::Ipc && has(NsType::User))
    };
    if !has(NsType::Pid) {
        push(&["--pid", "host"]);
    }
    if !own(NsType::Uts) {
        push(&["--uts", "host"]);
    }
    push(&["--ipc", if own(NsType::Ipc) { "private" } else { "host" }]);
    push(&["--network", if own(NsType::Net) { "none" } else { "host" }]);
    if engine == Engine::Docker {
        // docker lets every container bind ports below 1024 without CAP_NET_BIND_SERVICE;
        // the kernel's default back makes the network namespace the one asked for.
        push(&["--sysctl", "net.ipv4.ip_unprivileged_port_start=1024"]);
    }
    push(&[
        "--cgroupns",
        if has(NsType::Cgroup) {
            "private"
        } else {
            "host"
        },
    ]);
    if has(NsType::User) && engine == Engine::Podman {
        let m = iso.id_map;
        let map = format!("{}:{}:{}", m.inside, m.outside, m.count);
        push(&["--uidmap", &map, "--gidmap", &map]);
    }
    if let (Some(h), true) = (&iso.hostname, has(NsType::Uts)) {
        push(&["--hostname", h]);
    }
    // The bounding set is exactly what the isolation keeps of what the machine has: an
    // engine's default set is narrower, and CAP_SYS_RESOURCE cannot be granted here.
    push(&["--cap-drop", "ALL"]);
    for cap in available_caps.iter().filter(|c| !iso.drop_caps.contains(c)) {
        if let Some(name) = capability::name(*cap) {
            push(&["--cap-add", name]);
        }
    }
    if iso.no_new_privs {
        push(&["--security-opt", "no-new-privileges"]);
    }
    let seccomp = format!("seccomp={}", seccomp_file.unwrap_or("unconfined"));
    push(&["--security-opt", &seccomp]);
    for p in path_flags(engine, iso) {
        push(&[&p]);
    }
    if let Some(q) = iso.cpu_quota {
        push(&[
            "--cpu-period",
            &q.period_us.to_string(),
            "--cpu-quota",
            &q.quota_us.to_string(),
        ]);
    }
    // -1: no limit (podman's default is 2048).
    let pids = iso.pids_max.map_or("-1".to_string(), |n| n.to_string());
    push(&["--pids-limit", &pids]);
    if let Some(b) = iso.memory_max {
        // Swap equal to memory: no swap on top of the limit.
        push(&["--memory", &b.to_string(), "--memory-swap", &b.to_string()]);
    }
    if iso.devices == Devices::StandardNodesAnyDevice {
        push(&["--device-cgroup-rule", "a *:* rwm"]);
    }
    if let Some((uid, gid)) = iso.user {
        push(&["--user", &format!("{uid}:{gid}")]);
    }
    for s in shared_flags(iso) {
        push(&[&s]);
    }
    f
}

/// What the agent needs whatever the mode: its working directory and bound directories.
fn shared_flags(iso: &Isolation) -> Vec<String> {
    let mut f = Vec::new();
    if let Some(cwd) = &iso.cwd {
        f.extend(["--workdir".to_string(), cwd.clone()]);
    }
    for b in &iso.binds {
        f.extend([
            "--volume".to_string(),
            format!("{}:{}", b.source.display(), b.target),
        ]);
    }
    f
}

/// Masked and read-only paths. docker has them all or none; podman unmasks what is not asked
/// and masks exactly what is.
fn path_flags(engine: Engine, iso: &Isolation) -> Vec<String> {
    let opt = |v: String| ["--security-opt".to_string(), v];
    match engine {
        Engine::Docker => {
            if iso.masked_paths.is_empty() && iso.readonly_paths.is_empty() {
                opt("systempaths=unconfined".into()).to_vec()
            } else {
                Vec::new()
            }
        }
        Engine::Podman => {
            let mut f = Vec::new();
            let lifted: Vec<&str> = podman_default_paths()
                .filter(|p| !iso.readonly_paths.iter().any(|r| r == p))
                .collect();
            if iso.readonly_paths.is_empty() {
                f.extend(opt("unmask=ALL".into()));
            } else if !lifted.is_empty() {
                f.extend(opt(format!("unmask={}", lifted.join(":"))));
            }
            if !iso.masked_paths.is_empty() {
                f.extend(opt(format!("mask={}", iso.masked_paths.join(":"))));
            }
            f
        }
    }
}

/// What podman 4.3 masks by default beyond the engines' common list.
const PODMAN_ALSO_MASKED: [&str; 2] = ["/sys/fs/selinux", "/sys/dev/block"];

/// Everything podman 4.3 masks or makes read-only by default (`unmask` lifts both kinds).
fn podman_default_paths() -> impl Iterator<Item = &'static str> {
    MASKED_PATHS
        .into_iter()
        .chain(PODMAN_ALSO_MASKED)
        .chain(READONLY_PATHS)
}

/// What `iso` gives up of `check` (the isolation of the check it runs for), each as the
/// sabotage that gives it up: nothing for the check's own run, its sabotage for its control's,
/// what a reference run does without (a filter, no_new_privs) for that run.
pub fn given_up(iso: &Isolation, check: &Isolation) -> Vec<Sabotage> {
    let mut g: Vec<Sabotage> = check
        .namespaces
        .difference(&iso.namespaces)
        .map(|ns| Sabotage::DropNamespace(*ns))
        .collect();
    let dropped_ns_mnt = g.contains(&Sabotage::DropNamespace(NsType::Mnt));
    if iso.root != check.root && !dropped_ns_mnt {
        g.push(Sabotage::RootMode(iso.root));
    }
    let lost = |was: bool, is: bool| was && !is;
    for (gone, s) in [
        (
            lost(check.cpu_quota.is_some(), iso.cpu_quota.is_some()),
            Sabotage::NoCpuQuota,
        ),
        (
            lost(check.pids_max.is_some(), iso.pids_max.is_some()),
            Sabotage::NoPidsLimit,
        ),
        (
            lost(check.memory_max.is_some(), iso.memory_max.is_some()),
            Sabotage::NoMemoryLimit,
        ),
        (
            lost(check.make_mounts_private, iso.make_mounts_private),
            Sabotage::SharedMounts,
        ),
        (
            lost(check.detach_old_root, iso.detach_old_root),
            Sabotage::KeepOldRoot,
        ),
        (
            check.drop_caps.iter().any(|c| !iso.drop_caps.contains(c)),
            Sabotage::KeepCapabilities,
        ),
        (
            lost(check.no_new_privs, iso.no_new_privs),
            Sabotage::AllowNewPrivs,
        ),
        (
            lost(!check.leak_host_dir, !iso.leak_host_dir),
            Sabotage::LeakHostFd,
        ),
        (
            lost(!check.cwd_on_host, !iso.cwd_on_host),
            Sabotage::CwdResolvedOnHost,
        ),
        (
            lost(!check.binds_on_host, !iso.binds_on_host),
            Sabotage::BindsResolvedOnHost,
        ),
        (
            lost(!check.dev_null_from_image, !iso.dev_null_from_image),
            Sabotage::DevNullFromImage,
        ),
        (
            lost(!check.proc_through_link, !iso.proc_through_link),
            Sabotage::ProcThroughImageLink,
        ),
        (
            lost(!check.etc_files_on_host, !iso.etc_files_on_host),
            Sabotage::EtcWrittenOnHost,
        ),
        (
            lost(!check.masked_paths.is_empty(), !iso.masked_paths.is_empty()),
            Sabotage::NoMasking,
        ),
        (
            lost(
                !check.readonly_paths.is_empty(),
                !iso.readonly_paths.is_empty(),
            ),
            Sabotage::NoReadonlyPaths,
        ),
        (
            lost(check.seccomp.is_some(), iso.seccomp.is_some()),
            Sabotage::NoSeccomp,
        ),
        (
            check.devices == Devices::Standard && iso.devices == Devices::StandardNodesAnyDevice,
            Sabotage::AllDevices,
        ),
    ] {
        if gone {
            g.push(s);
        }
    }
    g
}

/// The namespaces a docker container would share with its daemon rather than with the
/// stand-in host.
const DAEMON_SHARED: [NsType; 3] = [NsType::Net, NsType::Ipc, NsType::Uts];

/// Why the engine cannot run `iso` for a check of isolation `check` against the stand-in host,
/// if it cannot: docker's "host" namespaces are its daemon's, which the check does not play
/// against (and, behind DOCKER_HOST, the machine's, which no control may touch).
pub fn shared_unsupported(engine: Engine, iso: &Isolation, check: &Isolation) -> Option<String> {
    if engine != Engine::Docker {
        return None;
    }
    given_up(iso, check).into_iter().find_map(|s| match s {
        Sabotage::DropNamespace(ns) if DAEMON_SHARED.contains(&ns) => Some(format!(
            "docker's `host` {ns} namespace is its daemon's, not the stand-in host the check \
             plays against: isoprobe gives every docker container its own, and does not run \
             this control"
        )),
        _ => None,
    })
}

/// The engine's escape hatch for what `sabotage` breaks, in defaults mode: the flags that
/// give it up, or why the engine has none.
fn escape_hatch(
    engine: Engine,
    sabotage: Sabotage,
    available_caps: &BTreeSet<u32>,
) -> Result<Vec<String>, String> {
    let who = engine.name();
    let flags = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect());
    match sabotage {
        Sabotage::DropNamespace(NsType::Pid) => flags(&["--pid", "host"]),
        Sabotage::DropNamespace(NsType::Ipc) => flags(&["--ipc", "host"]),
        Sabotage::DropNamespace(NsType::Uts) => flags(&["--uts", "host"]),
        Sabotage::DropNamespace(NsType::Net) => flags(&["--network", "host"]),
        Sabotage::DropNamespace(NsType::Cgroup) => flags(&["--cgroupns", "host"]),
        // Out of the box there is no user or time namespace to give up.
        Sabotage::DropNamespace(NsType::User | NsType::Time) => flags(&[]),
        Sabotage::DropNamespace(NsType::Mnt) => Err(format!(
            "{who} has no option to leave a container in the host's mount namespace"
        )),
        Sabotage::RootMode(_) | Sabotage::KeepOldRoot => {
            Err(format!("{who} has no option for how runc enters the root"))
        }
        // No CPU quota or memory limit out of the box; podman's pids limit is lifted.
        Sabotage::NoCpuQuota | Sabotage::NoMemoryLimit => flags(&[]),
        Sabotage::NoPidsLimit => flags(&["--pids-limit", "-1"]),
        Sabotage::SharedMounts => Err(format!(
            "{who} has no option to leave the container's mounts shared with the host's"
        )),
        Sabotage::KeepCapabilities => Ok(available_caps
            .iter()
            .filter_map(|c| capability::name(*c))
            .flat_map(|n| ["--cap-add".to_string(), n.to_string()])
            .collect()),
        // no_new_privs is off out of the box.
        Sabotage::AllowNewPrivs => flags(&[]),
        Sabotage::NoSeccomp => flags(&["--security-opt", "seccomp=unconfined"]),
        Sabotage::NoMasking | Sabotage::NoReadonlyPaths => match engine {
            Engine::Docker => flags(&["--security-opt", "systempaths=unconfined"]),
            Engine::Podman => flags(&["--security-opt", "unmask=ALL"]),
        },
        // podman's device cgroup is not all that keeps devices out by default (it grants no
        // CAP_MKNOD): its switch for "every device" is --privileged. docker's --privileged
        // asks for every capability, CAP_SYS_RESOURCE too, which this project's VMs cannot
        // grant; its default set has CAP_MKNOD, so a rule allowing every device lifts it.
        Sabotage::AllDevices => match engine {
            Engine::Podman => flags(&["--privileged"]),
            Engine::Docker => flags(&["--device-cgroup-rule", "a *:* rwm"]),
        },
        Sabotage::LeakHostFd
        | Sabotage::CwdResolvedOnHost
        | Sabotage::BindsResolvedOnHost
        | Sabotage::DevNullFromImage
        | Sabotage::ProcThroughImageLink
        | Sabotage::EtcWrittenOnHost => {
            Err(negative_control_only(who, &sabotage.apply(&Isolation::base())).join("; "))
        }
    }
}

/// Why defaults mode cannot run `iso` for a check of isolation `check`: what `iso` gives up
/// has no escape hatch.
pub fn defaults_unsupported(engine: Engine, iso: &Isolation, check: &Isolation) -> Option<String> {
    if let Some(why) = shared_unsupported(engine, iso, check) {
        return Some(why);
    }
    given_up(iso, check)
        .into_iter()
        .find_map(|s| escape_hatch(engine, s, &BTreeSet::new()).err())
}

/// Defaults mode: the engine's own configuration, plus what the agent needs (the user and
/// working directory it runs with, the directories bound for it, the hostname asked for)
/// and `--network none` unless `iso` shares the host's; with the escape hatch for each thing
/// `iso` gives up of `check` (a control's sabotage, a reference run's missing filter).
pub fn defaults(
    engine: Engine,
    iso: &Isolation,
    check: &Isolation,
    available_caps: &BTreeSet<u32>,
) -> Result<Vec<String>, String> {
    let mut hatch = Vec::new();
    for s in given_up(iso, check) {
        hatch.extend(escape_hatch(engine, s, available_caps)?);
    }
    let mut f = Vec::new();
    if !hatch.iter().any(|h| h == "--network") {
        f.extend(["--network".to_string(), "none".to_string()]);
    }
    let shares_uts = hatch.iter().any(|h| h == "--uts");
    if let (Some(h), false) = (&iso.hostname, shares_uts) {
        f.extend(["--hostname".to_string(), h.clone()]);
    }
    if let Some((uid, gid)) = iso.user {
        f.extend(["--user".to_string(), format!("{uid}:{gid}")]);
    }
    f.extend(shared_flags(iso));
    f.extend(hatch);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::isolation_of;
    use crate::vocabulary::{Bind, CpuQuota, SeccompProfile};

    fn caps() -> BTreeSet<u32> {
        (0..=40).filter(|c| *c != 24).collect()
    }

    fn has_seq(v: &[String], seq: &[&str]) -> bool {
        v.windows(seq.len()).any(|w| w == seq)
    }

    #[test]
    fn base_is_private_pid_and_mounts_with_the_rest_shared() {
        for engine in [Engine::Podman, Engine::Docker] {
            let f = configured(engine, &Isolation::base(), &caps(), None);
            assert!(!f.iter().any(|a| a == "--pid"));
            let shared = engine == Engine::Podman;
            assert_eq!(has_seq(&f, &["--network", "host"]), shared);
            assert_eq!(has_seq(&f, &["--uts", "host"]), shared);
            assert_eq!(has_seq(&f, &["--ipc", "host"]), shared);
            assert!(has_seq(&f, &["--security-opt", "seccomp=unconfined"]));
            assert!(has_seq(&f, &["--pids-limit", "-1"]));
            assert!(has_seq(&f, &["--cap-drop", "ALL"]));
            assert!(has_seq(&f, &["--cap-add", "CAP_SYS_ADMIN"]));
            assert!(!f.iter().any(|a| a == "CAP_SYS_RESOURCE"));
            assert!(!f.iter().any(|a| a == "no-new-privileges"));
            assert_eq!(
                unsupported_reasons(engine, &Isolation::base()),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn every_field_becomes_its_flag() {
        let iso = Isolation {
            hostname: Some("h".into()),
            cpu_quota: Some(CpuQuota {
                quota_us: 4000,
                period_us: 20000,
            }),
            pids_max: Some(16),
            memory_max: Some(64 << 20),
            drop_caps: vec![21],
            no_new_privs: true,
            user: Some((1000, 1000)),
            cwd: Some("/tmp".into()),
            binds: vec![Bind {
                source: "/s".into(),
                target: "/t".into(),
            }],
            devices: Devices::StandardNodesAnyDevice,
            ..Isolation::base()
                .with_ns(NsType::Net)
                .with_ns(NsType::Uts)
                .with_ns(NsType::Ipc)
                .with_ns(NsType::Cgroup)
                .with_ns(NsType::User)
        };
        let f = configured(Engine::Podman, &iso, &caps(), Some("/p.json"));
        for seq in [
            &["--network", "none"][..],
            &["--ipc", "private"],
            &["--cgroupns", "private"],
            &["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"],
            &["--hostname", "h"],
            &["--cpu-period", "20000", "--cpu-quota", "4000"],
            &["--pids-limit", "16"],
            &["--memory", "67108864", "--memory-swap", "67108864"],
            &["--security-opt", "no-new-privileges"],
            &["--security-opt", "seccomp=/p.json"],
            &["--user", "1000:1000"],
            &["--workdir", "/tmp"],
            &["--volume", "/s:/t"],
            &["--device-cgroup-rule", "a *:* rwm"],
            &["--security-opt", "unmask=ALL"],
        ] {
            assert!(has_seq(&f, seq), "{seq:?} in {f:?}");
        }
        assert!(!f.iter().any(|a| a == "CAP_SYS_ADMIN"));
        let reasons = unsupported_reasons(Engine::Docker, &iso).join("; ");
        assert!(reasons.contains("--userns-remap"), "{reasons}");
        assert!(unsupported_reasons(Engine::Podman, &iso).is_empty());
    }

    #[test]
    fn masked_and_readonly_paths_follow_each_engine() {
        let masked = isolation_of("proc.sensitive-masked");
        let docker = configured(Engine::Docker, &masked, &caps(), None);
        assert!(!docker.iter().any(|a| a.contains("systempaths")));
        let unmasked = Sabotage::NoMasking.apply(&masked);
        assert!(has_seq(
            &configured(Engine::Docker, &unmasked, &caps(), None),
            &["--security-opt", "systempaths=unconfined"]
        ));
        let podman = configured(Engine::Podman, &masked, &caps(), None);
        assert!(has_seq(&podman, &["--security-opt", "unmask=ALL"]));
        assert!(podman
            .iter()
            .any(|a| a.starts_with("mask=/proc/acpi:") && a.contains("/sys/firmware")));
        let ro = isolation_of("proc.sensitive-readonly");
        let podman = configured(Engine::Podman, &ro, &caps(), None);
        let unmask = podman.iter().find(|a| a.starts_with("unmask=")).unwrap();
        assert!(
            unmask.contains("/proc/keys") && !unmask.contains("/proc/sys:"),
            "{unmask}"
        );
        assert!(!podman.iter().any(|a| a.starts_with("mask=")));
        let odd = Isolation {
            masked_paths: vec!["/proc/cpuinfo".into()],
            readonly_paths: vec!["/etc".into()],
            ..Isolation::base()
        };
        let d = unsupported_reasons(Engine::Docker, &odd).join("; ");
        assert!(d.contains("/proc/cpuinfo") && d.contains("/etc"), "{d}");
        let p = unsupported_reasons(Engine::Podman, &odd).join("; ");
        assert!(!p.contains("/proc/cpuinfo") && p.contains("/etc"), "{p}");
    }

    #[test]
    fn what_no_engine_expresses_is_a_reason() {
        let base = Isolation::base();
        for (iso, needle) in [
            (base.clone().with_ns(NsType::Time), "time namespace"),
            (Sabotage::RootMode(RootMode::Chroot).apply(&base), "chroot"),
            (
                Sabotage::DropNamespace(NsType::Mnt).apply(&base),
                "mount namespace",
            ),
            (Sabotage::KeepOldRoot.apply(&base), "old root"),
            (Sabotage::SharedMounts.apply(&base), "propagation"),
            (Sabotage::LeakHostFd.apply(&base), "leak a host descriptor"),
        ] {
            let r = unsupported_reasons(Engine::Podman, &iso).join("; ");
            assert!(r.contains(needle), "{needle}: {r}");
        }
        let net = isolation_of("net.only-loopback");
        let shared = Sabotage::DropNamespace(NsType::Net).apply(&net);
        assert!(
            shared_unsupported(Engine::Docker, &shared, &net).is_some_and(|r| r.contains("daemon"))
        );
        assert_eq!(shared_unsupported(Engine::Podman, &shared, &net), None);
        assert_eq!(shared_unsupported(Engine::Docker, &net, &net), None);
    }

    #[test]
    fn what_a_run_gives_up_of_its_check_is_its_controls_sabotage() {
        for c in crate::checks::all() {
            let iso = c.isolation();
            assert_eq!(given_up(&iso, &iso), Vec::<Sabotage>::new(), "{}", c.id());
            let control = c.sabotage().apply(&iso);
            assert_eq!(given_up(&control, &iso), [c.sabotage()], "{}", c.id());
        }
    }

    #[test]
    fn defaults_keep_the_engine_and_what_is_given_up_is_its_escape_hatch() {
        let check = Isolation {
            seccomp: Some(SeccompProfile::Default),
            user: Some((1000, 1000)),
            ..Isolation::base()
        };
        let plain = defaults(Engine::Docker, &check, &check, &caps()).unwrap();
        assert_eq!(plain, ["--network", "none", "--user", "1000:1000"]);
        // A control's, or a reference run's, missing filter.
        let unfiltered = Sabotage::NoSeccomp.apply(&check);
        let control = defaults(Engine::Docker, &unfiltered, &check, &caps()).unwrap();
        assert!(has_seq(&control, &["--security-opt", "seccomp=unconfined"]));
        let net = base().with_ns(NsType::Net);
        let host_net = defaults(Engine::Podman, &base(), &net, &caps()).unwrap();
        assert_eq!(host_net, ["--network", "host"]);
        let dropped = Isolation {
            drop_caps: vec![21],
            ..base()
        };
        let all_caps = defaults(Engine::Podman, &base(), &dropped, &caps()).unwrap();
        assert!(has_seq(&all_caps, &["--cap-add", "CAP_SYS_ADMIN"]));
        assert!(!all_caps.iter().any(|a| a == "CAP_SYS_RESOURCE"));
        let kept = Sabotage::KeepOldRoot.apply(&base());
        assert!(defaults_unsupported(Engine::Podman, &kept, &base()).is_some());
        assert!(defaults_unsupported(Engine::Docker, &unfiltered, &check).is_none());
        let uts = base().with_ns(NsType::Uts);
        assert!(defaults_unsupported(Engine::Docker, &base(), &uts).is_some());
        assert!(defaults_unsupported(Engine::Podman, &base(), &uts).is_none());
    }

    fn base() -> Isolation {
        Isolation::base()
    }
}
