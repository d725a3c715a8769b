//! `cgroup.release-agent-protected`: root with CAP_SYS_ADMIN in a user namespace of its own
//! (with its own cgroup and mount namespaces) can mount a cgroup v1 hierarchy, but cannot write
//! its `release_agent`, the program the host's root runs when a cgroup of it empties
//! (CVE-2022-0492; fixed in 5.17 and the stable kernels, e.g. 5.10.103, by demanding
//! CAP_SYS_ADMIN in the initial user namespace).
//!
//! The machine's hierarchies are never touched. The host side (the stand-in host, in the
//! initial user and cgroup namespaces) makes a named hierarchy of its own,
//! `none,name=isoprobe-<token>`, with no controller and no child cgroup, so its release agent
//! can never run; the container, whose cgroup namespace cannot create hierarchies, mounts that
//! one and writes back exactly the value it read. The host reads the value before and after.
//!
//! The user namespace maps root to the host's root, as a root container that unshares one
//! itself has it (the CVE's path): with an unprivileged mapping the file's owner, host root, is
//! not mapped and its permissions refuse the open before the kernel's own check is reached.

use super::host_side;
use super::{Check, Control, Ctx, Layer, Requirement, ShownBy, Verdict};
use crate::record::{self, Item};
use crate::runtime::RunError;
use crate::vocabulary::{IdMap, Isolation, Sabotage};
use isoprobe_probes::contract::{Called, ReleaseAgentArgs, ReleaseAgentOutcome};
use isoprobe_probes::{AgentArgs, NsType};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde_json::json;
use std::path::{Path, PathBuf};

pub struct ReleaseAgentProtected;

/// Where the agent mounts the hierarchy: every rootfs isoprobe builds has it.
const INSIDE: &str = "/tmp";
/// The release agent the host sets on its hierarchy, so that what the container reads and
/// writes back is recognisably ours. It never runs: the hierarchy has no child cgroup to
/// empty (and no such file exists).
const AGENT: &str = "/isoprobe-release-agent-never-runs";

impl Check for ReleaseAgentProtected {
    fn id(&self) -> String {
        "cgroup.release-agent-protected".into()
    }
    fn description(&self) -> String {
        "root with CAP_SYS_ADMIN in its own user namespace mounts a cgroup v1 hierarchy (one \
         isoprobe made) but cannot write its release_agent, which host root would run \
         (CVE-2022-0492)"
            .into()
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            id_map: IdMap::HOST_ROOT,
            ..Isolation::base()
                .with_ns(NsType::User)
                .with_ns(NsType::Cgroup)
        }
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::User).shown_by("release_agent writable")
    }
    fn layer(&self) -> Layer {
        Layer::Hardening
    }
    fn requirements(&self) -> Vec<Requirement> {
        let mut r = Requirement::implied(&self.isolation(), self.sabotage());
        r.push(Requirement::Filesystem("cgroup"));
        r.push(Requirement::NamedCgroupV1);
        r
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let hierarchy = OwnHierarchy::mount(ctx.scratch)?;
        let before = hierarchy.release_agent()?;
        if before.trim_end() != AGENT {
            return Ok(Verdict::inconclusive(format!(
                "the host could not set its own hierarchy's release_agent: it reads `{}`",
                before.trim_end()
            )));
        }
        let out = ctx.run(
            iso,
            AgentArgs::trying(ReleaseAgentArgs {
                hierarchy: hierarchy.name.clone(),
                dir: INSIDE.into(),
            }),
        )?;
        let after = hierarchy.release_agent()?;
        drop(hierarchy);
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(p, &before, &after)))
    }
}

/// A named cgroup v1 hierarchy with no controller, mounted in the stand-in host's mount
/// namespace: recorded before it is mounted, unmounted on drop. With no child cgroup it
/// disappears with its last mount.
struct OwnHierarchy {
    name: String,
    file: PathBuf,
    dir: Option<tempfile::TempDir>,
    noted: Option<record::Noted>,
}

impl OwnHierarchy {
    fn mount(scratch: &Path) -> Result<OwnHierarchy, RunError> {
        let dir = tempfile::Builder::new()
            .prefix("isoprobe-cgroup-v1-")
            .tempdir_in(scratch)
            .map_err(|e| host_side::setup("create the hierarchy's mount point", scratch, e))?;
        let path = dir.path().to_path_buf();
        let name = format!("isoprobe-{}", host_side::token());
        let mut own = OwnHierarchy {
            name,
            file: path.join("release_agent"),
            dir: Some(dir),
            noted: Some(record::note(Item::Mount { path: path.clone() })),
        };
        mount(
            Some("cgroup"),
            &path,
            Some("cgroup"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(format!("none,name={}", own.name).as_str()),
        )
        .map_err(|e| {
            if let Some(n) = own.noted.take() {
                n.done();
            }
            host_side::setup(
                "mount a named cgroup v1 hierarchy",
                &path,
                std::io::Error::from(e),
            )
        })?;
        std::fs::write(&own.file, AGENT).map_err(|e| {
            host_side::setup("set the hierarchy's release_agent", &own.file, e)
        })?;
        Ok(own)
    }

    fn release_agent(&self) -> Result<String, RunError> {
        std::fs::read_to_string(&self.file)
            .map_err(|e| host_side::setup("read the hierarchy's release_agent", &self.file, e))
    }
}

impl Drop for OwnHierarchy {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        if let Some(n) = self.noted.take() {
            let gone = umount2(dir.path(), MntFlags::empty())
                .or_else(|_| umount2(dir.path(), MntFlags::MNT_DETACH))
                .is_ok();
            if gone {
                n.done();
            }
        }
        drop(dir);
    }
}

