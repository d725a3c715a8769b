//! `net.only-loopback`: in a new network namespace the only interface is `lo`, and a TCP port
//! the host listens on at 127.0.0.1 is out of reach.

use super::host_side;
use super::{Check, Ctx, Requirement, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::HostStepError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::{AgentArgs, NsType, ProbeRequest};
use serde_json::{json, Value};
use std::net::TcpListener;

pub struct OnlyLoopback;

impl Check for OnlyLoopback {
    fn id(&self) -> String {
        "net.only-loopback".into()
    }
    fn description(&self) -> String {
        "inside a network namespace the only interface is lo, and a TCP listener on the host's \
         127.0.0.1 cannot be reached"
            .into()
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
        // Held open for the whole run: the kernel completes a connect into the backlog without
        // an accept, so nobody has to serve it. Closed when it drops, on every path.
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HostStepError::new("listen on the host", "127.0.0.1:0", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HostStepError::new("read the listener's port", "127.0.0.1:0", e))?;
        let out = ctx.run(
            iso,
            AgentArgs {
                probes: vec![ProbeRequest::new("net", format!("connect={addr}"))],
                ..AgentArgs::default()
            },
        );
        drop(listener);
        Ok(judge(&host_side::probe_result(&out?, "net")))
    }
}

fn judge(p: &Value) -> Verdict {
    let mut failures = Vec::new();
    let interfaces: Option<Vec<&str>> = p["interfaces"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    match &interfaces {
        Some(names) if names == &["lo"] => {}
        Some(names) => failures.push(format!(
            "the container sees interfaces {} instead of only lo",
            names.join(", ")
        )),
        None => failures.push(format!(
            "the container could not list its interfaces: {}",
            p["interfaces"]
        )),
    }
    let connect = &p["connect"];
    let connect_seen = if connect["connected"] == true {
        failures.push("the container reached the host's listener on 127.0.0.1".into());
        json!("connected")
    } else if let Some(errno) = connect["errno"].as_str() {
        json!(errno)
    } else {
        failures.push(format!("the container made no connect attempt: {connect}"));
        connect.clone()
    };
    Verdict::from_failures(
        failures,
        "only lo inside, and the host's 127.0.0.1 listener is out of reach",
        json!({"interfaces": ["lo"], "connect_to_host_listener": "fails"}),
        json!({"interfaces": interfaces, "connect_to_host_listener": connect_seen}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_only_on_lo_alone_and_a_failed_connect() {
        let ok = json!({"interfaces": ["lo"], "connect": {"errno": "ENETUNREACH"}});
        assert!(judge(&ok).pass);
        let host = json!({"interfaces": ["lo", "eth0"], "connect": {"connected": true}});
        let v = judge(&host);
        assert!(!v.pass);
        assert!(
            v.reason.contains("lo, eth0") && v.reason.contains("reached"),
            "{}",
            v.reason
        );
        assert!(!judge(&json!({"interfaces": {"error": "x"}, "connect": {"errno": "E"}})).pass);
        assert!(!judge(&json!({"interfaces": ["lo"]})).pass);
        assert!(!judge(&json!({"interfaces": [], "connect": {"errno": "E"}})).pass);
    }
}
