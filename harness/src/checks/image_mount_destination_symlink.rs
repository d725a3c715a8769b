//! `image.mount-destination-symlink`: a hostile image cannot move a bind mount out of the
//! container's root by laying a symlink where the mount's destination is (the class of
//! CVE-2021-30465 and of runc's older symlinked-destination escapes). The image's `/dst-abs`
//! is a symlink to an absolute path, its `/dst-rel` a `../../..` path that climbs past the
//! rootfs; a scratch directory is bound at each, one start each. Every start must be refused by
//! the runtime, or show the bind inside the container's root: its mount table (what the host
//! reads in `/proc/<pid>/mountinfo`, relative to the container's root) has a mount at the
//! destination resolved inside the root, or at the destination itself.
//!
//! Safety: both links point at one directory in the check's scratch space, so even a runtime
//! that follows them on the host binds a scratch directory onto another. The rootfs is the
//! check's own, fresh in the scratch directory; it also holds the directories the links name,
//! as a runtime that confines them would find them.

use super::hostile_start::{first_line, refused};
use super::host_side::{self, setup};
use super::{Check, Control, Ctx, Layer, ShownBy, Verdict};
use crate::rootfs::FreshRootfs;
use crate::runtime::RunError;
use crate::vocabulary::{Bind, Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, Reading};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

pub struct MountDestinationSymlink;

/// What every violation says.
const EVIDENCE: &str = "bind not inside the root";
/// A plain destination: a runtime that binds nothing would "confine" every hostile one.
const PLAIN: &str = "/plain";

/// One hostile destination: the symlink in the image and the directory it names on the host.
struct Hostile {
    link: &'static str,
    escape: &'static str,
}

const HOSTILE: [Hostile; 2] = [
    Hostile {
        link: "/dst-abs",
        escape: "abs",
    },
    Hostile {
        link: "/dst-rel",
        escape: "rel",
    },
];

impl Check for MountDestinationSymlink {
    fn id(&self) -> String {
        "image.mount-destination-symlink".into()
    }
    fn description(&self) -> String {
        "a bind-mount destination that the image makes a symlink (to an absolute path, to a \
         `../../..` path past the rootfs) is refused by the runtime or lands inside the \
         container's root"
            .into()
    }
    fn isolation(&self) -> Isolation {
        // Its own network namespace, as every hostile-image check has: whatever a runtime
        // fooled by the image touches of the network is the container's own.
        Isolation::base().with_ns(NsType::Net)
    }
    fn control(&self) -> Control {
        Sabotage::BindsResolvedOnHost.shown_by(EVIDENCE)
    }
    fn layer(&self) -> Layer {
        Layer::HostileImage
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let layout = Layout::build(ctx)?;
        let own = ctx.on_own_rootfs(layout.rootfs.path());
        let bound_at = |target: &str| Isolation {
            binds: vec![Bind {
                source: layout.source.path().to_path_buf(),
                target: target.into(),
            }],
            ..iso.clone()
        };
        let plain = own
            .run(&bound_at(PLAIN), AgentArgs::default())?
            .observation
            .mount_points;
        let mut starts = Vec::new();
        for h in &HOSTILE {
            let end = match own.run(&bound_at(h.link), AgentArgs::default()) {
                Ok(out) => End::Ran(out.observation.mount_points),
                Err(e) if refused(&e) => End::Refused(first_line(&e.to_string())),
                Err(e) => return Err(e),
            };
            starts.push(Start {
                link: h.link,
                inside: layout.inside(h),
                end,
            });
        }
        let host = HostView {
            mounts: host_side::mounts_under(layout.escape.path()),
            entries: layout.escape_entries(),
        };
        Ok(judge(&plain, &starts, &host))
    }
}

/// The check's scratch layout: its rootfs with the links, the bind's source, and the
/// directory the links name (outside the rootfs).
struct Layout {
    rootfs: FreshRootfs,
    source: tempfile::TempDir,
    escape: tempfile::TempDir,
}

