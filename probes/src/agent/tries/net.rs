//! `net`: the network interfaces this container sees, and whether it can reach a TCP port on
//! 127.0.0.1 that the host listens on.

use crate::contract::{CallError, Called, Connected, NetArgs, NetOutcome};
use crate::parse::parse_net_dev;
use nix::errno::Errno;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Loopback answers at once or not at all; a filtered port must not stall the agent.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

pub fn run(args: &NetArgs) -> NetOutcome {
    NetOutcome {
        interfaces: interfaces(),
        connect: args.connect.map(connect),
    }
}

fn interfaces() -> Called<Vec<String>> {
    let path = "/proc/self/net/dev";
    let failed = |e: String| Called::Failed(CallError::text(e));
    match std::fs::read_to_string(path) {
        Ok(text) => match parse_net_dev(&text) {
            Ok(devs) => Called::Done(devs.into_iter().map(|d| d.name).collect()),
            Err(e) => failed(format!("parse {path}: {e}")),
        },
        Err(e) => failed(format!("read {path}: {e}")),
    }
}

fn connect(addr: SocketAddr) -> Called<Connected> {
    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(_) => Called::Done(Connected { connected: true }),
        // std reports its own poll timeout without an errno.
        Err(e) => Called::from_errno(Err(e
            .raw_os_error()
            .map_or(Errno::ETIMEDOUT, Errno::from_raw))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_this_hosts_loopback_and_reaches_a_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v = run(&NetArgs {
            connect: Some(l.local_addr().unwrap()),
        });
        let names = v.interfaces.done().expect("interfaces listed");
        assert!(names.iter().any(|n| n == "lo"), "{v:?}");
        assert_eq!(v.connect, Some(Called::Done(Connected { connected: true })));
    }

    #[test]
    fn a_closed_port_is_refused_and_no_address_means_no_connect() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let v = run(&NetArgs {
            connect: Some(addr),
        });
        assert_eq!(v.connect.unwrap().errno(), Some("ECONNREFUSED"));
        assert!(run(&NetArgs::default()).connect.is_none());
    }
}
