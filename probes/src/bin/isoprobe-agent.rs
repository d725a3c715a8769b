//! isoprobe-agent: runs inside the container, observes, prints one JSON object, exits 0.
//! It is built static so that it runs in a rootfs that holds nothing but itself.

use isoprobe_probes::{agent, AgentArgs};
use std::io::Write;

fn main() {
    let args = match AgentArgs::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let obs = agent::observe(&args);
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &obs)
        .map_err(std::io::Error::from)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush());
    if let Err(e) = written {
        eprintln!("isoprobe-agent: writing the observation failed: {e}");
        std::process::exit(3);
    }
}
