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
    let mut v = json!({
        "kernel": major_minor(&report.kernel.release),
        "cgroup_mode": report.cgroup_mode,
        "runtime": report.runtime.name,
        "summary": report.summary,
        "checks": checks,
    });
    if let Some(f) = &report.features {
        v["features"] = normalise_features(f, host_names);
    }
    v
}

/// The feature inventory is the kernel compatibility record, so it is kept whole except what
/// belongs to the machine: the `max_*_namespaces` limits (sized by its memory) become `"[n]"`
/// unless 0 (0 means "forbidden", a finding), and numbers in the `how` texts and the skip
/// reason (pids in the probe cgroup's name, sizes) become `N`. Digits inside names
/// (`clone3`, `E2BIG`) stay. Landlock's ABI version is kept: it is the kernel's.
fn normalise_features(f: &Value, host_names: &[&str]) -> Value {
    let mut f = f.clone();
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
                *how = scrub_numbers(how, host_names);
            }
        }
    }
    if let Some(Value::String(why)) = f
        .get_mut("cgroup")
        .and_then(|c| c.get_mut("v2_files_skipped"))
    {
        *why = scrub_numbers(why, host_names);
    }
    f
}

/// Like [`scrub_text`] for numbers that stand alone; a digit run right after a letter, digit
/// or `_` is part of a name and kept.
fn scrub_numbers(s: &str, host_names: &[&str]) -> String {
    let mut s = s.to_string();
    for h in host_names.iter().filter(|h| !h.is_empty()) {
        s = s.replace(&format!("`{h}`"), "`[host]`");
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let glued = i > 0 && (chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_');
        if chars[i].is_ascii_digit() && !glued {
            // Digits, and dots between digits ("5.12"); a full stop after a number stays.
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            out.push('N');
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
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
    fn features_keep_kernel_facts_and_lose_machine_numbers() {
        let mut report = crate::report::sample::report();
        report.features = Some(json!({
            "namespaces": {"time": true, "user": true},
            "max_namespaces": {"user": 96364, "pid": 0, "time": null},
            "cgroup": {
                "mode": "hybrid",
                "v2_files": {"cgroup.kill": true},
                "v2_files_skipped": "cannot create the probe cgroup \
                                     /sys/fs/cgroup/isoprobe-features-4242-0: EROFS"
            },
            "syscalls": {
                "clone3": {"available": true, "how": "clone3(NULL, 0) -> EINVAL"},
                "landlock": {"available": true, "how": "-> ABI version 7", "version": 7},
                "unprivileged_userns": {"available": true,
                                        "how": "as uid 65534 -> ok (max_user_namespaces 96364)."},
                "move_mount": {"available": false, "how": "E2BIG: kernel before 5.2."}
            }
        }));
        let f = &normalise(&report, &[])["features"];
        assert_eq!(f["max_namespaces"]["user"], "[n]");
        assert_eq!(f["max_namespaces"]["pid"], 0, "0 (forbidden) is a finding");
        assert_eq!(f["max_namespaces"]["time"], Value::Null);
        assert_eq!(f["namespaces"], json!({"time": true, "user": true}));
        assert_eq!(f["cgroup"]["v2_files"]["cgroup.kill"], true);
        assert_eq!(
            f["cgroup"]["v2_files_skipped"],
            "cannot create the probe cgroup /sys/fs/cgroup/isoprobe-features-N-N: EROFS"
        );
        let sys = &f["syscalls"];
        assert_eq!(sys["clone3"]["how"], "clone3(NULL, N) -> EINVAL");
        assert_eq!(sys["landlock"]["version"], 7);
        assert_eq!(sys["landlock"]["how"], "-> ABI version N");
        assert_eq!(
            sys["unprivileged_userns"]["how"],
            "as uid N -> ok (max_user_namespaces N)."
        );
        assert_eq!(sys["move_mount"]["how"], "E2BIG: kernel before N.");
        assert_eq!(sys["move_mount"]["available"], false);

        report.features = None;
        assert!(normalise(&report, &[]).get("features").is_none());
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
