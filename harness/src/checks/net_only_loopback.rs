//! `net.only-loopback`: in a new network namespace the only interface is `lo`, and a TCP port
//! the host listens on at 127.0.0.1 is out of reach.

use super::host_side;
use super::{Check, Ctx, Verdict, Control, ShownBy};
use crate::runtime::RunError;
use crate::vocabulary::HostStepError;
use crate::vocabulary::{Isolation, Sabotage};
use isoprobe_probes::contract::{Called, NetArgs, NetOutcome};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;
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
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Net).shown_by("reached the host's listener")
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        // Held open for the whole run: the kernel completes a connect into the backlog without
        // an accept, so nobody has to serve it. Closed when it drops, on every path.
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HostStepError::new("listen on the host", "127.0.0.1:0", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HostStepError::new("read the listener's port", "127.0.0.1:0", e))?;
        let out = ctx.run(
            iso,
            AgentArgs::trying(NetArgs {
                connect: Some(addr),
            }),
        );
        drop(listener);
        Ok(host_side::tried(&out?).map_or_else(|v| v, judge))
    }
}

fn judge(p: &NetOutcome) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let interfaces: Option<Vec<&str>> = p
        .interfaces
        .done()
        .map(|a| a.iter().map(String::as_str).collect());
    match &interfaces {
        Some(names) if names == &["lo"] => {}
        // Only an interface besides lo is one the container must not see.
        Some(names) => {
            let line = format!(
                "the container sees interfaces {} instead of only lo",
                names.join(", ")
            );
            if names.iter().any(|n| *n != "lo") {
                violations.push(line)
            } else {
                untested.push(line)
            }
        }
        None => untested.push(format!(
            "the container could not list its interfaces: {}",
            host_side::shown(&p.interfaces)
        )),
    }
    let connect_seen = match &p.connect {
        Some(Called::Done(c)) if c.connected => {
            violations.push("the container reached the host's listener on 127.0.0.1".into());
            json!("connected")
        }
        Some(Called::Failed(e)) if e.errno.is_some() => json!(e.errno),
        other => {
            let shown = host_side::shown(other);
            untested.push(format!("the container made no connect attempt: {shown}"));
            shown
        }
    };
    Verdict::judge(
        violations,
        untested,
        "only lo inside, and the host's 127.0.0.1 listener is out of reach",
        json!({"interfaces": ["lo"], "connect_to_host_listener": "fails"}),
        json!({"interfaces": interfaces, "connect_to_host_listener": connect_seen}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use isoprobe_probes::contract::{CallError, Connected};
    use nix::errno::Errno;

    fn seen(names: &[&str], connect: Option<Called<Connected>>) -> NetOutcome {
        NetOutcome {
            interfaces: Called::Done(names.iter().map(|n| n.to_string()).collect()),
            connect,
        }
    }

    fn refused(e: Errno) -> Option<Called<Connected>> {
        Some(Called::Failed(CallError::from_errno(e)))
    }

    #[test]
    fn passes_only_on_lo_alone_and_a_failed_connect() {
        let ok = judge(&seen(&["lo"], refused(Errno::ENETUNREACH)));
        ok.assert_holds();
        assert_eq!(ok.observed["connect_to_host_listener"], "ENETUNREACH");
    }

    #[test]
    fn more_interfaces_or_a_reached_listener_is_a_violation() {
        let reached = Some(Called::Done(Connected { connected: true }));
        let v = judge(&seen(&["lo", "eth0"], reached));
        v.assert_violated("lo, eth0");
        v.assert_violated("reached the host's listener");
    }

    #[test]
    fn no_interface_list_or_no_connect_attempt_is_untested() {
        let unlisted = NetOutcome {
            interfaces: Called::Failed(CallError::text("x")),
            ..seen(&[], refused(Errno::EPERM))
        };
        judge(&unlisted).assert_inconclusive("could not list its interfaces");
        judge(&seen(&[], refused(Errno::EPERM))).assert_inconclusive("interfaces  instead of only lo");
        judge(&seen(&["lo"], None)).assert_inconclusive("made no connect attempt");
        let unconnected = Some(Called::Done(Connected { connected: false }));
        judge(&seen(&["lo"], unconnected)).assert_inconclusive("made no connect attempt");
    }
}
