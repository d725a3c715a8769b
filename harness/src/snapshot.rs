//! The normalised report that per-kernel snapshots record: what stays the same from run to run
//! on one kernel (statuses, reasons, the features seen) with what does not (pids, inode numbers,
//! host names, timings, exact CPU shares) redacted or rounded.

use crate::report::Report;
use serde_json::{json, Map, Value};

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

/// The report as the snapshot stores it. `host_names` are replaced wherever they occur (the
/// host's hostname shows up in the uts control).
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

/// Keys whose values differ on every run: replaced by a placeholder naming what they were.
const VOLATILE: [&str; 9] = [
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
                        json!(n.as_f64().map(|x| (x * 10.0).round() / 10.0))
                    }
                    ("share_of_wall", Value::Number(n)) => json!(match n.as_f64() {
                        Some(x) if x < 0.5 => "below half a CPU",
                        _ => "half a CPU or more",
                    }),
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

/// Prefixes of the temporary names isoprobe makes; the random part after them is redacted.
const TEMP_PREFIXES: [&str; 3] = ["isoprobe-canary-", "isoprobe-rootfs-", "isoprobe-scratch-"];

/// Digits become `N` (pids, counts and measured shares in reasons), host names `[host]`,
/// random temp names `[tmp]`.
fn scrub_text(s: &str, host_names: &[&str]) -> String {
    let mut s = s.to_string();
    for prefix in TEMP_PREFIXES {
        let mut rest = s.as_str();
        let mut out = String::new();
        while let Some(i) = rest.find(prefix) {
            out.push_str(&rest[..i + prefix.len()]);
            out.push_str("[tmp]");
            rest = rest[i + prefix.len()..]
                .trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
        }
        out.push_str(rest);
        s = out;
    }
    for h in host_names.iter().filter(|h| !h.is_empty()) {
        s = s.replace(&format!("`{h}`"), "`[host]`");
    }
    let mut out = String::with_capacity(s.len());
    let mut in_number = false;
    for ch in s.chars() {
        let digitish = ch.is_ascii_digit() || (in_number && ch == '.');
        if digitish {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_to_major_minor() {
        assert_eq!(major_minor("6.18.44-fc-v782"), "6.18");
        assert_eq!(major_minor("5.10.0-33-cloud-amd64"), "5.10");
        assert_eq!(major_minor("7.2-rc1"), "7.2");
    }

    #[test]
    fn volatile_values_are_redacted_and_findings_kept() {
        let v = json!({"pid": 4242, "dev": 4, "ino": 4026531836u64, "share_per_period": 0.213,
                       "share_of_wall": 0.97, "inside": ["vm", "isoprobe-uts-a"], "x": {"pid": 1}});
        let s = scrub(&v, &["vm"]);
        assert_eq!(s["pid"], "[pid]");
        assert_eq!(s["x"]["pid"], 1);
        assert_eq!(s["ino"], "[ino]");
        assert_eq!(s["share_per_period"], 0.2);
        assert_eq!(s["share_of_wall"], "half a CPU or more");
        assert_eq!(s["inside"][1], "isoprobe-uts-a");
    }

    #[test]
    fn reasons_lose_numbers_and_host_names() {
        assert_eq!(
            scrub_text("pid is 9946, not 1; saw hostname `vm`; share 0.21", &["vm"]),
            "pid is N, not N; saw hostname `[host]`; share N"
        );
        assert_eq!(
            scrub_text(
                "open /tmp/isoprobe-scratch-Ab12/isoprobe-canary-x_9Z/canary",
                &[]
            ),
            "open /tmp/isoprobe-scratch-[tmp]/isoprobe-canary-[tmp]/canary"
        );
    }
}
