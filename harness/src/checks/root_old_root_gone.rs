//! `root.old-root-gone`: after pivot_root nothing of the host's root is reachable. The agent
//! lists its mount points and tries the host path of a canary below every one that is not its
//! own `/` or `/proc`; a kept old root shows up as an extra mount point the canary is read
//! through. It also reads the canary at the root of its own mount namespace: a chroot into a
//! mount point (a view of a user's image entered without pivot_root) has a mount table like a
//! pivoted root's, but the namespace's root is still the host's.

use super::host_side::{self, Canary};
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::OLD_ROOT;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{OldrootArgs, OldrootOutcome};
use isoprobe_probes::EscapeEnd;
use isoprobe_probes::AgentArgs;
use serde_json::json;
use std::fs;
use std::path::PathBuf;

pub struct OldRootGone;

/// The mount points a container of `Isolation::base()` has: its root and its /proc.
const EXPECTED: [&str; 2] = ["/", "/proc"];
/// Enough of a leaked host mount table to show what it is.
const SHOWN: usize = 8;

impl Check for OldRootGone {
    fn id(&self) -> String {
        "root.old-root-gone".into()
    }
    fn description(&self) -> String {
        "after pivot_root the container's mount table holds only its root and /proc, and a \
         host canary outside the rootfs cannot be read below any of its mount points"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::KeepOldRoot.shown_by("the host canary was read through")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let canary = Canary::create(ctx.scratch)?;
        let _put_old = RemovedIfNew::new(ctx.rootfs.join(&OLD_ROOT[1..]));
        let out = ctx.run(
            iso,
            AgentArgs::trying(OldrootArgs {
                canary: canary.path().display().to_string(),
            }),
        )?;
        let own = ctx.runtime.own_mounts();
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(p, canary.secret(), own)))
    }
}

/// The directory a kept old root is mounted on is made by the container in the rootfs, which
/// may be the user's own: it goes again if this run made it (and it is empty, as the mount
/// left with the container's mount namespace).
struct RemovedIfNew(Option<PathBuf>);

impl RemovedIfNew {
    fn new(dir: PathBuf) -> RemovedIfNew {
        RemovedIfNew((!dir.exists()).then_some(dir))
    }
}

