//! Start-to-exit of the agent's no-op (its cheap observation, nothing tried) under each
//! runtime in the same isolation, against the floor: the same agent started by the same timer
//! with a plain fork+exec and no isolation at all. All subjects take turns in every round.

use super::stats::{self, Summary};
use super::wait;
use crate::runtime::{Job, Runtime};
use crate::vocabulary::{Isolation, RootMode};
use isoprobe_probes::{AgentArgs, NsType};
use std::path::Path;
use std::time::{Duration, Instant};

/// The five namespaces every row has (a net namespace is the `+net` row's).
pub const BASE_NAMESPACES: [NsType; 5] = [
    NsType::Mnt,
    NsType::Pid,
    NsType::Uts,
    NsType::Ipc,
    NsType::Cgroup,
];

/// The row of the native spawner without a cgroup of its own.
pub const NATIVE_NO_CGROUP: &str = "native -cgroup";

/// The isolation the bench asks of every runtime: five namespaces (and a net namespace when
/// `net`), a pivoted root with a fresh /proc, a cgroup of its own.
pub fn isolation(net: bool) -> Isolation {
    let mut iso = Isolation {
        own_cgroup: true,
        ..Isolation::base()
    };
    iso.namespaces.extend(BASE_NAMESPACES);
    if net {
        iso.namespaces.insert(NsType::Net);
    }
    iso
}

/// One row to measure: a runtime under one isolation.
pub struct Subject {
    pub name: String,
    pub runtime: Box<dyn Runtime>,
    pub isolation: Isolation,
    /// What this row does differently from the asked isolation (a chroot, no cgroup).
    pub note: Option<String>,
}

/// The rows of runtime `name`: without and with a net namespace (and for `native` one more,
/// without its cgroup). What the runtime cannot express of
/// the isolation is dropped (a cgroup) and said in the note; a runtime that is not here, or that
/// cannot express even that, comes back as the reason it is skipped.
pub fn subjects_of(name: &str) -> Result<Vec<Subject>, String> {
    let make = || crate::runtime::by_name(name).map_err(|e| e.to_string());
    let runtime = make()?;
    runtime
        .available()
        .map_err(|e| format!("not available: {e}"))?;
    let mut rows = Vec::new();
    if runtime.name() == "native" {
        // What the kernel's cgroup join costs, told apart from the spawner's own.
        rows.push(Subject {
            name: NATIVE_NO_CGROUP.into(),
            runtime: make()?,
            isolation: Isolation {
                own_cgroup: false,
                ..isolation(false)
            },
            note: Some("no cgroup of its own".into()),
        });
    }
    for net in [false, true] {
        let mut iso = isolation(net);
        let mut notes = Vec::new();
        if runtime.unsupported(&iso).is_some() {
            iso.own_cgroup = false;
            notes.push("no cgroup of its own".to_string());
        }
        if let Some(why) = runtime.unsupported(&iso) {
            return Err(format!("cannot run the bench's isolation: {why}"));
        }
        if matches!(runtime.name().as_str(), "unshare" | "native-chroot") {
            notes.push("chroot, not pivot_root".into());
        }
        let name = if net {
            format!("{} +net", runtime.name())
        } else {
            runtime.name()
        };
        rows.push(Subject {
            name,
            runtime: make()?,
            isolation: iso,
            note: (!notes.is_empty()).then(|| notes.join(", ")),
        });
    }
    Ok(rows)
}

/// What one row measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub name: String,
    pub note: Option<String>,
    /// Milliseconds; or why the row stopped (its first failed run).
    pub result: Result<Summary, String>,
}

/// All rows and the floor, measured `runs` times each in interleaved rounds (each in a shuffled
/// order) after one warm-up round (page cache, first touch of the binaries, the runtimes' own caches).
pub struct Timings {
    pub floor: Summary,
    pub rows: Vec<Measured>,
}

pub fn measure(
    subjects: &[Subject],
    rootfs: &Path,
    agent: &str,
    runs: usize,
    timeout: Duration,
) -> Result<Timings, String> {
    let host_agent = rootfs.join(agent.trim_start_matches('/'));
    let n = subjects.len() + 1;
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); n];
    let mut failed: Vec<Option<String>> = vec![None; n];
    for round in 0..=runs {
        let order = stats::shuffled_order(n, |k| {
            u64::from_le_bytes(crate::random::bytes::<8>()) as usize % k
        });
        for i in order {
            if crate::cancel::requested() {
                return Err("interrupted".into());
            }
            if failed[i].is_some() {
                continue;
            }
            let started = Instant::now();
            let outcome = if i == 0 {
                floor_once(&host_agent)
            } else {
                run_once(&subjects[i - 1], rootfs, agent, timeout)
            };
            let ms = started.elapsed().as_secs_f64() * 1e3;
            match outcome {
                // Round 0 warms up and is not counted.
                Ok(()) if round > 0 => samples[i].push(ms),
                Ok(()) => {}
                Err(e) if i == 0 => return Err(format!("the floor (plain fork+exec): {e}")),
                Err(e) => failed[i] = Some(e),
            }
        }
    }
    let floor = stats::summarize(&samples[0]).ok_or("no floor samples (--runs 0?)")?;
    let rows = subjects
        .iter()
        .enumerate()
        .map(|(k, s)| Measured {
            name: s.name.clone(),
            note: s.note.clone(),
            result: match failed[k + 1].take() {
                Some(e) => Err(e),
                None => stats::summarize(&samples[k + 1]).ok_or_else(|| "no samples".into()),
            },
        })
        .collect();
    Ok(Timings { floor, rows })
}

/// The agent's no-op started straight from the host, its output read as a runtime's is.
fn floor_once(agent: &Path) -> Result<(), String> {
    let mut cmd = std::process::Command::new(agent);
    let done = wait::run(&mut cmd).map_err(|e| e.to_string())?;
    if !done.success || done.stdout.is_empty() {
        return Err(format!("the agent failed (status {})", done.status));
    }
    Ok(())
}

fn run_once(s: &Subject, rootfs: &Path, agent: &str, timeout: Duration) -> Result<(), String> {
    debug_assert!(s.isolation.root != RootMode::None);
    s.runtime
        .run(&Job {
            isolation: &s.isolation,
            rootfs,
            agent,
            args: AgentArgs::default(),
            timeout,
        })
        .map(drop)
        .map_err(|e| e.to_string())
}
