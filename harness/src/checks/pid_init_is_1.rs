//! `pid.init-is-1`: the agent is PID 1 of its own pid namespace, its /proc shows only the
//! container, and the host sees it under another pid.

use super::{Check, Ctx, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType};
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
    fn sabotage(&self) -> Sabotage {
        Sabotage::DropNamespace(NsType::Pid)
    }
    fn control_evidence(&self) -> &'static str {
        "the agent's pid is"
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let out = ctx.run(iso, AgentArgs::default())?;
        let o = &out.observation;
        let mut failures = Vec::new();
        if o.pid != 1 {
            failures.push(format!("the agent's pid is {}, not 1", o.pid));
        }
        let visible = o.proc_pids.ok().cloned();
        match &visible {
            Some(p) if p.as_slice() == [o.pid] => {}
            Some(p) => failures.push(format!(
                "/proc inside lists {} processes, not just the agent",
                p.len()
            )),
            None => failures.push(format!("/proc unreadable inside: {:?}", o.proc_pids)),
        }
        if let Some(ns) = &out.host_nspid {
            if ns.last() != Some(&o.pid) || ns.first() == Some(&o.pid) || ns.len() < 2 {
                failures.push(format!(
                    "the host's NSpid of the container is {ns:?}: no separate pid seen from inside"
                ));
            }
        }
        let shown: Vec<i32> = visible.unwrap_or_default().into_iter().take(16).collect();
        Ok(Verdict::from_failures(
            failures,
            "PID 1 inside, only itself in /proc, another pid on the host",
            json!({"pid": 1, "proc_pids": [1], "host_nspid": ["<host pid>", 1]}),
            json!({
                "pid": o.pid,
                "proc_pids_count": o.proc_pids.ok().map(Vec::len),
                "proc_pids_first": shown,
                "host_nspid": out.host_nspid,
            }),
        ))
    }
}
