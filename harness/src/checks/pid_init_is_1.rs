//! `pid.init-is-1`: the agent is PID 1 of its own pid namespace, its /proc shows only the
//! container, and the host sees it under another pid.
//!
//! The inside view alone shows a pid namespace: outside one the agent cannot be pid 1 (the
//! machine's init is) nor see a /proc holding only itself. So when the runtime gives no host
//! pid (util-linux `unshare`), the check still passes on that view, and its reason says that
//! the host's half was not checked rather than claiming it.

use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, Reading};
use serde_json::json;

pub struct PidInitIsOne;

impl Check for PidInitIsOne {
    fn id(&self) -> String {
        "pid.init-is-1".into()
    }
    fn description(&self) -> String {
        "the agent is PID 1 in its pid namespace, its /proc lists only the container's \
         processes, and the host sees it under a different pid (NSpid)"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Pid).shown_by("the agent's pid is")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, AgentArgs::default())?;
        let o = &out.observation;
        Ok(judge(o.pid, &o.proc_pids, out.host_nspid.as_deref()))
    }
}

/// `pid` and `proc_pids` as the agent saw them; `host_nspid`: its NSpid read on the host
/// (`None` when the runtime gives no host pid).
fn judge(pid: i32, proc_pids: &Reading<Vec<i32>>, host_nspid: Option<&[i32]>) -> Verdict {
    let mut violations = Vec::new();
    let mut untested = Vec::new();
    if pid != 1 {
        violations.push(format!("the agent's pid is {pid}, not 1"));
    }
    let visible = proc_pids.ok();
    match visible {
        Some(p) if p.as_slice() == [pid] => {}
        Some(p) => violations.push(format!(
            "/proc inside lists {} processes, not just the agent",
            p.len()
        )),
        None => untested.push(format!("/proc unreadable inside: {proc_pids:?}")),
    }
    let host_half = match host_nspid {
        Some(ns) => {
            if ns.last() != Some(&pid) || ns.first() == Some(&pid) || ns.len() < 2 {
                violations.push(format!(
                    "the host's NSpid of the container is {ns:?}: no separate pid seen from inside"
                ));
            }
            "another pid on the host"
        }
        None => "the host's view was not checked: the runtime gives no host pid",
    };
    let shown: Vec<i32> = visible.cloned().unwrap_or_default().into_iter().take(16).collect();
    Verdict::judge(
        violations,
        untested,
        &format!("PID 1 inside, only itself in /proc, {host_half}"),
        json!({"pid": 1, "proc_pids": [1], "host_nspid": ["<host pid>", 1]}),
        json!({
            "pid": pid,
            "proc_pids_count": visible.map(Vec::len),
            "proc_pids_first": shown,
            "host_nspid": host_nspid,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Finding;

    fn only_itself() -> Reading<Vec<i32>> {
        Reading::Ok(vec![1])
    }

    #[test]
    fn holds_inside_and_on_the_host() {
        let v = judge(1, &only_itself(), Some(&[4242, 1]));
        assert!(v.pass(), "{}", v.reason);
        assert!(v.reason.ends_with("another pid on the host"), "{}", v.reason);
    }

    #[test]
    fn without_a_host_pid_the_reason_says_what_was_not_checked() {
        let v = judge(1, &only_itself(), None);
        assert!(v.pass(), "{}", v.reason);
        assert!(!v.reason.contains("another pid on the host"), "{}", v.reason);
        assert!(v.reason.contains("the host's view was not checked"), "{}", v.reason);
    }

    #[test]
    fn each_violation_is_found_on_its_own() {
        let many = Reading::Ok(vec![1, 2, 3]);
        for (pid, procs, host, needle) in [
            (4242, Reading::Ok(vec![4242]), None, "pid is 4242, not 1"),
            (1, many, Some(&[4242, 1][..]), "lists 3 processes"),
            (1, only_itself(), Some(&[1][..]), "the host's NSpid of the container is [1]"),
        ] {
            let v = judge(pid, &procs, host);
            v.assert_violated(needle);
        }
    }

    #[test]
    fn an_unreadable_proc_is_inconclusive() {
        let v = judge(1, &Reading::Err("EACCES".into()), Some(&[4242, 1]));
        assert_eq!(v.finding, Finding::Inconclusive, "{}", v.reason);
        v.assert_fails_with("/proc unreadable inside");
    }
}
