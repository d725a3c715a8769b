//! The checks. Each one states a property, what it needs from the machine, the isolation it
//! asks for, how it judges what the agent saw, and the sabotage that must make it fail.
//!
//! To add a check: write a module with a type implementing [`Check`] and add a line to the
//! `registry!` below.
//! Its id is interface (reports, snapshots and users' scripts name it): never rename one. A
//! module's name is its check's id with `.` and `-` turned into `_`; the family of `ns.<type>`
//! checks lives in `ns_distinct.rs`.

mod host_side;
mod hostile_start;
mod requirement;
mod walk_top;

pub use requirement::{Requirement, Unmet, NEEDS_ROOT};

use crate::runtime::{Job, RunError, RunOutcome, Runtime};

use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::NotTried;
use isoprobe_probes::AgentArgs;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// What a judge found about the property on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// The property held.
    Holds,
    /// The run shows the property broken; the reason is the evidence.
    Violated,
    /// Something kept the property from being tested; the reason says what.
    Inconclusive,
}

/// A judge's verdict on one run of a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub finding: Finding,
    pub reason: String,
    pub expected: Value,
    pub observed: Value,
}

/// The words an inconclusive reason starts with.
pub const UNTESTED: &str = "could not be tested: ";

impl Verdict {
    /// Sorts a judge's findings. Evidence that the property is broken makes the verdict
    /// violated (whatever else could not be tested); otherwise anything that kept a part of the
    /// property from being tested makes it inconclusive; with neither it holds.
    pub fn judge(
        violations: Vec<String>,
        untested: Vec<String>,
        holds: &str,
        expected: Value,
        observed: Value,
    ) -> Verdict {
        let untested_text = (!untested.is_empty()).then(|| untested.join("; "));
        let (finding, reason) = match (violations.is_empty(), untested_text) {
            (false, None) => (Finding::Violated, violations.join("; ")),
            (false, Some(u)) => (
                Finding::Violated,
                format!("{}; and {UNTESTED}{u}", violations.join("; ")),
            ),
            (true, Some(u)) => (Finding::Inconclusive, format!("{UNTESTED}{u}")),
            (true, None) => (Finding::Holds, holds.to_string()),
        };
        Verdict {
            finding,
            reason,
            expected,
            observed,
        }
    }

    /// Nothing could be tested at all.
    pub fn inconclusive(why: String) -> Verdict {
        Verdict::judge(Vec::new(), vec![why], "", Value::Null, Value::Null)
    }

    pub fn pass(&self) -> bool {
        self.finding == Finding::Holds
    }

    /// For judges' tests: this verdict fails, and its reason mentions `needle`.
    #[cfg(test)]
    pub(crate) fn assert_fails_with(&self, needle: &str) {
        assert!(
            !self.pass() && self.reason.contains(needle),
            "{needle}: {}",
            self.reason
        );
    }

    /// For judges' tests: this verdict is evidence of a violation, and its reason mentions
    /// `needle`.
    #[cfg(test)]
    #[track_caller]
    pub(crate) fn assert_violated(&self, needle: &str) {
        assert!(
            self.finding == Finding::Violated && self.reason.contains(needle),
            "want violated by `{needle}`, got {:?}: {}",
            self.finding,
            self.reason
        );
    }

    /// For judges' tests: this verdict says the property could not be tested, because of
    /// something its reason mentions as `needle`.
    #[cfg(test)]
    #[track_caller]
    pub(crate) fn assert_inconclusive(&self, needle: &str) {
        assert!(
            self.finding == Finding::Inconclusive
                && self.reason.starts_with(UNTESTED)
                && self.reason.contains(needle),
            "want inconclusive by `{needle}`, got {:?}: {}",
            self.finding,
            self.reason
        );
    }

    /// For judges' tests: the property holds.
    #[cfg(test)]
    #[track_caller]
    pub(crate) fn assert_holds(&self) {
        assert_eq!(self.finding, Finding::Holds, "{}", self.reason);
    }