/// How the container's attempt ended when it did not write the file.
fn protection(p: &ReleaseAgentOutcome) -> Result<&'static str, String> {
    match (&p.mount, &p.read, &p.write_back) {
        (Called::Failed(e), _, _) if e.errno_is("EPERM") => match p.cap_sys_admin {
            Some(true) => Ok("the kernel refused to mount the hierarchy (EPERM) although the \
                              container holds CAP_SYS_ADMIN in its namespace"),
            Some(false) => Err("the container has no CAP_SYS_ADMIN in its user namespace: the \
                                mount was refused (EPERM) and release_agent never reached"
                .into()),
            None => Err("the mount was refused (EPERM) and the container's capabilities are \
                         unknown (/proc/self/status unreadable)"
                .into()),
        },
        (Called::Failed(e), _, _) => Err(format!(
            "mounting the hierarchy failed for another reason: {}",
            host_side::shown(e)
        )),
        (_, Some(Called::Failed(e)), _) => Err(format!(
            "the mounted hierarchy's release_agent was not readable: {}",
            host_side::shown(e)
        )),
        (_, _, Some(Called::Failed(e))) if e.step.as_deref() == Some("write") => {
            if e.errno_is("EPERM") {
                Ok("the kernel refused the write (EPERM): CAP_SYS_ADMIN in the initial user \
                    namespace is required (the CVE-2022-0492 fix)")
            } else {
                Err(format!("the write failed for another reason: {}", errno_of(e)))
            }
        }
        (_, _, Some(Called::Failed(e))) if e.errno_is("EACCES") || e.errno_is("EPERM") => {
            Ok("the open for writing was refused by the file's permissions, before the \
                kernel's release_agent check")
        }
        (_, _, Some(Called::Failed(e))) => Err(format!(
            "opening release_agent for writing failed for another reason: {}",
            errno_of(e)
        )),
        (_, _, _) => Err("the agent mounted the hierarchy but reported no write-back".into()),
    }
}

fn errno_of(e: &isoprobe_probes::contract::CallError) -> String {
    e.errno.clone().unwrap_or_else(|| e.error.clone())
}

