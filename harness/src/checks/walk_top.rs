//! Where a directory the agent holds hangs: the `fds` try walks `..` up from it to the top of
//! its tree, and tries the host's canary through that top. A directory inside the container
//! tops out at the container's root; one a runtime let in from the host tops out at the host's
//! root (or a detached tree of it), where the canary opens.

use isoprobe_probes::contract::{DirWalk, FdsOutcome};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The container's root as dev+inode: the rootfs as the host sees it, and the `/` the
/// container itself reported (the same directory under every runtime that binds or chroots
/// into the rootfs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ContainerRoot(Vec<(u64, u64)>);

impl ContainerRoot {
    /// The rootfs's dev+inode on the host (none when it cannot be read: then only the
    /// container's own `/` counts).
    pub fn of_rootfs(rootfs: &Path) -> ContainerRoot {
        ContainerRoot(
            std::fs::metadata(rootfs)
                .map(|m| vec![(m.dev(), m.ino())])
                .unwrap_or_default(),
        )
    }

    /// Also the `/` this run's agent reported.
    pub fn with_reported(&self, out: &FdsOutcome) -> ContainerRoot {
        let mut ids = self.0.clone();
        ids.extend(out.root.done().map(|r| (r.dev, r.ino)));
        ContainerRoot(ids)
    }

    #[cfg(test)]
    pub fn from_ids(ids: &[(u64, u64)]) -> ContainerRoot {
        ContainerRoot(ids.to_vec())
    }

    fn contains(&self, id: (u64, u64)) -> bool {
        self.0.contains(&id)
    }
}

/// Where one walk ended, as the judges sort it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reach {
    /// Its top is the container's root and the canary did not open with its secret.
    Inside,
    /// What shows it reaches outside: the top it ended at, the canary read through it.
    Outside(String),
    /// The walk could not be made.
    Unknown(String),
}

/// Judges one walk against the container's root and the canary's secret.
pub(super) fn reach(walk: &DirWalk, root: &ContainerRoot, secret: &str) -> Reach {
    let top = match &walk.top {
        isoprobe_probes::contract::Called::Done(t) => t,
        isoprobe_probes::contract::Called::Failed(e) => {
            return Reach::Unknown(format!(
                "the `..` walk failed ({}: {})",
                e.step.as_deref().unwrap_or("walk"),
                e.error
            ))
        }
    };
    let path = top
        .path
        .done()
        .map_or_else(|| "?".to_string(), |p| format!("`{p}`"));
    let mut shown = Vec::new();
    if !root.contains((top.dev, top.ino)) {
        shown.push(format!(
            "its `..` walk ends at {path}, not at the container's root"
        ));
    }
    if top.canary.done().map(|c| c.ok.trim()) == Some(secret) {
        shown.push(format!("the host canary was read through {path}"));
    }
    if shown.is_empty() {
        Reach::Inside
    } else {
        Reach::Outside(shown.join(", and "))
    }
}

/// The canary's path as the `fds` try takes it: relative to the host's root.
pub(super) fn relative_to_root(path: &Path) -> String {
    path.display()
        .to_string()
        .trim_start_matches('/')
        .to_string()
}

#[cfg(test)]
pub(super) mod fixtures {
    //! Literal walks for the judges' tests.
    use isoprobe_probes::contract::{CallError, Called, Content, DirWalk, WalkTop};

    pub const SECRET: &str = "isoprobe-canary-x";
    pub const ROOT: (u64, u64) = (10, 2);
    pub const HOST: (u64, u64) = (1, 2);

    /// A walk from `top` itself, where the canary gives `canary`.
    pub fn walk(top: (u64, u64), path: &str, canary: Option<&str>) -> DirWalk {
        DirWalk {
            dev: top.0,
            ino: top.1,
            top: Called::Done(WalkTop {
                dev: top.0,
                ino: top.1,
                path: Called::Done(path.into()),
                steps: 3,
                canary: canary.map_or_else(
                    || Called::Failed(CallError::from_errno(nix::errno::Errno::ENOENT)),
                    |c| Called::Done(Content { ok: c.into() }),
                ),
            }),
        }
    }

    pub fn inside() -> DirWalk {
        walk(ROOT, "/", None)
    }

    pub fn host() -> DirWalk {
        walk(HOST, "/", Some(SECRET))
    }

    pub fn failed() -> DirWalk {
        DirWalk {
            dev: 1,
            ino: 1,
            top: Called::Failed(CallError::from_errno(nix::errno::Errno::EACCES).at("openat ..")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn a_walk_is_inside_only_at_the_root_without_the_canary() {
        let root = ContainerRoot::from_ids(&[ROOT]);
        assert_eq!(reach(&inside(), &root, SECRET), Reach::Inside);
        let Reach::Outside(why) = reach(&host(), &root, SECRET) else {
            panic!("outside expected")
        };
        assert!(why.contains("not at the container's root") && why.contains("canary was read"));
        // The canary read through the container's own root (a bind of the host's) is enough.
        let Reach::Outside(why) = reach(&walk(ROOT, "/", Some(SECRET)), &root, SECRET) else {
            panic!("outside expected")
        };
        assert_eq!(why, "the host canary was read through `/`");
        assert!(
            matches!(reach(&failed(), &root, SECRET), Reach::Unknown(w) if w.contains("EACCES") || w.contains("openat .."))
        );
    }

    #[test]
    fn the_canary_is_named_from_the_root() {
        assert_eq!(relative_to_root(Path::new("/tmp/s/c")), "tmp/s/c");
    }
}
