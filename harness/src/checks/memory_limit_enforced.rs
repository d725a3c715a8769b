//! `memory.limit-enforced`: with a 32 MiB memory limit, a process inside that allocates (and
//! writes) 128 MiB is OOM-killed before it has written 32 MiB, and the host sees the kill in
//! the cgroup's OOM counter.
//!
//! The allocation happens in a child of the agent, so the OOM killer's choice (the biggest
//! task of the cgroup) is the child and the agent survives to report how it ended. The machine
//! has no swap, so the limit cannot be met by paging out.

use super::host_side;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage, StatError};
use isoprobe_probes::contract::{AllocArgs, AllocOutcome, Called, Ended};
use isoprobe_probes::AgentArgs;
use serde_json::json;

pub struct MemoryLimitEnforced;

/// Room for a runtime's own init inside the cgroup before exec (runc's is a Go program), and
/// small, because every MiB is paid in page faults: the control writes four times this with no
/// limit (64 and 256 MiB cost this check and its control 0.83 s against 0.39 s here).
const LIMIT_MB: u64 = 32;
/// Four times the limit: far past it, yet modest when the control runs with no limit at all.
const ALLOC_MB: u64 = 128;

impl Check for MemoryLimitEnforced {
    fn id(&self) -> String {
        "memory.limit-enforced".into()
    }
    fn description(&self) -> String {
        format!(
            "with a memory limit of {LIMIT_MB} MiB, a child allocating {ALLOC_MB} MiB inside is \
             OOM-killed (SIGKILL) and the cgroup counts the OOM kill"
        )
    }
    fn isolation(&self) -> Isolation {
        Isolation {
            own_cgroup: true,
            memory_max: Some(LIMIT_MB << 20),
            ..Isolation::base()
        }
    }
    fn control(&self) -> Control {
        Sabotage::NoMemoryLimit.shown_by("not less than the")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(
            iso,
            AgentArgs::trying(AllocArgs {
                mb: ALLOC_MB as usize,
            }),
        )?;
        let oom = out.cgroup.as_ref().and_then(|c| c.oom_kills.clone());
        Ok(host_side::tried(&out).map_or_else(|v| v, |p| judge(p, oom)))
    }
}

/// Passes when the child was SIGKILLed below the limit and the cgroup counted an OOM kill
/// (`oom`: its `oom_kill` counter, `None` without a memory cgroup).
fn judge(p: &AllocOutcome, oom: Option<Result<u64, StatError>>) -> Verdict {
    let child = host_side::shown(&p.child);
    let touched = p.touched_mb as u64;
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    // A child that finished its allocation got all of it; one that ended otherwise below the
    // limit (malloc failed, another signal, no fork) was stopped before the limit was tried.
    let not_killed = format!(
        "the allocating child was not killed: it ended with {child} after {touched} MiB"
    );
    match &p.child {
        Called::Done(Ended::Signal(s)) if s == "SIGKILL" => {}
        Called::Done(Ended::Code(0)) => violations.push(not_killed),
        _ if touched >= LIMIT_MB => violations.push(not_killed),
        _ => untested.push(not_killed),
    }
    if touched >= LIMIT_MB {
        violations.push(format!(
            "the child wrote {touched} MiB, not less than the {LIMIT_MB} MiB limit"
        ));
    }
    let oom_kills = match &oom {
        Some(Ok(n)) => {
            if *n == 0 {
                violations.push("the cgroup's OOM counter is 0".into());
            }
            Some(*n)
        }
        Some(Err(e)) => {
            untested.push(format!("the cgroup's OOM counter is unreadable: {e}"));
            None
        }
        None => {
            untested.push("no memory cgroup statistics (no memory limit was set)".into());
            None
        }
    };
    Verdict::judge(
        violations,
        untested,
        // No MiB count here: where in the last MiB the kill lands varies from run to run.
        &format!(
            "the child was SIGKILLed before it had written {LIMIT_MB} of {ALLOC_MB} MiB; \
             oom_kill {}",
            oom_kills.unwrap_or(0)
        ),
        json!({
            "child": {"signal": "SIGKILL"},
            "touched_below_limit": true,
            "oom_kills": "> 0",
        }),
        json!({
            "child": child,
            "touched_below_limit": touched < LIMIT_MB,
            "oom_kills": oom_kills,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn killed() -> AllocOutcome {
        AllocOutcome {
            mb: ALLOC_MB as usize,
            touched_mb: LIMIT_MB as usize - 2,
            child: Called::Done(Ended::Signal("SIGKILL".into())),
        }
    }

    #[test]
    fn passes_when_killed_below_the_limit_and_counted() {
        let v = judge(&killed(), Some(Ok(1)));
        v.assert_holds();
        assert_eq!(v.observed["child"], json!({"signal": "SIGKILL"}));
    }

    #[test]
    fn memory_past_the_limit_or_no_oom_kill_is_a_violation() {
        let completed = AllocOutcome {
            child: Called::Done(Ended::Code(0)),
            touched_mb: ALLOC_MB as usize,
            ..killed()
        };
        let late = AllocOutcome {
            touched_mb: LIMIT_MB as usize + 10,
            ..killed()
        };
        for (p, oom, needle) in [
            (
                completed,
                Some(Ok(1)),
                r#"was not killed: it ended with {"code":0} after 128 MiB"#,
            ),
            (late, Some(Ok(1)), "wrote 42 MiB"),
            (killed(), Some(Ok(0)), "OOM counter is 0"),
        ] {
            judge(&p, oom).assert_violated(needle);
        }
    }

    #[test]
    fn a_child_stopped_otherwise_or_missing_statistics_are_untested() {
        let malloc_failed = AllocOutcome {
            child: Called::Done(Ended::Code(2)),
            touched_mb: 3,
            ..killed()
        };
        let gone = StatError::Malformed {
            reason: "gone".into(),
        };
        for (p, oom, needle) in [
            (malloc_failed, Some(Ok(1)), r#"ended with {"code":2} after 3 MiB"#),
            (killed(), Some(Err(gone)), "unreadable: gone"),
            (killed(), None, "no memory cgroup"),
        ] {
            judge(&p, oom).assert_inconclusive(needle);
        }
    }
}
