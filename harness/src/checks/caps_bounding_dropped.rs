//! `caps.bounding-dropped`: with CAP_SYS_ADMIN and CAP_NET_ADMIN dropped from the bounding set,
//! root inside cannot do what they guard (mount a tmpfs, set `lo` up), not merely lacks the
//! bits in /proc/self/status.
//!
//! The agent runs as uid 0 without a user namespace, so exec gives it every capability of the
//! bounding set: the bounding set alone is what decides. A net namespace makes the `lo` attempt
//! harmless (the interface is the container's) and meaningful (it starts down, so setting it up
//! is a real change that CAP_NET_ADMIN guards).

use super::host_side;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, CapsArgs, CapsOutcome};
use isoprobe_probes::parse::has_cap;
use isoprobe_probes::{AgentArgs, NsType};
use serde::Serialize;
use serde_json::{json, Value};

pub struct BoundingDropped;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const DROPPED: [u32; 2] = [CAP_SYS_ADMIN, CAP_NET_ADMIN];

/// `ok`, the errno name of a failed attempt, or its JSON when it is neither.
fn outcome<T: Serialize>(c: &Called<T>) -> String {
    match (c.errno(), host_side::shown(c)) {
        (Some(e), _) => e.to_string(),
        (None, Value::String(s)) => s,
        (None, v) => v.to_string(),
    }
}

/// A hex capability set as the agent reports it.
fn cap_set(v: &Option<String>) -> Option<u64> {
    v.as_deref().and_then(|s| u64::from_str_radix(s, 16).ok())
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
    fn isolation(&self) -> Isolation {
        Isolation {
            drop_caps: DROPPED.to_vec(),
            ..Isolation::base().with_ns(NsType::Net)
        }
    }
    fn control(&self) -> Control {
        Sabotage::KeepCapabilities.shown_by("gave ok, not EPERM")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, AgentArgs::trying(CapsArgs {}))?;
        Ok(host_side::tried(&out).map_or_else(|v| v, judge))
    }
}

/// Passes when both guarded operations fail with EPERM and neither set holds a dropped bit.
fn judge(p: &CapsOutcome) -> Verdict {
    let mount = outcome(&p.mount_tmpfs);
    let lo = outcome(&p.lo_up);
    let (eff, bnd) = (cap_set(&p.cap_eff), cap_set(&p.cap_bnd));
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    // Success is the capability at work; EPERM is its absence; any other errno stopped the
    // call before the capability was asked for, so it says nothing either way.
    for (worked, shown, what) in [
        (p.mount_tmpfs.done().is_some(), &mount, "mounting a tmpfs on /tmp"),
        (p.lo_up.done().is_some(), &lo, "setting lo up"),
    ] {
        let line = format!("{what} gave {shown}, not EPERM");
        match (worked, shown.as_str()) {
            (true, _) => violations.push(line),
            (false, "EPERM") => {}
            (false, _) => untested.push(line),
        }
    }
    for (name, set) in [("CapEff", eff), ("CapBnd", bnd)] {
        match set {
            Some(s) => {
                let kept: Vec<u32> = DROPPED.into_iter().filter(|c| has_cap(s, *c)).collect();
                if !kept.is_empty() {
                    violations.push(format!("{name} {s:016x} still holds capabilities {kept:?}"));
                }
            }
            None => untested.push(format!("{name} not reported: {}", host_side::shown(p))),
        }
    }
    Verdict::judge(
        violations,
        untested,
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
            "lo_up_step": p.lo_up.failed().and_then(|e| e.step.as_deref()),
            "cap_eff": p.cap_eff,
            "cap_bnd": p.cap_bnd,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, Done, Mounted};

    fn eperm() -> CallError {
        CallError::from_errno(nix::errno::Errno::EPERM)
    }

    fn refused() -> CapsOutcome {
        CapsOutcome {
            cap_bnd: Some("000001fffedfefff".into()),
            cap_eff: Some("000001fffedfefff".into()),
            status_error: None,
            mount_tmpfs: Called::Failed(eperm()),
            lo_up: Called::Failed(eperm().at("SIOCSIFFLAGS")),
        }
    }

    #[test]
    fn passes_when_both_are_refused_and_the_bits_are_gone() {
        let v = judge(&refused());
        v.assert_holds();
        assert_eq!(v.observed["lo_up_step"], "SIOCSIFFLAGS");
        assert_eq!(v.observed["mount_tmpfs"], "EPERM");
    }

    #[test]
    fn what_the_capabilities_allow_is_a_violation() {
        let cases = [
            (
                CapsOutcome {
                    mount_tmpfs: Called::Done(Mounted::Unmounted(Done::Ok)),
                    ..refused()
                },
                "tmpfs on /tmp gave ok",
            ),
            (
                CapsOutcome {
                    mount_tmpfs: Called::Done(Mounted::Stuck {
                        mounted: true,
                        umount: eperm(),
                    }),
                    ..refused()
                },
                "mounting a tmpfs on /tmp gave {",
            ),
            (
                CapsOutcome {
                    lo_up: Called::Done(Done::Ok),
                    ..refused()
                },
                "setting lo up gave ok, not EPERM",
            ),
            (
                CapsOutcome {
                    cap_eff: Some("000001fffeffefff".into()),
                    ..refused()
                },
                "CapEff 000001fffeffefff still holds capabilities [21]",
            ),
            (
                CapsOutcome {
                    cap_bnd: Some("000001fffedfffff".into()),
                    ..refused()
                },
                "CapBnd 000001fffedfffff still holds capabilities [12]",
            ),
        ];
        for (p, needle) in cases {
            judge(&p).assert_violated(needle);
        }
    }

    #[test]
    fn another_errno_or_an_unread_set_is_untested() {
        fn failed<T>(e: nix::errno::Errno) -> Called<T> {
            Called::Failed(CallError::from_errno(e))
        }
        let cases = [
            (
                CapsOutcome {
                    lo_up: failed(nix::errno::Errno::ENODEV),
                    ..refused()
                },
                "lo up gave ENODEV",
            ),
            (
                CapsOutcome {
                    mount_tmpfs: failed(nix::errno::Errno::ENOENT),
                    ..refused()
                },
                "tmpfs on /tmp gave ENOENT",
            ),
            (
                CapsOutcome {
                    cap_eff: None,
                    ..refused()
                },
                "CapEff not reported",
            ),
        ];
        for (p, needle) in cases {
            judge(&p).assert_inconclusive(needle);
        }
    }
}