/// `before` and `after`: the hierarchy's release_agent as the host read it around the run.
fn judge(p: &ReleaseAgentOutcome, before: &str, after: &str) -> Verdict {
    let mut violations = Vec::new();
    let mut untested = Vec::new();
    let mut protected_by = None;
    if let Some(Called::Done(_)) = p.write_back {
        violations.push(format!(
            "release_agent writable from the container: it wrote `{}` back (the program \
             host root runs when a cgroup of the hierarchy empties)",
            before.trim_end()
        ));
    } else {
        match protection(p) {
            Ok(how) => protected_by = Some(how),
            Err(why) => untested.push(why),
        }
    }
    if after != before {
        violations.push(format!(
            "the hierarchy's release_agent changed during the run: `{}` became `{}`",
            before.trim_end(),
            after.trim_end()
        ));
    }
    if let Some(Called::Done(seen)) = &p.read {
        if seen != before {
            untested.push(format!(
                "the container's hierarchy is not the host's: it read `{}`, the host `{}`",
                seen.trim_end(),
                before.trim_end()
            ));
        }
    }
    Verdict::judge(
        violations,
        untested,
        &format!(
            "release_agent stayed out of reach: {}",
            protected_by.unwrap_or_default()
        ),
        json!({"write_back": "EPERM", "release_agent_unchanged": true}),
        json!({
            "cap_sys_admin": p.cap_sys_admin,
            "mount": p.mount,
            "write_back": p.write_back,
            "protected_by": protected_by,
            "release_agent_unchanged": after == before,
            "umount": p.umount,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, Done};
    use nix::errno::Errno;

    const VALUE: &str = "/isoprobe-release-agent-never-runs\n";

    fn failed<T>(e: Errno, step: Option<&str>) -> Called<T> {
        let e = CallError::from_errno(e);
        Called::Failed(match step {
            Some(s) => e.at(s),
            None => e,
        })
    }

    /// What a fixed kernel shows: mounted, read, the write refused with EPERM.
    fn fixed() -> ReleaseAgentOutcome {
        ReleaseAgentOutcome {
            cap_sys_admin: Some(true),
            mount: Called::Done(Done::Ok),
            read: Some(Called::Done(VALUE.into())),
            write_back: Some(failed(Errno::EPERM, Some("write"))),
            read_after: Some(Called::Done(VALUE.into())),
            umount: Some(Called::Done(Done::Ok)),
        }
    }

    fn not_mounted(e: Errno, cap: Option<bool>) -> ReleaseAgentOutcome {
        ReleaseAgentOutcome {
            cap_sys_admin: cap,
            mount: failed(e, None),
            read: None,
            write_back: None,
            read_after: None,
            umount: None,
        }
    }

    #[test]
    fn the_kernels_refusal_of_the_write_holds_and_says_so() {
        let v = judge(&fixed(), VALUE, VALUE);
        v.assert_holds();
        assert!(v.reason.contains("CVE-2022-0492 fix"), "{}", v.reason);
        assert_eq!(v.observed["release_agent_unchanged"], true);
    }

    #[test]
    fn other_refusals_hold_and_name_which() {
        let open_refused = ReleaseAgentOutcome {
            write_back: Some(failed(Errno::EACCES, Some("open"))),
            ..fixed()
        };
        let v = judge(&open_refused, VALUE, VALUE);
        v.assert_holds();
        assert!(v.reason.contains("file's permissions"), "{}", v.reason);
        let v = judge(&not_mounted(Errno::EPERM, Some(true)), VALUE, VALUE);
        v.assert_holds();
        assert!(v.reason.contains("refused to mount"), "{}", v.reason);
    }

    #[test]
    fn a_write_that_worked_is_the_violation() {
        let written = ReleaseAgentOutcome {
            write_back: Some(Called::Done(Done::Ok)),
            ..fixed()
        };
        judge(&written, VALUE, VALUE).assert_violated("release_agent writable");
        // A value that changed is shown too, even if the agent's write was refused.
        judge(&fixed(), VALUE, "/x\n").assert_violated("became `/x`");
    }

    #[test]
    fn what_never_reached_the_write_is_inconclusive() {
        let unreadable = ReleaseAgentOutcome {
            read: Some(failed(Errno::EACCES, None)),
            write_back: None,
            read_after: None,
            ..fixed()
        };
        let other_write = ReleaseAgentOutcome {
            write_back: Some(failed(Errno::EINVAL, Some("write"))),
            ..fixed()
        };
        let other_host = ReleaseAgentOutcome {
            read: Some(Called::Done("/y\n".into())),
            ..fixed()
        };
        for (p, needle) in [
            (not_mounted(Errno::EPERM, Some(false)), "no CAP_SYS_ADMIN"),
            (not_mounted(Errno::EPERM, None), "capabilities are unknown"),
            (not_mounted(Errno::ENOENT, Some(true)), "ENOENT"),
            (unreadable, "not readable"),
            (other_write, "write failed for another reason: EINVAL"),
            (other_host, "not the host's"),
        ] {
            judge(&p, VALUE, VALUE).assert_inconclusive(needle);
        }
    }

    /// The machine's cgroup v1 hierarchies as they stand: each one's `release_agent` (only a
    /// hierarchy's root has one) and the hierarchies this process is in.
    fn machine_hierarchies() -> (Vec<(String, String)>, String) {
        let mut agents: Vec<(String, String)> = std::fs::read_dir("/sys/fs/cgroup")
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let f = e.path().join("release_agent");
                        let v = std::fs::read_to_string(&f).ok()?;
                        Some((f.display().to_string(), v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        agents.sort();
        let member = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        (agents, member)
    }

    #[test]
    #[serial_test::serial(machine)]
    fn the_check_and_its_control_leave_every_hierarchy_as_it_was() {
        crate::require_root!("the_check_and_its_control_leave_every_hierarchy_as_it_was");
        use crate::engine::{run_checks, RunOptions};
        use crate::report::{ControlStatus, Status};
        let before = machine_hierarchies();
        let rootfs = crate::rootfs::PreparedRootfs::fresh(crate::agent_binary::AGENT).unwrap();
        let checks = crate::checks::select(&["cgroup.release-agent-protected".into()]).unwrap();
        let opts = RunOptions {
            negative_controls: true,
            ..RunOptions::default()
        };
        let report = run_checks(&crate::runtime::NativeRuntime::PIVOT, &checks, &rootfs, &opts)
            .unwrap();
        let c = &report.checks[0];
        let control = c.negative_control.as_ref().unwrap();
        assert_eq!(c.status, Status::Pass, "{}", c.reason);
        assert_eq!(control.status, ControlStatus::Detected, "{}", control.reason);
        // The control wrote the hierarchy's release_agent: with the value it held.
        assert_eq!(c.observed["release_agent_unchanged"], true);
        assert_eq!(control.observed["release_agent_unchanged"], true);
        // The check's own hierarchy goes with its last mount; the kernel frees it after an
        // RCU grace period, so give it a moment.
        let mut after = machine_hierarchies();
        for _ in 0..100 {
            if after == before {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            after = machine_hierarchies();
        }
        assert_eq!(after, before);
        assert!(!after.1.contains("name=isoprobe-"), "{}", after.1);
    }
}
