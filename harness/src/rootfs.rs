//! The rootfs a run uses: a fresh minimal one holding only the agent, or the user's directory
//! with the agent copied in for the duration of the run.
//!
//! The fresh rootfs holds the static agent and the empty directories a runtime expects to
//! mount over. Nothing else: a check that passes there cannot lean on a shell or libraries that
//! happen to be in a distro image.

use crate::error::HarnessError;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the agent sits inside every rootfs isoprobe builds.
pub const AGENT_IN_ROOTFS: &str = "/isoprobe-agent";

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
        let dir = crate::record::TempDir::new("rootfs", parent)?;
        // tempfile makes the directory 0700: a container whose root maps to an unprivileged
        // host uid (user namespace) could not even look up its own `/`.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        for d in ROOTFS_DIRS {
            fs::create_dir(dir.path().join(d))?;
        }
        fs::set_permissions(dir.path().join("tmp"), fs::Permissions::from_mode(0o1777))?;
        write_executable(&dir.path().join(&AGENT_IN_ROOTFS[1..]), agent)?;
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

/// Writes `bytes` to `path` as an executable (0755) file.
pub fn write_executable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::write(path, bytes)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

/// The agent's name inside a user's rootfs: hidden, and unlikely to clash with a real file.
const AGENT_IN_USER_ROOTFS: &str = "/.isoprobe-agent";

#[derive(Debug)]
pub enum PreparedRootfs {
    Fresh(FreshRootfs),
    /// The user's rootfs; the copied agent is removed on drop.
    User {
        dir: PathBuf,
        agent_copy: PathBuf,
    },
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
        let agent_copy = dir.join(&AGENT_IN_USER_ROOTFS[1..]);
        write_executable(&agent_copy, agent).map_err(|e| {
            HarnessError::Usage(format!(
                "cannot copy the agent into the rootfs (`{}`: {e}); the rootfs must be writable",
                agent_copy.display()
            ))
        })?;
        Ok(PreparedRootfs::User {
            dir: dir.to_path_buf(),
            agent_copy,
        })
    }

    pub fn path(&self) -> &Path {
        match self {
            PreparedRootfs::Fresh(t) => t.path(),
            PreparedRootfs::User { dir, .. } => dir,
        }
    }

    /// The agent's path inside the rootfs.
    pub fn agent(&self) -> &'static str {
        match self {
            PreparedRootfs::Fresh(_) => AGENT_IN_ROOTFS,
            PreparedRootfs::User { .. } => AGENT_IN_USER_ROOTFS,
        }
    }
}

impl Drop for PreparedRootfs {
    fn drop(&mut self) {
        if let PreparedRootfs::User { agent_copy, .. } = self {
            let _ = fs::remove_file(agent_copy);
        }
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
