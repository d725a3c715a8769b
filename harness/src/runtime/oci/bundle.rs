//! `Isolation` -> `config.json`: a straight mapping, so that an OCI runtime gives the agent what
//! the native spawner gives it for the same isolation (proc at /proc, `PATH=/`, the full
//! capability set of root minus the dropped ones), and nothing else (no /dev, no masked or
//! read-only paths or /sys unless the isolation asks, no rlimits, and seccomp only when the
//! isolation asks for a filter): a check must see the runtime's isolation, not extras the native
//! runtime would not have.

use crate::runtime::capability;

use crate::cgroup::{standard_rules, DeviceKind};
use crate::vocabulary::Isolation;
use crate::vocabulary::{Devices, RootMode, SeccompProfile};
use isoprobe_probes::NsType;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder,
    LinuxDeviceCgroupBuilder, LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, LinuxSeccomp, LinuxSeccompAction,
    LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscallBuilder,
    LinuxTimeOffsetBuilder, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The spec version written: the newest runc 1.1 and crun 1.8 accept without complaint.
pub const OCI_VERSION: &str = "1.0.2";

/// cgroup v1 `cpu.shares` default. Stated whenever the container has a cgroup of its own:
/// youki makes a hierarchy's cgroup only when one of its resources is set, and without a cpu
/// cgroup there is no `cpu.stat` to judge.
const DEFAULT_CPU_SHARES: u64 = 1024;

/// What a bundle is made of besides the isolation.
#[derive(Debug, Clone)]
pub struct BundleInput<'a> {
    pub iso: &'a Isolation,
    /// The rootfs, absolute.
    pub rootfs: &'a Path,
    /// The agent's argv: its path inside the rootfs, then its arguments.
    pub argv: Vec<String>,
    /// The relative cgroups path (the runtime nests it under its own cgroup). `None` in a
    /// rootless run: no cgroup of its own and no `resources` (not even device rules), as the
    /// cgroups are not delegated to the user; the checks that need them skip before.
    pub cgroups_path: Option<&'a str>,
    /// The capabilities root would have here: those in isoprobe's own bounding set that the
    /// runtime knows. The container gets these minus `iso.drop_caps`.
    pub available_caps: &'a BTreeSet<u32>,
    /// `linux.rootfsPropagation`, spelled as the runtime understands it (see
    /// `Flavor::rootfs_propagation`).
    pub rootfs_propagation: &'a str,
    /// Mount a tmpfs on `/dev` (see [`dev_tmpfs`]).
    pub dev_tmpfs: bool,
    /// Where the engine's `/etc` files were written (`iso.etc_files`): each is bound at its
    /// path, as Docker binds the files of its container directory. The runtime resolves the
    /// destinations in the image.
    pub etc_sources: Option<&'a Path>,
}

/// Writes the engine's `/etc` files for `iso` into `dir` (the bundle's own directory), to be
/// bound at their paths ([`BundleInput::etc_sources`]).
pub fn write_etc_sources(iso: &Isolation, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (inside, content) in crate::vocabulary::etc_file_contents(iso.hostname.as_deref()) {
        std::fs::write(dir.join(etc_name(inside)), content)?;
    }
    Ok(())
}

/// The file name an `/etc` file has in the bundle's directory.
fn etc_name(inside: &str) -> &str {
    inside.rsplit('/').next().unwrap_or(inside)
}

