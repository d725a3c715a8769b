//! `image.etc-symlinks`: an image whose `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`
//! are symlinks to absolute paths outside it cannot make the engine's files land on the host.
//! An engine puts these three files in every container (Docker binds files of its own over
//! them, others write them into the rootfs); one that follows the image's links on the host
//! overwrites, or mounts over, whatever host file they name (the class of the engines' old
//! `/etc/hosts` and `/etc/resolv.conf` symlink escapes). The start must be refused, or show
//! inside the engine's three files, while the host files the links name keep their content and
//! modification time and have nothing mounted on them.
//!
//! Safety: the links name files in the check's scratch directory, stand-ins for host files,
//! never a real file of the machine. A plain start (a fresh rootfs without links) comes first:
//! a runtime that puts nothing in place would otherwise "confine" every link.

use super::hostile_start;
use super::host_side::{self, setup};
use super::{Check, Control, Ctx, Layer, ShownBy, Verdict};
use crate::rootfs::FreshRootfs;
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage, ETC_FILES};
use isoprobe_probes::contract::{Called, MaskedArgs, MaskedOutcome, PathSeen, Seen};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub struct EtcSymlinks;

/// What every violation says.
const EVIDENCE: &str = "the image's /etc link";
/// What the stand-in host files hold: a length none of the engine's files has.
const HOST_CONTENT: &str = "a stand-in for a host file: nothing may write it\n";

impl Check for EtcSymlinks {
    fn id(&self) -> String {
        "image.etc-symlinks".into()
    }
    fn description(&self) -> String {
        format!(
            "an image whose {} are symlinks to files outside it (stand-ins in the scratch \
             directory) is refused by the runtime or gets the engine's files inside its root, \
             the files the links name untouched",
            ETC_FILES.join(", ")
        )
    }
    fn isolation(&self) -> Isolation {
        // Its own network namespace, as every hostile-image check has.
        Isolation {
            etc_files: true,
            ..Isolation::base().with_ns(NsType::Net)
        }
    }
    fn control(&self) -> Control {
        Sabotage::EtcWrittenOnHost.shown_by(EVIDENCE)
    }
    fn layer(&self) -> Layer {
        Layer::HostileImage
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let agent_path = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let plain_rootfs = FreshRootfs::build_from(&agent_path, Some(ctx.scratch))
            .map_err(|e| setup("build the check's rootfs", ctx.scratch, e))?;
        let plain = start(ctx, iso, plain_rootfs.path())?;
        let layout = Layout::build(ctx, &agent_path)?;
        let before = layout.host_files();
        let hostile = start(ctx, iso, layout.rootfs.path())?;
        let host = HostView {
            before,
            after: layout.host_files(),
            mounts: host_side::mounts_under(layout.host.path()),
        };
        Ok(judge(&plain, &hostile, &host))
    }
}

fn start(ctx: &Ctx, iso: &Isolation, rootfs: &Path) -> Result<End, RunError> {
    let own = ctx.on_own_rootfs(rootfs);
    let args = AgentArgs::trying(MaskedArgs {
        paths: ETC_FILES.map(String::from).to_vec(),
    });
    End::of::<MaskedOutcome>(own.run(iso, args), |o| o.paths.clone())
}

/// The hostile rootfs, its `/etc` links naming the stand-in host files in `host`.
struct Layout {
    rootfs: FreshRootfs,
    host: tempfile::TempDir,
}

impl Layout {
    fn build(ctx: &Ctx, agent: &Path) -> Result<Layout, RunError> {
        let rootfs = FreshRootfs::build_from(agent, Some(ctx.scratch))
            .map_err(|e| setup("build the check's rootfs", ctx.scratch, e))?;
        let host = tempfile::Builder::new()
            .prefix("isoprobe-etchost-")
            .tempdir_in(ctx.scratch)
            .map_err(|e| setup("create a scratch directory", ctx.scratch, e))?;
        let etc = rootfs.path().join("etc");
        std::fs::create_dir_all(&etc).map_err(|e| setup("create a directory", &etc, e))?;
        let layout = Layout { rootfs, host };
        for inside in ETC_FILES {
            let target = layout.host_file(inside);
            std::fs::write(&target, HOST_CONTENT)
                .map_err(|e| setup("write a stand-in host file", &target, e))?;
            let link = layout.rootfs.path().join(&inside[1..]);
            std::os::unix::fs::symlink(&target, &link)
                .map_err(|e| setup("create the symlink", &link, e))?;
        }
        Ok(layout)
    }

