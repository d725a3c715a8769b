//! Named probes: each tries one thing from inside the container and reports what happened as
//! a JSON object. The harness asks for them with `--probe NAME[=ARG]` and judges the result.
//!
//! Conventions: a probe never panics and never decides; a failed system call is reported as
//! `{"errno": "EPERM", "error": "<text>"}` under the key of the attempt, so the judge can tell
//! "blocked" from "broken". To add a probe: a module here with `pub fn run(arg: &str) -> Value`,
//! and a line in [`run`].

mod alloc;
mod caps;
mod clocks;
mod forks;
mod hostproc;
mod ids;
mod ipc;
mod mnt;
mod net;
mod nnp;
mod oldroot;
mod sysctl;
mod userns;

use serde_json::{json, Value};

/// Runs the probe `name` with its argument.
pub fn run(name: &str, arg: &str) -> Value {
    match name {
        "alloc" => alloc::run(arg),
        "caps" => caps::run(arg),
        "forks" => forks::run(arg),
        "ids" => ids::run(arg),
        "nnp" => nnp::run(arg),
        "clocks" => clocks::run(arg),
        "ipc" => ipc::run(arg),
        "net" => net::run(arg),
        "sysctl" => sysctl::run(arg),
        "hostproc" => hostproc::run(arg),
        "mnt" => mnt::run(arg),
        "oldroot" => oldroot::run(arg),
        "userns" => userns::run(arg),
        _ => json!({"error": format!("unknown probe `{name}` (arg `{arg}`)")}),
    }
}

/// The JSON of a failed call: errno name and text.
pub fn errno_json(e: nix::errno::Errno) -> Value {
    json!({"errno": format!("{e:?}"), "error": e.desc()})
}

/// Parses `k=v,k=v` arguments.
pub fn kv(arg: &str) -> std::collections::BTreeMap<&str, &str> {
    arg.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_probe_is_reported_not_fatal() {
        assert!(run("nope", "")["error"].as_str().unwrap().contains("nope"));
    }

    #[test]
    fn kv_splits_pairs() {
        let m = kv("key=5,name=/q,flag");
        assert_eq!(m["key"], "5");
        assert_eq!(m["name"], "/q");
        assert_eq!(m["flag"], "");
    }
}
