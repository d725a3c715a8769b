//! One small report that exercises every branch the renderers have: each check status, each
//! control status but inconclusive, a check without a control, and text that needs escaping
//! in XML and JSON; and the same with an inconclusive check and control added (kept apart so
//! that the byte-exact tables built on the first stay as they are).

use super::model::*;
use serde_json::json;

pub(crate) fn report() -> Report {
    let checks = vec![
        CheckResult {
            id: "pid.isolated".into(),
            status: Status::Pass,
            reason: "the probe sees only its own processes".into(),
            expected: json!({"max_pids": 2}),
            observed: json!({"pids": [1, 2]}),
            duration_ms: 12,
            negative_control: Some(ControlResult {
                sabotage: "share the host PID namespace".into(),
                status: ControlStatus::Detected,
                reason: "the probe saw 214 processes".into(),
                observed: json!({"pids": 214}),
            }),
        },
        CheckResult {
            id: "mount.proc-masked".into(),
            status: Status::Fail,
            reason: r#"/proc/kcore is readable: <&"> leaked"#.into(),
            expected: json!({"readable": false}),
            observed: json!({"note": "<&\">", "path": "/proc/kcore", "readable": true}),
            duration_ms: 340,
            negative_control: Some(ControlResult {
                sabotage: "unmask /proc".into(),
                status: ControlStatus::Detected,
                reason: "/proc/kcore is readable".into(),
                observed: json!({"readable": true}),
            }),
        },
        CheckResult {
            id: "cgroup.memory-limit".into(),
            status: Status::Pass,
            reason: "allocation stopped at 64 MiB".into(),
            expected: json!({"limit_bytes": 67108864}),
            observed: json!({"peak_bytes": 67100000}),
            duration_ms: 1500,
            negative_control: Some(ControlResult {
                sabotage: "remove the memory limit".into(),
                status: ControlStatus::Missed,
                reason: "allocation still stopped at 64 MiB".into(),
                observed: json!({"peak_bytes": 67100000}),
            }),
        },
        CheckResult {
            id: "user.ns-mapping".into(),
            status: Status::Skip,
            reason: "runtime has no user namespaces".into(),
            expected: json!(null),
            observed: json!(null),
            duration_ms: 0,
            negative_control: Some(ControlResult {
                sabotage: "map root to host root".into(),
                status: ControlStatus::Skip,
                reason: "check was skipped".into(),
                observed: json!(null),
            }),
        },
        CheckResult {
            id: "uts.hostname".into(),
            status: Status::Pass,
            reason: "hostname differs from the host's".into(),
            expected: json!("not the host's hostname"),
            observed: json!("probe-7f3a"),
            duration_ms: 3,
            negative_control: None,
        },
    ];
    Report {
        isoprobe_version: "0.1.0".into(),
        kernel: Kernel {
            release: "6.8.0-45-generic".into(),
            version: "#45-Ubuntu SMP PREEMPT_DYNAMIC".into(),
        },
        cgroup_mode: "v2".into(),
        runtime: RuntimeInfo {
            name: "runc".into(),
            version: "1.1.12".into(),
        },
        summary: Summary::of(&checks),
        checks,
        features: Some(features()),
        rootless: None,
    }
}

/// The sample with one more check whose run, and its control's, could not test the property:
/// the check fails with a "could not be tested: " reason and the control is inconclusive.
pub(crate) fn report_with_inconclusive() -> Report {
    let mut r = report();
    r.checks.push(CheckResult {
        id: "net.only-loopback".into(),
        status: Status::Fail,
        reason: "could not be tested: the container made no connect attempt".into(),
        expected: json!({"connect_to_host_listener": "fails"}),
        observed: json!({"connect_to_host_listener": null}),
        duration_ms: 45,
        negative_control: Some(ControlResult {
            sabotage: "share the host's net namespace".into(),
            status: ControlStatus::Inconclusive,
            reason: "could not be tested: the container could not list its interfaces".into(),
            observed: json!({"interfaces": null}),
        }),
    });
    r.summary = Summary::of(&r.checks);
    r
}

/// A feature inventory with a missing namespace type, a cgroup2 file absent, a versioned and
/// an unavailable entry.
pub(crate) fn features() -> serde_json::Value {
    json!({
        "namespaces": {"cgroup": true, "ipc": true, "mnt": true, "net": true, "pid": true,
                       "time": false, "user": true, "uts": true},
        "max_namespaces": {"cgroup": 63000, "ipc": 63000, "mnt": 63000, "net": 63000,
                           "pid": 63000, "time": null, "user": 63000, "uts": 63000},
        "cgroup": {
            "mode": "v2",
            "kernel_controllers": ["cpu", "cpuset", "io", "memory", "pids"],
            "v1_controllers": [],
            "v2_controllers": ["cpu", "cpuset", "io", "memory", "pids"],
            "v2_probe_controllers": ["memory"],
            "v2_files": {"cgroup.kill": true, "cpu.max.burst": false, "memory.peak": true},
            "v2_files_skipped": null
        },
        "syscalls": {
            "clone3": {"available": true, "how": "clone3(NULL, 0) -> EINVAL"},
            "landlock": {"available": true, "how": "-> ABI version 4", "version": 4},
            "time_namespaces": {"available": false, "how": "unshare(CLONE_NEWTIME) -> EINVAL"}
        }
    })
}
