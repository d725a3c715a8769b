//! `oldroot`: is anything of the host's root still reachable after the root changed? Lists the
//! mount points and, below every one that is not the container's own `/` or `/proc`, tries the
//! canary's host path (an old root kept at `/.old` makes `/.old/HOST_PATH` the canary). Also
//! tries the host path as it is, and from the root of its mount namespace.

use super::BadArgument;
use crate::contract::{CallError, Called, Content, OldrootArgs, OldrootOutcome, PathRead};
use crate::parse;
use std::io::Read;
use std::path::Path;

/// The token the harness compares is short; never report more than this of a file.
const MAX_READ: u64 = 256;
/// Bounds the attempts when a broken setup leaks the whole host mount table.
const MAX_ATTEMPTS: usize = 256;

pub fn run(args: &OldrootArgs) -> Result<OldrootOutcome, BadArgument> {
    let canary = args.canary.as_str();
    if !canary.starts_with('/') {
        return Err(BadArgument(format!(
            "oldroot needs an absolute canary path, got `{canary}`"
        )));
    }
    let points = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("read /proc/self/mountinfo: {e}"))
        .and_then(|t| parse::mount_points(&t).map_err(|e| e.to_string()))
        .map_err(CallError::text);
    let mut paths = vec![canary.to_string()];
    if let Ok(points) = &points {
        paths.extend(candidate_paths(points, canary));
    }
    paths.truncate(MAX_ATTEMPTS);
    let reads = paths
        .into_iter()
        .map(|path| PathRead {
            read: read_prefix(Path::new(&path)),
            path,
        })
        .collect();
    Ok(OldrootOutcome {
        mount_points: points.map_or_else(Called::Failed, Called::Done),
        reads,
        ns_root: crate::agent::escape::read_at_namespace_root(canary),
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

/// A file's first bytes, as the `oldroot` and `userns` tries report them.
pub(super) fn read_prefix(path: &Path) -> Called<Content> {
    let mut buf = Vec::new();
    Called::from_io(
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_READ).read_to_end(&mut buf))
            .map(|_| Content {
                ok: String::from_utf8_lossy(&buf).into_owned(),
            }),
    )
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
    fn a_relative_canary_is_refused() {
        assert!(run(&OldrootArgs {
            canary: "relative".into()
        })
        .is_err());
    }
}
