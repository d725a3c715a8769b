//! `sysctl.net-isolated`: a network sysctl written inside a network namespace changes there
//! and not on the host.
//!
//! The negative control really changes the host's value; a [`RestoreSysctl`] guard puts the
//! original back on every path, after the judge has read what the container did.

use super::host_side;
use super::{Check, Ctx, Requirement, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::HostStepError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, ProbeRequest};
use serde_json::{json, Value};
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

/// Writes the host's original value back on drop if it changed.
struct RestoreSysctl {
    original: String,
}

impl RestoreSysctl {
    fn restore(&self) -> Result<(), String> {
        match read_host() {
            Ok(now) if now == self.original => Ok(()),
            _ => fs::write(SYSCTL, format!("{}\n", self.original))
                .map_err(|e| format!("could not restore {SYSCTL} to {}: {e}", self.original)),
        }
    }
}

impl Drop for RestoreSysctl {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            eprintln!("isoprobe: {e}");
        }
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
    fn requirements(&self) -> Vec<Requirement> {
        vec![Requirement::Root, Requirement::Namespace(NsType::Net)]
    }
    fn isolation(&self) -> Isolation {
        Isolation::base().with_ns(NsType::Net)
    }
    fn sabotage(&self) -> Sabotage {
        Sabotage::DropNamespace(NsType::Net)
    }
    fn probe(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let before = read_host()?;
        let guard = RestoreSysctl {
            original: before.clone(),
        };
        let value = other_value(&before);
        let out = ctx.run(
            iso,
            AgentArgs {
                probes: vec![ProbeRequest::new(
                    "sysctl",
                    format!("path={SYSCTL},value={value}"),
                )],
                ..AgentArgs::default()
            },
        )?;
        let after = read_host()?;
        let restored = guard.restore();
        let p = host_side::probe_result(&out, "sysctl");
        let mut failures = judge(&p, value, &before, &after);
        if let Err(e) = restored {
            failures.push(e);
        }
        Ok(Verdict::from_failures(
            failures,
            &format!("the value changed to {value} inside; the host kept {before}"),
            json!({"inside_after": value, "host_before": before, "host_after": before}),
            json!({
                "inside_before": p["before"],
                "inside_write": p["write"],
                "inside_after": p["after"],
                "host_before": before,
                "host_after": after,
            }),
        ))
    }
}

fn judge(p: &Value, value: &str, host_before: &str, host_after: &str) -> Vec<String> {
    let mut failures = Vec::new();
    if p["write"]["ok"] != true {
        failures.push(format!("the write inside failed: {}", p["write"]));
    }
    if p["after"] != value {
        failures.push(format!(
            "inside, the value read back is {} instead of {value}",
            p["after"]
        ));
    }
    if host_after != host_before {
        failures.push(format!(
            "the host's {SYSCTL} changed from {host_before} to {host_after} (restored since)"
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_value_always_differs_from_the_hosts() {
        assert_eq!(other_value("64"), "99");
        assert_eq!(other_value("99"), "98");
    }

    #[test]
    fn judges_inside_change_and_host_stability() {
        let inside = json!({"before": "64", "write": {"ok": true}, "after": "99"});
        assert!(judge(&inside, "99", "64", "64").is_empty());
        let leaked = judge(&inside, "99", "64", "99");
        assert_eq!(leaked.len(), 1);
        assert!(leaked[0].contains("from 64 to 99"), "{leaked:?}");
        let refused = json!({"before": "64", "write": {"errno": "EPERM"}, "after": "64"});
        assert_eq!(judge(&refused, "99", "64", "64").len(), 2);
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::runtime::fake::{self, FnRuntime};
    use std::time::Duration;

    #[test]
    fn the_hosts_value_is_restored_when_the_run_fails() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP the_hosts_value_is_restored_when_the_run_fails: needs root");
            return;
        }
        // Acts like a container without a network namespace that dies after its write.
        let write_then_fail = FnRuntime::new("write-then-fail", |job| {
            let arg = &job.args.probes[0].arg;
            let value = arg.rsplit_once("value=").map(|(_, v)| v).unwrap_or("");
            fs::write(SYSCTL, format!("{value}\n")).unwrap();
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
        assert!(check.probe(&ctx, &check.isolation()).is_err());
        assert_eq!(read_host().unwrap(), before);
    }
}