    /// The agent reported no outcome for the try the check asked for: nothing to judge.
    pub fn not_tried(e: NotTried) -> Verdict {
        Verdict::inconclusive(e.to_string())
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
    /// The same context on a rootfs the check built itself (a hostile image, say), with the
    /// agent where `FreshRootfs` puts it.
    pub fn on_own_rootfs<'a>(&'a self, rootfs: &'a Path) -> Ctx<'a> {
        Ctx {
            runtime: self.runtime,
            rootfs,
            agent: crate::rootfs::AGENT_IN_ROOTFS,
            scratch: self.scratch,
            timeout: self.timeout,
        }
    }

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

/// The layer of isolation a check is about, as `isoprobe list` groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// What namespaces and the root file system keep apart.
    Namespaces,
    /// What cgroups limit.
    Cgroups,
    /// What the container may still do with what it can reach: capabilities, privileges,
    /// syscall filters, masked paths, devices, descriptors.
    Hardening,
    /// What a runtime does with input an attacker controls besides the image: its working
    /// directory.
    HostileInput,
    /// What a runtime does with an image laid out against it: symlinks where it expects files
    /// or directories.
    HostileImage,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Namespaces => "namespaces",
            Layer::Cgroups => "cgroups",
            Layer::Hardening => "hardening",
            Layer::HostileInput => "hostile input",
            Layer::HostileImage => "hostile image",
        }
    }
}

/// A check's negative control: the one thing it breaks, and the evidence it must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    pub sabotage: Sabotage,
    /// A phrase every violation the sabotaged run must show contains: the evidence that the
    /// sabotaged property is broken. A control that fails the judge for another reason proves
    /// nothing, and the tests say so.
    pub evidence: &'static str,
}

/// `Sabotage::X.shown_by("evidence")`: a control in one line.
pub trait ShownBy {
    fn shown_by(self, evidence: &'static str) -> Control;
}

impl ShownBy for Sabotage {
    fn shown_by(self, evidence: &'static str) -> Control {
        Control {
            sabotage: self,
            evidence,
        }
    }
}

pub trait Check: Send + Sync {
    fn id(&self) -> String;
    fn description(&self) -> String;
    /// Its negative control.
    fn control(&self) -> Control;
    /// What its negative control breaks.
    fn sabotage(&self) -> Sabotage {
        self.control().sabotage
    }
    /// The isolation this check asks for: by default the base one plus the namespace its
    /// control takes away.
    fn isolation(&self) -> Isolation {
        match self.sabotage() {
            Sabotage::DropNamespace(ns) => Isolation::base().with_ns(ns),
            _ => Isolation::base(),
        }
    }
    /// Its layer: by default the one its control breaks.
    fn layer(&self) -> Layer {
        match self.sabotage() {
            Sabotage::NoCpuQuota | Sabotage::NoPidsLimit | Sabotage::NoMemoryLimit => {
                Layer::Cgroups
            }
            Sabotage::KeepCapabilities
            | Sabotage::AllowNewPrivs
            | Sabotage::NoSeccomp
            | Sabotage::AllDevices
            | Sabotage::LeakHostFd
            | Sabotage::NoMasking
            | Sabotage::NoReadonlyPaths => Layer::Hardening,
            Sabotage::CwdResolvedOnHost => Layer::HostileInput,
            Sabotage::BindsResolvedOnHost
            | Sabotage::DevNullFromImage
            | Sabotage::ProcThroughImageLink
            | Sabotage::EtcWrittenOnHost => Layer::HostileImage,
            Sabotage::DropNamespace(_)
            | Sabotage::RootMode(_)
            | Sabotage::SharedMounts
            | Sabotage::KeepOldRoot => Layer::Namespaces,
        }
    }
    /// What it needs from the machine; unmet ones make it a recorded skip.
    fn requirements(&self) -> Vec<Requirement> {
        Requirement::implied(&self.isolation(), self.sabotage())
    }
    /// What the violations of its negative control must mention (see [`Control::evidence`]).
    fn control_evidence(&self) -> &'static str {
        self.control().evidence
    }
    /// Runs the containers the check needs under `iso` (the check's own isolation, or the
    /// sabotaged one) and judges what they saw.
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError>;
}

