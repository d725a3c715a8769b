//! The kernel features a matrix shows as rows below the checks (the kernel matrix, `merge`),
//! read from each report's feature inventory.

use serde_json::Value;

/// One row per feature: its label, then its value in each column's inventory (`-` where a
/// column has none, or the feature is not in it).
pub fn rows(features: &[Option<&Value>]) -> Vec<Vec<String>> {
    FEATURE_ROWS
        .iter()
        .map(|(label, path)| {
            std::iter::once(label.to_string())
                .chain(features.iter().map(|f| {
                    f.map(|f| feature_text(f.pointer(path)))
                        .unwrap_or_else(|| "-".into())
                }))
                .collect()
        })
        .collect()
}

/// Features shown in the matrix: (row label, JSON pointer into the report's features).
const FEATURE_ROWS: [(&str, &str); 9] = [
    ("v1 controllers", "/cgroup/v1_controllers"),
    ("v2 controllers", "/cgroup/v2_controllers"),
    ("cgroup.kill", "/cgroup/v2_files/cgroup.kill"),
    ("memory.peak", "/cgroup/v2_files/memory.peak"),
    ("cpu.stat.local", "/cgroup/v2_files/cpu.stat.local"),
    ("clone3", "/syscalls/clone3/available"),
    ("mount_setattr", "/syscalls/mount_setattr/available"),
    ("landlock ABI", "/syscalls/landlock/version"),
    ("time namespaces", "/syscalls/time_namespaces/available"),
];

fn feature_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::Bool(true)) => "yes".into(),
        Some(Value::Bool(false)) => "no".into(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string().trim_matches('"').to_string(),
    }
}
