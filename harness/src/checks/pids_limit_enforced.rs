//! `pids.limit-enforced`: with `pids.max` = 16 on the container's pids cgroup, forking inside
//! stops at the limit with EAGAIN, and the cgroup counts the refusals.
//!
//! The count is exact: the pids controller charges every task (thread) in the cgroup from fork
//! until it is reaped, the agent is the cgroup's only task when it starts forking (the spawner
//! adds just the container's first process, and the agent reports its own thread count), and
//! its children stay alive until it stops forking. So exactly `pids.max - threads` forks
//! succeed; fewer would mean something else is charged to the container.

use super::host_side;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage, StatError};
use isoprobe_probes::contract::{ForksArgs, ForksOutcome};
use isoprobe_probes::AgentArgs;
use serde_json::json;

pub struct PidsLimitEnforced;

const PIDS_MAX: u64 = 16;
/// Well past the limit, so that the unlimited control shows no failure at all.
const TRY_FORKS: usize = 64;

impl Check for PidsLimitEnforced {
    fn id(&self) -> String {
        "pids.limit-enforced".into()
    }
    fn description(&self) -> String {
        format!(
            "with pids.max {PIDS_MAX}, forking inside stops at the limit with EAGAIN and the \
             cgroup records the refused fork"
        )
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            own_cgroup: true,
            pids_max: Some(PIDS_MAX),
            ..Isolation::base()
        }
    }
    fn control(&self) -> Control {
        Sabotage::NoPidsLimit.shown_by("forking was stopped by nothing")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, AgentArgs::trying(ForksArgs { max: TRY_FORKS }))?;
        let refused = out.cgroup.as_ref().and_then(|c| c.pids_refused.clone());
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(p, refused)))
    }
}

/// Passes when forking stopped with EAGAIN exactly at `PIDS_MAX` tasks and the cgroup counted
/// the refusal (`refused`: `pids.events` `max`, `None` without a pids cgroup).
fn judge(p: &ForksOutcome, refused: Option<Result<u64, StatError>>) -> Verdict {
    let forked = p.forked as u64;
    let stopped_by = p
        .stopped_by
        .as_ref()
        .and_then(|e| e.errno.as_deref())
        .unwrap_or("nothing");
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    // Forking that never stopped went past the limit; stopped by anything but EAGAIN (the
    // pids controller's refusal), something else ended it before the limit was tried.
    let stopped = format!("forking was stopped by {stopped_by}, not EAGAIN ({forked} forks made)");
    match p.stopped_by {
        None => violations.push(stopped),
        Some(_) if stopped_by == "EAGAIN" => {}
        Some(_) => untested.push(stopped),
    }
    match p.threads {
        Some(t) if forked + t == PIDS_MAX => {}
        Some(t) => violations.push(format!(
            "{forked} forks + {t} agent task(s) = {} tasks, not pids.max {PIDS_MAX}",
            forked + t
        )),
        None => untested.push(format!(
            "the agent reported no thread count: {}",
            host_side::shown(p)
        )),
    }
    let refused_count = match &refused {
        Some(Ok(n)) => {
            if *n == 0 {
                violations.push("pids.events records no refused fork".into());
            }
            Some(*n)
        }
        Some(Err(e)) => {
            untested.push(format!("pids.events unreadable: {e}"));
            None
        }
        None => {
            untested.push("no pids cgroup statistics (no pids limit was set)".into());
            None
        }
    };
    Verdict::judge(
        violations,
        untested,
        &format!(
            "{} forks succeeded beside the agent, the next failed with EAGAIN; pids.events \
             max {}",
            forked,
            refused_count.unwrap_or(0)
        ),
        json!({
            "pids_max": PIDS_MAX,
            "forked_plus_agent": PIDS_MAX,
            "stopped_by": "EAGAIN",
            "pids_refused": "> 0",
        }),
        json!({
            "forked": p.forked,
            "agent_threads": p.threads,
            "stopped_by": p.stopped_by.as_ref().and_then(|e| e.errno.as_deref()),
            "reaped": p.reaped,
            "pids_refused": refused_count,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use isoprobe_probes::contract::CallError;

    fn stopped() -> ForksOutcome {
        ForksOutcome {
            max: 64,
            threads: Some(1),
            forked: 15,
            stopped_by: Some(CallError::from_errno(nix::errno::Errno::EAGAIN)),
            reaped: 15,
        }
    }

    #[test]
    fn passes_when_stopped_at_the_limit_and_counted() {
        let v = judge(&stopped(), Some(Ok(1)));
        v.assert_holds();
        assert_eq!(v.observed["stopped_by"], "EAGAIN");
    }

    #[test]
    fn forking_past_or_short_of_the_limit_is_a_violation() {
        let unlimited = ForksOutcome {
            stopped_by: None,
            forked: 64,
            ..stopped()
        };
        let early = ForksOutcome {
            forked: 12,
            ..stopped()
        };
        let two_threads = ForksOutcome {
            threads: Some(2),
            ..stopped()
        };
        for (p, refused, needle) in [
            (unlimited, Some(Ok(1)), "stopped by nothing"),
            (early, Some(Ok(1)), "12 forks + 1 agent task(s) = 13 tasks"),
            (two_threads, Some(Ok(1)), "= 17 tasks"),
            (stopped(), Some(Ok(0)), "no refused fork"),
        ] {
            judge(&p, refused).assert_violated(needle);
        }
    }

    #[test]
    fn another_stop_or_missing_statistics_are_untested() {
        let enomem = ForksOutcome {
            stopped_by: Some(CallError::from_errno(nix::errno::Errno::ENOMEM)),
            ..stopped()
        };
        let no_threads = ForksOutcome {
            threads: None,
            ..stopped()
        };
        let gone = StatError::Malformed {
            reason: "gone".into(),
        };
        for (p, refused, needle) in [
            (enomem, Some(Ok(1)), "stopped by ENOMEM"),
            (no_threads, Some(Ok(1)), "no thread count"),
            (stopped(), Some(Err(gone)), "unreadable: gone"),
            (stopped(), None, "no pids cgroup"),
        ] {
            judge(&p, refused).assert_inconclusive(needle);
        }
    }
}