impl Layout {
    fn build(ctx: &Ctx) -> Result<Layout, RunError> {
        let agent_path = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let rootfs = FreshRootfs::build_from(&agent_path, Some(ctx.scratch))
            .map_err(|e| setup("build the check's rootfs", ctx.scratch, e))?;
        let dir = |prefix: &str| {
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(ctx.scratch)
                .map_err(|e| setup("create a scratch directory", ctx.scratch, e))
        };
        let source = dir("isoprobe-mntsrc-")?;
        let escape = dir("isoprobe-mntdst-")?;
        let layout = Layout {
            rootfs,
            source,
            escape,
        };
        let mkdir = |p: PathBuf| {
            std::fs::create_dir_all(&p).map_err(|e| setup("create a directory", &p, e))
        };
        mkdir(layout.rootfs.path().join(&PLAIN[1..]))?;
        for h in &HOSTILE {
            // The host directory a link names exists, so that a runtime that follows the link
            // on the host can really mount there (and show it); so does its namesake inside
            // the rootfs, for a runtime that confines the link.
            mkdir(layout.escape.path().join(h.escape))?;
            mkdir(layout.rootfs.path().join(&layout.inside(h)[1..]))?;
            let link = layout.rootfs.path().join(&h.link[1..]);
            let target = layout.link_target(h);
            std::os::unix::fs::symlink(&target, &link)
                .map_err(|e| setup("create the symlink", &link, e))?;
        }
        Ok(layout)
    }

    /// What the link says: the escape directory by its absolute path, or by enough `..` from
    /// the rootfs to reach the host's `/` and then down.
    fn link_target(&self, h: &Hostile) -> PathBuf {
        let escape = self.escape.path().join(h.escape);
        if h.link == "/dst-abs" {
            return escape;
        }
        climbing(self.rootfs.path(), &escape)
    }

    /// Where the link leads when resolved inside the root: the escape directory's host path,
    /// taken as a path inside the container.
    fn inside(&self, h: &Hostile) -> String {
        self.escape.path().join(h.escape).display().to_string()
    }