impl Drop for RemovedIfNew {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Holds when only the container's root and /proc (and what the runtime mounts in every
/// container, `own`: see `Runtime::own_mounts`) are mounted and no path read the canary.
/// A root that is not a mount point of its own sits inside another mount (a chroot): that
/// mount, the host's, is still there. A missing /proc, an unlisted table or no path tried
/// say nothing about the old root.
fn judge(p: &OldrootOutcome, secret: &str, own: &[&str]) -> Verdict {
    let runtimes_own = |m: &str| {
        own.iter()
            .any(|o| m == *o || (o.ends_with('/') && m.starts_with(o)))
    };
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let extra: Vec<String> = match p.mount_points.done() {
        Some(points) => {
            let points: Vec<&str> = points.iter().map(String::as_str).collect();
            for want in EXPECTED {
                if !points.contains(&want) {
                    let line = format!("`{want}` is not among the mount points");
                    if want == "/" {
                        violations.push(line);
                    } else {
                        untested.push(line);
                    }
                }
            }
            // Runtimes cover parts of /proc (read-only binds of /proc/irq, /proc/bus, ...):
            // those are the container's own proc, not the old root; the canary is still
            // tried below them.
            points
                .into_iter()
                .filter(|m| !EXPECTED.contains(m) && !m.starts_with("/proc/") && !runtimes_own(m))
                .map(str::to_string)
                .collect()
        }
        None => {
            untested.push(format!(
                "the container could not list its mount points: {}",
                host_side::shown(&p.mount_points)
            ));
            Vec::new()
        }
    };
    if !extra.is_empty() {
        violations.push(format!(
            "{} mount points besides / and /proc, at or below `{}`",
            extra.len(),
            outermost(&extra).join("`, `")
        ));
    }
    if p.reads.is_empty() {
        untested.push("the agent tried no path to the canary".to_string());
    }
    let reached: Vec<&str> = p
        .reads
        .iter()
        .filter(|r| r.read.done().map(|c| c.ok.trim()) == Some(secret))
        .map(|r| r.path.as_str())
        .collect();
    if let Some(first) = reached.first() {
        violations.push(format!("the host canary was read through `{first}`"));
    }
    // A refused setns or a path missing there reaches nothing, as under pivot_root.
    let ns_root_reached = matches!(&p.ns_root, EscapeEnd::Read(t) if t.trim() == secret);
    if ns_root_reached {
        violations.push(
            "the host canary was read at the root of the container's mount namespace: the \
             container's root is a chroot, and the old root is still mounted beneath it"
                .to_string(),
        );
    }
    Verdict::judge(
        violations,
        untested,
        "only / and /proc are mounted, and the canary was reachable by no path",
        json!({
            "mount_points": EXPECTED,
            "canary_reached_through": [],
            "canary_at_namespace_root": false,
        }),
        json!({
            "extra_mount_points": outermost(&extra),
            "canary_reached_through": reached,
            "canary_at_namespace_root": ns_root_reached,
        }),
    )
}

/// The extra mount points that are not below another one: a kept old root shows as itself,
/// not as the host's whole mount table (which differs from machine to machine).
fn outermost(points: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = points
        .iter()
        .map(String::as_str)
        .filter(|m| {
            !points
                .iter()
                .any(|p| p != m && p != "/" && m.starts_with(&format!("{}/", p)))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out.truncate(SHOWN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "isoprobe-canary-x";

    use isoprobe_probes::contract::{CallError, Called, Content, PathRead};

    fn points(p: &[&str]) -> Called<Vec<String>> {
        Called::Done(p.iter().map(|m| m.to_string()).collect())
    }

    fn read(path: &str, text: &str) -> Vec<PathRead> {
        vec![PathRead {
            path: path.into(),
            read: Called::Done(Content { ok: text.into() }),
        }]
    }

    fn gone() -> OldrootOutcome {
        OldrootOutcome {
            mount_points: points(&["/", "/proc"]),
            reads: vec![PathRead {
                path: "/tmp/c".into(),
                read: Called::Failed(CallError::from_errno(nix::errno::Errno::ENOENT)),
            }],
            ns_root: EscapeEnd::Blocked("open /tmp/c: No such file or directory".into()),
        }
    }

    #[test]
    fn passes_with_only_root_and_proc_and_no_read() {
        judge(&gone(), SECRET, &[]).assert_holds();
    }

    fn with_points(p: &[&str]) -> OldrootOutcome {
        OldrootOutcome {
            mount_points: points(p),
            ..gone()
        }
    }

    #[test]
    fn covers_of_proc_are_not_the_old_root() {
        judge(
            &with_points(&["/", "/proc", "/proc/irq", "/proc/bus"]),
            SECRET,
            &[],
        )
        .assert_holds();
    }

    #[test]
    fn what_is_left_of_the_host_is_a_violation() {
        let reached = OldrootOutcome {
            reads: read("/.old/tmp/c", &format!("{SECRET}\n")),
            ..gone()
        };
        for (p, needle) in [
            (
                with_points(&["/", "/proc", "/.old", "/.old/sys"]),
                "2 mount points besides / and /proc, at or below `/.old`",
            ),
            (with_points(&["/proc"]), "`/` is not among"),
            (reached, "read through `/.old/tmp/c`"),
            (
                OldrootOutcome {
                    ns_root: EscapeEnd::Read(format!("{SECRET}\n")),
                    ..gone()
                },
                "at the root of the container's mount namespace",
            ),
        ] {
            judge(&p, SECRET, &[]).assert_violated(needle);
        }
    }

    #[test]
    fn what_kept_the_old_root_from_being_looked_for_is_untested() {
        let unlisted = OldrootOutcome {
            mount_points: Called::Failed(CallError::from_errno(nix::errno::Errno::ENOENT)),
            ..gone()
        };
        let no_reads = OldrootOutcome {
            reads: vec![],
            ..gone()
        };
        for (p, needle) in [
            (with_points(&["/"]), "`/proc` is not among"),
            (unlisted, "could not list its mount points"),
            (no_reads, "tried no path"),
        ] {
            judge(&p, SECRET, &[]).assert_inconclusive(needle);
        }
    }

    #[test]
    fn a_runtimes_own_mounts_are_not_the_old_root_but_others_are() {
        let own = ["/dev/", "/dev", "/etc/hosts"];
        let engine = with_points(&["/", "/proc", "/dev", "/dev/pts", "/etc/hosts"]);
        judge(&engine, SECRET, &own).assert_holds();
        let kept = with_points(&["/", "/proc", "/dev", "/.old", "/etc/hostsx"]);
        judge(&kept, SECRET, &own)
            .assert_violated("2 mount points besides / and /proc, at or below `/.old`, `/etc/hostsx`");
        let reached = OldrootOutcome {
            reads: read("/dev/tmp/c", &format!("{SECRET}\n")),
            ..engine
        };
        judge(&reached, SECRET, &own).assert_violated("read through `/dev/tmp/c`");
    }

    #[test]
    fn another_file_is_not_the_canary() {
        let p = OldrootOutcome {
            reads: read("/x/tmp/c", "something else"),
            ..gone()
        };
        judge(&p, SECRET, &[]).assert_holds();
    }

    #[test]
    fn outermost_keeps_only_tops() {
        let points = ["/.old", "/.old/proc", "/.old/sys/fs", "/x", "/.old"].map(String::from);
        assert_eq!(outermost(&points), ["/.old", "/x"]);
    }
}
