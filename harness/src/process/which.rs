//! Where an executable is: the one lookup for every runtime binary.

use std::path::{Path, PathBuf};

/// Searched after PATH: a minimal PATH (sudo, cron) must not hide a packaged runtime.
const SYSTEM_DIRS: [&str; 3] = ["/usr/local/bin", "/usr/bin", "/bin"];

/// Where [`which`] looks, for a "not installed" message.
pub(crate) const LOOKED_IN: &str = "PATH, /usr/local/bin, /usr/bin, /bin and ~/.cargo/bin";

/// `name` on PATH, in the usual system directories, or where `cargo install` puts it (youki
/// is installed that way).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cargo_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .chain(SYSTEM_DIRS.map(PathBuf::from))
        .chain(cargo_bin)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

pub(crate) fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_shell_and_not_a_missing_name() {
        assert!(which("sh").is_some());
        assert!(which("isoprobe-surely-not-a-binary").is_none());
        let plain = tempfile::NamedTempFile::new().unwrap();
        assert!(!is_executable(plain.path()));
        assert!(!is_executable(Path::new("/")));
    }
}
