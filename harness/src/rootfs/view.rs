//! The view a container gets of a user's rootfs: an overlay whose lower layer is the user's
//! directory and whose upper layer is a tmpfs, mounted on a directory isoprobe owns. Whatever
//! a runtime or a check writes there (the agent, the device nodes and symlinks a runtime makes
//! in `/dev`, the directory a kept old root is mounted on, a check's own mounts) lands in the
//! tmpfs; the user's directory is only ever read, so a read-only one works too.
//!
//! The view is mounted only in a stand-in host's mount namespace (the thread that makes it must
//! have entered one: [`crate::standin`]), which is held by descriptors alone: when the stand-in
//! goes, even at a SIGKILL, the overlay and its tmpfs go with it. What can be left on the
//! machine is the empty mount-point directory `isoprobe-rootfs-*`, a temporary directory like
//! any other.

use crate::vocabulary::HostStepError;
use nix::mount::{MntFlags, MsFlags};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the layers' tmpfs and the view are mounted, below the mount point directory.
const LAYERS: &str = "layers";
const ROOT: &str = "root";

/// The empty directories the view's mount points live on, made on the machine's file system
/// (a mount point must exist there: the stand-in's tree is a copy of the machine's).
pub fn make_mount_points(dir: &Path) -> io::Result<()> {
    fs::create_dir(dir.join(LAYERS))?;
    fs::create_dir(dir.join(ROOT))?;
    // A container whose root maps to an unprivileged host uid must be able to walk to it.
    for d in [dir, &dir.join(ROOT)] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The path containers use as their rootfs: the overlay, inside the stand-in.
pub fn root_of(dir: &Path) -> PathBuf {
    dir.join(ROOT)
}

/// The overlay and its tmpfs, unmounted on drop (they would go with the stand-in anyway; this
/// frees the tmpfs as soon as the check is done).
#[derive(Debug)]
pub struct View {
    mounted: Vec<PathBuf>,
}

impl Drop for View {
    fn drop(&mut self) {
        for m in self.mounted.iter().rev() {
            let _ = nix::mount::umount2(m, MntFlags::MNT_DETACH);
        }
    }
}

/// What the view supplies when the image lacks it: the directories a runtime mounts over or a
/// check binds onto, made in the upper layer only.
pub struct Needs<'a> {
    pub dirs: &'a [&'a str],
    /// The agent's path inside the view (absolute) and its bytes.
    pub agent: (&'a str, &'a [u8]),
}

/// Mounts the view of `image` on `root_of(dir)` in the calling thread's mount namespace, which
/// must be a stand-in's (refused otherwise: a mount made in the machine's namespace would
/// outlive a SIGKILL).
pub fn mount(dir: &Path, image: &Path, needs: &Needs) -> Result<View, HostStepError> {
    let step = |step: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e: io::Error| HostStepError::new(step, path, e)
    };
    if !in_own_mount_namespace().map_err(step("read the thread's mount namespace", dir))? {
        return Err(HostStepError::new(
            "mount the view of the rootfs outside a stand-in host",
            dir,
            io::Error::from_raw_os_error(libc::EPERM),
        ));
    }
    let top = fs::metadata(image).map_err(step("read the rootfs", image))?;
    let lower = layer_option(image)?;
    let layers = dir.join(LAYERS);
    let root = root_of(dir);
    let mut view = View {
        mounted: Vec::new(),
    };
    nix::mount::mount(
        Some("isoprobe-view"),
        &layers,
        Some("tmpfs"),
        // Neither nodev nor nosuid: the view behaves as a plain directory would (a runtime's
        // device nodes in the view's /dev must open).
        MsFlags::empty(),
        Some("mode=0755"),
    )
    .map_err(|e| HostStepError::errno("mount a tmpfs for the view's upper layer", &layers, e))?;
    view.mounted.push(layers.clone());
    let (upper, work) = (layers.join("upper"), layers.join("work"));
    fs::create_dir(&upper).map_err(step("create the upper layer", &upper))?;
    fs::create_dir(&work).map_err(step("create the work directory", &work))?;
    // The overlay's root shows the upper layer's root: it keeps the image's owner and mode.
    std::os::unix::fs::chown(&upper, Some(top.uid()), Some(top.gid())).map_err(|e| {
        let mut err = HostStepError::new("give the upper layer the rootfs's owner", &upper, e);
        // Rootless, an owner the user namespace does not map cannot be given.
        if crate::rootless::active().is_some() && err.source.raw_os_error() == Some(libc::EINVAL) {
            err.advice = "rootless, the rootfs's owner must be mapped: give a rootfs the user \
                          owns (unpack the image as that user), or run as root";
        }
        err
    })?;
    fs::set_permissions(&upper, fs::Permissions::from_mode(top.mode() & 0o7777))
        .map_err(step("give the upper layer the rootfs's mode", &upper))?;
    for d in needs.dirs {
        if fs::symlink_metadata(image.join(d)).is_err() {
            let p = upper.join(d);
            fs::create_dir(&p).map_err(step("create a directory in the view", &p))?;
            let mode = if *d == "tmp" { 0o1777 } else { 0o755 };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                .map_err(step("set a view directory's mode", &p))?;
        }
    }
    let agent = upper.join(needs.agent.0.trim_start_matches('/'));
    super::write_executable(&agent, needs.agent.1).map_err(step("copy the agent", &agent))?;
    let options = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        layer_option(&upper)?,
        layer_option(&work)?
    );
    nix::mount::mount(
        Some("isoprobe-view"),
        &root,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|e| HostStepError::errno("mount the overlay view of the rootfs", image, e))?;
    view.mounted.push(root);
    Ok(view)
}

/// A directory as an overlay option: the option string has no quoting for `,` and `:`.
fn layer_option(p: &Path) -> Result<String, HostStepError> {
    let s = p.to_str().filter(|s| !s.contains([',', ':', '\\']));
    s.map(str::to_string).ok_or_else(|| {
        HostStepError::new(
            "make an overlay layer of it (a path holding `,`, `:` or `\\`, or not UTF-8, cannot be one)",
            p,
            io::Error::from_raw_os_error(libc::EINVAL),
        )
    })
}

/// Whether the calling thread has a mount namespace other than the process's main thread.
fn in_own_mount_namespace() -> io::Result<bool> {
    let ino = |p: &str| fs::metadata(p).map(|m| (m.dev(), m.ino()));
    Ok(ino("/proc/thread-self/ns/mnt")? != ino("/proc/self/ns/mnt")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_on_the_machines_mount_namespace() {
        let dir = tempfile::tempdir().unwrap();
        make_mount_points(dir.path()).unwrap();
        let image = tempfile::tempdir().unwrap();
        let needs = Needs {
            dirs: &["proc"],
            agent: ("/.a", b"x"),
        };
        let e = mount(dir.path(), image.path(), &needs).unwrap_err();
        assert!(e.step.contains("outside a stand-in"), "{e}");
        assert!(fs::read_dir(root_of(dir.path())).unwrap().next().is_none());
    }

    #[test]
    fn layer_paths_with_separators_are_refused() {
        assert!(layer_option(Path::new("/a,b")).is_err());
        assert!(layer_option(Path::new("/a:b")).is_err());
        assert_eq!(layer_option(Path::new("/a/b")).unwrap(), "/a/b");
    }
}
