//! `time.offsets-isolated`: in a time namespace with offsets, CLOCK_MONOTONIC and
//! CLOCK_BOOTTIME read the host's clocks plus the offsets, CLOCK_REALTIME is not offset, and the
//! host's clocks do not move.

use super::{host_ns_id, Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::HostStepError;
use crate::vocabulary::{Isolation, Sabotage, TimeOffsets};
use isoprobe_probes::contract::{ClocksArgs, ClocksOutcome};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;

pub struct TimeOffsetsIsolated;

const WEEK_SECS: i64 = 7 * 24 * 3600;
const OFFSETS: TimeOffsets = TimeOffsets {
    monotonic_secs: WEEK_SECS,
    boottime_secs: WEEK_SECS,
};
/// Slack around the host's before/after samples: reading clocks and starting a process are
/// not instantaneous, and a loaded machine may deschedule either side.
const MARGIN_NS: i128 = 1_000_000_000;
const NS: i128 = 1_000_000_000;

/// The three clocks in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clocks {
    monotonic: i128,
    boottime: i128,
    realtime: i128,
}

impl Clocks {
    fn now() -> Result<Clocks, RunError> {
        Ok(Clocks {
            monotonic: read(libc::CLOCK_MONOTONIC)?,
            boottime: read(libc::CLOCK_BOOTTIME)?,
            realtime: read(libc::CLOCK_REALTIME)?,
        })
    }

    /// The agent's clocks, if it could read all three.
    fn from_outcome(c: &ClocksOutcome) -> Option<Clocks> {
        Some(Clocks {
            monotonic: i128::from(*c.monotonic_ns.done()?),
            boottime: i128::from(*c.boottime_ns.done()?),
            realtime: i128::from(*c.realtime_ns.done()?),
        })
    }
}

fn read(clock: libc::clockid_t) -> Result<i128, RunError> {
    nix::time::clock_gettime(nix::time::ClockId::from_raw(clock))
        .map(|t| i128::from(t.tv_sec()) * NS + i128::from(t.tv_nsec()))
        .map_err(|e| HostStepError::new("clock_gettime", "-", e.into()).into())
}

/// How far `inside` is from the window `[lo, hi]` shifted by `offset`, in whole seconds
/// (0 inside the window and its margin).
fn outside_by(inside: i128, lo: i128, hi: i128, offset: i128) -> i128 {
    let (lo, hi) = (lo + offset - MARGIN_NS, hi + offset + MARGIN_NS);
    if inside < lo {
        (inside - lo) / NS - 1
    } else if inside > hi {
        (inside - hi) / NS + 1
    } else {
        0
    }
}

/// The offset the container's clock shows against the host's, in whole seconds: the run lasts
/// milliseconds, so rounding hides it and keeps reports stable.
fn seen_offset_secs(inside: i128, before: i128, after: i128) -> i64 {
    let mid = (before + after) / 2;
    ((inside - mid) as f64 / NS as f64).round() as i64
}

struct Samples {
    before: Clocks,
    after: Clocks,
    inside: Option<Clocks>,
    /// The agent shares the host's time namespace.
    same_ns: bool,
    /// A time namespace was asked for.
    asked: bool,
}

fn judge(s: &Samples, offsets: Option<TimeOffsets>) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let want = offsets.unwrap_or(OFFSETS);
    let (mono_off, boot_off) = (
        i128::from(want.monotonic_secs) * NS,
        i128::from(want.boottime_secs) * NS,
    );
    let (b, a) = (s.before, s.after);
    let mut observed = json!({"inside": null});
    match s.inside {
        None => untested.push("the container did not report its clocks".into()),
        Some(i) => {
            let mono_miss = outside_by(i.monotonic, b.monotonic, a.monotonic, mono_off);
            let boot_miss = outside_by(i.boottime, b.boottime, a.boottime, boot_off);
            let no_offset = outside_by(i.monotonic, b.monotonic, a.monotonic, 0) == 0
                && outside_by(i.boottime, b.boottime, a.boottime, 0) == 0;
            if no_offset {
                violations.push(no_offset_reason(s));
            } else {
                if mono_miss != 0 {
                    violations.push(format!(
                        "CLOCK_MONOTONIC inside is {mono_miss} s away from host + {} s",
                        want.monotonic_secs
                    ));
                }
                if boot_miss != 0 {
                    violations.push(format!(
                        "CLOCK_BOOTTIME inside is {boot_miss} s away from host + {} s",
                        want.boottime_secs
                    ));
                }
            }
            let real_miss = outside_by(i.realtime, b.realtime, a.realtime, 0);
            if real_miss != 0 {
                violations.push(format!(
                    "CLOCK_REALTIME inside is {real_miss} s away from the host's"
                ));
            }
            observed["inside"] = json!({
                "monotonic_offset_s": seen_offset_secs(i.monotonic, b.monotonic, a.monotonic),
                "boottime_offset_s": seen_offset_secs(i.boottime, b.boottime, a.boottime),
                "realtime_offset_s": seen_offset_secs(i.realtime, b.realtime, a.realtime),
            });
        }
    }
    // The host's monotonic clock must advance like the wall clock over the run: a time
    // namespace that leaked its offset to the host would make it jump.
    let drift = (a.monotonic - b.monotonic) - (a.realtime - b.realtime);
    let host_steady = drift.abs() <= MARGIN_NS;
    if !host_steady {
        violations.push(format!(
            "the host's CLOCK_MONOTONIC moved {} s more than the wall clock during the run",
            drift / NS
        ));
    }
    observed["host_monotonic_steady"] = json!(host_steady);
    Verdict::judge(
        violations,
        untested,
        &format!(
            "monotonic and boottime read host + {} s inside, realtime is the host's, and the \
             host's clocks did not move",
            want.monotonic_secs
        ),
        json!({
            "inside": {
                "monotonic_offset_s": want.monotonic_secs,
                "boottime_offset_s": want.boottime_secs,
                "realtime_offset_s": 0,
            },
            "host_monotonic_steady": true,
        }),
        observed,
    )
}

