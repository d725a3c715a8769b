//! The same checks under every runtime: each passes what the runtime truly isolates, skips
//! with a reason what it cannot express, fails exactly where the runtime is known to be weak
//! (and must fail there, not skip: the weak runtime has to be caught), every control is
//! detected or skipped with a reason, and nothing is left behind. One case per runtime in
//! `runtime::NAMES` but `native` (that is `checks_native`), named `runtime::<name>`; what a
//! runtime is known not to isolate is stated by its adapter (`Runtime::known_weaknesses`).

mod common;

use common::cases::{case, run_one_at_a_time};
use isoprobe::report::{ControlStatus, Status};
use isoprobe::runtime;

/// Runtime containers still registered in a runtime's state directory.
fn leftover_containers(runtime: &str) -> Vec<String> {
    let bin = match runtime {
        "runc" | "runc-no-pivot" => "runc",
        "crun" | "crun-no-pivot" => "crun",
        "youki" => "youki",
        _ => return vec![],
    };
    let out = std::process::Command::new(bin)
        .arg("list")
        .arg("-q")
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains("isoprobe"))
            .map(str::to_string)
            .collect(),
        Err(_) => vec![],
    }
}

fn runtime_isolates_what_it_claims_and_every_control_is_detected(name: &str) {
    require_root!(name);
    let rt = match runtime::by_name(name) {
        Ok(rt) => rt,
        Err(e) => panic!("{name} must be a known runtime: {e}"),
    };
    if let Err(reason) = rt.available() {
        common::skip(name, &reason.to_string());
        return;
    }
    let report = common::run_suite(rt.as_ref());
    let weak: Vec<&str> = rt.known_weaknesses().iter().map(|w| w.check).collect();
    let mut problems = Vec::new();
    for c in &report.checks {
        match c.status {
            Status::Fail if !weak.contains(&c.id.as_str()) => {
                problems.push(format!("{} failed: {}", c.id, c.reason))
            }
            Status::Pass if weak.contains(&c.id.as_str()) => problems.push(format!(
                "{} passed, but {name} is known not to isolate it: {}",
                c.id, c.reason
            )),
            // A weakness the runtime is known to have must be caught failing; skipped, the
            // weak runtime would look no worse than one that isolates.
            Status::Skip if weak.contains(&c.id.as_str()) => problems.push(format!(
                "known weakness {} was not tested: skipped because {}",
                c.id, c.reason
            )),
            Status::Skip => eprintln!("{name}: {} skipped: {}", c.id, c.reason),
            _ => {}
        }
        if let Some(n) = &c.negative_control {
            match n.status {
                ControlStatus::Missed | ControlStatus::Inconclusive => problems.push(format!(
                    "{}: control `{}` {:?}: {}",
                    c.id, n.sabotage, n.status, n.reason
                )),
                ControlStatus::Skip => {
                    eprintln!("{name}: {} control skipped: {}", c.id, n.reason)
                }
                ControlStatus::Detected => {}
            }
        }
    }
    for id in &weak {
        if !report.checks.iter().any(|c| &c.id == id) {
            problems.push(format!("known weakness {id} is not a check"));
        }
    }
    assert!(problems.is_empty(), "{name}:\n  {}", problems.join("\n  "));
    // What a runtime keeps for its life (an engine's store or daemon, its cgroup parent) goes
    // with it.
    drop(rt);
    common::assert_nothing_left_behind();
    assert_eq!(
        leftover_containers(name),
        Vec::<String>::new(),
        "{name} containers left"
    );
}

/// A weakness naming no check would never be caught failing; this needs no root.
fn every_known_weakness_names_a_check() {
    let ids: Vec<String> = isoprobe::checks::all().iter().map(|c| c.id()).collect();
    for name in runtime::NAMES {
        let rt = runtime::by_name(name).unwrap_or_else(|e| panic!("{e}"));
        for w in rt.known_weaknesses() {
            assert!(
                ids.iter().any(|id| id == w.check),
                "{name}: known weakness {} is not a check",
                w.check
            );
            assert!(!w.why.is_empty(), "{name}: {} has no why", w.check);
        }
    }
}

fn main() {
    let mut cases = vec![case(
        "runtime::known-weaknesses-name-checks",
        every_known_weakness_names_a_check,
    )];
    cases.extend(
        runtime::NAMES
            .iter()
            .filter(|n| **n != "native")
            .map(|name| {
                case(format!("runtime::{name}"), move || {
                    runtime_isolates_what_it_claims_and_every_control_is_detected(name)
                })
            }),
    );
    run_one_at_a_time(cases)
}
