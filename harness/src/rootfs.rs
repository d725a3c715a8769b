//! The rootfs a run uses: a fresh minimal one holding only the agent, or a view of the user's
//! directory (`view.rs`) that no container, runtime or check can write through.
//!
//! The fresh rootfs holds the static agent and the empty directories a runtime expects to
//! mount over. Nothing else: a check that passes there cannot lean on a shell or libraries that
//! happen to be in a distro image.

use crate::error::HarnessError;
use crate::vocabulary::HostStepError;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the agent sits inside every rootfs isoprobe builds.
pub const AGENT_IN_ROOTFS: &str = "/isoprobe-agent";

mod view;

pub use view::View;

/// Directories a runtime mounts over or the agent looks into.
const ROOTFS_DIRS: [&str; 6] = ["proc", "dev", "sys", "tmp", "etc", "run"];

/// A minimal rootfs in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct FreshRootfs {
    dir: crate::record::TempDir,
}

impl FreshRootfs {
    /// Builds a rootfs under `parent` (the system temp dir when `None`) with `agent` written to
    /// [`AGENT_IN_ROOTFS`].
    pub fn build(agent: &[u8], parent: Option<&Path>) -> io::Result<FreshRootfs> {
        let me = Self::empty(parent)?;
        write_executable(&me.agent_host_path(), agent)?;
        Ok(me)
    }

    /// The same, with the agent copied from the file `agent` (no copy of it in memory).
    pub fn build_from(agent: &Path, parent: Option<&Path>) -> io::Result<FreshRootfs> {
        let me = Self::empty(parent)?;
        crate::process::copy_executable(agent, &me.agent_host_path(), 0o755)?;
        Ok(me)
    }

    fn empty(parent: Option<&Path>) -> io::Result<FreshRootfs> {
        let dir = crate::record::TempDir::new("rootfs", parent)?;
        // tempfile makes the directory 0700: a container whose root maps to an unprivileged
        // host uid (user namespace) could not even look up its own `/`.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        for d in ROOTFS_DIRS {
            fs::create_dir(dir.path().join(d))?;
        }
        fs::set_permissions(dir.path().join("tmp"), fs::Permissions::from_mode(0o1777))?;
        Ok(FreshRootfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The agent's path on the host side.
    pub fn agent_host_path(&self) -> PathBuf {
        self.dir.path().join(&AGENT_IN_ROOTFS[1..])
    }
}

/// Writes `bytes` to `path` as an executable (0755) file, never through a descriptor another
/// thread's fork could copy (see `process/exec_file.rs`).
pub fn write_executable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::process::write_executable(path, bytes, 0o755)
}

/// The agent's name inside a user's rootfs: hidden, and unlikely to clash with a real file.
const AGENT_IN_USER_ROOTFS: &str = "/.isoprobe-agent";

#[derive(Debug)]
pub enum PreparedRootfs {
    Fresh(FreshRootfs),
    /// The user's rootfs, seen through a view made for each stand-in host ([`Self::view`]).
    User(UserRootfs),
}

/// A user's rootfs and what its view is made of: the mount points (an `isoprobe-rootfs-*`
/// temporary directory, empty on the machine) and the agent to put in it.
#[derive(Debug)]
pub struct UserRootfs {
    image: PathBuf,
    mount_points: tempfile::TempDir,
    /// Where the view is mounted, below `mount_points`.
    root: PathBuf,
    agent: Vec<u8>,
}

impl PreparedRootfs {
    pub fn fresh(agent: &[u8]) -> Result<PreparedRootfs, HarnessError> {
        FreshRootfs::build(agent, None)
            .map(PreparedRootfs::Fresh)
            .map_err(|e| {
                HarnessError::Setup(format!("cannot build the test rootfs in the temp dir: {e}"))
            })
    }

    pub fn user(dir: &Path, agent: &[u8]) -> Result<PreparedRootfs, HarnessError> {
        check_user_rootfs(dir)?;
        let user = UserRootfs::new(dir, agent)?;
        user.try_view()?;
        Ok(PreparedRootfs::User(user))
    }

    /// The rootfs containers are given. For a user's rootfs that is the view's mount point:
    /// only inside a stand-in host holding a [`Self::view`] does it show the image.
    pub fn path(&self) -> &Path {
        match self {
            PreparedRootfs::Fresh(t) => t.path(),
            PreparedRootfs::User(u) => u.root(),
        }
    }

    /// The agent's path inside the rootfs.
    pub fn agent(&self) -> &'static str {
        match self {
            PreparedRootfs::Fresh(_) => AGENT_IN_ROOTFS,
            PreparedRootfs::User(_) => AGENT_IN_USER_ROOTFS,
        }
    }

    /// A second rootfs for containers that run beside this one's: a fresh rootfs with the same
    /// agent; `None` for a user's rootfs, whose every stand-in host sees a view of its own.
    pub fn another(&self) -> Result<Option<PreparedRootfs>, HarnessError> {
        let PreparedRootfs::Fresh(fresh) = self else {
            return Ok(None);
        };
        FreshRootfs::build_from(&fresh.agent_host_path(), None)
            .map(|r| Some(PreparedRootfs::Fresh(r)))
            .map_err(|e| {
                HarnessError::Setup(format!(
                    "cannot build a second test rootfs with the agent `{}`: {e}",
                    fresh.agent_host_path().display()
                ))
            })
    }

    /// Makes [`Self::path`] usable on the calling thread, which must be inside a stand-in host:
    /// for a user's rootfs, mounts its view there (kept while the `View` lives); nothing for
    /// the fresh rootfs, which is isoprobe's own. The one place a run's rootfs mounts are made.
    pub fn view(&self) -> Result<Option<View>, HostStepError> {
        match self {
            PreparedRootfs::Fresh(_) => Ok(None),
            PreparedRootfs::User(u) => u.view().map(Some),
        }
    }
}

