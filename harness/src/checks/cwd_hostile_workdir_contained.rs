//! `cwd.hostile-workdir-contained`: a hostile image's working directory cannot put the
//! container's process outside its root. The runtime is given `process.cwd` values that point
//! through `/proc/self/fd/N` (N from 3 to 20: the runtime's own descriptors while it sets the
//! container up, the way CVE-2024-21626 reached runc's descriptor of the host's
//! `/sys/fs/cgroup`), through `..` beyond the root, and through a symlink in the rootfs to an
//! absolute host path. Each start must be refused by the runtime, or leave the process's working
//! directory inside the container's root: the agent walks `..` up from it and tries the host's
//! canary through the top (`fds` try), and reports the kernel's `getcwd`.
//!
//! The symlink is put in a fresh rootfs of the check's own, in the scratch directory, never in
//! the rootfs the run was given (a user's); a runtime may create the working directory in it.

use super::host_side::{setup, Canary};
use super::hostile_start;
use super::walk_top::{reach, relative_to_root, ContainerRoot, Reach};
use super::{Check, Control, Ctx, Layer, ShownBy, Verdict};
use crate::rootfs::FreshRootfs;
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, FdsArgs, FdsOutcome};
use isoprobe_probes::AgentArgs;
use serde_json::{json, Map, Value};

pub struct HostileWorkdirContained;

/// What every violation says.
const EVIDENCE: &str = "working directory outside the root";
/// The symlink in the check's rootfs that points at a host directory.
const HOST_LINK: &str = "/hostlink";
/// The descriptors a runtime may hold while it enters the working directory.
const PROC_FDS: std::ops::RangeInclusive<u32> = 3..=20;

/// Every working directory tried, in order.
fn hostile_cwds() -> Vec<String> {
    let mut v: Vec<String> = PROC_FDS.map(|n| format!("/proc/self/fd/{n}")).collect();
    v.extend(["/../../..", "../../../tmp", HOST_LINK].map(String::from));
    v
}

impl Check for HostileWorkdirContained {
    fn id(&self) -> String {
        "cwd.hostile-workdir-contained".into()
    }
    fn description(&self) -> String {
        "a hostile working directory (/proc/self/fd/3 to 20, `..` beyond the root, a symlink to \
         a host path) is refused by the runtime or leaves the process inside the container's \
         root: walked up by `..` its working directory tops out there, and a host canary \
         cannot be opened through it"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::CwdResolvedOnHost.shown_by(EVIDENCE)
    }
    fn layer(&self) -> Layer {
        Layer::HostileInput
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let canary = Canary::create(ctx.scratch)?;
        let agent_path = ctx.rootfs.join(ctx.agent.trim_start_matches('/'));
        let rootfs = FreshRootfs::build_from(&agent_path, Some(ctx.scratch))
            .map_err(|e| setup("build the check's rootfs", ctx.scratch, e))?;
        let target = tempfile::Builder::new()
            .prefix("isoprobe-workdir-")
            .tempdir_in(ctx.scratch)
            .map_err(|e| setup("create the link's host directory", ctx.scratch, e))?;
        let link = rootfs.path().join(&HOST_LINK[1..]);
        std::os::unix::fs::symlink(target.path(), &link)
            .map_err(|e| setup("create the symlink", &link, e))?;
        let own = ctx.on_own_rootfs(rootfs.path());
        let args = || {
            AgentArgs::trying(FdsArgs {
                canary: relative_to_root(canary.path()),
            })
        };
        // A runtime that starts nothing would "refuse" every hostile directory: it must start
        // the plain one.
        own.run(iso, args())?;
        let mut starts = Vec::new();
        for cwd in hostile_cwds() {
            let asked = Isolation {
                cwd: Some(cwd.clone()),
                ..iso.clone()
            };
            let end = End::of::<FdsOutcome>(own.run(&asked, args()), |o| Box::new(o.clone()))?;
            starts.push(Start { cwd, end });
        }
        let root = ContainerRoot::of_rootfs(rootfs.path());
        Ok(judge(&starts, &root, canary.secret()))
    }
}

/// One start with a hostile working directory.
#[derive(Debug, Clone)]
struct Start {
    cwd: String,
    end: End,
}

type End = hostile_start::End<Box<FdsOutcome>>;

