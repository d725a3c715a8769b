//! `net.abstract-unix-isolated`: an abstract unix socket the host listens on cannot be reached
//! from inside. Abstract names have no file to protect them: they are scoped by the network
//! namespace alone, and a container in the host's network namespace reaches every one of them
//! (the containerd-shim escape, CVE-2020-15257).
//!
//! The host (the stand-in host: its network namespace) binds a listener on a name made of the
//! run's token; the agent connects to that name. Judged on both sides: the agent's connect, and
//! what the host's listener accepted (with the peer's pid) once the container is gone.

use super::host_side;
use super::{Check, Control, Ctx, Layer, ShownBy, Verdict};
use crate::runtime::RunError;
use crate::vocabulary::{HostStepError, Isolation, Sabotage};
use isoprobe_probes::contract::{AbstractUnixArgs, AbstractUnixOutcome, Called};
use isoprobe_probes::{AgentArgs, NsType};
use serde_json::json;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

pub struct AbstractUnixIsolated;

impl Check for AbstractUnixIsolated {
    fn id(&self) -> String {
        "net.abstract-unix-isolated".into()
    }
    fn description(&self) -> String {
        "inside a network namespace, a connect to an abstract unix socket the host listens on \
         is refused (ECONNREFUSED) and the host's listener accepts nothing"
            .into()
    }
    fn control(&self) -> Control {
        Sabotage::DropNamespace(NsType::Net).shown_by("reached the host's abstract socket")
    }
    /// The network namespace is what isolates, but the check is about a socket outside it
    /// that a container could use to escape (a runtime's own control socket): hardening.
    fn layer(&self) -> Layer {
        Layer::Hardening
    }
    fn run(&self, ctx: &Ctx, iso: &Isolation) -> Result<Verdict, RunError> {
        let name = format!("isoprobe-abstract-{}", host_side::token());
        let at = format!("@{name}");
        let step = |what: &'static str| { let at = &at; move |e| HostStepError::new(what, at, e) };
        let listener = SocketAddr::from_abstract_name(name.as_bytes())
            .and_then(|a| UnixListener::bind_addr(&a))
            .map_err(step("listen on the abstract socket"))?;
        // Accepted only after the run: a connect completes into the backlog without it.
        listener
            .set_nonblocking(true)
            .map_err(step("make the listener non-blocking"))?;
        let out = ctx.run(iso, AgentArgs::trying(AbstractUnixArgs { name: name.clone() }));
        let accepted = accept_all(&listener);
        // Closed here, on every path (the name goes with it).
        drop(listener);
        Ok(host_side::tried(&out?).map_or_else(|v| v, |p| judge(p, &accepted)))
    }
}

/// The connections waiting on the listener, each as the pid of the process that made it.
fn accept_all(l: &UnixListener) -> Vec<Option<i32>> {
    let mut peers = Vec::new();
    // The bound keeps a flood of connections from holding the check up.
    while peers.len() < 64 {
        let Ok((s, _)) = l.accept() else { break };
        peers.push(peer_pid(&s));
    }
    peers
}

/// SO_PEERCRED's pid: the process that connected, as this (the machine's) pid namespace sees
/// it.
fn peer_pid(s: &std::os::unix::net::UnixStream) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && cred.pid > 0).then_some(cred.pid)
}

