//! `caps.bounding-dropped`: with CAP_SYS_ADMIN and CAP_NET_ADMIN dropped from the bounding set,
//! root inside cannot do what they guard (mount a tmpfs, set `lo` up), not merely lacks the
//! bits in /proc/self/status.
//!
//! The agent runs as uid 0 without a user namespace, so exec gives it every capability of the
//! bounding set: the bounding set alone is what decides. A net namespace makes the `lo` attempt
//! harmless (the interface is the container's) and meaningful (it starts down, so setting it up
//! is a real change that CAP_NET_ADMIN guards).

use super::host_side;
use super::{Check, Ctx, Requirement, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::parse::has_cap;
use isoprobe_probes::{AgentArgs, NsType, ProbeRequest};
use serde_json::{json, Value};

pub struct BoundingDropped;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const DROPPED: [u32; 2] = [CAP_SYS_ADMIN, CAP_NET_ADMIN];

/// `ok`, the errno name of a failed attempt, or the raw JSON when it is neither.
fn outcome(v: &Value) -> String {
    match (v.as_str(), v["errno"].as_str()) {
        (Some(s), _) => s.to_string(),
        (None, Some(e)) => e.to_string(),
        _ => v.to_string(),
    }
}

/// A hex capability set as the probe reports it.
fn cap_set(v: &Value) -> Option<u64> {
    v.as_str().and_then(|s| u64::from_str_radix(s, 16).ok())
}

impl Check for BoundingDropped {
    fn id(&self) -> String {
        "caps.bounding-dropped".into()
    }
    fn description(&self) -> String {
        "with CAP_SYS_ADMIN and CAP_NET_ADMIN dropped from the bounding set, root inside cannot \
         mount a tmpfs or set lo up (EPERM), and its effective set lacks both"
            .into()
    }
    fn requirements(&self) -> Vec<Requirement> {
        vec![Requirement::Root, Requirement::Namespace(NsType::Net)]
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            drop_caps: DROPPED.to_vec(),
            ..Isolation::base().with_ns(NsType::Net)
        }
    }
    fn sabotage(&self) -> Sabotage {
        Sabotage::KeepCapabilities
    }
    fn probe(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(
            iso,
            AgentArgs {
                probes: vec![ProbeRequest::new("caps", "")],
                ..AgentArgs::default()
            },
        )?;
        let p = host_side::probe_result(&out, "caps");
        Ok(judge(&p))
    }
}

/// Passes when both guarded operations fail with EPERM and neither set holds a dropped bit.
fn judge(p: &Value) -> Verdict {
    let mount = outcome(&p["mount_tmpfs"]);
    let lo = outcome(&p["lo_up"]);
    let (eff, bnd) = (cap_set(&p["cap_eff"]), cap_set(&p["cap_bnd"]));
    let mut failures = Vec::new();
    if mount != "EPERM" {
        failures.push(format!("mounting a tmpfs on /tmp gave {mount}, not EPERM"));
    }
    if lo != "EPERM" {
        failures.push(format!("setting lo up gave {lo}, not EPERM"));
    }
    for (name, set) in [("CapEff", eff), ("CapBnd", bnd)] {
        match set {
            Some(s) => {
                let kept: Vec<u32> = DROPPED.into_iter().filter(|c| has_cap(s, *c)).collect();
                if !kept.is_empty() {
                    failures.push(format!("{name} {s:016x} still holds capabilities {kept:?}"));
                }
            }
            None => failures.push(format!("{name} not reported: {p}")),
        }
    }
    Verdict::from_failures(
        failures,
        "mount and lo up both refused with EPERM; CapEff and CapBnd lack bits 21 and 12",
        json!({
            "mount_tmpfs": "EPERM",
            "lo_up": "EPERM",
            "cap_eff_lacks": DROPPED,
            "cap_bnd_lacks": DROPPED,
        }),
        json!({
            "mount_tmpfs": mount,
            "lo_up": lo,
            "lo_up_step": p["lo_up"]["step"],
            "cap_eff": p["cap_eff"],
            "cap_bnd": p["cap_bnd"],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Value {
        json!({
            "cap_bnd": "000001fffedfefff",
            "cap_eff": "000001fffedfefff",
            "mount_tmpfs": {"errno": "EPERM", "error": "Operation not permitted"},
            "lo_up": {"errno": "EPERM", "error": "Operation not permitted", "step": "SIOCSIFFLAGS"},
        })
    }

    #[test]
    fn passes_when_both_are_refused_and_the_bits_are_gone() {
        let v = judge(&refused());
        assert!(v.pass, "{}", v.reason);
    }

    #[test]
    fn each_assertion_fails_on_its_own() {
        for (key, value, needle) in [
            ("mount_tmpfs", json!("ok"), "tmpfs on /tmp gave ok"),
            ("lo_up", json!({"errno": "ENODEV"}), "lo up gave ENODEV"),
            (
                "cap_eff",
                json!("000001fffeffefff"),
                "CapEff 000001fffeffefff still holds capabilities [21]",
            ),
            (
                "cap_bnd",
                json!("000001fffedfffff"),
                "CapBnd 000001fffedfffff still holds capabilities [12]",
            ),
            ("cap_eff", Value::Null, "CapEff not reported"),
        ] {
            let mut p = refused();
            p[key] = value;
            let v = judge(&p);
            assert!(!v.pass && v.reason.contains(needle), "{key}: {}", v.reason);
        }
    }
}
