//! The rootfs a run uses: a fresh minimal one holding only the agent, or the user's directory
//! with the agent copied in for the duration of the run.

use crate::error::HarnessError;
use isoprobe_fixtures::{write_executable, TestRootfs, AGENT_IN_ROOTFS};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The agent's name inside a user's rootfs: hidden, and unlikely to clash with a real file.
const AGENT_IN_USER_ROOTFS: &str = "/.isoprobe-agent";

#[derive(Debug)]
pub enum PreparedRootfs {
    Fresh(TestRootfs),
    /// The user's rootfs; the copied agent is removed on drop.
    User {
        dir: PathBuf,
        agent_copy: PathBuf,
    },
}

impl PreparedRootfs {
    pub fn fresh(agent: &[u8]) -> Result<PreparedRootfs, HarnessError> {
        TestRootfs::build(agent, None)
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