/// Whether the container gets a tmpfs on `/dev`: always, as in every engine's default
/// configuration, except where the image's own `/dev` is what is judged
/// (`image.dev-null-symlink`'s `dev_null`, which asks a runtime to face the image's
/// `/dev/null` as it is). On a tmpfs of its own a runtime makes its default nodes and links
/// inside the container's mount namespace, never in the rootfs directory: a user's image is not
/// written, two containers in one rootfs do not race over one `/dev`, and in a user namespace
/// the container's root, an unprivileged host uid, may make them at all (on the host-owned
/// rootfs it may not: `open .../dev/null: permission denied`). The tmpfs is a mount point
/// `root.old-root-gone` knows as the runtime's own ([`super::OCI_OWN_MOUNTS`]).
///
/// A check that asks for the standard `/dev` ([`Devices::standard_dev`]) also gets a devpts
/// on `/dev/pts` for `ptmx`, as every engine's default config has it.
pub fn dev_tmpfs(iso: &Isolation) -> bool {
    !iso.dev_null || iso.namespaces.contains(&NsType::User) || iso.devices.standard_dev()
}

pub fn oci_namespace(ns: NsType) -> LinuxNamespaceType {
    match ns {
        NsType::Cgroup => LinuxNamespaceType::Cgroup,
        NsType::Ipc => LinuxNamespaceType::Ipc,
        NsType::Mnt => LinuxNamespaceType::Mount,
        NsType::Net => LinuxNamespaceType::Network,
        NsType::Pid => LinuxNamespaceType::Pid,
        NsType::Time => LinuxNamespaceType::Time,
        NsType::User => LinuxNamespaceType::User,
        NsType::Uts => LinuxNamespaceType::Uts,
    }
}

/// The capability set the container's root gets.
pub fn granted_caps(available: &BTreeSet<u32>, dropped: &[u32]) -> BTreeSet<u32> {
    available
        .iter()
        .copied()
        .filter(|c| !dropped.contains(c))
        .collect()
}

/// A value oci-spec refuses: the config cannot be written as asked.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("oci-spec does not know {name}: {source}")]
    UnknownCapability {
        name: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot build the OCI {what}: {source}")]
    Build {
        what: &'static str,
        #[source]
        source: oci_spec::OciSpecError,
    },
}

fn capabilities(numbers: &BTreeSet<u32>) -> Result<Capabilities, BundleError> {
    numbers
        .iter()
        .filter_map(|n| capability::name(*n))
        .map(|name| {
            serde_json::from_value::<Capability>(serde_json::Value::String(name.to_string()))
                .map_err(|source| BundleError::UnknownCapability { name, source })
        })
        .collect()
}

fn err(what: &'static str) -> impl Fn(oci_spec::OciSpecError) -> BundleError {
    move |source| BundleError::Build { what, source }
}

