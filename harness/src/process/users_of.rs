//! Ending the processes a run left behind that are known only by what their command line
//! names: an engine's client still running a dead run's container, or podman's conmon and the
//! `container cleanup` it starts when the container ends. conmon double-forks away from its
//! parent and stays out of the container's cgroup, so neither the run's children nor its
//! cgroups reach it; if it outlives the cleaner, its exit command writes the store directory
//! back after the cleaner removed it.
//!
//! Only names that carry a run's pid and a random part are matched (isoprobe's temporary
//! directories and container names), so no process another program started can match.

use crate::backoff::{Backoff, Budget};
use isoprobe_probes::parse::cmdline_names;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::Duration;

/// SIGKILLs every other process whose command line `matches`; how many it signalled.
pub(crate) fn kill_matching(matches: impl Fn(&[u8]) -> bool) -> usize {
    let me = std::process::id();
    let mut signalled = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if matches(&cmdline) && kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok() {
            signalled += 1;
        }
    }
    signalled
}

/// Ends every process whose command line names `dir` (see [`cmdline_names`]) and waits until none is left, so
/// that nothing writes into `dir` once it is removed. Bounded: a process that keeps coming
/// back (a parent this cannot see respawning it) is given up on after two seconds.
pub(crate) fn stop_users_of(dir: &Path) {
    Backoff::doubling(Duration::from_millis(5), Duration::from_millis(200)).retry(
        Budget::within(Duration::from_secs(2)),
        || {
            (kill_matching(|c| cmdline_names(c, dir.as_os_str().as_encoded_bytes())) == 0)
                .then_some(())
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `child` ended within five seconds (and is then reaped).
    fn ends(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    // Serial with the tests whose pipes a forked child must not hold on to.
    #[test]
    #[serial_test::serial(machine)]
    fn a_process_naming_the_directory_is_ended_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("x");
        std::fs::write(&named, "").unwrap();
        // Both end by themselves should the test fail half-way.
        let mut user = std::process::Command::new("timeout")
            .args(["20", "tail", "-f"])
            .arg(&named)
            .spawn()
            .unwrap();
        let mut other = std::process::Command::new("sleep")
            .arg("20")
            .spawn()
            .unwrap();
        // The user counts once its command line (after exec) names the directory.
        let cmdline = format!("/proc/{}/cmdline", user.id());
        let shows = || {
            std::fs::read(&cmdline).is_ok_and(|c| {
                isoprobe_probes::parse::cmdline_names(&c, dir.path().as_os_str().as_encoded_bytes())
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !shows() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop_users_of(dir.path());
        let status = ends(&mut user);
        let other_ended = other.try_wait().unwrap();
        let _ = other.kill();
        let _ = other.wait();
        let _ = user.kill();
        let _ = user.wait();
        assert_eq!(
            status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
            Some(9),
            "the process naming the directory was not ended"
        );
        assert!(other_ended.is_none(), "an unrelated sleep was ended");
    }
}