/// Holds when every start was refused or left the working directory inside the root.
fn judge(starts: &[Start], rootfs: &ContainerRoot, secret: &str) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let mut observed = Map::new();
    let mut refusals = 0;
    for s in starts {
        let cwd = &s.cwd;
        let shown = match &s.end {
            End::Refused(why) => {
                refusals += 1;
                format!("refused: {why}")
            }
            End::NotTried(why) => {
                untested.push(format!("`{cwd}`: {why}"));
                "not tried".to_string()
            }
            End::Ran(o) => {
                let getcwd = o.getcwd.done().cloned().unwrap_or_default();
                let mut outside = Vec::new();
                match &o.cwd {
                    Called::Failed(e) => untested.push(format!(
                        "`{cwd}`: the agent could not open its working directory: {}",
                        e.error
                    )),
                    Called::Done(w) => match reach(w, &rootfs.with_reported(o), secret) {
                        Reach::Inside => {}
                        Reach::Outside(why) => outside.push(why),
                        Reach::Unknown(why) => untested.push(format!("`{cwd}`: {why}")),
                    },
                }
                if getcwd.starts_with("(unreachable)") {
                    outside.push(format!("the kernel's getcwd says `{getcwd}`"));
                }
                if outside.is_empty() {
                    format!("inside: {getcwd}")
                } else {
                    violations.push(format!("`{cwd}`: {EVIDENCE}: {}", outside.join("; ")));
                    format!("outside: {getcwd}")
                }
            }
        };
        observed.insert(cwd.clone(), Value::String(shown));
    }
    if starts.is_empty() {
        untested.push("no hostile working directory was tried".into());
    }
    Verdict::judge(
        violations,
        untested,
        &format!(
            "of {} hostile working directories, {refusals} were refused and the others stayed \
             inside the root",
            starts.len()
        ),
        json!({"each start": "refused, or its working directory inside the root"}),
        Value::Object(observed),
    )
}

#[cfg(test)]
mod tests {
    use super::super::walk_top::fixtures::*;
    use super::*;
    use isoprobe_probes::contract::{CallError, DirWalk};

    fn ran(cwd: DirWalk, getcwd: &str) -> End {
        End::Ran(Box::new(FdsOutcome {
            root: Called::Done(inside()),
            cwd: Called::Done(cwd),
            getcwd: Called::Done(getcwd.into()),
            fds: Called::Done(Vec::new()),
        }))
    }

    fn start(cwd: &str, end: End) -> Start {
        Start {
            cwd: cwd.into(),
            end,
        }
    }

    fn root() -> ContainerRoot {
        ContainerRoot::from_ids(&[ROOT])
    }

    #[test]
    fn the_sweep_covers_every_descriptor_dotdot_and_the_link() {
        let cwds = hostile_cwds();
        assert_eq!(cwds.len(), 21);
        assert_eq!(cwds[0], "/proc/self/fd/3");
        assert_eq!(cwds[17], "/proc/self/fd/20");
        assert!(cwds.contains(&"/../../..".to_string()) && cwds.contains(&HOST_LINK.into()));
    }

    #[test]
    fn refusals_and_directories_inside_hold() {
        let v = judge(
            &[
                start("/proc/self/fd/7", End::Refused("chdir: ENOTDIR".into())),
                start("/../../..", ran(inside(), "/")),
            ],
            &root(),
            SECRET,
        );
        v.assert_holds();
        assert!(v.reason.contains("of 2 hostile working directories, 1 were refused"));
        assert_eq!(v.observed["/proc/self/fd/7"], "refused: chdir: ENOTDIR");
        assert_eq!(v.observed["/../../.."], "inside: /");
    }

    #[test]
    fn a_working_directory_on_the_host_is_a_violation() {
        let v = judge(
            &[
                start("/proc/self/fd/7", End::Refused("x".into())),
                start("/hostlink", ran(host(), "(unreachable)/tmp/s")),
            ],
            &root(),
            SECRET,
        );
        v.assert_violated("`/hostlink`: working directory outside the root");
        assert!(v.reason.contains("canary was read") && v.reason.contains("(unreachable)"));
        // The kernel's word alone is enough.
        judge(
            &[start("/x", ran(inside(), "(unreachable)/"))],
            &root(),
            SECRET,
        )
        .assert_violated(EVIDENCE);
    }

    #[test]
    fn what_could_not_be_looked_at_is_untested() {
        let unopened = End::Ran(Box::new(FdsOutcome {
            root: Called::Done(inside()),
            cwd: Called::Failed(CallError::from_errno(nix::errno::Errno::ENOENT)),
            getcwd: Called::Done("/".into()),
            fds: Called::Done(Vec::new()),
        }));
        for (end, needle) in [
            (unopened, "could not open its working directory"),
            (ran(failed(), "/"), "walk failed"),
            (End::NotTried("no fds result".into()), "no fds result"),
        ] {
            judge(&[start("/x", end)], &root(), SECRET).assert_inconclusive(needle);
        }
        judge(&[], &root(), SECRET).assert_inconclusive("no hostile");
    }
}