fn no_offset_reason(s: &Samples) -> String {
    match (s.asked, s.same_ns) {
        (true, true) => "no offset seen: the kernel may not switch time namespaces at exec \
                         (before 6.0); the agent is in the host's time namespace"
            .into(),
        (false, _) => "no offset seen: the container shares the host's time namespace".into(),
        (true, false) => {
            "no offset seen although the agent is in a time namespace of its own".into()
        }
    }
}

impl Check for TimeOffsetsIsolated {
    fn id(&self) -> String {
        "time.offsets-isolated".into()
    }
    fn description(&self) -> String {
        format!(
            "in a time namespace offset by {} days, CLOCK_MONOTONIC and CLOCK_BOOTTIME read host \
             + offset, CLOCK_REALTIME is not offset, and the host's clocks do not move",
            WEEK_SECS / 86_400
        )
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            time_offsets: Some(OFFSETS),
            ..Isolation::base().with_ns(NsType::Time)
        }
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Time).shown_by("no offset seen")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let args = AgentArgs::trying(ClocksArgs {});
        let before = Clocks::now()?;
        let out = ctx.run(iso, args)?;
        let after = Clocks::now()?;
        let o = &out.observation;
        let inside = o
            .tried::<ClocksOutcome>()
            .ok()
            .and_then(Clocks::from_outcome);
        let agent_ns = o.namespaces.get("time").and_then(|p| p.ok().copied());
        let samples = Samples {
            before,
            after,
            inside,
            same_ns: agent_ns.is_some() && agent_ns == host_ns_id(NsType::Time),
            asked: iso.namespaces.contains(&NsType::Time),
        };
        // Judged against this check's offsets also in the control, whose isolation has none.
        Ok(judge(&samples, iso.time_offsets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Clocks = Clocks {
        monotonic: 100 * NS,
        boottime: 120 * NS,
        realtime: 1_700_000_000 * NS,
    };

    fn later(c: Clocks, ns: i128) -> Clocks {
        Clocks {
            monotonic: c.monotonic + ns,
            boottime: c.boottime + ns,
            realtime: c.realtime + ns,
        }
    }

    fn samples(inside: Clocks, same_ns: bool, asked: bool) -> Samples {
        Samples {
            before: HOST,
            after: later(HOST, 5_000_000),
            inside: Some(inside),
            same_ns,
            asked,
        }
    }

    fn offset(c: Clocks, secs: i64) -> Clocks {
        Clocks {
            monotonic: c.monotonic + i128::from(secs) * NS,
            boottime: c.boottime + i128::from(secs) * NS,
            realtime: c.realtime,
        }
    }

    #[test]
    fn passes_with_the_offset_and_reports_it_in_seconds() {
        let inside = offset(later(HOST, 2_000_000), WEEK_SECS);
        let v = judge(&samples(inside, false, true), Some(OFFSETS));
        v.assert_holds();
        assert_eq!(v.observed, v.expected);
    }

    #[test]
    fn no_offset_names_the_likely_cause() {
        judge(&samples(later(HOST, 1), true, true), Some(OFFSETS)).assert_violated(
            "no offset seen: the kernel may not switch time namespaces at exec (before 6.0)",
        );
        judge(&samples(later(HOST, 1), true, false), None)
            .assert_violated("shares the host's time namespace");
        judge(&samples(later(HOST, 1), false, true), Some(OFFSETS))
            .assert_violated("although the agent is in a time namespace of its own");
    }

    #[test]
    fn a_wrong_offset_an_offset_realtime_and_a_jumping_host_are_violations() {
        let wrong = offset(HOST, 3600);
        judge(&samples(wrong, false, true), Some(OFFSETS)).assert_violated("away from host");
        let mut real = offset(HOST, WEEK_SECS);
        real.realtime += 10 * NS;
        judge(&samples(real, false, true), Some(OFFSETS)).assert_violated("REALTIME");
        let mut s = samples(offset(HOST, WEEK_SECS), false, true);
        s.after.monotonic += i128::from(WEEK_SECS) * NS;
        judge(&s, Some(OFFSETS)).assert_violated("host's CLOCK_MONOTONIC moved");
    }

    #[test]
    fn unreported_clocks_are_untested() {
        let s = Samples {
            inside: None,
            ..samples(HOST, false, true)
        };
        judge(&s, None).assert_inconclusive("did not report its clocks");
    }
}
