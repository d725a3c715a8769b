//! `mnt`: mount propagation across the container's boundary, both ways.
//!
//! `DIR` is a tmpfs the host made shared before the run, so the container holds a copy of it.
//! The try mounts a tmpfs at `DIR/inside-T`, says `DIR/ready`, waits for the host to mount
//! `DIR/host-T` and say `DIR/host-mounted`, then reports whether that host mount reached its
//! own mount table. The two files pass through the one tmpfs both sides see; whether the
//! *mounts* pass is what the host judges.

use crate::contract::{CallError, Called, Done, MntArgs, MntOutcome};
use crate::parse;
use nix::mount::{mount, MsFlags};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longer than the host needs to see `ready` and mount, short enough to never hang a run.
const WAIT_FOR_HOST: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

pub fn run(args: &MntArgs) -> MntOutcome {
    let (dir, token) = (Path::new(&args.dir), args.token.as_str());
    let mount = mount_inside(dir, token);
    let ready = std::fs::write(dir.join("ready"), token)
        .map(|_| Done::Ok)
        .map_err(|e| CallError::text(format!("write ready: {e}")));
    let started = Instant::now();
    let host_signal = wait_for(&dir.join("host-mounted"), WAIT_FOR_HOST);
    let waited_ms = started.elapsed().as_millis() as u64;
    let host_suffix = format!("/host-{token}");
    let mount_points = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(text) => parse::mount_points(&text).map_err(|e| CallError::text(e.to_string())),
        Err(e) => Err(CallError::text(format!("read /proc/self/mountinfo: {e}"))),
    };
    let host_mount_seen = mount_points
        .as_ref()
        .ok()
        .map(|p| p.iter().any(|m| m.ends_with(&host_suffix)));
    MntOutcome {
        mount,
        ready: ready.map_or_else(Called::Failed, Called::Done),
        host_signal,
        waited_ms,
        host_mount_seen,
        mount_points: mount_points.map_or_else(Called::Failed, Called::Done),
    }
}

fn mount_inside(dir: &Path, token: &str) -> Called<Done> {
    let target = dir.join(format!("inside-{token}"));
    if let Err(e) = nix::unistd::mkdir(&target, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        return Called::Failed(CallError::from_errno(e).at("mkdir"));
    }
    let source = format!("isoprobe-inside-{token}");
    Called::from_errno(
        mount(
            Some(source.as_str()),
            &target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("size=16k"),
        )
        .map(|()| Done::Ok),
    )
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
