//! `seccomp.filter-enforced`: the container's syscall filter answers the calls it denies
//! (EPERM; ENOSYS for `clone3`; a kill for another ABI), and lets the others through.
//!
//! A call failing with EPERM proves nothing by itself: a missing capability, a sysctl or an LSM
//! gives EPERM too. So the check also runs the same calls in a reference container without the
//! filter (the same isolation, `Sabotage::NoSeccomp` applied): a call counts as blocked by the
//! filter only where the reference got another answer. The same answer in both is recorded,
//! not counted (ENOSYS in both: the kernel lacks the call). Any other answer under the filter is
//! a call the filter let through. The `Seccomp:` lines of /proc/self/status are reported as
//! supporting evidence only.

use super::host_side;
use super::{Check, Control, Ctx, ShownBy, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage, SeccompProfile};
use isoprobe_probes::contract::{Called, Returned, SeccompArgs, SeccompOutcome, SyscallTried};
use isoprobe_probes::AgentArgs;
use serde_json::{json, Map, Value};

pub struct FilterEnforced;

const PROFILE: SeccompProfile = SeccompProfile::Default;

/// What the profile should make of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Answered with this errno.
    Denied(&'static str),
    /// A call of another ABI: the filter kills the caller (SIGSYS), or denies it (EPERM).
    Killed,
    /// Let through.
    Allowed,
}

/// Calls the profile allows, each made so that it works or fails on its own arguments.
const ALLOWED: [&str; 5] = ["getpid", "uname", "fork", "thread", "unshare-newuts"];

fn errno_name(e: i32) -> &'static str {
    // Only the errnos profiles answer with.
    match e {
        libc::ENOSYS => "ENOSYS",
        _ => "EPERM",
    }
}

/// Every call the agent is asked to make, with what the profile should make of it.
fn expectations() -> Vec<(&'static str, Expect)> {
    let mut v: Vec<(&'static str, Expect)> = PROFILE
        .denied()
        .into_iter()
        .map(|d| (d.name, Expect::Denied(errno_name(d.errno))))
        .collect();
    if cfg!(target_arch = "x86_64") {
        v.extend([("x32:getpid", Expect::Killed), ("i386:getpid", Expect::Killed)]);
    }
    v.extend(ALLOWED.map(|n| (n, Expect::Allowed)));
    v
}

fn args() -> AgentArgs {
    AgentArgs::trying(SeccompArgs {
        calls: expectations()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect(),
    })
}

impl Check for FilterEnforced {
    fn id(&self) -> String {
        "seccomp.filter-enforced".into()
    }
    fn description(&self) -> String {
        "under the default syscall filter, keyctl, add_key, request_key, bpf, perf_event_open, \
         userfaultfd, kexec, module loading, open_by_handle_at, mount, io_uring and a new user \
         namespace (unshare, clone) get EPERM and clone3 ENOSYS where a container without the \
         filter gets another answer, calls of another ABI are killed, and allowed calls work"
            .into()
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            seccomp: Some(PROFILE),
            ..Isolation::base()
        }
    }
    fn control(&self) -> Control {
        Sabotage::NoSeccomp.shown_by("not blocked by a filter")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, args())?;
        // The control's run has no filter: it is its own reference.
        let reference = match iso.seccomp {
            Some(_) => Some(ctx.run(&Sabotage::NoSeccomp.apply(iso), args())?),
            None => None,
        };
        let judged = host_side::tried::<SeccompOutcome>(&out).and_then(|p| {
            let r = reference.as_ref().map(host_side::tried::<SeccompOutcome>);
            Ok(judge(p, r.transpose()?))
        });
        Ok(judged.unwrap_or_else(|v| v))
    }
}

/// How a call ended, as one word for comparing and quoting: `ok`, the errno name, `killed by
/// SIGSYS`, or the agent's text when it could not make the call.
fn ended(c: &Called<Returned>) -> String {
    match c {
        Called::Done(Returned::Value(_)) => "ok".into(),
        Called::Done(Returned::KilledBy(s)) => format!("killed by {s}"),
        Called::Failed(e) => e.errno.clone().unwrap_or_else(|| e.error.clone()),
    }
}