/// Declares each check's module and lists what it contributes to [`all`], in report order:
/// `module::Type` for one check, `module::function()` for a family. A new check is its file
/// and one line here; the test lists, the README's table and the snapshots follow from [`all`].
macro_rules! registry {
    ($($module:ident :: $item:ident $(($($call:tt)*))?,)*) => {
        $(mod $module;)*

        /// Every check, in report order.
        pub fn all() -> Vec<Box<dyn Check>> {
            let mut v: Vec<Box<dyn Check>> = Vec::new();
            $(registry!(@add v, $module :: $item $(($($call)*))?);)*
            v
        }
    };
    (@add $v:ident, $module:ident :: $family:ident ()) => {
        $v.extend($module::$family())
    };
    (@add $v:ident, $module:ident :: $check:ident) => {
        $v.push(Box::new($module::$check))
    };
}

registry! {
    pid_init_is_1::PidInitIsOne,
    ns_distinct::all(),
    uts_hostname_independent::HostnameIndependent,
    root_chroot_escape_blocked::ChrootEscapeBlocked,
    cgroup_cpu_throttled::CpuThrottled,
    caps_bounding_dropped::BoundingDropped,
    nnp_no_new_privs::NoNewPrivs,
    pids_limit_enforced::PidsLimitEnforced,
    memory_limit_enforced::MemoryLimitEnforced,
    ipc_sysv_isolated::IpcSysvIsolated,
    net_only_loopback::OnlyLoopback,
    sysctl_net_isolated::NetSysctlIsolated,
    cgroup_ns_root::CgroupNsRoot,
    time_offsets_isolated::TimeOffsetsIsolated,
    mnt_no_propagation::NoPropagation,
    root_old_root_gone::OldRootGone,
    user_root_is_unprivileged::RootIsUnprivileged,
    proc_host_invisible::HostInvisible,
    fd_no_host_leak::NoHostLeak,
    cwd_hostile_workdir_contained::HostileWorkdirContained,
    proc_sensitive_masked::SensitiveMasked,
    proc_sensitive_readonly::SensitiveReadonly,
    cgroup_release_agent_protected::ReleaseAgentProtected,
    seccomp_filter_enforced::FilterEnforced,
    net_abstract_unix_isolated::AbstractUnixIsolated,
    caps_default_set::DefaultSet,
    dev_host_devices_denied::HostDevicesDenied,
    image_mount_destination_symlink::MountDestinationSymlink,
    image_dev_null_symlink::DevNullSymlink,
    image_proc_symlink::ProcSymlink,
    image_etc_symlinks::EtcSymlinks,
}

/// The checks with these ids, in report order, or the first unknown id.
pub fn select(ids: &[String]) -> Result<Vec<Box<dyn Check>>, UnknownCheck> {
    let checks = all();
    if let Some(bad) = ids.iter().find(|id| !checks.iter().any(|c| &c.id() == *id)) {
        return Err(UnknownCheck {
            id: bad.clone(),
            known: checks.iter().map(|c| c.id()).collect(),
        });
    }
    Ok(checks
        .into_iter()
        .filter(|c| ids.is_empty() || ids.contains(&c.id()))
        .collect())
}

/// A check id that no check has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown check id `{id}`; known ids: {} (see `isoprobe list`)", .known.join(", "))]
pub struct UnknownCheck {
    pub id: String,
    pub known: Vec<String>,
}

/// The isolation the check `id` asks for, for runtimes' mapping tests.
#[cfg(test)]
pub(crate) fn isolation_of(id: &str) -> Isolation {
    select(&[id.to_string()]).expect("a known check id")[0].isolation()
}

/// A namespace's id as the harness itself sees it.
pub(crate) fn host_ns_id(ns: isoprobe_probes::NsType) -> Option<isoprobe_probes::NsId> {
    use std::os::unix::fs::MetadataExt;
    // The calling thread's: a check runs on a thread inside a stand-in host.
    std::fs::metadata(format!("/proc/thread-self/ns/{}", ns.proc_name()))
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
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("nope") && e.contains("pid.init-is-1"), "{e}")
            }
            Ok(_) => panic!("an unknown id must be refused"),
        }
        let s = select(&["cgroup.cpu-throttled".into(), "pid.init-is-1".into()]).unwrap();
        let ids: Vec<String> = s.iter().map(|c| c.id()).collect();
        assert_eq!(ids, ["pid.init-is-1", "cgroup.cpu-throttled"]);
    }
}
