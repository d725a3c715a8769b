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
        let meta = fs::metadata(dir).map_err(|e| {
            HarnessError::Usage(format!(
                "--rootfs `{}`: {e}; give the directory of an unpacked root file system",
                dir.display()
            ))
        })?;
        if !meta.is_dir() {
            return Err(HarnessError::Usage(format!(
                "--rootfs `{}` is not a directory; give the directory of an unpacked root file system",
                dir.display()
            )));
        }
        if !dir.join("proc").is_dir() {
            return Err(HarnessError::Usage(format!(
                "--rootfs `{}` has no /proc directory to mount proc on; create it first",
                dir.display()
            )));
        }
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

/// Reads an agent binary given with `--agent`, refusing what cannot be it.
pub fn read_agent(path: &Path) -> Result<Vec<u8>, HarnessError> {
    let meta = fs::metadata(path)
        .map_err(|e| HarnessError::Usage(format!("--agent `{}`: {e}", path.display())))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(HarnessError::Usage(format!(
            "--agent `{}` is not an executable file; give the static isoprobe-agent (chmod 0755)",
            path.display()
        )));
    }
    fs::read(path).map_err(|e| HarnessError::Usage(format!("--agent `{}`: {e}", path.display())))
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
