//! Where a path named inside the container is on the host, resolved the way the container
//! would see it: symlinks (absolute ones from the rootfs, relative ones from their directory)
//! and `..` never leave the rootfs. A hostile image can lay a symlink where a mount is asked
//! for; joined naively to the rootfs, the kernel follows it on the host.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// How many symlinks one resolution follows before it gives up (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// The host path of `inside` under `rootfs`, every symlink and `..` confined to the rootfs.
/// A component that does not exist ends the walk; the rest is kept lexically (with `..`
/// still confined). Too many links leave the remaining path unresolved, inside the rootfs.
pub fn resolve_in_root(rootfs: &Path, inside: &str) -> PathBuf {
    // The resolved part, as components below the rootfs; the rest still to walk, in order.
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: Vec<OsString> = parts(Path::new(inside));
    todo.reverse();
    let mut links = 0;
    let mut exists = true;
    while let Some(part) = todo.pop() {
        if part.as_bytes() == b".." {
            done.pop();
            continue;
        }
        let here = rootfs.join(done.iter().collect::<PathBuf>()).join(&part);
        let target = if exists && links < MAX_LINKS {
            std::fs::read_link(&here).ok()
        } else {
            None
        };
        match target {
            Some(t) => {
                links += 1;
                if t.is_absolute() {
                    done.clear();
                }
                todo.extend(parts(&t).into_iter().rev());
            }
            None => {
                exists = exists && here.symlink_metadata().is_ok();
                done.push(part);
            }
        }
    }
    rootfs.join(done.iter().collect::<PathBuf>())
}

/// The normal and `..` components of `p` (`/` and `.` say nothing here).
fn parts(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from_vec(b"..".to_vec())),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_and_dotdot_stay_inside_the_rootfs() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        symlink("/a", r.join("abs")).unwrap();
        symlink("../../../../../a/b", r.join("a/rel")).unwrap();
        symlink("/etc", r.join("a/b/etc")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        assert_eq!(resolve_in_root(r, "/abs/b"), r.join("a/b"));
        assert_eq!(resolve_in_root(r, "/a/rel"), r.join("a/b"));
        assert_eq!(resolve_in_root(r, "/a/b/etc/x"), r.join("etc/x"));
        assert_eq!(resolve_in_root(r, "/../../tmp"), r.join("tmp"));
        assert_eq!(resolve_in_root(r, "/missing/../../x"), r.join("x"));
        assert!(resolve_in_root(r, "/loop1").starts_with(r));
        assert_eq!(resolve_in_root(r, "/"), r.to_path_buf());
    }
}