impl UserRootfs {
    fn new(image: &Path, agent: &[u8]) -> Result<UserRootfs, HarnessError> {
        let setup = |e: io::Error| {
            HarnessError::Setup(format!(
                "cannot make a mount point for the view of the rootfs in the temp dir: {e}"
            ))
        };
        let image = image
            .canonicalize()
            .map_err(|e| HarnessError::Usage(format!("--rootfs `{}`: {e}", image.display())))?;
        let mount_points = tempfile::Builder::new()
            .prefix("isoprobe-rootfs-")
            .tempdir()
            .map_err(setup)?;
        view::make_mount_points(mount_points.path()).map_err(setup)?;
        Ok(UserRootfs {
            image,
            root: view::root_of(mount_points.path()),
            mount_points,
            agent: agent.to_vec(),
        })
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn view(&self) -> Result<View, HostStepError> {
        view::mount(
            self.mount_points.path(),
            &self.image,
            &view::Needs {
                dirs: &ROOTFS_DIRS,
                agent: (AGENT_IN_USER_ROOTFS, &self.agent),
            },
        )
    }

    /// Mounts the view once in a throwaway stand-in, so that an image overlayfs cannot use is
    /// refused before any container starts. Without root there is no stand-in, and no check
    /// will run: nothing to try.
    fn try_view(&self) -> Result<(), HarnessError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        let refused = |e: String| {
            HarnessError::Usage(format!(
                "--rootfs `{}`: cannot give containers a view of it: {e}; give a directory \
                 overlayfs can take as a lower layer (a local file system, a path without `,` \
                 or `:`; a bind mount of it at such a path will do)",
                self.image.display()
            ))
        };
        let host = crate::standin::StandIn::create().map_err(|e| refused(e.to_string()))?;
        host.within(|| self.view().map(drop))
            .map_err(|e| refused(e.to_string()))?
            .map_err(|e| refused(e.to_string()))
    }
}

/// Why a `--rootfs` cannot be a container's root, each message saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(
        "--rootfs `{}`: {source}; give the directory of an unpacked root file system (e.g. \
         debootstrap or `tar -x` of an image)",
        .dir.display()
    )]
    Unreadable {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "--rootfs `{}` is not a directory; give the directory of an unpacked root file system, \
         not an archive or an image file (unpack it first)",
        .dir.display()
    )]
    NotADirectory { dir: PathBuf },
    #[error(
        "--rootfs `{}` has no /proc directory to mount proc on, so no container can start in \
         it; give the top of an unpacked root file system, or create it (mkdir {}/proc)",
        .dir.display(),
        .dir.display()
    )]
    NoProc { dir: PathBuf },
}

/// Whether `dir` can be a container's root: a directory that can be listed, with a `/proc` to
/// mount proc on. Checked before any container starts.
pub fn check_user_rootfs(dir: &Path) -> Result<(), RootfsError> {
    let unreadable = |source| RootfsError::Unreadable {
        dir: dir.to_path_buf(),
        source,
    };
    let meta = fs::metadata(dir).map_err(unreadable)?;
    if !meta.is_dir() {
        return Err(RootfsError::NotADirectory {
            dir: dir.to_path_buf(),
        });
    }
    // Listing it finds a directory isoprobe may not enter (a user's 0700 home, say) here rather
    // than in the middle of a run.
    fs::read_dir(dir).map_err(unreadable)?;
    match fs::symlink_metadata(dir.join("proc")) {
        Ok(m) if m.is_dir() => Ok(()),
        _ => Err(RootfsError::NoProc {
            dir: dir.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_holds_the_agent_and_the_usual_dirs() {
        let r = FreshRootfs::build(b"#!agent", None).unwrap();
        let meta = fs::metadata(r.agent_host_path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        for d in ROOTFS_DIRS {
            assert!(r.path().join(d).is_dir(), "{d} missing");
        }
        assert_eq!(
            fs::metadata(r.path()).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let p = r.path().to_path_buf();
        drop(r);
        assert!(!p.exists(), "rootfs must be removed on drop");
    }
}

#[cfg(test)]
mod user_rootfs_tests {
    use super::*;

    #[test]
    fn a_user_rootfs_needs_a_directory_with_proc() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        assert!(matches!(
            check_user_rootfs(&missing),
            Err(RootfsError::Unreadable { .. })
        ));
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(matches!(
            check_user_rootfs(&file),
            Err(RootfsError::NotADirectory { .. })
        ));
        assert!(matches!(
            check_user_rootfs(tmp.path()),
            Err(RootfsError::NoProc { .. })
        ));
        fs::write(tmp.path().join("proc"), "").unwrap();
        assert!(matches!(
            check_user_rootfs(tmp.path()),
            Err(RootfsError::NoProc { .. })
        ));
        fs::remove_file(tmp.path().join("proc")).unwrap();
        fs::create_dir(tmp.path().join("proc")).unwrap();
        check_user_rootfs(tmp.path()).unwrap();
    }
}
