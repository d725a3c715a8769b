//! The engine's files in a container's `/etc` (`/etc/hostname`, `/etc/hosts`,
//! `/etc/resolv.conf`), written into the rootfs before the container starts, as an engine
//! prepares them. The image is untrusted: each path is resolved inside the rootfs (its
//! symlinks and `..` confined there) and the file is opened without following a last link,
//! so an image whose `/etc/hostname` links to a host file gets the write inside itself.

use super::resolve_in_root;
use crate::vocabulary::{etc_file_contents, HostStepError};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes the engine's `/etc` files for `hostname` into `rootfs`. `on_host` joins each path
/// to the rootfs naively, so that the host follows the image's symlinks (the weak variant a
/// negative control needs).
pub fn write_etc_files(
    rootfs: &Path,
    hostname: Option<&str>,
    on_host: bool,
) -> Result<(), HostStepError> {
    for (inside, content) in etc_file_contents(hostname) {
        if on_host {
            let path = rootfs.join(inside.trim_start_matches('/'));
            std::fs::write(&path, &content)
                .map_err(|e| HostStepError::new("write an /etc file on the host", &path, e))?;
            continue;
        }
        let path = resolve_in_root(rootfs, inside);
        write_confined(&path, content.as_bytes())?;
    }
    Ok(())
}

/// Writes `content` at `path` (already resolved inside the rootfs), creating its missing
/// directories and refusing a symlink that appeared at its last component since.
fn write_confined(path: &Path, content: &[u8]) -> Result<(), HostStepError> {
    let parent = path.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&parent)
        .map_err(|e| HostStepError::new("create an /etc file's directory", &parent, e))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| HostStepError::new("open an /etc file in the rootfs", path, e))?;
    f.write_all(content)
        .map_err(|e| HostStepError::new("write an /etc file in the rootfs", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::ETC_FILES;
    use std::os::unix::fs::symlink;

    /// A rootfs whose three /etc files link to files outside it (absolute and climbing).
    fn hostile() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        let host = t.path().join("host");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir(&host).unwrap();
        for (i, p) in ETC_FILES.iter().enumerate() {
            let target = host.join(format!("f{i}"));
            std::fs::write(&target, "host\n").unwrap();
            let link: PathBuf = if i == 1 {
                ["../../../../../../../../"]
                    .iter()
                    .collect::<PathBuf>()
                    .join(target.strip_prefix("/").unwrap())
            } else {
                target
            };
            symlink(link, root.join(&p[1..])).unwrap();
        }
        (t, root, host)
    }

    #[test]
    fn the_files_land_inside_the_rootfs_and_the_host_files_stay() {
        let (_t, root, host) = hostile();
        write_etc_files(&root, Some("box"), false).unwrap();
        for i in 0..3 {
            assert_eq!(
                std::fs::read_to_string(host.join(format!("f{i}"))).unwrap(),
                "host\n"
            );
        }
        // Followed inside the root: the link's target path, under the rootfs.
        let inside = root.join(host.join("f0").strip_prefix("/").unwrap());
        assert_eq!(std::fs::read_to_string(inside).unwrap(), "box\n");
        // A plain rootfs without /etc gets it.
        let plain = tempfile::tempdir().unwrap();
        write_etc_files(plain.path(), None, false).unwrap();
        let hosts = std::fs::read_to_string(plain.path().join("etc/hosts")).unwrap();
        assert!(hosts.contains("isoprobe"), "{hosts}");
    }

    #[test]
    fn on_the_host_the_links_are_followed() {
        let (_t, root, host) = hostile();
        write_etc_files(&root, Some("box"), true).unwrap();
        assert_eq!(std::fs::read_to_string(host.join("f0")).unwrap(), "box\n");
        assert!(std::fs::read_to_string(host.join("f2"))
            .unwrap()
            .starts_with("nameserver"));
    }
}
