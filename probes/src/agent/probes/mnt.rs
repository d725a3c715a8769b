//! `mnt` (arg `dir=DIR,token=T`): mount propagation across the container's boundary, both ways.
//!
//! `DIR` is a tmpfs the host made shared before the run, so the container holds a copy of it.
//! The probe mounts a tmpfs at `DIR/inside-T`, says `DIR/ready`, waits for the host to mount
//! `DIR/host-T` and say `DIR/host-mounted`, then reports whether that host mount reached its
//! own mount table. The two files pass through the one tmpfs both sides see; whether the
//! *mounts* pass is what the host judges.
//!
//! Output: `{"mount": "ok" | {errno}, "ready": "ok" | {error}, "host_signal": bool,
//! "waited_ms": N, "host_mount_seen": bool, "mount_points": [...]}`.

use super::{errno_json, kv};
use crate::parse;
use nix::mount::{mount, MsFlags};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longer than the host needs to see `ready` and mount, short enough to never hang a run.
const WAIT_FOR_HOST: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

pub fn run(arg: &str) -> Value {
    let args = kv(arg);
    let (Some(dir), Some(token)) = (args.get("dir"), args.get("token")) else {
        return json!({"error": format!("mnt needs dir=DIR,token=T, got `{arg}`")});
    };
    let dir = Path::new(dir);
    let mount_result = mount_inside(dir, token);
    let ready = std::fs::write(dir.join("ready"), token)
        .map(|_| json!("ok"))
        .unwrap_or_else(|e| json!({"error": format!("write ready: {e}")}));
    let started = Instant::now();
    let host_signal = wait_for(&dir.join("host-mounted"), WAIT_FOR_HOST);
    let waited_ms = started.elapsed().as_millis() as u64;
    let host_suffix = format!("/host-{token}");
    let (points, seen) = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(text) => match parse::mount_points(&text) {
            Ok(p) => {
                let seen = p.iter().any(|m| m.ends_with(&host_suffix));
                (json!(p), json!(seen))
            }
            Err(e) => (json!({"error": e.to_string()}), Value::Null),
        },
        Err(e) => (
            json!({"error": format!("read /proc/self/mountinfo: {e}")}),
            Value::Null,
        ),
    };
    json!({
        "mount": mount_result,
        "ready": ready,
        "host_signal": host_signal,
        "waited_ms": waited_ms,
        "host_mount_seen": seen,
        "mount_points": points,
    })
}

fn mount_inside(dir: &Path, token: &str) -> Value {
    let target = dir.join(format!("inside-{token}"));
    if let Err(e) = nix::unistd::mkdir(&target, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        return json!({"step": "mkdir", "errno": format!("{e:?}"), "error": e.desc()});
    }
    let source = format!("isoprobe-inside-{token}");
    match mount(
        Some(source.as_str()),
        &target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=16k"),
    ) {
        Ok(()) => json!("ok"),
        Err(e) => errno_json(e),
    }
}

fn wait_for(path: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if path.exists() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_arguments_are_reported_not_attempted() {
        for arg in ["", "dir=/x", "token=t"] {
            assert!(
                run(arg)["error"].as_str().unwrap().contains("dir=DIR"),
                "{arg}"
            );
        }
    }

    #[test]
    fn wait_gives_up_at_its_deadline() {
        let started = Instant::now();
        assert!(!wait_for(
            Path::new("/nonexistent/isoprobe"),
            Duration::from_millis(30)
        ));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(wait_for(Path::new("/"), Duration::from_millis(1)));
    }
}
