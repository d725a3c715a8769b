//! `image.proc-symlink`: an image whose `/proc` is a symlink (to a directory inside the image)
//! cannot make the runtime mount proc somewhere its masks and read-only paths do not cover.
//! A runtime that mounts proc through the link puts it at the link's target, and the masks and
//! read-only binds it then makes at `/proc/...` land elsewhere (or, resolved before the root
//! changes, on the host's paths). The start must be refused, or show inside: `/proc` a
//! directory with proc mounted on it, no proc mount outside `/proc`, every masked path with
//! content on the host empty inside, every read-only path on a read-only mount.
//!
//! The hostile rootfs is a fresh one of the check's own in the scratch directory, and a plain
//! fresh rootfs is started first: a runtime that starts nothing "refuses" nothing.

use super::hostile_start;
use super::host_side::setup;
use super::proc_sensitive_masked::masked_under_proc as masked;
use crate::vocabulary::READONLY_PATHS as READONLY;
use super::{Check, Control, Ctx, Layer, ShownBy, Verdict};
use crate::rootfs::FreshRootfs;
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::agent::tries::look;
use isoprobe_probes::contract::{Called, NodeSeen, PathSeen, ProcLinkArgs, ProcLinkOutcome, Seen};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::{json, Map, Value};
use std::path::Path;

pub struct ProcSymlink;

/// What every violation says.
const EVIDENCE: &str = "the image's /proc link";
/// Where the image's `/proc` points: a directory of the image. A name no host has, as a
/// runtime that resolves the link before its root changes looks it up on the host.
pub const LINK_TARGET: &str = "/.isoprobe-image-proc";

impl Check for ProcSymlink {
    fn id(&self) -> String {
        "image.proc-symlink".into()
    }
    fn description(&self) -> String {
        format!(
            "an image whose /proc is a symlink (to {LINK_TARGET} in the image) is refused by \
             the runtime or gets proc mounted at its real /proc, with the masked and \
             read-only paths in force there and no proc mount elsewhere"
        )
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            masked_paths: masked(),
            readonly_paths: READONLY.map(String::from).to_vec(),
            ..Isolation::base().with_ns(NsType::Net)
        }
    }
    fn control(&self) -> Control {
        Sabotage::ProcThroughImageLink.shown_by(EVIDENCE)
    }
    fn layer(&self) -> Layer {
        Layer::HostileInput
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        // This thread is in the stand-in host: its /proc is the machine's kernel's.
        let host: Vec<PathSeen> = masked()
            .into_iter()
            .map(|p| PathSeen {
                seen: look(Path::new(&p)),
                path: p,
            })
            .collect();
        let agent_path = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let plain = start(ctx, iso, &agent_path, false)?;
        let hostile = start(ctx, iso, &agent_path, true)?;
        Ok(judge(&host, &plain, &hostile))
    }
}

type End = hostile_start::End<Box<ProcLinkOutcome>>;

fn start(ctx: &Ctx, iso: &Isolation, agent: &Path, hostile: bool) -> Result<End, RunError> {
    let rootfs = FreshRootfs::build_from(agent, Some(ctx.scratch))
        .map_err(|e| setup("build the check's rootfs", ctx.scratch, e))?;
    if hostile {
        let target = rootfs.path().join(&LINK_TARGET[1..]);
        std::fs::create_dir(&target).map_err(|e| setup("create the link's target", &target, e))?;
        let proc = rootfs.path().join("proc");
        std::fs::remove_dir(&proc).map_err(|e| setup("remove the rootfs's /proc", &proc, e))?;
        std::os::unix::fs::symlink(LINK_TARGET, &proc)
            .map_err(|e| setup("create the hostile /proc", &proc, e))?;
    }
    let own = ctx.on_own_rootfs(rootfs.path());
    let args = AgentArgs::trying(ProcLinkArgs {
        masked: masked(),
        readonly: READONLY.map(String::from).to_vec(),
    });
    End::of::<ProcLinkOutcome>(own.run(iso, args), |o| Box::new(o.clone()))
}

fn describe(n: &NodeSeen) -> String {
    match &n.target {
        Some(t) => format!("{} -> {t}", n.kind),
        None => n.kind.clone(),
    }
}

fn sized(seen: &Called<Seen>) -> String {
    match seen {
        Called::Done(Seen::File { bytes }) => format!("file, {bytes} bytes read"),
        Called::Done(Seen::Dir { entries }) => format!("directory, {entries} entries"),
        Called::Failed(e) => e.errno.clone().unwrap_or_else(|| e.error.clone()),
    }
}

