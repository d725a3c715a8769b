//! The normalised report that per-kernel snapshots record: what stays the same from run to run
//! on one kernel (statuses, reasons, the features seen) with what does not (pids, inode numbers,
//! temporary names, host names, timings, exact CPU shares) redacted or rounded. Redaction is
//! by key in the observed values and by the phrase that introduces a volatile number in the
//! reasons, so that every other number ("changed from 64 to 99") stays readable. The feature
//! inventory is stored once per kernel ([`features`]), not in every runtime's report.

use crate::report::Report;
use regex::{Captures, Regex};
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

/// The snapshot folder of this machine: `<major>.<minor>-<cgroup mode>`, e.g. `6.18-hybrid`.
pub fn kernel_dir(report: &Report) -> String {
    format!(
        "{}-{}",
        major_minor(&report.kernel.release),
        report.cgroup_mode
    )
}

/// `6.18.44-fc-v782` -> `6.18`
pub fn major_minor(release: &str) -> String {
    release
        .split(['.', '-'])
        .take(2)
        .collect::<Vec<_>>()
        .join(".")
}

/// The report as the snapshot stores it, without the feature inventory. `host_names` are
/// replaced wherever they occur (the host's hostname shows up in the uts control).
pub fn normalise(report: &Report, host_names: &[&str]) -> Value {
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| {
            let mut v = json!({
                "id": c.id,
                "status": c.status,
                "reason": scrub_text(&c.reason, host_names),
                "expected": c.expected,
                "observed": scrub(&c.observed, host_names),
            });
            if let Some(n) = &c.negative_control {
                v["negative_control"] = json!({
                    "sabotage": n.sabotage,
                    "status": n.status,
                    "reason": scrub_text(&n.reason, host_names),
                    "observed": scrub(&n.observed, host_names),
                });
            }
            v
        })
        .collect();
    json!({
        "kernel": major_minor(&report.kernel.release),
        "cgroup_mode": report.cgroup_mode,
        "runtime": report.runtime.name,
        "summary": report.summary,
        "checks": checks,
    })
}

/// The report's feature inventory as `features.snap` stores it: the kernel compatibility
/// record, the same whatever the runtime, so kept once per kernel folder.
///
/// It is kept whole except what belongs to the machine: the `max_*_namespaces` limits (sized
/// by its memory) become `"[n]"` unless 0 (0 means "forbidden", a finding), and so do they in
/// the `how` texts; the probe cgroup's temporary name becomes `[tmp]`.
pub fn features(report: &Report, host_names: &[&str]) -> Option<Value> {
    let mut f = report.features.clone()?;
    if let Some(max) = f.get_mut("max_namespaces").and_then(Value::as_object_mut) {
        for n in max.values_mut() {
            if n.as_u64().is_some_and(|n| n != 0) {
                *n = json!("[n]");
            }
        }
    }
    if let Some(entries) = f.get_mut("syscalls").and_then(Value::as_object_mut) {
        for e in entries.values_mut() {
            if let Some(Value::String(how)) = e.get_mut("how") {
                *how = scrub_text(how, host_names);
            }
        }
    }
    if let Some(Value::String(why)) = f
        .get_mut("cgroup")
        .and_then(|c| c.get_mut("v2_files_skipped"))
    {
        *why = scrub_text(why, host_names);
    }
    Some(f)
}

/// Keys whose values differ on every run: replaced by a placeholder naming what they were. A
/// wall-clock share depends on what else ran beside the container (the engine's other runs,
/// another guest, the machine's load), so it is one of them.
const VOLATILE: [&str; 10] = [
    "share_of_wall",
    "dev",
    "ino",
    "host_nspid",
    "cpu_us",
    "nr_periods",
    "nr_throttled",
    "proc_pids_first",
    "proc_pids_count",
    "pid",
];

fn scrub(v: &Value, host_names: &[&str]) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let new = match (k.as_str(), val) {
                    // "pid 1" and "only [1] in /proc" are findings; other pids are just numbers.
                    ("pid" | "proc_pids_count", Value::Number(n)) if n.as_i64() == Some(1) => {
                        val.clone()
                    }
                    ("proc_pids_first", _) if *val == json!([1]) => val.clone(),
                    (key, Value::Null) if VOLATILE.contains(&key) => Value::Null,
                    (key, _) if VOLATILE.contains(&key) => json!(format!("[{key}]")),
                    ("share_per_period", Value::Number(n)) => {
                        json!(n.as_f64().map(round_share))
                    }
                    _ => scrub(val, host_names),
                };
                out.insert(k.clone(), new);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| scrub(x, host_names)).collect()),
        Value::String(s) if host_names.contains(&s.as_str()) => json!("[host]"),
        Value::String(s) => Value::String(scrub_text(s, host_names)),
        other => other.clone(),
    }
}

