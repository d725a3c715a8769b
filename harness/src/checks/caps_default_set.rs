//! `caps.default-set`: the container keeps exactly the capability set the engines' default
//! configuration grants (Docker, containerd and podman: 14 capabilities), shown by behaviour:
//! each dropped capability by a call that needs it and is refused, each kept one the check names
//! by a call that works. The sets of `/proc/self/status` are judged too, over the bits the
//! kernel knows.
//!
//! The isolation says it with `drop_caps`, the complement of the default set over the
//! capabilities isoprobe knows: every runtime already maps that (the native spawner drops them
//! from the bounding set before exec, which for root without a user namespace is its effective
//! set; an OCI config lists the rest). The agent runs as root in its own network namespace, so
//! binding a low port and writing `lo`'s flags back stay the container's.

use super::host_side;
use super::{Check, Control, Ctx, Layer, Requirement, ShownBy, Verdict};
use crate::runtime::capability::{self, DEFAULT_SET};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{CapAttempt, DefaultCapsArgs, DefaultCapsOutcome};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::{json, Value};

pub struct DefaultSet;

/// The uid of the agent's helper child: not the agent's, so that tracing and signalling it
/// need the capabilities.
const OTHER_UID: u32 = 65534;

/// What every violation of the control shows: a capability held outside the default set.
const BEYOND: &str = "beyond the default set";

impl Check for DefaultSet {
    fn id(&self) -> String {
        "caps.default-set".into()
    }
    fn description(&self) -> String {
        "the container keeps exactly the engines' default 14 capabilities: calls needing \
         SYS_MODULE, SYS_RAWIO, SYS_TIME, SYS_BOOT, SYS_PTRACE, DAC_READ_SEARCH, SYSLOG, \
         SYS_NICE, SYS_ADMIN and NET_ADMIN are refused, CHOWN, KILL and NET_BIND_SERVICE work, \
         and CapEff and CapBnd hold the default set"
            .into()
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            drop_caps: capability::all_but(&DEFAULT_SET),
            ..Isolation::base().with_ns(NsType::Net)
        }
    }
    fn control(&self) -> Control {
        Sabotage::KeepCapabilities.shown_by(BEYOND)
    }
    /// Its helper child runs as another uid, which must exist.
    fn requirements(&self) -> Vec<Requirement> {
        let mut r = Requirement::implied(&self.isolation(), self.sabotage());
        r.push(Requirement::MappedIds {
            first: OTHER_UID,
            count: 1,
        });
        r
    }
    fn layer(&self) -> Layer {
        Layer::Hardening
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(
            iso,
            AgentArgs::trying(DefaultCapsArgs {
                other_uid: OTHER_UID,
            }),
        )?;
        Ok(host_side::tried(&out).map_or_else(|v| v, judge))
    }
}

/// The errno a call gives when its capability is missing: EPERM, but EACCES for a lower nice
/// value (`set_one_prio`).
fn denied_errno(cap: &str) -> &'static str {
    if cap == "CAP_SYS_NICE" {
        "EACCES"
    } else {
        "EPERM"
    }
}

/// The bits of `mask` as capability names (numbers where the table has none).
fn names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| capability::name(b).map_or_else(|| format!("cap {b}"), str::to_string))
        .collect()
}

fn default_mask() -> u64 {
    DEFAULT_SET.iter().fold(0, |m, c| m | 1u64 << c)
}

/// The errnos a dropped-capability call gives only once the kernel is past its capability
/// check (see the agent's `default_caps` for the order of checks): the capability was there.
fn past_the_check(cap: &str) -> &'static [&'static str] {
    match cap {
        "CAP_SYS_MODULE" => &["EBADF"],
        "CAP_SYS_RAWIO" => &["EFAULT"],
        "CAP_SYS_TIME" | "CAP_SYS_BOOT" | "CAP_SYSLOG" | "CAP_SYS_ADMIN" => &["EINVAL"],
        "CAP_DAC_READ_SEARCH" => &["ESTALE"],
        _ => &[],
    }
}

fn shown(a: &CapAttempt) -> String {
    match (a.result.errno(), a.result.failed()) {
        (Some(e), _) => e.to_string(),
        (None, Some(e)) => e.error.clone(),
        (None, None) => "ok".into(),
    }
}

