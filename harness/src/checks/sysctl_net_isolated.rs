//! `sysctl.net-isolated`: a network sysctl written inside a network namespace changes there
//! and not on the host.
//!
//! "The host" is the stand-in host the engine runs every check in (`crate::standin`): the
//! negative control changes the stand-in's value, which goes with it, never the machine's.

use super::host_side;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::HostStepError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, SysctlArgs, SysctlOutcome};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;
use std::fs;

pub struct NetSysctlIsolated;

/// Per network namespace, harmless to change for a moment, and every kernel has it.
const SYSCTL: &str = "/proc/sys/net/ipv4/ip_default_ttl";

fn read_host() -> Result<String, RunError> {
    fs::read_to_string(SYSCTL)
        .map(|s| s.trim().to_string())
        .map_err(|e| HostStepError::new("read the host's sysctl", SYSCTL, e).into())
}

/// A valid TTL that differs from the host's.
fn other_value(host: &str) -> &'static str {
    if host == "99" {
        "98"
    } else {
        "99"
    }
}

impl Check for NetSysctlIsolated {
    fn id(&self) -> String {
        "sysctl.net-isolated".into()
    }
    fn description(&self) -> String {
        format!(
            "{SYSCTL} written inside a network namespace changes there; the host's value does \
             not change"
        )
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Net).shown_by("changed from")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let before = read_host()?;
        let value = other_value(&before);
        let out = ctx.run(
            iso,
            AgentArgs::trying(SysctlArgs {
                path: SYSCTL.into(),
                value: value.into(),
            }),
        )?;
        let after = read_host()?;
        let p = match host_side::tried::<SysctlOutcome>(&out) {
            Ok(p) => p,
            Err(v) => return Ok(v),
        };
        Ok(judge(p, value, &before, &after))
    }
}

/// Holds when the write inside took effect there and the host's value stayed. A write that
/// did not take effect inside tested nothing: the host's value could not have moved through
/// it.
fn judge(p: &SysctlOutcome, value: &str, host_before: &str, host_after: &str) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    if !matches!(p.write, Called::Done(w) if w.ok) {
        untested.push(format!(
            "the write inside failed: {}",
            host_side::shown(&p.write)
        ));
    }
    if p.after.done().map(String::as_str) != Some(value) {
        untested.push(format!(
            "inside, the value read back is {} instead of {value}",
            host_side::shown(&p.after)
        ));
    }
    if host_after != host_before {
        violations.push(format!(
            "the host's {SYSCTL} changed from {host_before} to {host_after}"
        ));
    }
    Verdict::judge(
        violations,
        untested,
        &format!("the value changed to {value} inside; the host kept {host_before}"),
        json!({"inside_after": value, "host_before": host_before, "host_after": host_before}),
        json!({
            "inside_before": p.before,
            "inside_write": p.write,
            "inside_after": p.after,
            "host_before": host_before,
            "host_after": host_after,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, Written};

    #[test]
    fn the_new_value_always_differs_from_the_hosts() {
        assert_eq!(other_value("64"), "99");
        assert_eq!(other_value("99"), "98");
    }

    fn inside() -> SysctlOutcome {
        SysctlOutcome {
            path: SYSCTL.into(),
            before: Called::Done("64".into()),
            write: Called::Done(Written { ok: true }),
            after: Called::Done("99".into()),
        }
    }

    #[test]
    fn holds_when_only_the_inside_changed() {
        let v = judge(&inside(), "99", "64", "64");
        v.assert_holds();
        assert_eq!(v.observed["inside_after"], "99");
    }

    #[test]
    fn a_changed_host_is_a_violation() {
        judge(&inside(), "99", "64", "99").assert_violated("from 64 to 99");
    }

    #[test]
    fn a_write_that_did_not_take_inside_is_untested() {
        let refused = SysctlOutcome {
            write: Called::Failed(CallError::from_errno(nix::errno::Errno::EPERM)),
            after: Called::Done("64".into()),
            ..inside()
        };
        let v = judge(&refused, "99", "64", "64");
        v.assert_inconclusive("the write inside failed");
        v.assert_inconclusive(r#"read back is "64" instead of 99"#);
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::runtime::fake::{self, FnRuntime};
    use isoprobe_probes::contract::Try;
    use std::time::Duration;

    #[test]
    #[serial_test::serial(machine)]
    fn a_sabotaged_run_that_dies_after_its_write_leaves_the_machine_as_it_was() {
        crate::require_root!("a_sabotaged_run_that_dies_after_its_write_leaves_the_machine");
        // Acts like a container without a network namespace that dies after its write.
        let write_then_fail = FnRuntime::new("write-then-fail", |job| {
            let Try::Sysctl(a) = &job.args.tries[0] else {
                panic!("not a sysctl try: {:?}", job.args.tries)
            };
            fs::write(SYSCTL, format!("{}\n", a.value)).unwrap();
            Err(fake::agent_failed())
        });
        let before = read_host().unwrap();
        let dir = std::env::temp_dir();
        let ctx = Ctx {
            runtime: &write_then_fail,
            rootfs: &dir,
            agent: "/isoprobe-agent",
            scratch: &dir,
            timeout: Duration::from_secs(1),
        };
        let check = NetSysctlIsolated;
        let in_stand_in = crate::standin::in_a_stand_in(|| {
                let r = check.run(&ctx, &check.isolation());
                (r.is_err(), read_host().unwrap())
            });
        assert_eq!(in_stand_in, (true, other_value(&before).to_string()));
        assert_eq!(read_host().unwrap(), before);
    }
}
