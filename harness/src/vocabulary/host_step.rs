//! A step the host took that failed: what it was, on which path, the errno, and what to do.
//! The spawner's parent steps, the cgroup code, the runtime adapters and the checks' host-side
//! set-up all fail this way.

use nix::errno::Errno;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("{step} `{}`: {source}{}", .path.display(), hint(.advice))]
pub struct HostStepError {
    pub step: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
    pub advice: &'static str,
}

impl HostStepError {
    pub fn new(step: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let advice = match source.raw_os_error().map(Errno::from_raw) {
            Some(Errno::EPERM) | Some(Errno::EACCES) => "run isoprobe as root",
            Some(Errno::EROFS) => "the file system is read-only",
            _ => "",
        };
        HostStepError {
            step,
            path: path.into(),
            source,
            advice,
        }
    }

    /// The same from a system call's errno.
    pub fn errno(step: &'static str, path: impl Into<PathBuf>, errno: Errno) -> Self {
        Self::new(step, path, io::Error::from_raw_os_error(errno as i32))
    }
}

/// ` — advice`, or nothing.
pub fn hint(advice: &str) -> String {
    if advice.is_empty() {
        String::new()
    } else {
        format!(" — {advice}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_step_the_path_and_the_advice() {
        let e = HostStepError::errno("mkdir", "/sys/fs/cgroup/x", Errno::EACCES);
        let text = e.to_string();
        assert!(text.starts_with("mkdir `/sys/fs/cgroup/x`: "), "{text}");
        assert!(text.ends_with(" — run isoprobe as root"), "{text}");
        assert_eq!(e.source.raw_os_error(), Some(libc::EACCES));
    }
}