/// Holds when the agent's connect was refused and the host accepted nothing; violated when
/// either side shows a connection.
fn judge(p: &AbstractUnixOutcome, accepted: &[Option<i32>]) -> Verdict {
    let (mut violations, mut untested) = (Vec::new(), Vec::new());
    let peers: Vec<String> = accepted
        .iter()
        .map(|p| p.map_or("an unknown pid".into(), |p| format!("pid {p}")))
        .collect();
    let host_saw = if peers.is_empty() {
        String::new()
    } else {
        format!(" (the host accepted a connection from {})", peers.join(", "))
    };
    let connect = match &p.connect {
        Called::Done(c) if c.connected => {
            if accepted.is_empty() {
                untested.push(format!(
                    "the agent connected to @{} but the host's listener accepted nothing: it \
                     reached another socket of that name",
                    p.name
                ));
            } else {
                violations.push(format!(
                    "the container reached the host's abstract socket @{}{host_saw}",
                    p.name
                ));
            }
            json!("connected")
        }
        Called::Done(_) => {
            untested.push("the agent reported no connect result".into());
            json!("not tried")
        }
        Called::Failed(e) => {
            if !accepted.is_empty() {
                violations.push(format!(
                    "the container's connect failed ({}), yet the host's listener accepted a \
                     connection: something reached the host's abstract socket{host_saw}",
                    host_side::shown(e)
                ));
            } else if !e.errno_is("ECONNREFUSED") {
                untested.push(format!(
                    "the connect gave {}, not ECONNREFUSED (the name unknown in the \
                     container's network namespace)",
                    host_side::shown(e)
                ));
            }
            json!(e.errno.clone().unwrap_or_else(|| e.error.clone()))
        }
    };
    Verdict::judge(
        violations,
        untested,
        "the connect to the host's abstract socket was refused (ECONNREFUSED) and the host \
         accepted nothing",
        json!({"connect": "ECONNREFUSED", "host_accepted": 0}),
        json!({
            "connect": connect,
            "host_accepted": accepted.len(),
            // Under `pid`, which snapshots redact: a peer's pid differs on every run.
            "peers": accepted.iter().map(|p| json!({"pid": p})).collect::<Vec<_>>(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoprobe_probes::contract::{CallError, Connected};
    use nix::errno::Errno;

    fn outcome(connect: Called<Connected>) -> AbstractUnixOutcome {
        AbstractUnixOutcome {
            name: "isoprobe-abstract-1_ab".into(),
            connect,
        }
    }

    fn refused(e: Errno) -> AbstractUnixOutcome {
        outcome(Called::Failed(CallError::from_errno(e)))
    }

    #[test]
    fn holds_when_refused_and_nothing_accepted() {
        let v = judge(&refused(Errno::ECONNREFUSED), &[]);
        v.assert_holds();
        assert_eq!(v.observed["connect"], "ECONNREFUSED");
        assert_eq!(v.observed["host_accepted"], 0);
    }

    #[test]
    fn a_connection_either_side_saw_is_a_violation() {
        let connected = outcome(Called::Done(Connected { connected: true }));
        judge(&connected, &[Some(42)]).assert_violated(
            "reached the host's abstract socket @isoprobe-abstract-1_ab (the host accepted a \
             connection from pid 42)",
        );
        judge(&refused(Errno::ECONNREFUSED), &[None])
            .assert_violated("reached the host's abstract socket (the host accepted a connection from an unknown pid)");
    }

    #[test]
    fn one_side_alone_or_another_errno_is_inconclusive() {
        let connected = outcome(Called::Done(Connected { connected: true }));
        judge(&connected, &[]).assert_inconclusive("accepted nothing");
        judge(&refused(Errno::EACCES), &[]).assert_inconclusive("gave");
    }

    #[test]
    #[serial_test::serial(machine)]
    fn the_listener_sees_a_connection_from_its_own_namespace() {
        // Needs the stand-in host (root): its network namespace, not the machine's.
        crate::require_root!("the_listener_sees_a_connection_from_its_own_namespace");
        crate::standin::in_a_stand_in(|| {
            let name = format!("isoprobe-abstract-test-{}", host_side::token());
            let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let l = UnixListener::bind_addr(&addr).unwrap();
            l.set_nonblocking(true).unwrap();
            assert!(accept_all(&l).is_empty());
            drop(std::os::unix::net::UnixStream::connect_addr(&addr).unwrap());
            assert_eq!(accept_all(&l), [Some(std::process::id() as i32)]);
        });
    }
}