fn find<'a>(o: &'a SeccompOutcome, name: &str) -> Option<&'a SyscallTried> {
    o.calls.iter().find(|c| c.name == name)
}

/// Holds when every denied call got the filter's answer where the reference got another, and
/// every allowed call ended as it did in the reference. `reference` is `None` when `p`'s own
/// run had no filter.
fn judge(p: &SeccompOutcome, reference: Option<&SeccompOutcome>) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let (mut told, mut denied_total) = (0usize, 0usize);
    let mut same_in_both = Vec::new();
    let mut kernel_lacks = Vec::new();
    let mut calls = Map::new();
    for (name, expect) in expectations() {
        let Some(f) = find(p, name) else {
            untested.push(format!("the agent reported no result for {name}"));
            continue;
        };
        let got = ended(&f.result);
        let r = reference.and_then(|r| find(r, name)).map(|c| ended(&c.result));
        calls.insert(name.into(), json!({"filter": got, "reference": r}));
        let without = r
            .as_ref()
            .map_or(String::new(), |r| format!(" (without the filter: {r})"));
        if f.result.failed().is_some_and(|e| e.errno.is_none()) {
            untested.push(format!("{name} could not be made: {got}"));
            continue;
        }
        let blocked = match expect {
            Expect::Allowed => {
                let broke = match &r {
                    Some(r) => *r != got,
                    None => {
                        matches!(f.result.errno(), Some("EPERM" | "ENOSYS"))
                            || got == "killed by SIGSYS"
                    }
                };
                if broke {
                    violations.push(format!(
                        "{name}, which the profile allows, gave {got}{without}"
                    ));
                }
                continue;
            }
            Expect::Denied(want) => f.result.errno() == Some(want),
            // libseccomp kills; a filter answering EPERM denies as well.
            Expect::Killed => got == "killed by SIGSYS" || got == "EPERM",
        };
        denied_total += 1;
        match (blocked, &r) {
            (true, Some(r)) if *r == got => {
                if got == "ENOSYS" {
                    kernel_lacks.push(name);
                } else {
                    same_in_both.push(format!("{name} ({got})"));
                }
            }
            (true, Some(r)) => {
                told += 1;
                // The filter answers before the kernel looks the call up: a call this kernel
                // lacks is still blocked, and worth naming.
                if r == "ENOSYS" {
                    kernel_lacks.push(name);
                }
            }
            (true, None) => same_in_both.push(format!("{name} ({got}, no reference run)")),
            // Another ABI the kernel does not have ends the same with or without a filter
            // (i386 without IA32 emulation: SIGSEGV before any filter runs).
            (false, Some(r)) if expect == Expect::Killed && *r == got && got.starts_with("killed") => {
                kernel_lacks.push(name)
            }
            (false, None) if expect == Expect::Killed && got.starts_with("killed") => {
                untested.push(format!("{name} was {got} with no reference run to compare"))
            }
            (false, reference) => {
                let want = match expect {
                    Expect::Denied(e) => e.to_string(),
                    _ => "killed by SIGSYS".to_string(),
                };
                // ENOSYS from a call the kernel has (the reference run got another answer) is
                // a filter's answer, not the profile's (podman's profile answers ENOSYS where
                // Docker's answers EPERM): still short of the property, for another reason.
                let why = match reference {
                    Some(r) if got == "ENOSYS" && r != "ENOSYS" => {
                        "a filter answers ENOSYS, not the profile's errno"
                    }
                    _ => "not blocked by a filter",
                };
                violations.push(format!("{name} gave {got}{without}, not {want}: {why}"));
            }
        }
    }
    // Without a reference (the run had no filter) only a violation tells anything.
    if told * 2 < denied_total && (reference.is_some() || violations.is_empty()) {
        untested.push(format!(
            "only {told} of {denied_total} denied calls could be told apart from a container \
             without the filter (same answer in both: {}; not in this kernel: {})",
            listed(&same_in_both),
            listed(&kernel_lacks)
        ));
    }
    let expected: Map<String, Value> = expectations()
        .into_iter()
        .map(|(n, e)| {
            let v = match e {
                Expect::Denied(want) => json!(want),
                Expect::Killed => json!("killed by SIGSYS"),
                Expect::Allowed => json!("as without the filter"),
            };
            (n.to_string(), v)
        })
        .collect();
    Verdict::judge(
        violations,
        untested,
        &format!(
            "{told} of {denied_total} denied calls blocked by the filter (another answer \
             without it), the allowed calls work; same answer in both: {}; not in this \
             kernel (ENOSYS without the filter): {}",
            listed(&same_in_both),
            listed(&kernel_lacks)
        ),
        json!({"calls": expected, "seccomp_mode": 2}),
        json!({
            "calls": calls,
            "seccomp_mode": host_side::shown(&p.mode),
            "seccomp_filters": host_side::shown(&p.filters),
            "told_apart": told,
        }),
    )
}

