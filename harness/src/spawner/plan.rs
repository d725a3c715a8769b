//! The child's checklist (`ChildPlan`) built from a `SpawnSpec`: every path and string the
//! child needs, as C strings made here, before the clone, where allocating is allowed.

use super::child::{ChildPlan, DevPlan};
use super::{bind_target_of, cstring, host_path_of, SpawnError, SpawnSpec};
use crate::vocabulary::{RootMode, OLD_ROOT, STANDARD_DEVICES};
use isoprobe_probes::NsType;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The child's checklist for `spec`, as C strings prepared here, where allocating is allowed.
pub(super) fn child_plan(
    spec: &SpawnSpec,
    [sync_fd, err_fd]: [i32; 2],
    stdio: [i32; 3],
) -> Result<ChildPlan, SpawnError> {
    let path_c = |what: &str, p: &std::path::Path| cstring(what, p.as_os_str().as_bytes());
    let mut plan = ChildPlan::new(sync_fd, err_fd, stdio, path_c("rootfs path", &spec.rootfs)?);
    plan.in_user_ns = spec.has(NsType::User);
    plan.unshare_cgroup = spec.has(NsType::Cgroup);
    plan.make_mounts_private = spec.has(NsType::Mnt) && spec.make_mounts_private;
    if spec.has(NsType::Mnt) && !spec.make_mounts_private && spec.root_mode != RootMode::None {
        plan.rootfs_parent_mount = Some(path_c("rootfs mount", &mount_point_of(&spec.rootfs))?);
    }
    plan.root_mode = spec.root_mode;
    if spec.has(NsType::Mnt) {
        for (src, target) in &spec.binds {
            plan.binds.push((
                path_c("bind source", src)?,
                path_c("bind target", &bind_target_of(spec, target))?,
            ));
        }
        plan.proc_target = Some(path_c("proc path", &host_path_of(spec, "/proc"))?);
        if spec.root_mode != RootMode::None {
            match spec.proc_through_link {
                true => {
                    if let Some(t) = spec.image_link("/proc").map_err(SpawnError::InvalidSpec)? {
                        plan.proc_target = Some(path_c("the image's /proc", &t)?);
                    }
                }
                false => plan.proc_check = true,
            }
        }
        if spec.mount_sys {
            plan.sys_target = Some(path_c("sys path", &host_path_of(spec, "/sys"))?);
        }
        for p in &spec.masked_paths {
            plan.masks
                .push(path_c("masked path", &host_path_of(spec, p))?);
        }
        for p in &spec.readonly_paths {
            plan.readonly
                .push(path_c("read-only path", &host_path_of(spec, p))?);
        }
        if spec.devices.standard_dev() {
            plan.dev = Some(dev_plan(spec)?);
        }
        if spec.root_mode != RootMode::None && spec.dev_null_from_image {
            if let Some(through) = spec
                .image_link("/dev/null")
                .map_err(SpawnError::InvalidSpec)?
            {
                plan.mask_source = path_c("the image's /dev/null", &through)?;
                plan.stdio_through = Some(plan.mask_source.clone());
            }
        } else if spec.root_mode != RootMode::None && spec.dev_null && !spec.devices.standard_dev()
        {
            plan.dev_null_check = Some(path_c("/dev/null", &host_path_of(spec, "/dev/null"))?);
        }
    }
    if !spec.detach_old_root {
        plan.put_old = Some(path_c("old root", &host_path_of(spec, OLD_ROOT))?);
    }
    if let (Some(h), true) = (&spec.hostname, spec.has(NsType::Uts)) {
        plan.hostname = Some(cstring("hostname", h.as_bytes())?);
    }
    plan.drop_caps = spec.drop_caps.clone();
    plan.user = spec.user;
    plan.no_new_privs = spec.no_new_privs;
    if let Some(cwd) = &spec.cwd {
        plan.cwd = Some(cstring("working directory", cwd.as_bytes())?);
    }
    if let (Some(cwd), true, false) = (
        &spec.cwd,
        spec.cwd_before_root,
        spec.root_mode == RootMode::None,
    ) {
        // Joined as text, as a runtime that resolves it on the host would: `..` and an
        // absolute symlink then climb out of the rootfs.
        let on_host = format!("{}/{cwd}", spec.rootfs.display());
        plan.cwd_on_host = Some(cstring("working directory", on_host.as_bytes())?);
    }
    if let Some(profile) = spec.seccomp {
        plan.seccomp = crate::seccomp_bpf::compile(profile)
            .map_err(|e| SpawnError::InvalidSpec(e.to_string()))?;
    }
    plan.argv = spec
        .argv
        .iter()
        .map(|a| cstring("argument", a.as_bytes()))
        .collect::<Result<_, _>>()?;
    plan.env = spec
        .env
        .iter()
        .map(|a| cstring("environment", a.as_bytes()))
        .collect::<Result<_, _>>()?;
    plan.seal();
    Ok(plan)
}

/// The standard `/dev` of the rootfs, as host paths.
fn dev_plan(spec: &SpawnSpec) -> Result<DevPlan, SpawnError> {
    let at = |name: &str| {
        cstring(
            "dev path",
            host_path_of(spec, &format!("/dev/{name}"))
                .as_os_str()
                .as_bytes(),
        )
    };
    let mut nodes = Vec::new();
    for d in STANDARD_DEVICES {
        nodes.push((at(d.name)?, libc::makedev(d.major, d.minor)));
    }
    // /dev/ptmx is the devpts's own node (5:2), linked below.
    let mut links = Vec::new();
    for (target, name) in [
        ("pts/ptmx", "ptmx"),
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ] {
        links.push((cstring("link target", target.as_bytes())?, at(name)?));
    }
    Ok(DevPlan {
        dir: cstring(
            "dev path",
            host_path_of(spec, "/dev").as_os_str().as_bytes(),
        )?,
        nodes,
        pts: at("pts")?,
        links,
    })
}

/// The mount point of the mount `path` lives on (the longest mount point above it).
fn mount_point_of(path: &std::path::Path) -> PathBuf {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    // The spawning thread's table: it may have entered a stand-in host's mount namespace.
    let points = fs::read_to_string("/proc/thread-self/mountinfo")
        .ok()
        .and_then(|t| isoprobe_probes::parse::mount_points(&t).ok())
        .unwrap_or_default();
    points
        .into_iter()
        .map(PathBuf::from)
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.components().count())
        .unwrap_or_else(|| "/".into())
}