/// The config.json for one run. `Err` only when oci-spec refuses a value.
pub fn spec(input: &BundleInput) -> Result<Spec, BundleError> {
    let iso = input.iso;
    let caps = capabilities(&granted_caps(input.available_caps, &iso.drop_caps))?;
    let (uid, gid) = iso.user.unwrap_or((0, 0));
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(
            UserBuilder::default()
                .uid(uid)
                .gid(gid)
                .build()
                .map_err(err("user"))?,
        )
        .args(input.argv.clone())
        .env(vec!["PATH=/".to_string()])
        .cwd(iso.cwd.as_deref().unwrap_or("/"))
        .capabilities(
            // Root under native: exec gives it every capability of the bounding set, and
            // nothing inheritable or ambient.
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps)
                .inheritable(Capabilities::new())
                .ambient(Capabilities::new())
                .build()
                .map_err(err("capabilities"))?,
        )
        .no_new_privileges(iso.no_new_privs)
        .build()
        .map_err(err("process"))?;
    let mut process = process;
    // The builder's defaults (oci-spec's `Process::default`) add an RLIMIT_NOFILE the native
    // runtime does not set.
    process.set_rlimits(None);

    let mut mounts = vec![MountBuilder::default()
        .destination("/proc")
        .typ("proc")
        .source("proc")
        .options(vec![
            "nosuid".to_string(),
            "noexec".to_string(),
            "nodev".to_string(),
        ])
        .build()
        .map_err(err("proc mount"))?];
    if input.dev_tmpfs {
        mounts.push(
            MountBuilder::default()
                .destination("/dev")
                .typ("tmpfs")
                .source("tmpfs")
                .options(
                    ["nosuid", "strictatime", "mode=755", "size=65536k"]
                        .map(String::from)
                        .to_vec(),
                )
                .build()
                .map_err(err("/dev tmpfs"))?,
        );
    }
    if iso.mount_sys {
        mounts.push(
            MountBuilder::default()
                .destination("/sys")
                .typ("sysfs")
                .source("sysfs")
                .options(
                    ["nosuid", "noexec", "nodev", "ro"]
                        .map(String::from)
                        .to_vec(),
                )
                .build()
                .map_err(err("sysfs mount"))?,
        );
    }
    if input.dev_tmpfs && iso.devices.standard_dev() {
        mounts.push(
            MountBuilder::default()
                .destination("/dev/pts")
                .typ("devpts")
                .source("devpts")
                .options(
                    [
                        "nosuid",
                        "noexec",
                        "newinstance",
                        "ptmxmode=0666",
                        "mode=0620",
                    ]
                    .map(String::from)
                    .to_vec(),
                )
                .build()
                .map_err(err("/dev/pts devpts"))?,
        );
    }
    if let (true, Some(dir)) = (iso.etc_files, input.etc_sources) {
        for inside in crate::vocabulary::ETC_FILES {
            mounts.push(
                MountBuilder::default()
                    .destination(PathBuf::from(inside))
                    .typ("bind")
                    .source(dir.join(etc_name(inside)))
                    .options(vec!["rbind".to_string(), "rprivate".to_string()])
                    .build()
                    .map_err(err("/etc file bind"))?,
            );
        }
    }
    for b in &iso.binds {
        mounts.push(
            MountBuilder::default()
                .destination(PathBuf::from(&b.target))
                .typ("bind")
                .source(b.source.clone())
                .options(vec!["rbind".to_string()])
                .build()
                .map_err(err("bind mount"))?,
        );
    }

    let namespaces = iso
        .namespaces
        .iter()
        .map(|ns| {
            LinuxNamespaceBuilder::default()
                .typ(oci_namespace(*ns))
                .build()
                .map_err(err("namespace"))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .rootfs_propagation(input.rootfs_propagation)
        .build()
        .map_err(err("linux section"))?;
    // Set either way: oci-spec's `Linux::default` has resources (a deny-all device rule).
    linux.set_cgroups_path(input.cgroups_path.map(PathBuf::from));
    linux.set_resources(input.cgroups_path.map(|_| resources(iso)).transpose()?);
    // oci-spec's `Linux::default` masks and write-protects paths under /proc and /sys; only
    // what the isolation asks for is kept, as the native runtime does.
    let listed = |paths: &[String]| (!paths.is_empty()).then(|| paths.to_vec());
    linux.set_masked_paths(listed(&iso.masked_paths));
    linux.set_readonly_paths(listed(&iso.readonly_paths));
    if iso.namespaces.contains(&NsType::User) {
        let map = iso.id_map;
        let mapping = LinuxIdMappingBuilder::default()
            .container_id(map.inside)
            .host_id(map.outside)
            .size(map.count)
            .build()
            .map_err(err("id mapping"))?;
        linux.set_uid_mappings(Some(vec![mapping]));
        linux.set_gid_mappings(Some(vec![mapping]));
    }
    if let (Some(t), true) = (iso.time_offsets, iso.namespaces.contains(&NsType::Time)) {
        let offset = |secs: i64| {
            LinuxTimeOffsetBuilder::default()
                .secs(secs)
                .build()
                .map_err(err("time offset"))
        };
        linux.set_time_offsets(Some(HashMap::from([
            ("monotonic".to_string(), offset(t.monotonic_secs)?),
            ("boottime".to_string(), offset(t.boottime_secs)?),
        ])));
    }

    if let Some(profile) = iso.seccomp {
        linux.set_seccomp(Some(seccomp(profile)?));
    }

    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(
            RootBuilder::default()
                .path(input.rootfs)
                .readonly(false)
                .build()
                .map_err(err("root"))?,
        )
        .mounts(mounts)
        .process(process)
        .linux(linux)
        .build()
        .map_err(err("spec"))?;
    // A hostname needs a uts namespace of its own (runtimes refuse it otherwise); the uts
    // control drops the namespace and keeps the name, which then means nothing.
    spec.set_hostname(
        iso.hostname
            .clone()
            .filter(|_| iso.namespaces.contains(&NsType::Uts)),
    );
    spec.set_annotations(None);
    Ok(spec)
}

/// The native architecture in libseccomp's words. Listing only it makes libseccomp kill the
/// calls of any other architecture, and on x86_64 those of the x32 ABI too (its bad-arch
/// action), as the native spawner's filter does.
fn native_arch() -> oci_spec::runtime::Arch {
    use oci_spec::runtime::Arch;
    if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else {
        Arch::ScmpArchX86_64
    }
}

/// `linux.seccomp` for `profile`: everything allowed but the denied calls, each answered with
/// its errno (`errnoRet`); an argument rule becomes SCMP_CMP_MASKED_EQ, whose `value` is the
/// mask and `valueTwo` the bits it must equal.
fn seccomp(profile: SeccompProfile) -> Result<LinuxSeccomp, BundleError> {
    let syscalls = profile
        .denied()
        .into_iter()
        .map(|d| {
            let mut b = LinuxSyscallBuilder::default()
                .names(vec![d.name.to_string()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(d.errno as u32);
            if let Some(r) = d.when {
                b = b.args(vec![LinuxSeccompArgBuilder::default()
                    .index(r.index as usize)
                    .value(r.mask)
                    .value_two(r.mask)
                    .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                    .build()
                    .map_err(err("seccomp argument rule"))?]);
            }
            b.build().map_err(err("seccomp rule"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(vec![native_arch()])
        .syscalls(syscalls)
        .build()
        .map_err(err("seccomp"))
}

/// `profile` as the JSON of `linux.seccomp`, the form docker's and podman's
/// `--security-opt seccomp=FILE` read too.
pub(crate) fn seccomp_json(profile: SeccompProfile) -> Result<String, String> {
    let s = seccomp(profile).map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&s).map_err(|e| format!("seccomp profile as JSON: {e}"))
}

fn resources(iso: &Isolation) -> Result<oci_spec::runtime::LinuxResources, BundleError> {
    let own = iso.own_cgroup
        || iso.cpu_quota.is_some()
        || iso.pids_max.is_some()
        || iso.memory_max.is_some();
    let mut b = LinuxResourcesBuilder::default().devices(device_rules(iso.devices)?);
    if own {
        let mut cpu = LinuxCpuBuilder::default().shares(DEFAULT_CPU_SHARES);
        if let Some(q) = iso.cpu_quota {
            cpu = cpu.quota(q.quota_us as i64).period(q.period_us);
        }
        b = b.cpu(cpu.build().map_err(err("cpu resources"))?);
    }
    if let Some(n) = iso.pids_max {
        b = b.pids(
            LinuxPidsBuilder::default()
                .limit(n as i64)
                .build()
                .map_err(err("pids resources"))?,
        );
    }
    if let Some(bytes) = iso.memory_max {
        // Swap equal to the limit: memory+swap may not exceed it, so the limit kills instead
        // of paging out (as native sets memory.swap.max 0 on v2).
        b = b.memory(
            LinuxMemoryBuilder::default()
                .limit(bytes as i64)
                .swap(bytes as i64)
                .build()
                .map_err(err("memory resources"))?,
        );
    }
    b.build().map_err(err("resources"))
}

/// `linux.resources.devices`: no restriction, as under native without a device cgroup; for
/// [`Devices::Standard`] everything denied, then the standard devices allowed (the runtime
/// adds its own defaults after these, runc for instance `mknod` of any device).
fn device_rules(
    devices: Devices,
) -> Result<Vec<oci_spec::runtime::LinuxDeviceCgroup>, BundleError> {
    let rule = |allow: bool| {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access("rwm")
    };
    if !devices.restricted() {
        return Ok(vec![rule(true).build().map_err(err("device rule"))?]);
    }
    let mut v = vec![rule(false).build().map_err(err("device rule"))?];
    for r in standard_rules() {
        let mut b = rule(true).typ(match r.kind {
            DeviceKind::Char => oci_spec::runtime::LinuxDeviceType::C,
            DeviceKind::Block => oci_spec::runtime::LinuxDeviceType::B,
        });
        if let Some(m) = r.major {
            b = b.major(m as i64);
        }
        if let Some(m) = r.minor {
            b = b.minor(m as i64);
        }
        v.push(b.build().map_err(err("device rule"))?);
    }
    Ok(v)
}

/// Whether the bundle should be entered without pivot_root (`--no-pivot`): the OCI runtimes'
/// weak mode, and their nearest to a chroot-only root (the escape check's control). It moves
/// the rootfs over / and chroots, which a `..` walk cannot leave, but the old root stays
/// mounted underneath (the agent's `umount-setns` escape reaches it).
pub fn wants_no_pivot(iso: &Isolation) -> bool {
    iso.root == RootMode::Chroot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::CpuQuota;
    use crate::vocabulary::{Bind, Sabotage, TimeOffsets};
    use serde_json::{json, Value};

    fn all_caps() -> BTreeSet<u32> {
        (0..=40).filter(|c| *c != 24).collect()
    }

    fn config(iso: &Isolation) -> Value {
        config_in(iso, Some("isoprobe-oci-1-0"))
    }

    fn config_in(iso: &Isolation, cgroups_path: Option<&str>) -> Value {
        let caps = all_caps();
        let propagation = if iso.make_mounts_private {
            "rprivate"
        } else {
            "rshared"
        };
        let input = BundleInput {
            iso,
            rootfs: Path::new("/tmp/isoprobe-rootfs-x"),
            argv: vec!["/isoprobe-agent".into(), "--spin-ms".into(), "5".into()],
            cgroups_path,
            available_caps: &caps,
            rootfs_propagation: propagation,
            dev_tmpfs: dev_tmpfs(iso),
            etc_sources: Some(Path::new("/b/etc")),
        };
        serde_json::to_value(spec(&input).unwrap()).unwrap()
    }

    #[test]
    fn a_rootless_bundle_has_no_cgroup_and_no_resources() {
        let iso = Isolation {
            cpu_quota: Some(CpuQuota {
                quota_us: 20_000,
                period_us: 100_000,
            }),
            ..Isolation::base()
        };
        let rooted = config_in(&iso, Some("isoprobe-oci-1-0"));
        assert_eq!(rooted["linux"]["cgroupsPath"], "isoprobe-oci-1-0");
        assert!(rooted["linux"]["resources"]["cpu"].is_object());
        let rootless = config_in(&iso, None);
        for absent in ["cgroupsPath", "resources"] {
            assert!(rootless["linux"].get(absent).is_none(), "{absent}");
        }
        assert_eq!(
            rootless["linux"]["namespaces"],
            rooted["linux"]["namespaces"]
        );
        assert_eq!(rootless["mounts"], rooted["mounts"]);
    }

    fn names(v: &Value) -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn base_isolation_is_what_native_gives_with_the_engines_dev_tmpfs() {
        let c = config(&Isolation::base());
        assert_eq!(c["ociVersion"], OCI_VERSION);
        assert_eq!(
            c["root"],
            json!({"path": "/tmp/isoprobe-rootfs-x", "readonly": false})
        );
        let p = &c["process"];
        assert_eq!(p["args"], json!(["/isoprobe-agent", "--spin-ms", "5"]));
        assert_eq!(p["env"], json!(["PATH=/"]));
        assert_eq!(p["cwd"], "/");
        assert_eq!(p["terminal"], false);
        assert_eq!(p["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(p["noNewPrivileges"], false);
        assert!(p.get("rlimits").is_none(), "{p}");
        let caps = names(&p["capabilities"]["bounding"]);
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains("CAP_SYS_RESOURCE"));
        assert_eq!(names(&p["capabilities"]["effective"]), caps);
        assert_eq!(names(&p["capabilities"]["permitted"]), caps);
        assert_eq!(p["capabilities"]["inheritable"], json!([]));
        assert_eq!(p["capabilities"]["ambient"], json!([]));
        assert_eq!(
            c["mounts"],
            json!([{"destination": "/proc", "type": "proc", "source": "proc",
                    "options": ["nosuid", "noexec", "nodev"]},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}])
        );
        let l = &c["linux"];
        assert_eq!(
            names(
                &l["namespaces"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["type"].clone())
                    .collect::<Value>()
            ),
            ["mount", "pid"].map(String::from).into_iter().collect()
        );
        assert_eq!(l["cgroupsPath"], "isoprobe-oci-1-0");
        assert_eq!(l["rootfsPropagation"], "rprivate");
        assert_eq!(
            l["resources"],
            json!({"devices": [{"allow": true, "access": "rwm"}]})
        );
        for absent in [
            "maskedPaths",
            "readonlyPaths",
            "uidMappings",
            "timeOffsets",
            "seccomp",
        ] {
            assert!(l.get(absent).is_none(), "{absent}: {l}");
        }
        assert!(c.get("hostname").is_none());
    }

    #[test]
    fn standard_devices_get_a_dev_tmpfs_a_devpts_and_an_allow_list() {
        let iso = Isolation {
            devices: Devices::Standard,
            ..Isolation::base()
        };
        let c = config(&iso);
        let dests: Vec<&str> = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(dests, ["/proc", "/dev", "/dev/pts"]);
        assert_eq!(c["mounts"][2]["type"], "devpts");
        let rules = c["linux"]["resources"]["devices"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(rules[0], json!({"allow": false, "access": "rwm"}));
        assert!(rules.contains(
            &json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
        ));
        assert!(rules.contains(&json!({"allow": true, "type": "c", "major": 136, "access": "rwm"})));
        assert_eq!(rules.len(), 1 + standard_rules().len());
        // The control keeps the /dev but allows every device, as the base bundle does.
        let all = config(&crate::vocabulary::Sabotage::AllDevices.apply(&iso));
        assert_eq!(all["mounts"].as_array().unwrap().len(), 3);
        assert_eq!(
            all["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
    }

    #[test]
    fn limits_user_and_privileges_map_one_to_one() {
        let iso = Isolation {
            own_cgroup: true,
            cpu_quota: Some(CpuQuota {
                quota_us: 10_000,
                period_us: 50_000,
            }),
            pids_max: Some(16),
            memory_max: Some(64 << 20),
            drop_caps: vec![21, 12],
            no_new_privs: true,
            user: Some((1000, 1000)),
            make_mounts_private: false,
            binds: vec![Bind {
                source: "/tmp/isoprobe-scratch-1/d".into(),
                target: "/tmp".into(),
            }],
            ..Isolation::base()
        };
        let c = config(&iso);
        let r = &c["linux"]["resources"];
        assert_eq!(
            r["cpu"],
            json!({"shares": 1024, "quota": 10_000, "period": 50_000})
        );
        assert_eq!(r["pids"], json!({"limit": 16}));
        assert_eq!(r["memory"], json!({"limit": 64 << 20, "swap": 64 << 20}));
        assert_eq!(c["linux"]["rootfsPropagation"], "rshared");
        let p = &c["process"];
        assert_eq!(p["user"], json!({"uid": 1000, "gid": 1000}));
        assert_eq!(p["noNewPrivileges"], true);
        let bounding = names(&p["capabilities"]["bounding"]);
        assert!(!bounding.contains("CAP_SYS_ADMIN") && !bounding.contains("CAP_NET_ADMIN"));
        assert_eq!(bounding.len(), 38);
        assert_eq!(
            c["mounts"][2],
            json!({"destination": "/tmp", "type": "bind",
                   "source": "/tmp/isoprobe-scratch-1/d", "options": ["rbind"]})
        );
    }

    #[test]
    fn the_engines_etc_files_are_bound_at_their_paths_only_when_asked() {
        let dests = |c: &Value| -> Vec<String> {
            c["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["destination"].as_str().unwrap().to_string())
                .collect()
        };
        assert!(!dests(&config(&Isolation::base()))
            .iter()
            .any(|d| d.starts_with("/etc")));
        let c = config(&Isolation {
            etc_files: true,
            ..Isolation::base()
        });
        let m = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/etc/resolv.conf")
            .unwrap();
        assert_eq!(m["source"], "/b/etc/resolv.conf");
        assert_eq!(m["type"], "bind");
        let etc: Vec<String> = dests(&c)
            .into_iter()
            .filter(|d| d.starts_with("/etc"))
            .collect();
        assert_eq!(etc, crate::vocabulary::ETC_FILES.map(String::from).to_vec());
    }

    #[test]
    fn own_cgroup_alone_still_names_the_cpu_hierarchy() {
        let c = config(&Isolation {
            own_cgroup: true,
            ..Isolation::base()
        });
        assert_eq!(c["linux"]["resources"]["cpu"], json!({"shares": 1024}));
    }

    #[test]
    fn the_dev_null_check_mounts_nothing_on_dev_and_masks_in_a_network_namespace() {
        let iso = crate::checks::isolation_of("image.dev-null-symlink");
        assert!(!dev_tmpfs(&iso));
        let c = config(&iso);
        let dests: Vec<&str> = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert!(!dests.contains(&"/dev"), "{dests:?}");
        assert!(names(&c["linux"]["maskedPaths"]).contains("/proc/keys"));
        // The runtime's own default devices are what gives /dev/null: nothing to add.
        assert!(c["linux"].get("devices").is_none(), "{}", c["linux"]);
        // Otherwise dev_null changes nothing but the tmpfs every other container gets.
        let base = Isolation {
            dev_null: true,
            ..Isolation::base()
        };
        let (with, without) = (config(&base), config(&Isolation::base()));
        let no_dev = |c: &serde_json::Value| -> Vec<serde_json::Value> {
            let all = c["mounts"].as_array().unwrap().iter();
            all.filter(|m| m["destination"] != "/dev")
                .cloned()
                .collect()
        };
        assert_eq!(no_dev(&with), no_dev(&without));
        assert_ne!(with["mounts"], without["mounts"]);
        assert_eq!(with["linux"], without["linux"]);
    }

    #[test]
    fn user_namespace_maps_root_to_the_default_range_with_dev_on_a_tmpfs() {
        let c = config(&Isolation::base().with_ns(NsType::User));
        let m = json!([{"containerID": 0, "hostID": 100_000, "size": 65_536}]);
        assert_eq!(c["linux"]["uidMappings"], m);
        assert_eq!(c["linux"]["gidMappings"], m);
        assert_eq!(c["mounts"][1]["destination"], "/dev");
        assert_eq!(c["mounts"][1]["type"], "tmpfs");
    }

    #[test]
    fn the_release_agent_check_maps_root_to_host_root_in_user_and_cgroup_namespaces() {
        let c = config(&crate::checks::isolation_of(
            "cgroup.release-agent-protected",
        ));
        let m = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
        assert_eq!(c["linux"]["uidMappings"], m);
        assert_eq!(c["linux"]["gidMappings"], m);
        let types: BTreeSet<&str> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, BTreeSet::from(["cgroup", "mount", "pid", "user"]));
    }

    #[test]
    fn hostname_and_time_offsets_only_with_their_namespaces() {
        let named = Isolation {
            hostname: Some("isoprobe-uts-a".into()),
            time_offsets: Some(TimeOffsets {
                monotonic_secs: 604_800,
                boottime_secs: 3,
            }),
            ..Isolation::base()
        };
        let without = config(&named);
        assert!(without.get("hostname").is_none());
        assert!(without["linux"].get("timeOffsets").is_none());
        let with = config(&named.clone().with_ns(NsType::Uts).with_ns(NsType::Time));
        assert_eq!(with["hostname"], "isoprobe-uts-a");
        assert_eq!(
            with["linux"]["timeOffsets"],
            json!({"monotonic": {"secs": 604_800}, "boottime": {"secs": 3}})
        );
        let types: BTreeSet<String> = with["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect();
        assert!(types.contains("uts") && types.contains("time"), "{types:?}");
    }

    #[test]
    fn the_working_directory_is_passed_as_given() {
        for cwd in ["/proc/self/fd/7", "/../../..", "../../../tmp", "/hostlink"] {
            let c = config(&Isolation {
                cwd: Some(cwd.into()),
                ..Isolation::base()
            });
            assert_eq!(c["process"]["cwd"], cwd);
        }
    }

    #[test]
    fn masked_and_read_only_paths_and_sysfs_only_when_asked() {
        let iso = Isolation {
            mount_sys: true,
            masked_paths: vec!["/proc/keys".into(), "/sys/firmware".into()],
            readonly_paths: vec!["/proc/sys".into()],
            ..Isolation::base().with_ns(NsType::Net)
        };
        let c = config(&iso);
        assert_eq!(
            c["linux"]["maskedPaths"],
            json!(["/proc/keys", "/sys/firmware"])
        );
        assert_eq!(c["linux"]["readonlyPaths"], json!(["/proc/sys"]));
        assert_eq!(
            c["mounts"][2],
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                   "options": ["nosuid", "noexec", "nodev", "ro"]})
        );
        let plain = config(&Isolation {
            masked_paths: vec![],
            ..iso
        });
        assert!(plain["linux"].get("maskedPaths").is_none(), "{plain}");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_filter_is_the_profile_with_errno_per_call_and_the_user_namespace_rule() {
        let c = config(&Isolation {
            seccomp: Some(SeccompProfile::Default),
            ..Isolation::base()
        });
        let s = &c["linux"]["seccomp"];
        assert_eq!(s["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(s["architectures"], json!(["SCMP_ARCH_X86_64"]));
        let rules = s["syscalls"].as_array().unwrap();
        assert_eq!(rules.len(), SeccompProfile::Default.denied().len());
        let rule = |name: &str| {
            rules
                .iter()
                .find(|r| r["names"] == json!([name]))
                .unwrap_or_else(|| panic!("{name}: {s}"))
        };
        assert_eq!(
            rule("keyctl"),
            &json!({"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1})
        );
        assert_eq!(rule("clone3")["errnoRet"], 38);
        let newuser = libc::CLONE_NEWUSER as u64;
        for name in ["clone", "unshare"] {
            assert_eq!(
                rule(name)["args"],
                json!([{"index": 0, "value": newuser, "valueTwo": newuser,
                        "op": "SCMP_CMP_MASKED_EQ"}])
            );
        }
        // Off, the base bundle has none (base_isolation_is_only_what_native_gives).
        let off = config(&Sabotage::NoSeccomp.apply(&Isolation {
            seccomp: Some(SeccompProfile::Default),
            ..Isolation::base()
        }));
        assert!(off["linux"].get("seccomp").is_none());
    }

    #[test]
    fn chroot_means_no_pivot() {
        assert!(!wants_no_pivot(&Isolation::base()));
        assert!(wants_no_pivot(&Isolation {
            root: RootMode::Chroot,
            ..Isolation::base()
        }));
    }
}