fn listed<S: AsRef<str>>(v: &[S]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::CallError;
    use nix::errno::Errno;

    fn failed(e: Errno) -> Called<Returned> {
        Called::Failed(CallError::from_errno(e))
    }

    /// What a working filter gives, and what the same container without it gives.
    fn runs() -> (SeccompOutcome, SeccompOutcome) {
        let (mut filtered, mut reference) = (Vec::new(), Vec::new());
        for (name, expect) in expectations() {
            let (f, r) = match expect {
                Expect::Denied("ENOSYS") => (failed(Errno::ENOSYS), failed(Errno::EINVAL)),
                Expect::Denied(_) => (failed(Errno::EPERM), failed(Errno::EFAULT)),
                Expect::Killed => (
                    Called::Done(Returned::KilledBy("SIGSYS".into())),
                    failed(Errno::ENOSYS),
                ),
                Expect::Allowed if name == "unshare-newuts" => {
                    (failed(Errno::EINVAL), failed(Errno::EINVAL))
                }
                Expect::Allowed => (
                    Called::Done(Returned::Value(1)),
                    Called::Done(Returned::Value(2)),
                ),
            };
            filtered.push(SyscallTried {
                name: name.into(),
                result: f,
            });
            reference.push(SyscallTried {
                name: name.into(),
                result: r,
            });
        }
        let outcome = |calls, mode| SeccompOutcome {
            mode: Called::Done(Some(mode)),
            filters: Called::Done(Some(mode)),
            calls,
        };
        (outcome(filtered, 2), outcome(reference, 0))
    }

    fn set(o: &mut SeccompOutcome, name: &str, result: Called<Returned>) {
        o.calls.iter_mut().find(|c| c.name == name).unwrap().result = result;
    }

    #[test]
    fn holds_when_the_filter_answers_and_the_reference_does_not() {
        let (p, r) = runs();
        let v = judge(&p, Some(&r));
        v.assert_holds();
        assert_eq!(v.observed["calls"]["keyctl"]["filter"], "EPERM");
        assert_eq!(v.observed["calls"]["keyctl"]["reference"], "EFAULT");
        assert_eq!(v.observed["seccomp_mode"], 2);
        assert_eq!(v.expected["calls"]["clone3"], "ENOSYS");
    }

    #[test]
    fn a_call_the_filter_let_through_is_a_violation() {
        let (mut p, r) = runs();
        set(&mut p, "keyctl", failed(Errno::EOPNOTSUPP));
        set(&mut p, "clone3", failed(Errno::EINVAL));
        let v = judge(&p, Some(&r));
        v.assert_violated("keyctl gave EOPNOTSUPP (without the filter: EFAULT), not EPERM: not blocked by a filter");
        v.assert_violated("clone3 gave EINVAL");
        let (mut p, r) = runs();
        set(&mut p, "x32:getpid", Called::Done(Returned::Value(5)));
        judge(&p, Some(&r)).assert_violated("x32:getpid gave ok");
        let (mut p, r) = runs();
        set(&mut p, "add_key", failed(Errno::ENOSYS));
        judge(&p, Some(&r)).assert_violated("add_key gave ENOSYS (without the filter: EFAULT), not EPERM: a filter answers ENOSYS");
    }

    #[test]
    fn the_unfiltered_run_alone_shows_every_call_not_blocked() {
        // The control: no filter and no reference; what it got is the reference's answers.
        let (_, r) = runs();
        let v = judge(&r, None);
        v.assert_violated("mount gave EFAULT, not EPERM: not blocked by a filter");
        v.assert_violated("x32:getpid gave ENOSYS, not killed by SIGSYS: not blocked by a filter");
        assert!(!v.reason.contains("told apart"), "{}", v.reason);
        // EPERM everywhere without a filter (capabilities missing): nothing to tell.
        let (p, _) = runs();
        let mut eperm = p.clone();
        for c in eperm.calls.iter_mut().filter(|c| c.name.contains("getpid")) {
            c.result = failed(Errno::EPERM);
        }
        let allowed_ok = |o: &mut SeccompOutcome| {
            for c in o.calls.iter_mut().filter(|c| ALLOWED.contains(&c.name.as_str())) {
                c.result = Called::Done(Returned::Value(0));
            }
        };
        allowed_ok(&mut eperm);
        judge(&eperm, None).assert_inconclusive("only 0 of");
    }

    #[test]
    fn an_allowed_call_the_filter_broke_is_a_violation() {
        let (mut p, r) = runs();
        set(&mut p, "thread", failed(Errno::ENOSYS));
        judge(&p, Some(&r))
            .assert_violated("thread, which the profile allows, gave ENOSYS (without the filter: ok)");
        let (mut p, r) = runs();
        set(&mut p, "unshare-newuts", failed(Errno::EPERM));
        judge(&p, Some(&r)).assert_violated("unshare-newuts, which the profile allows, gave EPERM");
    }

    #[test]
    fn the_same_answer_in_both_is_recorded_not_counted() {
        let (p, mut r) = runs();
        // One kernel lacks clone3, a sysctl denies bpf to everyone: still most told apart.
        set(&mut r, "clone3", failed(Errno::ENOSYS));
        set(&mut r, "bpf", failed(Errno::EPERM));
        let v = judge(&p, Some(&r));
        v.assert_holds();
        assert!(v.reason.contains("same answer in both: bpf (EPERM)"), "{}", v.reason);
        assert!(v.reason.contains("kernel (ENOSYS without the filter): clone3"), "{}", v.reason);
        // i386 without IA32 emulation: a SIGSEGV with and without the filter.
        let (mut p, mut r) = runs();
        let segv = Called::Done(Returned::KilledBy("SIGSEGV".into()));
        set(&mut p, "i386:getpid", segv.clone());
        set(&mut r, "i386:getpid", segv);
        let v = judge(&p, Some(&r));
        v.assert_holds();
        assert!(v.reason.contains("without the filter): x32:getpid, i386:getpid"), "{}", v.reason);
        // Blocked although the kernel lacks it: counted, and named.
        let (p, mut r) = runs();
        set(&mut r, "kexec_load", failed(Errno::ENOSYS));
        let v = judge(&p, Some(&r));
        v.assert_holds();
        assert!(v.reason.contains("without the filter): kexec_load"), "{}", v.reason);
    }

    #[test]
    fn too_few_calls_told_apart_is_inconclusive() {
        // Everything EPERM in both runs (say, an LSM denying all of them).
        let (p, mut r) = runs();
        for c in r.calls.iter_mut() {
            if !ALLOWED.contains(&c.name.as_str()) {
                c.result = p.calls.iter().find(|x| x.name == c.name).unwrap().result.clone();
            }
        }
        judge(&p, Some(&r)).assert_inconclusive("could be told apart");
        let (mut p, r) = runs();
        p.calls.retain(|c| c.name != "mount");
        judge(&p, Some(&r)).assert_inconclusive("no result for mount");
        let (mut p, r) = runs();
        set(&mut p, "mount", Called::Failed(CallError::text("the agent knows no call")));
        judge(&p, Some(&r)).assert_inconclusive("mount could not be made");
    }
}