    /// What is in the escape directories on the host (they were made empty).
    fn escape_entries(&self) -> Vec<String> {
        HOSTILE
            .iter()
            .flat_map(|h| {
                let dir = self.escape.path().join(h.escape);
                std::fs::read_dir(&dir)
                    .map(|rd| {
                        rd.filter_map(Result::ok)
                            .map(|e| e.path().display().to_string())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// A relative path from the directory `from` that climbs past `/` (one `..` more than `from`
/// is deep) and goes down to `to`.
fn climbing(from: &Path, to: &Path) -> PathBuf {
    let depth = from
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count();
    let mut p: PathBuf = std::iter::repeat_n("..", depth + 1).collect();
    p.push(to.strip_prefix("/").unwrap_or(to));
    p
}

/// One start with a bind at a hostile destination.
#[derive(Debug, Clone)]
struct Start {
    link: &'static str,
    /// Its destination resolved inside the container's root.
    inside: String,
    end: End,
}

#[derive(Debug, Clone)]
enum End {
    Refused(String),
    /// The mount points of the container's mount table, relative to its root.
    Ran(Reading<Vec<String>>),
}

/// What the host sees of the escape directories after every start.
#[derive(Debug, Clone, Default)]
struct HostView {
    mounts: Vec<String>,
    entries: Vec<String>,
}

/// Holds when the plain bind showed and each hostile start was refused or showed its bind
/// inside the root, and nothing reached the escape directories on the host.
fn judge(plain: &Reading<Vec<String>>, starts: &[Start], host: &HostView) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut observed = Map::new();
    match plain.ok() {
        Some(points) if points.iter().any(|p| p == PLAIN) => {}
        Some(points) => untested.push(format!(
            "the runtime started a container with a bind at `{PLAIN}` but its mount table has \
             no mount there ({})",
            points.join(", ")
        )),
        None => untested.push(format!("the plain start's mount table: {plain:?}")),
    }
    let mut refusals = 0;
    for s in starts {
        let shown = match &s.end {
            End::Refused(why) => {
                refusals += 1;
                format!("refused: {why}")
            }
            End::Ran(Reading::Err(e)) => {
                untested.push(format!("`{}`: the mount table could not be read: {e}", s.link));
                "not read".to_string()
            }
            End::Ran(Reading::Ok(points)) => {
                match points.iter().find(|p| **p == s.inside || *p == s.link) {
                    Some(at) => format!("inside: bound at {at}"),
                    None => {
                        violations.push(format!(
                            "`{}`: {EVIDENCE}: the runtime started the container but its mount \
                             table has no mount at `{}` or `{}`, where the link leads inside \
                             the root",
                            s.link, s.inside, s.link
                        ));
                        "outside: no mount inside the root".to_string()
                    }
                }
            }
        };
        observed.insert(s.link.to_string(), Value::String(shown));
    }
    if !host.mounts.is_empty() {
        violations.push(format!(
            "{EVIDENCE}: the host's mount table has {} at the links' host target",
            host.mounts.join(", ")
        ));
    }
    if !host.entries.is_empty() {
        violations.push(format!(
            "{EVIDENCE}: the runtime wrote {} at the links' host target",
            host.entries.join(", ")
        ));
    }
    if starts.is_empty() {
        untested.push("no hostile destination was tried".into());
    }
    observed.insert("host".into(), json!({"mounts": host.mounts, "entries": host.entries}));
    Verdict::judge(
        violations,
        untested,
        &format!(
            "of {} symlinked bind destinations, {refusals} were refused and the others were \
             bound inside the root; nothing reached their host target",
            starts.len()
        ),
        json!({"each start": "refused, or its bind inside the root", "host": "untouched"}),
        Value::Object(observed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSIDE_ABS: &str = "/tmp/s/isoprobe-mntdst-x/abs";

    fn points(v: &[&str]) -> Reading<Vec<String>> {
        Reading::Ok(v.iter().map(|s| s.to_string()).collect())
    }

    fn plain() -> Reading<Vec<String>> {
        points(&["/", "/proc", PLAIN])
    }

    fn start(end: End) -> Start {
        Start {
            link: "/dst-abs",
            inside: INSIDE_ABS.into(),
            end,
        }
    }

    #[test]
    fn refusals_and_binds_inside_hold() {
        let v = judge(
            &plain(),
            &[
                start(End::Refused("mount: not a directory".into())),
                start(End::Ran(points(&["/", INSIDE_ABS, "/proc"]))),
            ],
            &HostView::default(),
        );
        v.assert_holds();
        assert!(v.reason.contains("of 2 symlinked bind destinations, 1 were refused"));
        assert_eq!(v.observed["/dst-abs"], format!("inside: bound at {INSIDE_ABS}"));
        // A runtime that replaced the link with a directory bound at it: inside too.
        judge(
            &plain(),
            &[start(End::Ran(points(&["/", "/dst-abs"])))],
            &HostView::default(),
        )
        .assert_holds();
    }

    #[test]
    fn a_bind_missing_from_the_root_or_seen_on_the_host_is_a_violation() {
        let v = judge(
            &plain(),
            &[start(End::Ran(points(&["/", "/proc"])))],
            &HostView::default(),
        );
        v.assert_violated("`/dst-abs`: bind not inside the root");
        let host = HostView {
            mounts: vec!["/tmp/s/isoprobe-mntdst-x/abs".into()],
            entries: vec!["/tmp/s/isoprobe-mntdst-x/rel/dst".into()],
        };
        let v = judge(&plain(), &[start(End::Refused("x".into()))], &host);
        v.assert_violated("host's mount table has /tmp/s/isoprobe-mntdst-x/abs");
        assert!(v.reason.contains("wrote /tmp/s/isoprobe-mntdst-x/rel/dst"));
        assert!(v.reason.split("; ").all(|r| r.contains(EVIDENCE)));
    }

    #[test]
    fn a_runtime_that_binds_nothing_or_an_unread_table_is_untested() {
        judge(
            &points(&["/"]),
            &[start(End::Refused("x".into()))],
            &HostView::default(),
        )
        .assert_inconclusive("no mount there");
        judge(
            &plain(),
            &[start(End::Ran(Reading::Err("read: EACCES".into())))],
            &HostView::default(),
        )
        .assert_inconclusive("EACCES");
        judge(&plain(), &[], &HostView::default()).assert_inconclusive("no hostile");
    }

    #[test]
    fn the_relative_link_climbs_past_the_host_root() {
        let p = climbing(Path::new("/tmp/s/rootfs"), Path::new("/tmp/s/dst/rel"));
        assert_eq!(p, PathBuf::from("../../../../tmp/s/dst/rel"));
        // Resolved inside a root it stays there; resolved from the rootfs on the host it is
        // the target itself.
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        std::fs::create_dir(&root).unwrap();
        let target = t.path().join("dst");
        std::os::unix::fs::symlink(climbing(&root, &target), root.join("l")).unwrap();
        assert_eq!(
            std::fs::canonicalize(root.join("l")).ok(),
            None,
            "the target does not exist yet"
        );
        std::fs::create_dir(&target).unwrap();
        assert_eq!(std::fs::canonicalize(root.join("l")).unwrap(), target);
        assert_eq!(
            crate::spawner::resolve_in_root(&root, "/l"),
            root.join(target.strip_prefix("/").unwrap())
        );
    }
}
