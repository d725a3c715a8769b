//! `abstract_unix`: whether the container can connect to an abstract unix socket by name.
//! Abstract names live in the network namespace: a listener the host made is reachable only
//! from its own namespace.

use crate::contract::{AbstractUnixArgs, AbstractUnixOutcome, CallError, Called, Connected};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};

pub fn run(args: &AbstractUnixArgs) -> AbstractUnixOutcome {
    let connect = SocketAddr::from_abstract_name(args.name.as_bytes())
        .and_then(|addr| UnixStream::connect_addr(&addr));
    AbstractUnixOutcome {
        name: args.name.clone(),
        // Dropped at once: the host's accept sees the connection and its peer either way.
        connect: match connect {
            Ok(_) => Called::Done(Connected { connected: true }),
            Err(e) => Called::Failed(CallError::from_io(&e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn reaches_a_listener_in_its_own_namespace_and_is_refused_without_one() {
        let name = format!("isoprobe-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let l = UnixListener::bind_addr(&addr).unwrap();
        let v = run(&AbstractUnixArgs { name: name.clone() });
        assert_eq!(v.connect, Called::Done(Connected { connected: true }));
        assert!(l.accept().is_ok());
        drop(l);
        let v = run(&AbstractUnixArgs { name });
        assert_eq!(v.connect.errno(), Some("ECONNREFUSED"), "{v:?}");
    }
}
