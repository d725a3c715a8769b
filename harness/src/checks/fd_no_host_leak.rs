//! `fd.no-host-leak`: nothing the container holds when it starts reaches outside its root file
//! system: not a descriptor, not its working directory, not its root. The agent lists its
//! descriptors before it opens anything, walks `..` up from every directory among them, from
//! its working directory and from its root, and tries the host's canary through each top
//! (`fds` try). The class of CVE-2024-21626, where runc left a descriptor of the host's
//! `/sys/fs/cgroup` open in the container.

use super::host_side::{self, Canary};
use super::walk_top::{reach, relative_to_root, ContainerRoot, Reach};
use super::{Check, Control, Ctx, Layer, ShownBy, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, DirWalk, FdsArgs, FdsOutcome};
use isoprobe_probes::AgentArgs;
use serde_json::{json, Map, Value};

pub struct NoHostLeak;

/// What every violation says.
const EVIDENCE: &str = "reaches outside the rootfs";

impl Check for NoHostLeak {
    fn id(&self) -> String {
        "fd.no-host-leak".into()
    }
    fn description(&self) -> String {
        "no descriptor the container holds at start, nor its working directory, nor its root, \
         reaches outside its rootfs: walked up by `..`, each tops out at the container's root, \
         and a host canary cannot be opened through any"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::LeakHostFd.shown_by(EVIDENCE)
    }
    fn layer(&self) -> Layer {
        Layer::Hardening
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let canary = Canary::create(ctx.scratch)?;
        let out = ctx.run(
            iso,
            AgentArgs::trying(FdsArgs {
                canary: relative_to_root(canary.path()),
            }),
        )?;
        let root = ContainerRoot::of_rootfs(ctx.rootfs);
        Ok(host_side::tried::<FdsOutcome>(&out)
            .map_or_else(|v| v, |o| judge(o, &root, canary.secret())))
    }
}

/// Holds when the root, the working directory and every directory descriptor top out at the
/// container's root and the canary opened through none of them.
fn judge(out: &FdsOutcome, rootfs: &ContainerRoot, secret: &str) -> Verdict {
    let root = rootfs.with_reported(out);
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut observed = Map::new();
    let mut sort = |what: String, walk: &Called<DirWalk>, key: String, observed: &mut Map<String, Value>| {
        let shown = match walk {
            Called::Failed(e) => {
                untested.push(format!("{what} could not be opened: {}", e.error));
                "not opened".to_string()
            }
            Called::Done(w) => match reach(w, &root, secret) {
                Reach::Inside => "inside".to_string(),
                Reach::Outside(why) => {
                    violations.push(format!("{what} {EVIDENCE}: {why}"));
                    "outside".to_string()
                }
                Reach::Unknown(why) => {
                    untested.push(format!("{what}: {why}"));
                    "not walked".to_string()
                }
            },
        };
        observed.insert(key, json!(shown));
    };
    sort("the root".into(), &out.root, "root".into(), &mut observed);
    sort(
        "the working directory".into(),
        &out.cwd,
        "cwd".into(),
        &mut observed,
    );
    match &out.fds {
        Called::Failed(e) => {
            untested.push(format!("the descriptors could not be listed: {}", e.error));
            observed.insert("fds".into(), json!("not listed"));
        }
        Called::Done(fds) => {
            let mut kinds = Map::new();
            for f in fds {
                let target = f.target.done().map_or("?", String::as_str);
                let what = format!("descriptor {} (`{target}`)", f.fd);
                let shown = match &f.dir {
                    Some(w) => {
                        let mut one = Map::new();
                        sort(what, &Called::Done(w.clone()), "d".into(), &mut one);
                        format!("directory, {}", one["d"].as_str().unwrap_or(""))
                    }
                    None => f.kind.clone(),
                };
                kinds.insert(f.fd.to_string(), Value::String(shown));
            }
            observed.insert("fds".into(), Value::Object(kinds));
        }
    }
    Verdict::judge(
        violations,
        untested,
        "the root, the working directory and every directory descriptor top out at the \
         container's root, and the host canary opened through none",
        json!({"root": "inside", "cwd": "inside", "fds": "none reaching outside"}),
        Value::Object(observed),
    )
}

#[cfg(test)]
mod tests {
    use super::super::walk_top::fixtures::*;
    use super::*;
    use isoprobe_probes::contract::{CallError, HeldFd};

    fn held(fd: i32, kind: &str, target: &str, dir: Option<DirWalk>) -> HeldFd {
        HeldFd {
            fd,
            target: Called::Done(target.into()),
            kind: kind.into(),
            dir,
        }
    }

    fn stdio() -> Vec<HeldFd> {
        (0..3)
            .map(|fd| held(fd, "pipe", &format!("pipe:[{}]", 100 + fd), None))
            .collect()
    }

    fn outcome(fds: Vec<HeldFd>) -> FdsOutcome {
        FdsOutcome {
            root: Called::Done(inside()),
            cwd: Called::Done(inside()),
            getcwd: Called::Done("/".into()),
            fds: Called::Done(fds),
        }
    }

    fn root() -> ContainerRoot {
        ContainerRoot::from_ids(&[ROOT])
    }

    #[test]
    fn holds_with_stdio_pipes_and_a_directory_inside() {
        let mut fds = stdio();
        fds.push(held(3, "directory", "/tmp", Some(inside())));
        let v = judge(&outcome(fds), &root(), SECRET);
        v.assert_holds();
        assert_eq!(v.observed["fds"]["0"], "pipe");
        assert_eq!(v.observed["fds"]["3"], "directory, inside");
    }

    #[test]
    fn the_container_s_own_root_counts_when_the_host_view_is_missing() {
        let v = judge(&outcome(stdio()), &ContainerRoot::from_ids(&[]), SECRET);
        v.assert_holds();
    }

    #[test]
    fn a_leaked_host_directory_is_a_violation() {
        let mut fds = stdio();
        fds.push(held(7, "directory", "/", Some(host())));
        let v = judge(&outcome(fds), &root(), SECRET);
        v.assert_violated("descriptor 7 (`/`) reaches outside the rootfs");
        assert!(v.reason.contains("canary was read"), "{}", v.reason);
        assert_eq!(v.observed["fds"]["7"], "directory, outside");
    }

    #[test]
    fn a_working_directory_or_root_outside_is_a_violation() {
        let cwd = FdsOutcome {
            cwd: Called::Done(walk(HOST, "/", None)),
            ..outcome(stdio())
        };
        judge(&cwd, &root(), SECRET)
            .assert_violated("the working directory reaches outside the rootfs");
        let through_root = FdsOutcome {
            root: Called::Done(walk(ROOT, "/", Some(SECRET))),
            ..outcome(stdio())
        };
        judge(&through_root, &root(), SECRET).assert_violated("the root reaches outside");
    }

    #[test]
    fn what_could_not_be_looked_at_is_untested() {
        let unlisted = FdsOutcome {
            fds: Called::Failed(CallError::from_errno(nix::errno::Errno::ENOENT)),
            ..outcome(stdio())
        };
        judge(&unlisted, &root(), SECRET).assert_inconclusive("could not be listed");
        let mut fds = stdio();
        fds.push(held(4, "directory", "/x", Some(failed())));
        judge(&outcome(fds), &root(), SECRET).assert_inconclusive("descriptor 4");
        let no_cwd = FdsOutcome {
            cwd: Called::Failed(CallError::from_errno(nix::errno::Errno::ENOENT)),
            ..outcome(stdio())
        };
        judge(&no_cwd, &root(), SECRET).assert_inconclusive("working directory could not");
    }
}
