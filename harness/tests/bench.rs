//! `isoprobe bench` end to end: the shape of its JSON and the order of its figures. Never a
//! speed threshold: how fast is a figure to print, not a test to pass.

use assert_cmd::Command;
use isoprobe::require_root;
use serde_json::Value;

fn figure(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {v}"))
}

#[test]
fn bench_json_has_every_figure_positive_and_ordered() {
    require_root!("bench_json_has_every_figure_positive_and_ordered");
    let out = Command::cargo_bin("isoprobe")
        .unwrap()
        .args([
            "bench",
            "--runs",
            "3",
            "--runtimes",
            "native",
            "--format",
            "json",
        ])
        .args(["--cpu-repeats", "2"])
        .env_remove("ISOPROBE_REQUIRE_ALL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let b: Value = serde_json::from_slice(&out.stdout).expect("bench prints JSON");

    let floor = figure(&b, "floor_ms");
    assert!(floor > 0.0, "{b}");
    assert!(figure(&b, "floor_min_ms") <= floor && floor <= figure(&b, "floor_p90_ms"));

    let rows = b["runtimes"].as_array().expect("runtimes is a list");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["native -cgroup", "native", "native +net"], "{b}");
    for r in rows {
        let (min, median, p90) = (
            figure(r, "min_ms"),
            figure(r, "median_ms"),
            figure(r, "p90_ms"),
        );
        assert!(0.0 < min && min <= median && median <= p90, "{r}");
        assert!(figure(r, "ratio_to_floor") > 0.0, "{r}");
        assert!(figure(r, "ratio_to_native") > 0.0, "{r}");
    }
    assert_eq!(figure(&rows[1], "ratio_to_native"), 1.0);
    assert_eq!(figure(&rows[2], "ratio_to_native"), 1.0);
    assert_eq!(b["skipped"], Value::Array(vec![]), "{b}");

    let suite = b["suite"].as_array().expect("suite is a list");
    let runs: Vec<(&str, bool, u64)> = suite
        .iter()
        .map(|s| {
            (
                s["runtime"].as_str().unwrap(),
                s["controls"].as_bool().unwrap(),
                s["jobs"].as_u64().unwrap(),
            )
        })
        .collect();
    // At the default jobs (the cores), and one at a time too where that differs.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut want = vec![("native", false, cores), ("native", true, cores)];
    if cores > 1 {
        want.extend([("native", false, 1), ("native", true, 1)]);
    }
    assert_eq!(runs, want, "{b}");
    for s in suite {
        assert!(figure(s, "wall_s") > 0.0, "{s}");
    }

    let cpu = &b["cpu_check"];
    assert!(figure(cpu, "wall_s") > 0.0, "{cpu}");
    let (lo, hi) = (figure(cpu, "share_min"), figure(cpu, "share_max"));
    assert!(0.0 < lo && lo <= hi, "{cpu}");
    assert!(cpu["verdicts_equal"].is_boolean(), "{cpu}");

    for key in ["isoprobe_run_mb", "agent_mb"] {
        assert!(figure(&b["peak_rss"], key) > 0.0, "{b}");
    }
}

#[test]
fn an_unknown_runtime_is_a_usage_error_and_a_missing_one_is_skipped() {
    let out = Command::cargo_bin("isoprobe")
        .unwrap()
        .args(["bench", "--runtimes", "lxc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown runtime `lxc`"));

    require_root!("an_unknown_runtime_is_a_usage_error_and_a_missing_one_is_skipped");
    let out = Command::cargo_bin("isoprobe")
        .unwrap()
        .args(["bench", "--runs", "1", "--no-suite", "--format", "json"])
        .args(["--runtimes", "native,oci:/nonexistent/runtime"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = b["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{b}");
    assert_eq!(skipped[0]["name"], "oci:/nonexistent/runtime");
    assert!(skipped[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not available"));
    assert_eq!(b["suite"], Value::Array(vec![]));
}