/// Holds when every dropped-capability call was refused with its capability's errno, every
/// kept one worked, and CapEff and CapBnd equal the default set over the bits the kernel knows.
fn judge(p: &DefaultCapsOutcome) -> Verdict {
    let (mut violations, mut untested, mut absent) = (Vec::new(), Vec::new(), Vec::new());
    let default = default_mask();
    for a in &p.attempts {
        let Some(n) = capability::number(&a.cap) else {
            untested.push(format!("{} names no capability isoprobe knows", a.cap));
            continue;
        };
        let result = shown(a);
        let kept = DEFAULT_SET.contains(&n);
        match (kept, a.result.done().is_some()) {
            (false, true) => violations.push(format!(
                "{} worked: {} is held, {BEYOND}",
                a.call, a.cap
            )),
            (false, false) if result == denied_errno(&a.cap) => {}
            (false, false) if past_the_check(&a.cap).contains(&result.as_str()) => {
                violations.push(format!(
                    "{} gave {result}, which comes only past the kernel's {} check: it is \
                     held, {BEYOND}",
                    a.call, a.cap
                ))
            }
            // What the kernel lacks is recorded, not judged.
            (_, false) if result == "ENOSYS" => absent.push(a.call.clone()),
            (true, true) => {}
            (true, false) if result == "EPERM" => violations.push(format!(
                "{} gave EPERM: {} of the default set is missing",
                a.call, a.cap
            )),
            // Another errno stopped the call before or after the capability was asked for
            // (ENOSYS: this kernel lacks the call): it shows nothing either way.
            (_, false) => untested.push(format!("{} gave {result}", a.call)),
        }
    }
    // The kept ones must each be shown at work; a missing attempt shows nothing.
    for cap in ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"] {
        if !p.attempts.iter().any(|a| a.cap == cap) {
            untested.push(format!("no attempt for {cap} was reported"));
        }
    }
    if let (Some(start), Some(a)) = (
        p.unprivileged_port_start.done(),
        p.attempts.iter().find(|a| a.cap == "CAP_NET_BIND_SERVICE"),
    ) {
        if *start <= 1 && a.result.done().is_some() {
            untested.push(format!(
                "ip_unprivileged_port_start is {start}: {} needs no capability here",
                a.call
            ));
        }
    }
    match (p.sets.done(), p.cap_last_cap.done()) {
        (Some(sets), Some(last)) => {
            let known = if *last >= 63 {
                u64::MAX
            } else {
                (1u64 << (last + 1)) - 1
            };
            for (name, text) in [("CapEff", &sets.effective), ("CapBnd", &sets.bounding)] {
                match u64::from_str_radix(text, 16) {
                    Ok(set) => {
                        let extra = set & known & !default;
                        let missing = default & known & !set;
                        if extra != 0 {
                            violations.push(format!(
                                "{name} {text} holds {:?}, {BEYOND}",
                                names(extra)
                            ));
                        }
                        if missing != 0 {
                            violations.push(format!(
                                "{name} {text} lacks {:?} of the default set",
                                names(missing)
                            ));
                        }
                    }
                    Err(_) => untested.push(format!("{name} {text:?} is not a hex set")),
                }
            }
        }
        _ => untested.push(format!(
            "the capability sets or cap_last_cap could not be read: {}, {}",
            host_side::shown(&p.sets),
            host_side::shown(&p.cap_last_cap)
        )),
    }
    let observed_attempts: Value = p
        .attempts
        .iter()
        .map(|a| (a.cap.clone(), json!({"call": a.call, "result": shown(a)})))
        .collect::<serde_json::Map<_, _>>()
        .into();
    Verdict::judge(
        violations,
        untested,
        "every call needing a dropped capability was refused (EPERM; EACCES for nice), chown, \
         kill and a low port's bind worked, and CapEff and CapBnd hold the default set",
        json!({
            "cap_eff": format!("{default:016x}"),
            "cap_bnd": format!("{default:016x}"),
            "dropped": "EPERM (CAP_SYS_NICE: EACCES)",
            "kept": "ok",
        }),
        json!({
            "sets": host_side::shown(&p.sets),
            "cap_last_cap": host_side::shown(&p.cap_last_cap),
            "unprivileged_port_start": host_side::shown(&p.unprivileged_port_start),
            "attempts": observed_attempts,
            "not_on_this_kernel": absent,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, CapSetsSeen, Called, Done};
    use nix::errno::Errno;

    const DEFAULT_HEX: &str = "00000000a80425fb";
    const FULL_HEX: &str = "000001ffffffffff";

    fn attempt(cap: &str, result: Called<Done>) -> CapAttempt {
        CapAttempt {
            cap: cap.into(),
            call: format!("the {cap} call"),
            result,
        }
    }

    fn failed(e: Errno) -> Called<Done> {
        Called::Failed(CallError::from_errno(e))
    }

    fn sets(eff: &str, bnd: &str) -> Called<CapSetsSeen> {
        Called::Done(CapSetsSeen {
            effective: eff.into(),
            bounding: bnd.into(),
            permitted: eff.into(),
            inheritable: "0000000000000000".into(),
            ambient: Some("0000000000000000".into()),
        })
    }

    /// What a container with the default set reports.
    fn confined() -> DefaultCapsOutcome {
        let dropped = [
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_SYS_TIME",
            "CAP_SYS_BOOT",
            "CAP_SYS_PTRACE",
            "CAP_DAC_READ_SEARCH",
            "CAP_SYSLOG",
            "CAP_SYS_ADMIN",
            "CAP_NET_ADMIN",
        ];
        let mut attempts: Vec<CapAttempt> = dropped
            .iter()
            .map(|c| attempt(c, failed(Errno::EPERM)))
            .collect();
        attempts.push(attempt("CAP_SYS_NICE", failed(Errno::EACCES)));
        for kept in ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"] {
            attempts.push(attempt(kept, Called::Done(Done::Ok)));
        }
        DefaultCapsOutcome {
            sets: sets(DEFAULT_HEX, DEFAULT_HEX),
            cap_last_cap: Called::Done(40),
            unprivileged_port_start: Called::Done(1024),
            attempts,
        }
    }

    fn with(cap: &str, result: Called<Done>) -> DefaultCapsOutcome {
        let mut p = confined();
        p.attempts
            .iter_mut()
            .find(|a| a.cap == cap)
            .unwrap()
            .result = result;
        p
    }

    #[test]
    fn the_default_mask_is_what_runc_reports_for_the_default_set() {
        assert_eq!(format!("{:016x}", default_mask()), DEFAULT_HEX);
    }

    #[test]
    fn holds_when_dropped_calls_are_refused_and_kept_ones_work() {
        let v = judge(&confined());
        v.assert_holds();
        assert_eq!(v.observed["attempts"]["CAP_SYS_NICE"]["result"], "EACCES");
        // Bits above cap_last_cap mean nothing on this kernel.
        let p = DefaultCapsOutcome {
            sets: sets("00000080a80425fb", DEFAULT_HEX),
            cap_last_cap: Called::Done(38),
            ..confined()
        };
        judge(&p).assert_holds();
    }

    #[test]
    fn a_dropped_capability_at_work_or_an_extra_bit_is_a_violation() {
        let cases = [
            (
                with("CAP_SYS_BOOT", Called::Done(Done::Ok)),
                "the CAP_SYS_BOOT call worked: CAP_SYS_BOOT is held, beyond the default set",
            ),
            (
                with("CAP_SYS_BOOT", failed(Errno::EINVAL)),
                "the CAP_SYS_BOOT call gave EINVAL, which comes only past the kernel's \
                 CAP_SYS_BOOT check: it is held, beyond the default set",
            ),
            (
                DefaultCapsOutcome {
                    sets: sets(FULL_HEX, DEFAULT_HEX),
                    ..confined()
                },
                "CapEff 000001ffffffffff holds [\"CAP_DAC_READ_SEARCH\"",
            ),
            (
                DefaultCapsOutcome {
                    sets: sets(DEFAULT_HEX, "00000000a82425fb"),
                    ..confined()
                },
                "CapBnd 00000000a82425fb holds [\"CAP_SYS_ADMIN\"], beyond the default set",
            ),
        ];
        for (p, needle) in cases {
            let v = judge(&p);
            v.assert_violated(needle);
            assert!(v.reason.contains(BEYOND));
        }
    }

    #[test]
    fn a_call_the_kernel_lacks_is_recorded_not_judged() {
        let v = judge(&with("CAP_SYS_MODULE", failed(Errno::ENOSYS)));
        v.assert_holds();
        assert_eq!(
            v.observed["not_on_this_kernel"],
            json!(["the CAP_SYS_MODULE call"])
        );
    }

    #[test]
    fn a_kept_capability_missing_is_a_violation() {
        judge(&with("CAP_CHOWN", failed(Errno::EPERM)))
            .assert_violated("gave EPERM: CAP_CHOWN of the default set is missing");
        let p = DefaultCapsOutcome {
            sets: sets("00000000a80425fa", DEFAULT_HEX),
            ..confined()
        };
        judge(&p).assert_violated("lacks [\"CAP_CHOWN\"] of the default set");
    }

    #[test]
    fn other_errnos_and_unread_sets_are_untested() {
        judge(&with("CAP_SYS_MODULE", failed(Errno::ENOTTY)))
            .assert_inconclusive("the CAP_SYS_MODULE call gave ENOTTY");
        // EPERM is the wrong denial for nice, whose kernel answer is EACCES.
        judge(&with("CAP_SYS_NICE", failed(Errno::EPERM)))
            .assert_inconclusive("the CAP_SYS_NICE call gave EPERM");
        judge(&with(
            "CAP_KILL",
            Called::Failed(CallError::text("the child could not switch to uid 65534")),
        ))
        .assert_inconclusive("could not switch");
        let p = DefaultCapsOutcome {
            sets: Called::Failed(CallError::from_errno(Errno::EACCES)),
            ..confined()
        };
        judge(&p).assert_inconclusive("capability sets or cap_last_cap could not be read");
        let p = DefaultCapsOutcome {
            unprivileged_port_start: Called::Done(0),
            ..confined()
        };
        judge(&p).assert_inconclusive("needs no capability here");
        let mut p = confined();
        p.attempts.retain(|a| a.cap != "CAP_KILL");
        judge(&p).assert_inconclusive("no attempt for CAP_KILL");
    }
}
