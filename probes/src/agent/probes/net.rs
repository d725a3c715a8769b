//! `net`: the network interfaces this container sees, and whether it can reach a TCP port on
//! 127.0.0.1 that the host listens on.
//!
//! Argument `connect=<ip>:<port>` (optional). Result:
//! `{"interfaces": ["lo"] | {"error": ..}, "connect": {"connected": true} | errno}`.

use super::{errno_json, kv};
use crate::parse::parse_net_dev;
use nix::errno::Errno;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Loopback answers at once or not at all; a filtered port must not stall the agent.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

pub fn run(arg: &str) -> Value {
    let args = kv(arg);
    let mut out = json!({ "interfaces": interfaces() });
    if let Some(target) = args.get("connect") {
        out["connect"] = connect(target);
    }
    out
}

fn interfaces() -> Value {
    let path = "/proc/self/net/dev";
    match std::fs::read_to_string(path) {
        Ok(text) => match parse_net_dev(&text) {
            Ok(devs) => json!(devs.into_iter().map(|d| d.name).collect::<Vec<_>>()),
            Err(e) => json!({"error": format!("parse {path}: {e}")}),
        },
        Err(e) => json!({"error": format!("read {path}: {e}")}),
    }
}

fn connect(target: &str) -> Value {
    let addr: SocketAddr = match target.parse() {
        Ok(a) => a,
        Err(_) => return json!({"error": format!("bad address `{target}`")}),
    };
    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(_) => json!({"connected": true}),
        // std reports its own poll timeout without an errno.
        Err(e) => errno_json(e.raw_os_error().map_or(Errno::ETIMEDOUT, Errno::from_raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_this_hosts_loopback_and_reaches_a_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v = run(&format!("connect={}", l.local_addr().unwrap()));
        let names = v["interfaces"].as_array().expect("interfaces listed");
        assert!(names.iter().any(|n| n == "lo"), "{v}");
        assert_eq!(v["connect"]["connected"], true, "{v}");
    }

    #[test]
    fn a_closed_port_is_refused_and_a_bad_address_reported() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert_eq!(
            run(&format!("connect=127.0.0.1:{port}"))["connect"]["errno"],
            "ECONNREFUSED"
        );
        assert!(run("connect=nowhere")["connect"]["error"]
            .as_str()
            .unwrap()
            .contains("nowhere"));
        assert!(run("").get("connect").is_none());
    }
}
