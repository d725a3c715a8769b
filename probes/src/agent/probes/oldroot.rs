//! `oldroot` (arg `canary=HOST_PATH`): is anything of the host's root still reachable after the
//! root changed? Lists the mount points and, below every one that is not the container's own
//! `/` or `/proc`, tries the canary's host path (an old root kept at `/.old` makes
//! `/.old/HOST_PATH` the canary). Also tries the host path as it is.
//!
//! Output: `{"mount_points": [...] | {error}, "reads": [{"path", "read": {"ok": text} |
//! {"errno", "error"}}]}`.

use super::{errno_json, kv};
use crate::parse;
use serde_json::{json, Value};
use std::io::Read;
use std::path::Path;

/// The token the harness compares is short; never report more than this of a file.
const MAX_READ: u64 = 256;
/// Bounds the attempts when a broken setup leaks the whole host mount table.
const MAX_ATTEMPTS: usize = 256;

pub fn run(arg: &str) -> Value {
    let args = kv(arg);
    let Some(canary) = args.get("canary").filter(|c| c.starts_with('/')) else {
        return json!({"error": format!("oldroot needs canary=/ABSOLUTE/PATH, got `{arg}`")});
    };
    let points = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("read /proc/self/mountinfo: {e}"))
        .and_then(|t| parse::mount_points(&t).map_err(|e| e.to_string()));
    let mut paths = vec![canary.to_string()];
    if let Ok(points) = &points {
        paths.extend(candidate_paths(points, canary));
    }
    paths.truncate(MAX_ATTEMPTS);
    let reads: Vec<Value> = paths
        .iter()
        .map(|p| json!({"path": p, "read": read_prefix(Path::new(p))}))
        .collect();
    json!({
        "mount_points": points.map(|p| json!(p)).unwrap_or_else(|e| json!({"error": e})),
        "reads": reads,
    })
}

/// The canary's path seen through every mount point other than the container's own.
fn candidate_paths(points: &[String], canary: &str) -> Vec<String> {
    let mut out: Vec<String> = points
        .iter()
        .filter(|m| m.as_str() != "/" && m.as_str() != "/proc")
        .map(|m| format!("{}{canary}", m.trim_end_matches('/')))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn read_prefix(path: &Path) -> Value {
    let mut buf = Vec::new();
    match std::fs::File::open(path).and_then(|f| f.take(MAX_READ).read_to_end(&mut buf)) {
        Ok(_) => json!({"ok": String::from_utf8_lossy(&buf)}),
        Err(e) => io_json(&e),
    }
}

/// An I/O error as errno name and text, like a failed system call.
pub(super) fn io_json(e: &std::io::Error) -> Value {
    match e.raw_os_error() {
        Some(n) => errno_json(nix::errno::Errno::from_raw(n)),
        None => json!({"error": e.to_string()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_skip_own_root_and_proc() {
        let points = ["/", "/proc", "/.old", "/.old/proc", "/.old"].map(String::from);
        assert_eq!(
            candidate_paths(&points, "/tmp/c"),
            ["/.old/proc/tmp/c", "/.old/tmp/c"]
        );
    }

    #[test]
    fn bad_argument_is_reported() {
        assert!(run("canary=relative")["error"].is_string());
    }
}