/// Holds when the hostile start was refused, or ran with proc at the real `/proc` and the
/// masks and read-only paths in force there. Masked paths without content on the host are
/// recorded only; read-only paths this kernel lacks too.
fn judge(host: &[PathSeen], plain: &End, hostile: &End) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut observed = Map::new();
    plain.plain(&mut untested);
    let holds = match hostile.hostile(&mut observed, &mut untested) {
        Err(holds) => holds,
        Ok(o) => {
            match &o.proc {
                Called::Done(n) if n.kind == "dir" => {}
                Called::Done(n) => violations.push(format!(
                    "`/proc` inside is {}, not a directory: {EVIDENCE} was kept",
                    describe(n)
                )),
                Called::Failed(e) => {
                    untested.push(format!("`/proc` could not be looked at: {}", e.error))
                }
            }
            observed.insert(
                "/proc".into(),
                Value::String(match &o.proc {
                    Called::Done(n) => describe(n),
                    Called::Failed(e) => e.error.clone(),
                }),
            );
            match &o.proc_mounts {
                Called::Done(points) => {
                    let outside: Vec<&String> = points
                        .iter()
                        .filter(|p| *p != "/proc" && !p.starts_with("/proc/"))
                        .collect();
                    for p in &outside {
                        violations.push(format!(
                            "proc is mounted at `{p}`, outside /proc: {EVIDENCE} was followed"
                        ));
                    }
                    if outside.is_empty() && !points.iter().any(|p| p == "/proc") {
                        untested.push("no proc is mounted at `/proc`".into());
                    }
                    observed.insert("proc mounts".into(), json!(points));
                }
                Called::Failed(e) => {
                    untested.push(format!("the proc mounts were not seen: {}", e.error))
                }
            }
            let mut counted = 0;
            for h in host {
                let p = &h.path;
                let on_host = matches!(&h.seen, Called::Done(s) if s.has_content());
                let Some(inside) = o.masked.iter().find(|s| &s.path == p) else {
                    untested.push(format!("the agent did not report `{p}`"));
                    continue;
                };
                if !on_host {
                    observed.insert(p.clone(), Value::String("nothing on the host: not counted".into()));
                    continue;
                }
                counted += 1;
                match &inside.seen {
                    Called::Done(s) if s.has_content() => violations.push(format!(
                        "`{p}` shows content inside ({}): its mask is not in force with \
                         {EVIDENCE}",
                        sized(&inside.seen)
                    )),
                    Called::Done(_) => {}
                    Called::Failed(e) if e.errno_is("EACCES") || e.errno_is("EPERM") => {}
                    Called::Failed(_) => untested.push(format!(
                        "`{p}` has content on the host but gave {} inside",
                        sized(&inside.seen)
                    )),
                }
                observed.insert(p.clone(), Value::String(sized(&inside.seen)));
            }
            if counted == 0 {
                untested.push("none of the masked paths shows content on the host".into());
            }
            for r in &o.readonly {
                let p = &r.path;
                let shown = match &r.cover {
                    Called::Done(Some(c)) if c.read_only => format!("read-only ({})", c.mount_point),
                    Called::Done(Some(c)) => {
                        violations.push(format!(
                            "`{p}` is on the writable mount `{}`: its read-only bind is not in \
                             force with {EVIDENCE}",
                            c.mount_point
                        ));
                        format!("writable ({})", c.mount_point)
                    }
                    Called::Done(None) => {
                        untested.push(format!("no mount covers `{p}`"));
                        "no mount".into()
                    }
                    Called::Failed(e) if e.errno_is("ENOENT") => {
                        "absent on this kernel: not counted".into()
                    }
                    Called::Failed(e) => {
                        untested.push(format!("`{p}` was not looked at: {}", e.error));
                        e.error.clone()
                    }
                };
                observed.insert(p.clone(), Value::String(shown));
            }
            "proc is mounted at the real /proc with the masked and read-only paths in force \
             there"
                .to_string()
        }
    };
    Verdict::judge(
        violations,
        untested,
        &holds,
        json!({"the hostile start": "refused, or proc at the real /proc with its masks and \
               read-only paths, and nowhere else"}),
        Value::Object(observed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, CoverSeen, MountCover};
    use nix::errno::Errno;

    fn seen(path: &str, s: Called<Seen>) -> PathSeen {
        PathSeen {
            path: path.into(),
            seen: s,
        }
    }

    fn file(bytes: u64) -> Called<Seen> {
        Called::Done(Seen::File { bytes })
    }

    fn host() -> Vec<PathSeen> {
        vec![
            seen("/proc/keys", file(64)),
            seen("/proc/kcore", Called::Failed(CallError::from_errno(Errno::ENOENT))),
        ]
    }

    fn cover(path: &str, point: &str, read_only: bool) -> CoverSeen {
        CoverSeen {
            path: path.into(),
            cover: Called::Done(Some(MountCover {
                mount_point: point.into(),
                read_only,
            })),
        }
    }

    fn node(kind: &str, target: Option<&str>) -> Called<NodeSeen> {
        Called::Done(NodeSeen {
            kind: kind.into(),
            number: None,
            target: target.map(String::from),
            fs_magic: 0,
        })
    }

    /// What an honest runtime with a real /proc shows.
    fn clean() -> ProcLinkOutcome {
        ProcLinkOutcome {
            proc: node("dir", None),
            proc_mounts: Called::Done(vec!["/proc".into(), "/proc/sys".into()]),
            masked: vec![
                seen("/proc/keys", file(0)),
                seen("/proc/kcore", Called::Failed(CallError::from_errno(Errno::ENOENT))),
            ],
            readonly: vec![
                cover("/proc/sys", "/proc/sys", true),
                CoverSeen {
                    path: "/proc/bus".into(),
                    cover: Called::Failed(CallError::from_errno(Errno::ENOENT).at("stat")),
                },
            ],
        }
    }

    /// What native's control showed.
    fn followed() -> ProcLinkOutcome {
        ProcLinkOutcome {
            proc: node("link", Some(LINK_TARGET)),
            proc_mounts: Called::Done(vec![LINK_TARGET.into()]),
            masked: vec![
                seen("/proc/keys", file(64)),
                seen("/proc/kcore", Called::Failed(CallError::from_errno(Errno::ENOENT))),
            ],
            readonly: vec![cover("/proc/sys", "/", false)],
        }
    }

    fn ran(o: ProcLinkOutcome) -> End {
        End::Ran(Box::new(o))
    }

    #[test]
    fn a_refusal_or_proc_at_the_real_proc_holds() {
        let v = judge(&host(), &ran(clean()), &End::Refused("not a directory".into()));
        v.assert_holds();
        assert_eq!(v.reason, "refused: not a directory");
        let v = judge(&host(), &ran(clean()), &ran(clean()));
        v.assert_holds();
        assert_eq!(v.observed["/proc/bus"], "absent on this kernel: not counted");
        assert_eq!(v.observed["/proc/kcore"], "nothing on the host: not counted");
    }

    #[test]
    fn proc_through_the_link_is_a_violation_on_every_count() {
        let v = judge(&host(), &ran(clean()), &ran(followed()));
        v.assert_violated("`/proc` inside is link -> /.isoprobe-image-proc");
        v.assert_violated("proc is mounted at `/.isoprobe-image-proc`");
        v.assert_violated("`/proc/keys` shows content inside (file, 64 bytes read)");
        v.assert_violated("`/proc/sys` is on the writable mount `/`");
        for part in v.reason.split("; ") {
            assert!(part.contains(EVIDENCE), "{part}");
        }
        // A real /proc with a mask missing is enough on its own.
        let mut o = clean();
        o.masked[0] = seen("/proc/keys", file(64));
        judge(&host(), &ran(clean()), &ran(o)).assert_violated(EVIDENCE);
    }

    #[test]
    fn what_could_not_be_seen_is_untested() {
        let refused = End::Refused("x".into());
        judge(&host(), &refused, &refused).assert_inconclusive("refused a plain start too");
        let mut o = clean();
        o.proc_mounts = Called::Done(Vec::new());
        judge(&host(), &ran(clean()), &ran(o)).assert_inconclusive("no proc is mounted");
        let mut o = clean();
        o.masked.clear();
        judge(&host(), &ran(clean()), &ran(o)).assert_inconclusive("did not report `/proc/keys`");
        let empty_host = vec![seen("/proc/keys", file(0))];
        judge(&empty_host, &ran(clean()), &ran(clean()))
            .assert_inconclusive("none of the masked paths shows content");
    }
}
