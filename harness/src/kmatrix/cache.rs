//! The matrix's cache directory: where it is, the resolved kernel list, file locks between
//! isoprobe processes, and what a fetch leaves there.
//!
//! Layout (`cache_dir()`):
//! - `kernels.json`: the resolved specs.
//! - `apt/<suite>/`: the private apt configuration and lists of one suite.
//! - `debs/`: the downloaded packages, kept so a later need (modules) costs no download.
//! - `kernels/<release>/vmlinuz`: all that is extracted.

use super::catalogue::{known_names, KernelSpec};
use super::error::{IoStep, KernelError};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// `$XDG_CACHE_HOME/isoprobe`, else `~/.cache/isoprobe`.
pub fn cache_dir() -> PathBuf {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".cache"))
    };
    xdg.or_else(home)
        .unwrap_or_else(std::env::temp_dir)
        .join("isoprobe")
}

/// What `kernels.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    /// Unix seconds of the resolution.
    resolved_at: u64,
    kernels: Vec<KernelSpec>,
}

fn cache_file() -> PathBuf {
    cache_dir().join("kernels.json")
}

/// The cached resolution, unless it is missing, unreadable or stale.
pub(crate) fn read_specs() -> Option<Vec<KernelSpec>> {
    let text = std::fs::read_to_string(cache_file()).ok()?;
    let c: CacheFile = serde_json::from_str(&text).ok()?;
    // A cache written when the table named other kernels is stale.
    let names: Vec<&str> = c.kernels.iter().map(|k| k.name.as_str()).collect();
    (names == known_names()).then_some(c.kernels)
}

pub(crate) fn write_specs(specs: &[KernelSpec]) -> Result<(), KernelError> {
    let path = cache_file();
    let resolved_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = serde_json::to_string_pretty(&CacheFile {
        resolved_at,
        kernels: specs.to_vec(),
    })?;
    Ok(write_atomically(&path, text.as_bytes())?)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IoStep> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(IoStep::on("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        IoStep::on("write", path)(e)
    })
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), IoStep> {
    std::fs::create_dir_all(dir).map_err(IoStep::on("create", dir))
}

/// Where `fetch` keeps the vmlinuz of `k`.
pub fn vmlinuz_path(k: &KernelSpec) -> PathBuf {
    cache_dir().join("kernels").join(&k.release).join("vmlinuz")
}

/// A downloaded `<package>_<version>_<arch>.deb` (apt writes an epoch's ':' as %3a).
pub(crate) fn find_deb(debs: &Path, package: &str, version: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_{}_", version.replace(':', "%3a"));
    std::fs::read_dir(debs).ok()?.flatten().find_map(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        (n.starts_with(&prefix) && n.ends_with(".deb") && is_nonempty_file(&e.path()))
            .then(|| e.path())
    })
}

pub(crate) fn is_nonempty_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0)
}

pub(crate) fn file_mb(p: &Path) -> f64 {
    std::fs::metadata(p)
        .map(|m| m.len() as f64 / 1e6)
        .unwrap_or(0.0)
}

/// Bytes used under the cache directory.
pub fn cache_size() -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if m.is_dir() {
            std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0)
        } else {
            m.len()
        }
    }
    walk(&cache_dir())
}

/// An exclusive `flock` on a file, released on drop: apt's own lock fails at once when busy,
/// and parallel matrix jobs may fetch the same kernel; with this they wait for each other.
pub(crate) struct DirLock {
    _flock: nix::fcntl::Flock<File>,
}

impl DirLock {
    pub(crate) fn take(path: &Path) -> Result<DirLock, IoStep> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(IoStep::on("open the lock", path))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map(|f| DirLock { _flock: f })
            .map_err(|(_, e)| IoStep::on("lock", path)(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_deb_is_found_by_package_and_version() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("linux-image-x_1.2-1_amd64.deb"), b"x").unwrap();
        std::fs::write(d.path().join("linux-image-x_1.2-10_amd64.deb"), b"x").unwrap();
        let f = find_deb(d.path(), "linux-image-x", "1.2-1").unwrap();
        assert!(f.ends_with("linux-image-x_1.2-1_amd64.deb"));
        assert!(find_deb(d.path(), "linux-image-x", "1.3-1").is_none());
    }
}