/// A measured CPU share to the nearest 0.2: the quota (0.20) is met or the share is far from
/// it (1.0 without one); to one decimal, a share of 0.25, still within the check's tolerance,
/// would flip between 0.2 and 0.3 from run to run.
fn round_share(x: f64) -> f64 {
    (x * 5.0).round() / 5.0
}

/// A phrase of the checks' texts that carries a number differing from run to run, and what
/// the number becomes. Each names what it hides, so a snapshot still reads as a sentence.
struct Volatile {
    pattern: &'static str,
    replace: Replace,
}

type Replace = fn(&Captures) -> String;

const VOLATILE_PHRASES: [Volatile; 13] = [
    // A runtime's refusal as a check records it ("refused: <its stderr>"): which errno a
    // runtime's own descriptor gives, and how much of its log it prints, vary run to run.
    Volatile {
        pattern: r"(?s)^refused: .+$",
        replace: |_| "refused: [the runtime's message]".into(),
    },
    // A runtime's log lines quoted in a refusal (runc: `time="2026-11-30T09:27:38Z"`).
    Volatile {
        pattern: r#"\btime="[0-9T:.+-]+Z?""#,
        replace: |_| r#"time="[time]""#.into(),
    },
    // Temporary files, the cgroups and the abstract socket names isoprobe makes:
    // `<prefix><pid>-<n>` or a random suffix.
    Volatile {
        pattern: r"(isoprobe-(?:canary|rootfs|scratch|spawn|oci|features|abstract|workdir|devices|mntdst|etchost|docker|podman|prop|suid|leaf)-)[A-Za-z0-9_-]+",
        replace: |c| format!("{}[tmp]", &c[1]),
    },
    // A named v1 hierarchy another check has mounted at the moment adds a line to every
    // process's /proc/<pid>/cgroup.
    Volatile {
        pattern: r"\ball \d+ hierarchies",
        replace: |_| "all [n] hierarchies".into(),
    },
    // An engine's container ids (docker's, podman's `libpod-<id>`).
    Volatile {
        pattern: r"\b[0-9a-f]{64}\b",
        replace: |_| "[id]".into(),
    },
    // The agent's host pid ("the agent's pid is 7213", "agent pid 7482"); "PID 1" stays.
    Volatile {
        pattern: r"\bpid (is )?\d+",
        replace: |c| format!("pid {}[pid]", c.get(1).map_or("", |m| m.as_str())),
    },
    Volatile {
        pattern: r"(NSpid [a-z ]*)\[[\d, ]+\]",
        replace: |c| format!("{}[pid]", &c[1]),
    },
    // Namespace ids as /proc/<pid>/ns links show them: `mnt:[4026531841]`.
    Volatile {
        pattern: r"\b([a-z_]+):\[\d+\]",
        replace: |c| format!("{}:[ino]", &c[1]),
    },
    // What the host has at the moment: its processes and mounts.
    Volatile {
        pattern: r"\b\d+ (processes|mount points)\b",
        replace: |c| format!("[n] {}", &c[1]),
    },
    Volatile {
        pattern: r"\bthrottled in \d+ of \d+ periods",
        replace: |_| "throttled in [n] of [n] periods".into(),
    },
    Volatile {
        pattern: r"\bwall share \d+(\.\d+)?",
        replace: |_| "wall share [share]".into(),
    },
    Volatile {
        pattern: r"\bshare (\d+\.\d+)",
        replace: |c| format!("share {:.1}", c[1].parse().map_or(0.0, round_share)),
    },
    // Limits sized by the machine's memory.
    Volatile {
        pattern: r"\b(max_[a-z_]+_namespaces) [1-9]\d*",
        replace: |c| format!("{} [n]", &c[1]),
    },
];

static PHRASES: LazyLock<Vec<(Regex, Replace)>> = LazyLock::new(|| {
    VOLATILE_PHRASES
        .iter()
        .map(|v| (Regex::new(v.pattern).expect("a valid pattern"), v.replace))
        .collect()
});

/// Volatile numbers and random names become placeholders, host names `[host]`; every other
/// number stays.
fn scrub_text(s: &str, host_names: &[&str]) -> String {
    let mut s = s.to_string();
    for (re, replace) in PHRASES.iter() {
        s = re.replace_all(&s, |c: &Captures| replace(c)).into_owned();
    }
    for h in host_names.iter().filter(|h| !h.is_empty()) {
        s = s.replace(&format!("`{h}`"), "`[host]`");
    }
    s
}

#[cfg(test)]
mod tests;
