//! The mounts an engine's commands run with: a private copy of the caller's, where the
//! machine-wide places engines write to whatever their flags say (`/run`: podman's
//! `/run/crun` and `/run/containers`, containerd's shim sockets, dockerd's plugins;
//! `/dev/shm`: podman's lock file; `/etc/docker`: dockerd's trust key) are directories of
//! isoprobe's own temporary directory bound over them. The same binds every time, so that
//! what one command leaves there the next one finds.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bind `source` over `target` (both absolute) in the command's own mount namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cover {
    pub source: PathBuf,
    pub target: PathBuf,
}

/// The covers for the machine-wide `targets` that exist here, each backed by a directory
/// under `dir` (made now).
pub fn covers(dir: &Path, targets: &[&str]) -> io::Result<Vec<Cover>> {
    let mut out = Vec::new();
    for t in targets.iter().filter(|t| Path::new(t).is_dir()) {
        let source = dir.join(t.trim_start_matches('/').replace('/', "-"));
        std::fs::create_dir_all(&source)?;
        out.push(Cover {
            source,
            target: PathBuf::from(t),
        });
    }
    Ok(out)
}

/// The mount points of the named cgroup v1 hierarchies isoprobe's checks mount on the host's
/// side (`name=isoprobe-...`), in a mountinfo text. An engine's runc mounts every hierarchy it
/// sees into the container and fails on a named one (runc 1.1.5 passes its name without
/// `name=`), so the engine must not see them; the check's container mounts the hierarchy
/// itself, by name.
pub fn named_isoprobe_hierarchies(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (mount, fs) = l.split_once(" - ")?;
            let mut fs = fs.split_whitespace();
            let (kind, _source, options) = (fs.next()?, fs.next()?, fs.next()?);
            let named =
                kind == "cgroup" && options.split(',').any(|o| o.starts_with("name=isoprobe-"));
            named.then(|| mount.split_whitespace().nth(4).map(PathBuf::from))?
        })
        .collect()
}

/// Makes `cmd` start in a mount namespace of its own (and, with `more`, in new namespaces of
/// those kinds too), its mounts private, with `covers` bound over their targets and the
/// mounts at `hide` detached.
pub fn apply(cmd: &mut Command, covers: &[Cover], more: libc::c_int, hide: &[PathBuf]) {
    let hide: Vec<CString> = hide
        .iter()
        .filter_map(|p| CString::new(p.as_os_str().as_bytes()).ok())
        .collect();
    let binds: Vec<(CString, CString)> = covers
        .iter()
        .filter_map(|c| {
            let s = CString::new(c.source.as_os_str().as_bytes()).ok()?;
            let t = CString::new(c.target.as_os_str().as_bytes()).ok()?;
            Some((s, t))
        })
        .collect();
    // SAFETY: unshare and mount are async-signal-safe; every string was made before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS | more) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Nothing mounted here propagates back to the machine.
            let root = c"/";
            let private = libc::MS_REC | libc::MS_PRIVATE;
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                private,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            for h in &hide {
                // Gone already is as good.
                libc::umount2(h.as_ptr(), libc::MNT_DETACH);
            }
            for (s, t) in &binds {
                if libc::mount(
                    s.as_ptr(),
                    t.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_isoprobes_named_hierarchies_are_hidden() {
        let mountinfo = "\
35 25 0:30 / /sys/fs/cgroup/systemd rw,nosuid shared:9 - cgroup cgroup rw,xattr,name=systemd
36 25 0:31 / /sys/fs/cgroup/cpu rw,nosuid shared:10 - cgroup cgroup rw,cpu
901 400 0:77 / /tmp/isoprobe-scratch-1/h rw,relatime - cgroup isoprobe rw,name=isoprobe-cgroup-v1-ab12
902 400 0:78 / /tmp/t rw - tmpfs name=isoprobe-x rw
";
        assert_eq!(
            named_isoprobe_hierarchies(mountinfo),
            [PathBuf::from("/tmp/isoprobe-scratch-1/h")]
        );
    }

    #[test]
    fn only_existing_targets_are_covered_each_by_its_own_directory() {
        let dir = tempfile::tempdir().unwrap();
        let c = covers(dir.path(), &["/dev/shm", "/isoprobe-surely-absent"]).unwrap();
        assert_eq!(
            c,
            [Cover {
                source: dir.path().join("dev-shm"),
                target: "/dev/shm".into(),
            }]
        );
        assert!(dir.path().join("dev-shm").is_dir());
    }
}