    /// The stand-in host file the image's link at `inside` names.
    fn host_file(&self, inside: &str) -> PathBuf {
        self.host.path().join(inside.rsplit('/').next().unwrap_or(inside))
    }

    /// Each stand-in host file's content and modification time now.
    fn host_files(&self) -> Vec<HostFile> {
        ETC_FILES
            .iter()
            .map(|inside| {
                let path = self.host_file(inside);
                HostFile {
                    content: std::fs::read_to_string(&path).ok(),
                    mtime: std::fs::metadata(&path).and_then(|m| m.modified()).ok(),
                    path,
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostFile {
    path: PathBuf,
    content: Option<String>,
    mtime: Option<SystemTime>,
}

/// How a start ended; it ran with what the agent read at each of [`ETC_FILES`].
type End = hostile_start::End<Vec<PathSeen>>;

/// The stand-in host files before and after the hostile start, and what is mounted on them.
#[derive(Debug, Clone, Default)]
struct HostView {
    before: Vec<HostFile>,
    after: Vec<HostFile>,
    mounts: Vec<String>,
}

fn shown(seen: &Called<Seen>) -> String {
    match seen {
        Called::Done(Seen::File { bytes }) => format!("file, {bytes} bytes"),
        Called::Done(Seen::Dir { entries }) => format!("directory, {entries} entries"),
        Called::Failed(e) => e.errno.clone().unwrap_or_else(|| e.error.clone()),
    }
}

/// Whether `seen` is the engine's file: a file of its size.
fn is_engines(seen: &Called<Seen>, size: u64) -> bool {
    matches!(seen, Called::Done(Seen::File { bytes }) if *bytes == size)
}

/// Holds when the plain start shows the engine's files, the hostile start was refused or shows
/// them too (through the links, inside the root), and the stand-in host files are as they were
/// with nothing mounted on them. The engine's files are what the plain start found: its rootfs
/// has no `/etc` files of its own, so whatever is there the runtime put there (an engine writes
/// its own hostname and hosts, isoprobe's runtimes the ones it wrote), and a path left empty
/// there is one the runtime does not fill (podman writes no resolv.conf without a network).
fn judge(plain: &End, hostile: &End, host: &HostView) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut observed = Map::new();
    let find = |seen: &[PathSeen], p: &str| seen.iter().find(|s| s.path == p).cloned();
    let mut expected: Vec<(&str, u64)> = Vec::new();
    if let Some(seen) = plain.plain(&mut untested) {
        for p in ETC_FILES {
            match find(seen, p).map(|s| s.seen) {
                Some(Called::Done(Seen::File { bytes })) => expected.push((p, bytes)),
                Some(Called::Failed(e)) if e.errno.as_deref() == Some("ENOENT") => {
                    observed.insert(p.to_string(), "not put in place by the runtime".into());
                }
                Some(other) => untested.push(format!(
                    "in a plain image `{p}` is not a file the runtime put there ({}), so \
                     where it goes says nothing",
                    shown(&other)
                )),
                None => untested.push(format!("the agent did not report `{p}`")),
            }
        }
        if expected.is_empty() && untested.is_empty() {
            untested.push(format!(
                "the runtime put none of {} in place in a plain image, so there is nothing \
                 the links could take elsewhere",
                ETC_FILES.join(", ")
            ));
        }
    }
    let holds = match hostile.hostile(&mut observed, &mut untested) {
        Err(holds) => holds,
        Ok(seen) => {
            for &(p, size) in &expected {
                let Some(s) = find(seen, p) else {
                    untested.push(format!("the agent did not report `{p}`"));
                    continue;
                };
                if !is_engines(&s.seen, size) {
                    violations.push(format!(
                        "`{p}`: the engine's file is not inside the root ({} where a plain image \
                         got {size} bytes): {EVIDENCE} took it elsewhere",
                        shown(&s.seen)
                    ));
                }
                observed.insert(p.to_string(), Value::String(shown(&s.seen)));
            }
            "the engine's files are inside the root, through the image's links".to_string()
        }
    };
    for (b, a) in host.before.iter().zip(&host.after) {
        let path = b.path.display();
        if b.content != a.content {
            violations.push(format!(
                "the host file `{path}` was written through {EVIDENCE}: it holds {:?}",
                a.content.as_deref().unwrap_or("nothing readable")
            ));
        } else if b.mtime != a.mtime {
            violations.push(format!(
                "the host file `{path}` was touched through {EVIDENCE}: its modification time \
                 changed"
            ));
        }
    }
    if host.before.is_empty() {
        untested.push("the stand-in host files were not read".into());
    }
    if !host.mounts.is_empty() {
        violations.push(format!(
            "the host's mount table has {} on the files {EVIDENCE} names",
            host.mounts.join(", ")
        ));
    }
    observed.insert(
        "host files".into(),
        Value::String(
            if host.before == host.after {
                "untouched"
            } else {
                "changed"
            }
            .into(),
        ),
    );
    Verdict::judge(
        violations,
        untested,
        &format!("{holds}; the files the links name are untouched"),
        json!({"the hostile start": "refused, or the engine's files inside the root",
               "host files": "untouched"}),
        Value::Object(observed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::CallError;
    use nix::errno::Errno;

    fn expected() -> Vec<(&'static str, u64)> {
        crate::vocabulary::etc_file_contents(EtcSymlinks.isolation().hostname.as_deref())
            .iter()
            .map(|(p, c)| (*p, c.len() as u64))
            .collect()
    }

    fn engines() -> End {
        End::Ran(
            expected()
                .into_iter()
                .map(|(p, bytes)| PathSeen {
                    path: p.into(),
                    seen: Called::Done(Seen::File { bytes }),
                })
                .collect(),
        )
    }

    fn host_file(content: &str, secs: u64) -> HostFile {
        HostFile {
            path: "/tmp/s/isoprobe-etchost-x/hostname".into(),
            content: Some(content.into()),
            mtime: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)),
        }
    }

    fn untouched() -> HostView {
        HostView {
            before: vec![host_file(HOST_CONTENT, 1)],
            after: vec![host_file(HOST_CONTENT, 1)],
            mounts: Vec::new(),
        }
    }

    #[test]
    fn a_refusal_or_the_files_inside_with_the_host_untouched_holds() {
        let v = judge(&engines(), &engines(), &untouched());
        v.assert_holds();
        assert_eq!(v.observed["/etc/hostname"], "file, 9 bytes");
        let v = judge(
            &engines(),
            &End::Refused("mount: not a directory".into()),
            &untouched(),
        );
        v.assert_holds();
        assert!(v.reason.starts_with("refused: mount: not a directory"));
    }

    #[test]
    fn a_written_or_touched_or_mounted_host_file_is_a_violation() {
        let mut host = untouched();
        host.after = vec![host_file("isoprobe\n", 2)];
        let missing = End::Ran(
            ETC_FILES
                .iter()
                .map(|p| PathSeen {
                    path: p.to_string(),
                    seen: Called::Failed(CallError::from_errno(Errno::ENOENT).at("stat")),
                })
                .collect(),
        );
        let v = judge(&engines(), &missing, &host);
        v.assert_violated("the host file `/tmp/s/isoprobe-etchost-x/hostname` was written");
        v.assert_violated("`/etc/hostname`: the engine's file is not inside the root (ENOENT");
        for part in v.reason.split("; ") {
            assert!(part.contains(EVIDENCE), "{part}");
        }
        let mut host = untouched();
        host.after = vec![host_file(HOST_CONTENT, 3)];
        judge(&engines(), &engines(), &host).assert_violated("modification time");
        let mut host = untouched();
        host.mounts = vec!["/tmp/s/isoprobe-etchost-x/hosts".into()];
        judge(&engines(), &engines(), &host).assert_violated("mount table");
    }

    #[test]
    fn a_runtime_that_puts_nothing_in_place_is_untested() {
        let nothing = End::Ran(Vec::new());
        judge(&nothing, &engines(), &untouched())
            .assert_inconclusive("the agent did not report `/etc/hostname`");
        let none_there = End::Ran(
            ETC_FILES
                .iter()
                .map(|p| PathSeen {
                    path: p.to_string(),
                    seen: Called::Failed(CallError::from_errno(Errno::ENOENT).at("stat")),
                })
                .collect(),
        );
        judge(&none_there, &engines(), &untouched()).assert_inconclusive("put none of");
        let wrong = End::Ran(vec![PathSeen {
            path: "/etc/hostname".into(),
            seen: Called::Done(Seen::Dir { entries: 0 }),
        }]);
        judge(&wrong, &engines(), &untouched())
            .assert_inconclusive("is not a file the runtime put there");
        let refused = End::Refused("x".into());
        judge(&refused, &refused, &untouched())
            .assert_inconclusive("refused a plain start too");
        judge(&engines(), &engines(), &HostView::default())
            .assert_inconclusive("not read");
    }
}
