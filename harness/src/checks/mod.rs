//! The checks. Each one states a property, what it needs from the machine, the isolation it
//! asks for, how it judges what the agent saw, and the sabotage that must make it fail.
//!
//! To add a check: write a module with a type implementing [`Check`], and list it in [`all`].
//! Its id is interface (reports, snapshots and users' scripts name it): never rename one. A
//! module's name is its check's id with `.` and `-` turned into `_`; the family of `ns.<type>`
//! checks lives in `ns_distinct.rs`.

mod caps_bounding_dropped;
mod cgroup_cpu_throttled;
mod cgroup_ns_root;
mod host_side;
mod ipc_sysv_isolated;
mod memory_limit_enforced;
mod mnt_no_propagation;
mod net_only_loopback;
mod nnp_no_new_privs;
mod ns_distinct;
mod pid_init_is_1;
mod pids_limit_enforced;
mod proc_host_invisible;
mod requirement;
mod root_chroot_escape_blocked;
mod root_old_root_gone;
mod sysctl_net_isolated;
mod time_offsets_isolated;
mod user_root_is_unprivileged;
mod uts_hostname_independent;

pub use requirement::Requirement;

use crate::runtime::{Job, RunError, RunOutcome, Runtime};

use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::NotTried;
use isoprobe_probes::AgentArgs;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A judge's finding on one run of a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub pass: bool,
    pub reason: String,
    pub expected: Value,
    pub observed: Value,
}

impl Verdict {
    /// Passes when every listed failure is absent; the reason names all failures found.
    pub fn from_failures(
        failures: Vec<String>,
        pass_reason: &str,
        expected: Value,
        observed: Value,
    ) -> Verdict {
        Verdict {
            pass: failures.is_empty(),
            reason: if failures.is_empty() {
                pass_reason.to_string()
            } else {
                failures.join("; ")
            },
            expected,
            observed,
        }
    }

    /// The agent reported no outcome for the try the check asked for: nothing to judge.
    pub fn not_tried(e: NotTried) -> Verdict {
        Verdict {
            pass: false,
            reason: e.to_string(),
            expected: Value::Null,
            observed: Value::Null,
        }
    }
}

/// What a check gets to run containers with.
pub struct Ctx<'a> {
    pub runtime: &'a dyn Runtime,
    pub rootfs: &'a Path,
    pub agent: &'a str,
    /// A private directory outside the rootfs for host-side files (canaries).
    pub scratch: &'a Path,
    pub timeout: Duration,
}

impl Ctx<'_> {
    pub fn run(&self, isolation: &Isolation, args: AgentArgs) -> Result<RunOutcome, RunError> {
        self.runtime.run(&Job {
            isolation,
            rootfs: self.rootfs,
            agent: self.agent,
            args,
            timeout: self.timeout,
        })
    }
}

pub trait Check: Send + Sync {
    fn id(&self) -> String;
    fn description(&self) -> String;
    fn requirements(&self) -> Vec<Requirement>;
    /// The isolation this check asks for.
    fn isolation(&self) -> Isolation;
    /// What its negative control breaks.
    fn sabotage(&self) -> Sabotage;
    /// Runs the containers the check needs under `iso` (the check's own isolation, or the
    /// sabotaged one) and judges what they saw.
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError>;
}

/// Every check, in report order.
pub fn all() -> Vec<Box<dyn Check>> {
    let mut v: Vec<Box<dyn Check>> = vec![Box::new(pid_init_is_1::PidInitIsOne)];
    v.extend(ns_distinct::all());
    v.push(Box::new(uts_hostname_independent::HostnameIndependent));
    v.push(Box::new(root_chroot_escape_blocked::ChrootEscapeBlocked));
    v.push(Box::new(cgroup_cpu_throttled::CpuThrottled));
    // Coverage checks: one line each, in the order of the README table.
    v.push(Box::new(caps_bounding_dropped::BoundingDropped));
    v.push(Box::new(nnp_no_new_privs::NoNewPrivs));
    v.push(Box::new(pids_limit_enforced::PidsLimitEnforced));
    v.push(Box::new(memory_limit_enforced::MemoryLimitEnforced));
    v.push(Box::new(ipc_sysv_isolated::IpcSysvIsolated));
    v.push(Box::new(net_only_loopback::OnlyLoopback));
    v.push(Box::new(sysctl_net_isolated::NetSysctlIsolated));
    v.push(Box::new(cgroup_ns_root::CgroupNsRoot));
    v.push(Box::new(time_offsets_isolated::TimeOffsetsIsolated));
    v.push(Box::new(mnt_no_propagation::NoPropagation));
    v.push(Box::new(root_old_root_gone::OldRootGone));
    v.push(Box::new(user_root_is_unprivileged::RootIsUnprivileged));
    v.push(Box::new(proc_host_invisible::HostInvisible));
    v
}

/// The checks with these ids, in report order, or the first unknown id.
pub fn select(ids: &[String]) -> Result<Vec<Box<dyn Check>>, String> {
    let checks = all();
    if let Some(bad) = ids.iter().find(|id| !checks.iter().any(|c| &c.id() == *id)) {
        let known: Vec<String> = checks.iter().map(|c| c.id()).collect();
        return Err(format!(
            "unknown check id `{bad}`; known ids: {} (see `isoprobe list`)",
            known.join(", ")
        ));
    }
    Ok(checks
        .into_iter()
        .filter(|c| ids.is_empty() || ids.contains(&c.id()))
        .collect())
}

/// A namespace's id as the harness itself sees it.
pub(crate) fn host_ns_id(ns: isoprobe_probes::NsType) -> Option<isoprobe_probes::NsId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/ns/{}", ns.proc_name()))
        .ok()
        .map(|m| isoprobe_probes::NsId {
            dev: m.dev(),
            ino: m.ino(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique_and_every_check_has_a_real_sabotage() {
        let checks = all();
        let ids: BTreeSet<String> = checks.iter().map(|c| c.id()).collect();
        assert_eq!(ids.len(), checks.len());
        for c in &checks {
            let iso = c.isolation();
            assert_ne!(
                c.sabotage().apply(&iso),
                iso,
                "{}: the control must change the setup",
                c.id()
            );
        }
    }

    #[test]
    fn select_rejects_unknown_ids_and_keeps_order() {
        match select(&["nope".into()]) {
            Err(e) => assert!(e.contains("nope") && e.contains("pid.init-is-1"), "{e}"),
            Ok(_) => panic!("an unknown id must be refused"),
        }
        let s = select(&["cgroup.cpu-throttled".into(), "pid.init-is-1".into()]).unwrap();
        let ids: Vec<String> = s.iter().map(|c| c.id()).collect();
        assert_eq!(ids, ["pid.init-is-1", "cgroup.cpu-throttled"]);
    }
}
