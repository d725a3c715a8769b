//! isoprobe-agent: runs inside the container, observes, prints one JSON object, exits 0
//! (after `--hold-ms`, when asked to stay).
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
    if args.hold_ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(args.hold_ms));
    }
}
